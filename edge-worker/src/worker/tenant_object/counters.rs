//! The tenant object's counters: session leases (admission, renewal, release), the last
//! minute's turn starts, and daily usage. Each request reads and writes them with no await in
//! between, so limits hold under concurrency; the decisions are [`crate::tenant::lease`],
//! [`crate::tenant::admission`] and [`crate::tenant::quota`].

use serde::Deserialize;
use serde_json::json;
use worker::{Result, console_log};

use super::{JsonRow, TenantObject};
use crate::tenant::admission::{AdmitAnswer, AdmitRequest, TenantView, admit, precheck};
use crate::tenant::lease::{self, Holder, Lease, LeaseDecision, Purpose};
use crate::tenant::quota::{self, DayUsage, Reservation, TurnStart};
use crate::tenant::rpc::{
    ConnectionRef, ReleaseRequest, RenewAnswer, TakeOverAnswer, TurnAnswer, UsageReport,
};
use crate::tenant::settings::TenantSettings;
use crate::worker::runtime::{hex, now_ms, random_bytes};

const MINUTE_MS: u64 = 60_000;

fn holder(c: &ConnectionRef) -> Holder<'_> {
    Holder {
        conversation: &c.conversation,
        connection: &c.connection,
        client: &c.client,
    }
}

fn unavailable() -> TurnAnswer {
    TurnAnswer::Refused {
        message: "this assistant is not available".into(),
    }
}

