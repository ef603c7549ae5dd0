//! A socket's session slot: what its attachment records (survives hibernation), the object's
//! alarm that closes a socket that never starts and renews a started one's lease
//! ([`crate::session::alarm`] decides), and the release when it closes.

use super::*;
use crate::session::alarm::{self, Due, SocketState};
use crate::tenant::rpc::{ConnectionRef, ConversationIdentity, RenewAnswer, RenewRequest};

/// Why a session ends when its tenant is disabled, its key revoked or its origin removed.
pub(super) const UNAVAILABLE: &str = "this assistant is not available";

/// What a socket carries with it, also through hibernation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(super) struct Attachment {
    pub(super) started: bool,
    #[serde(default)]
    pub(super) accepted_ms: u64,
    /// Its lease's connection id and its client's tag, from the Worker's admission.
    #[serde(default)]
    pub(super) connection: String,
    #[serde(default)]
    pub(super) client: String,
    /// What it was admitted with, checked again at every grant and renewal.
    #[serde(default)]
    pub(super) publishable_key: String,
    #[serde(default)]
    pub(super) origin: String,
    /// The protocol version its session speaks (0 before it started: taken as 1).
    #[serde(default)]
    pub(super) protocol: u32,
    /// Admitted to resume the conversation (not to start one).
    #[serde(default)]
    pub(super) resume: bool,
}

pub(super) fn attachment(ws: &WebSocket) -> Attachment {
    ws.deserialize_attachment::<Attachment>()
        .ok()
        .flatten()
        .unwrap_or_default()
}

impl VoiceSession {
    /// This socket as the tenant's object knows it.
    pub(super) fn connection_ref(&self, ws: &WebSocket) -> Result<ConnectionRef> {
        let a = attachment(ws);
        Ok(ConnectionRef {
            conversation: self.conversation()?,
            connection: a.connection,
            client: a.client,
            publishable_key: a.publishable_key,
            origin: a.origin,
        })
    }

    /// Wakes the object at `at_ms` (replacing any earlier wake-up).
    pub(super) async fn wake_at(&self, at_ms: u64) -> Result<()> {
        let offset = at_ms.saturating_sub(now_ms()) as i64;
        self.state.storage().set_alarm(offset).await
    }

    /// The alarm: closes sockets that never started, renews the others' leases.
    pub(super) async fn on_alarm(&self) -> Result<()> {
        let sockets = self.state.get_websockets();
        let states: Vec<SocketState> = sockets
            .iter()
            .map(|ws| {
                let a = attachment(ws);
                SocketState {
                    accepted_ms: a.accepted_ms,
                    started: a.started,
                }
            })
            .collect();
        let plan = alarm::plan(&states, now_ms(), self.expires_at()?);
        for due in plan.due {
            match due {
                Due::CloseUnstarted(i) => {
                    let ws = &sockets[i];
                    console_log!("{}", json!({"event": "start_timeout"}));
                    let _ = ws.close(Some(1008), Some("no session.start in time"));
                    self.release(ws).await;
                }
                Due::Renew(i) => self.renew(&sockets[i]).await?,
                Due::Expire => return self.delete_conversation().await,
            }
        }
        if let Some(next) = plan.next_ms {
            self.wake_at(next).await?;
        }
        Ok(())
    }

    /// Keeps a live socket's slot; a socket that lost it is told why and closed.
    async fn renew(&self, ws: &WebSocket) -> Result<()> {
        let tenant = self.tenant()?;
        let req: RenewRequest = self.connection_ref(ws)?;
        let answer: RenewAnswer =
            call(&tenant_stub(&self.env, &tenant)?, &tenant, "/renew", &req).await?;
        match answer {
            RenewAnswer::Held => return Ok(()),
            RenewAnswer::Limited(l) => {
                send(ws, &ServerMessage::from(l))?;
                let _ = ws.close(Some(1013), Some("rate limited"));
            }
            RenewAnswer::Lost => {
                let _ = ws.close(Some(1001), Some("session slot lost; reconnect"));
            }
            // The reply in flight, if any, is the newer socket's: leave it.
            RenewAnswer::Replaced => {
                let _ = ws.close(Some(1000), Some("replaced by a newer connection"));
                return Ok(());
            }
            RenewAnswer::Refused => {
                send_error(ws, ErrorCode::Unauthorized, UNAVAILABLE)?;
                let _ = ws.close(Some(1008), Some("not available"));
            }
        }
        self.cancel(None, 0);
        self.end_live_stt();
        Ok(())
    }

    /// When this conversation may be deleted, once no socket is open (see [`alarm::expires_at`]).
    fn expires_at(&self) -> Result<u64> {
        let retention = match self.store.get(Meta::RetentionDays)? {
            Some(days) => days.parse().unwrap_or(0),
            None => crate::tenant::settings::default_retention_days(),
        };
        Ok(alarm::expires_at(
            self.store.get_u64(Meta::LastSeenMs)?,
            retention,
            u64::from(RESUME_WINDOW_S) * 1000,
        ))
    }

