//! A socket's session slot: what its attachment records (survives hibernation), the object's
//! alarm that closes a socket that never starts and renews a started one's lease
//! ([`crate::session::alarm`] decides), and the release when it closes.

use super::*;
use crate::session::alarm::{self, Due, SocketState};
use crate::tenant::rpc::{ConnectionRef, RenewAnswer, RenewRequest};

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
        let plan = alarm::plan(&states, now_ms());
        for due in plan.due {
            match due {
                Due::CloseUnstarted(i) => {
                    let ws = &sockets[i];
                    console_log!("{}", json!({"event": "start_timeout"}));
                    let _ = ws.close(Some(1008), Some("no session.start in time"));
                    self.release(ws).await;
                }
                Due::Renew(i) => self.renew(&sockets[i]).await?,
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
                send(
                    ws,
                    &ServerMessage::RateLimited {
                        retry_after_ms: l.retry_after_ms,
                        limit: l.limit,
                    },
                )?;
                let _ = ws.close(Some(1013), Some("rate limited"));
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

    /// Frees this socket's session slot (it closed), if it still holds it: a socket that a
    /// reconnect replaced frees nothing.
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