impl TenantObject {
    /// The unexpired leases (expired ones are deleted first).
    pub(super) fn leases(&self, now: u64) -> Result<Vec<Lease>> {
        self.sql(
            "DELETE FROM session_leases WHERE expires_ms <= ?",
            vec![(now as f64).into()],
        )?;
        #[derive(Deserialize)]
        struct Row {
            conversation: String,
            connection: String,
            client: String,
            expires_ms: f64,
        }
        let rows: Vec<Row> = self
            .sql(
                "SELECT conversation, connection, client, expires_ms FROM session_leases",
                vec![],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| Lease {
                conversation: r.conversation,
                connection: r.connection,
                client: r.client,
                expires_ms: r.expires_ms as u64,
            })
            .collect())
    }

    fn hold(&self, lease: &Lease) -> Result<()> {
        self.sql(
            "INSERT OR REPLACE INTO session_leases (conversation, connection, client, expires_ms) VALUES (?, ?, ?, ?)",
            vec![
                lease.conversation.clone().into(),
                lease.connection.clone().into(),
                lease.client.clone().into(),
                (lease.expires_ms as f64).into(),
            ],
        )?;
        Ok(())
    }

    /// Admission. The key is checked first: an unknown or revoked one reads nothing else and
    /// writes nothing.
    pub(super) fn admit(&self, req: &AdmitRequest) -> Result<AdmitAnswer> {
        if let Some(refused) = precheck(self.has_publishable_key(&req.publishable_key)?) {
            return Ok(refused);
        }
        let now = now_ms();
        let Some(settings) = self.settings()? else {
            return Ok(admit(None, req, now)
                .err()
                .unwrap_or(AdmitAnswer::Admitted(Default::default())));
        };
        let keys = self.publishable_keys()?;
        let leases = self.leases(now)?;
        let view = TenantView {
            settings: &settings,
            publishable_keys: &keys,
            leases: &leases,
        };
        match admit(Some(&view), req, now) {
            Ok(lease) => {
                if let Some(lease) = lease {
                    self.hold(&lease)?;
                    self.note_conversation(&req.conversation, settings.retention_days, now)?;
                }
                Ok(AdmitAnswer::Admitted(settings.placement()))
            }
            Err(answer) => Ok(answer),
        }
    }

    /// Keeps a live connection's slot (see [`Purpose`]).
    fn keep_lease(
        &self,
        settings: &TenantSettings,
        who: &ConnectionRef,
        purpose: Purpose,
        now: u64,
    ) -> Result<LeaseDecision> {
        let leases = self.leases(now)?;
        let decision = lease::decide(&settings.limits, &leases, holder(who), purpose, now);
        if let LeaseDecision::Hold(l) = &decision {
            self.hold(l)?;
        }
        Ok(decision)
    }

    /// The tenant's settings if `who` may still be served: the tenant enabled, its key still
    /// live and its page's origin still allowed (what admission checked).
    fn serving(&self, who: &ConnectionRef) -> Result<Option<TenantSettings>> {
        let Some(settings) = self.settings()?.filter(|s| s.enabled) else {
            return Ok(None);
        };
        let admitted =
            self.has_publishable_key(&who.publishable_key)? && settings.allows_origin(&who.origin);
        Ok(admitted.then_some(settings))
    }

    /// `/renew`: the session object's timer, while its socket is live.
    pub(super) fn renew(&self, who: &ConnectionRef) -> Result<RenewAnswer> {
        let Some(settings) = self.serving(who)? else {
            return Ok(RenewAnswer::Refused);
        };
        Ok(
            match self.keep_lease(&settings, who, Purpose::Renew, now_ms())? {
                LeaseDecision::Hold(_) => RenewAnswer::Held,
                LeaseDecision::Refuse(l) => RenewAnswer::Limited(l),
                LeaseDecision::Replaced => RenewAnswer::Replaced,
                LeaseDecision::Lost => RenewAnswer::Lost,
            },
        )
    }

    /// `/takeover`: a reconnect resumed with the conversation's latest token (checked by the
    /// conversation's object); the conversation's lease becomes its connection's.
    pub(super) fn take_over(&self, who: &ConnectionRef) -> Result<TakeOverAnswer> {
        let Some(settings) = self.serving(who)? else {
            return Ok(TakeOverAnswer::Refused);
        };
        Ok(
            match self.keep_lease(&settings, who, Purpose::TakeOver, now_ms())? {
                LeaseDecision::Hold(_) => TakeOverAnswer::Held,
                LeaseDecision::Refuse(l) => TakeOverAnswer::Limited(l),
                // A takeover always holds or is refused (lease::decide).
                LeaseDecision::Replaced | LeaseDecision::Lost => TakeOverAnswer::Refused,
            },
        )
    }

    /// `/release`: a socket closed. Only the connection that holds the lease frees it.
    pub(super) fn release(&self, req: &ReleaseRequest) -> Result<()> {
        self.sql(
            "DELETE FROM session_leases WHERE conversation = ? AND connection = ?",
            vec![
                req.conversation.clone().into(),
                req.connection.clone().into(),
            ],
        )?;
        Ok(())
    }

    fn recent_turns(&self, now: u64) -> Result<Vec<TurnStart>> {
        self.sql(
            "DELETE FROM turn_starts WHERE at_ms <= ?",
            vec![(now.saturating_sub(MINUTE_MS) as f64).into()],
        )?;
        #[derive(Deserialize)]
        struct Row {
            at_ms: f64,
            client: String,
        }
        let rows: Vec<Row> = self
            .sql("SELECT at_ms, client FROM turn_starts", vec![])?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| TurnStart {
                at_ms: r.at_ms as u64,
                client: r.client,
            })
            .collect())
    }

    /// A turn: keeps the connection's lease, checks the tenant's and the client's turns per
    /// minute and the daily quotas, records it, and hands out the settings and sealed keys.
    pub(super) fn turn(&self, req: &ConnectionRef) -> Result<TurnAnswer> {
        let Some(settings) = self.serving(req)? else {
            return Ok(unavailable());
        };
        // A record stored under a looser policy (a dev edge, a host refused since) is not
        // fetched: the URLs are checked again, cheaply, at every grant. The log names the
        // field, never the URL.
        if let Err(e) = settings.validate_urls(self.url_policy()) {
            console_log!(
                "{}",
                json!({"event": "grant_refused", "reason": "url_policy", "error": e.to_string()})
            );
            return Ok(unavailable());
        }
        let now = now_ms();
        let recent = self.recent_turns(now)?;
        let usage = self.day_usage(now)?;
        let live = self.live_reservations(now)?;
        if let Err(limited) =
            quota::admit_turn(&settings.limits, &recent, &req.client, usage, &live, now)
        {
            return Ok(TurnAnswer::Limited(limited));
        }
        match self.keep_lease(&settings, req, Purpose::Turn, now)? {
            LeaseDecision::Hold(_) => {}
            LeaseDecision::Refuse(limited) => return Ok(TurnAnswer::Limited(limited)),
            LeaseDecision::Replaced | LeaseDecision::Lost => {
                return Ok(TurnAnswer::Refused {
                    message: "this conversation continues on another connection".into(),
                });
            }
        }
        self.note_conversation(&req.conversation, settings.retention_days, now)?;
        self.sql(
            "INSERT INTO turn_starts (at_ms, client) VALUES (?, ?)",
            vec![(now as f64).into(), req.client.clone().into()],
        )?;
        self.store_usage(DayUsage {
            turns: usage.turns + 1,
            ..usage
        })?;
        let held = Reservation::for_turn(
            &settings.limits,
            usage,
            &live,
            u64::from(settings.context_budget_tokens),
            now,
        );
        let reservation = hex(&random_bytes::<12>()?);
        self.sql(
            "INSERT INTO reservations (id, tokens, audio_ms, at_ms) VALUES (?, ?, ?, ?)",
            vec![
                reservation.clone().into(),
                (held.tokens as f64).into(),
                (held.audio_ms as f64).into(),
                (now as f64).into(),
            ],
        )?;
        Ok(TurnAnswer::Granted {
            settings: Box::new(settings),
            keys: self.key_slots()?,
            reservation: Some(reservation),
        })
    }

    /// The reservations of turns still running (lapsed ones are dropped).
    fn live_reservations(&self, now: u64) -> Result<Vec<Reservation>> {
        self.sql(
            "DELETE FROM reservations WHERE at_ms <= ?",
            vec![(now.saturating_sub(quota::RESERVATION_TTL_MS) as f64).into()],
        )?;
        #[derive(Deserialize)]
        struct Row {
            tokens: f64,
            audio_ms: f64,
            at_ms: f64,
        }
        let rows: Vec<Row> = self
            .sql("SELECT tokens, audio_ms, at_ms FROM reservations", vec![])?
            .to_array()?;
        Ok(rows
            .into_iter()
            .map(|r| Reservation {
                tokens: r.tokens as u64,
                audio_ms: r.audio_ms as u64,
                at_ms: r.at_ms as u64,
            })
            .collect())
    }

    pub(super) fn day_usage(&self, now: u64) -> Result<DayUsage> {
        let day = DayUsage::default().today(now).day;
        let rows: Vec<JsonRow> = self
            .sql(
                "SELECT value FROM usage WHERE day = ?",
                vec![(day as f64).into()],
            )?
            .to_array()?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| serde_json::from_str::<DayUsage>(&r.value).ok())
            .unwrap_or_default()
            .today(now))
    }

    fn store_usage(&self, usage: DayUsage) -> Result<()> {
        self.sql(
            "INSERT OR REPLACE INTO usage (day, value) VALUES (?, ?)",
            vec![
                (usage.day as f64).into(),
                serde_json::to_string(&usage)?.into(),
            ],
        )?;
        // Keep a month of history for the usage endpoint's callers; older days go.
        self.sql(
            "DELETE FROM usage WHERE day < ?",
            vec![(usage.day.saturating_sub(31) as f64).into()],
        )?;
        Ok(())
    }

    pub(super) fn add_usage(&self, report: UsageReport) -> Result<()> {
        let now = now_ms();
        if let Some(id) = &report.reservation {
            self.sql(
                "DELETE FROM reservations WHERE id = ?",
                vec![id.clone().into()],
            )?;
        }
        let mut usage = self.day_usage(now)?;
        usage = if report.discarded_replies > 0 {
            usage.add_discarded(report.speculative_tokens)
        } else {
            usage.add(report.audio_ms, report.llm_tokens)
        };
        self.store_usage(usage)
    }
}