    /// A socket closed or failed. Only the live connection's going stops the reply in flight
    /// and the open utterance: a resuming connection that never took over, or one replaced,
    /// leaves the live one alone.
    pub(super) async fn on_socket_gone(&self, ws: &WebSocket) -> Result<()> {
        let connection = attachment(ws).connection;
        self.sessions.borrow_mut().remove(&connection);
        if self.is_live(&connection)? {
            self.cancel(None, 0);
            self.end_turn_end();
            self.end_live_stt();
        }
        self.release(ws).await;
        self.after_close(ws).await
    }

    /// Whether `connection` is the one the conversation lives on (started or taken over last).
    pub(super) fn is_live(&self, connection: &str) -> Result<bool> {
        Ok(self
            .store
            .get(Meta::LiveConnection)?
            .is_some_and(|live| live == connection))
    }

    /// A socket closed: with no other socket left, the alarm now waits for the conversation's
    /// expiry (a live socket's alarm is its renewal timer, and is left alone).
    pub(super) async fn after_close(&self, closed: &WebSocket) -> Result<()> {
        let gone = attachment(closed).connection;
        let others = self
            .state
            .get_websockets()
            .iter()
            .any(|ws| attachment(ws).connection != gone);
        if !others {
            self.wake_at(self.expires_at()?).await?;
        }
        Ok(())
    }

    /// Deletes the conversation: its sockets are closed and its storage (history, facts,
    /// tokens' generation, alarm) is gone. Past its retention, or asked by the admin API.
    pub(super) async fn delete_conversation(&self) -> Result<()> {
        for ws in self.state.get_websockets() {
            let _ = ws.close(Some(1000), Some("conversation deleted"));
            self.release(&ws).await;
        }
        self.cancel(None, 0);
        self.end_live_stt();
        self.state.storage().delete_all().await?;
        self.store.forget_identity();
        self.sessions.borrow_mut().clear();
        console_log!("{}", json!({"event": "conversation_deleted"}));
        Ok(())
    }

    /// The admin API's deletion (the Worker checked the admin token): deletes this
    /// conversation if it is the one named, answers whether there was one.
    pub(super) async fn on_admin_delete(&self, req: &Request) -> Result<Response> {
        self.store.ensure_schema()?;
        let tenant = req.headers().get(TENANT_HEADER)?.unwrap_or_default();
        let conversation = req.headers().get(CONVERSATION_HEADER)?.unwrap_or_default();
        let known = self.store.get(Meta::Tenant)?.is_some_and(|t| t == tenant)
            && self
                .store
                .get(Meta::Conversation)?
                .is_some_and(|c| c == conversation);
        self.delete_conversation().await?;
        crate::worker::runtime::json_response(200, &json!({"deleted": known}))
    }

    /// Whose conversation this is (`null` if the object stores none), for the one-time listing
    /// of conversations with their tenant ([`crate::tenant::admin_api::object_index_route`]).
    /// Reads only: an object that stores nothing is left so.
    pub(super) fn on_admin_identity(&self) -> Result<Response> {
        let identity = match self.store.exists()? {
            true => self
                .store
                .identity()
                .ok()
                .map(|(tenant, conversation)| ConversationIdentity {
                    tenant: tenant.as_str().to_string(),
                    conversation,
                }),
            false => None,
        };
        crate::worker::runtime::json_response(200, &identity)
    }

    /// A resume of a conversation that is gone: its admission took no slot, and the client is
    /// told on a socket that closes at once (a browser cannot read a refused upgrade's
    /// status), so it starts a new conversation. Nothing is stored.
    pub(super) fn refuse_gone_conversation(&self) -> Result<Response> {
        console_log!("{}", json!({"event": "resume_of_gone_conversation"}));
        let pair = WebSocketPair::new()?;
        pair.server.accept()?;
        send_error(
            &pair.server,
            ErrorCode::Unauthorized,
            "unknown session or wrong token",
        )?;
        let _ = pair.server.close(Some(1008), Some("unknown session"));
        Response::from_websocket(pair.client)
    }

    /// Frees this socket's session slot (it closed), if it still holds it: a socket that a
    /// reconnect replaced, or one that never took its conversation over, frees nothing.
    pub(super) async fn release(&self, ws: &WebSocket) {
        let (Ok(tenant), Ok(conversation)) = (self.tenant(), self.conversation()) else {
            return;
        };
        let connection = attachment(ws).connection;
        if let Ok(stub) = tenant_stub(&self.env, &tenant) {
            let _: Result<serde_json::Value> = call(
                &stub,
                &tenant,
                "/release",
                &ReleaseRequest {
                    conversation,
                    connection,
                },
            )
            .await;
        }
    }
}
