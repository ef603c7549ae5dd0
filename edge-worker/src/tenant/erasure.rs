//! Deleting all of a tenant's conversations (`DELETE /admin/v1/tenants/{id}/conversations`),
//! decided in plain Rust.
//!
//! A conversation lives in its own Durable Object, which only it can delete. The tenant's
//! object lists the conversations it admitted (id and last activity), so it can find them.
//! The request marks every listed conversation for deletion and answers at once; the tenant
//! object's alarm then deletes them [`BATCH`] at a time (each a request to the conversation's
//! object, which closes its socket and deletes its storage), re-arming itself until none is
//! left, so no single invocation makes more subrequests than the platform allows, however many
//! conversations the tenant has. A conversation admitted after the request is not marked.
//!
//! The list forgets a conversation its own retention alarm has surely deleted by now
//! ([`forget_before`]), so it stays as long as the tenant's live conversations, no longer.
//!
//! Deleting the whole tenant (`DELETE /admin/v1/tenants/{id}`) deletes its record at once
//! (settings, publishable keys, sealed provider keys, leases, turn counters, usage,
//! reservations: bounded, one object's own storage), marks every listed conversation, and
//! keeps only what the alarm needs to finish (the tenant id, the conversations' placement and
//! the marks). Once the last marked conversation is deleted the alarm deletes the object's
//! whole storage ([`after_batch`]), so nothing of the tenant is left.

/// Conversations deleted per alarm (each is one subrequest; Cloudflare allows 1 000 per
/// invocation on paid plans, 50 on the free plan).
pub const BATCH: usize = 40;
/// How soon the alarm runs again while marked conversations remain.
pub const NEXT_BATCH_MS: u64 = 100;
/// How long the alarm waits before trying again when no conversation of a batch could be
/// deleted (their objects failing).
pub const RETRY_MS: u64 = 60_000;
const DAY_MS: u64 = 86_400_000;

/// What one alarm does: how many marked conversations to delete now and when to run again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub delete: usize,
    /// `None`: nothing is left after this batch.
    pub next_ms: Option<u64>,
}

/// The alarm fired at `now_ms` with `marked` conversations left to delete.
pub fn step(marked: usize, now_ms: u64) -> Step {
    let delete = marked.min(BATCH);
    Step {
        delete,
        next_ms: (marked > delete).then_some(now_ms + NEXT_BATCH_MS),
    }
}

/// What the alarm does once a batch is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterBatch {
    /// Run again at this time (ms): marked conversations remain.
    Again(u64),
    /// The tenant is being deleted and none of its conversations is left: delete the object's
    /// whole storage.
    DeleteTenant,
    /// Nothing is left to do.
    Done,
}

/// After a batch that deleted `deleted` conversations at `now_ms`, with `left` still marked
/// (`step` is the batch's [`step`]), for a tenant that `deleting` or not.
pub fn after_batch(
    step: Step,
    deleted: usize,
    left: usize,
    deleting: bool,
    now_ms: u64,
) -> AfterBatch {
    if left > 0 {
        // What failed is tried again: at once while the batches make progress, after a pause
        // when none of this one could be deleted.
        return AfterBatch::Again(match step.next_ms {
            Some(t) if deleted > 0 => t,
            _ => now_ms + RETRY_MS,
        });
    }
    if deleting {
        AfterBatch::DeleteTenant
    } else {
        AfterBatch::Done
    }
}

/// A listed conversation last active before this has been deleted by its own retention alarm
/// (`retention_days` after its last activity; a day of margin): the list may forget it.
pub fn forget_before(now_ms: u64, retention_days: u32) -> u64 {
    now_ms.saturating_sub((u64::from(retention_days) + 1) * DAY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marked_conversations_go_a_batch_at_a_time_until_none_is_left() {
        let mut left = 2 * BATCH + 3;
        let mut now = 0;
        let mut alarms = 0;
        loop {
            let s = step(left, now);
            left -= s.delete;
            alarms += 1;
            match s.next_ms {
                Some(t) => {
                    assert!(t > now);
                    now = t;
                }
                None => break,
            }
        }
        assert_eq!((left, alarms), (0, 3));
        assert_eq!(
            step(0, 5),
            Step {
                delete: 0,
                next_ms: None
            }
        );
        assert_eq!(step(BATCH, 5).next_ms, None, "exactly one batch");
    }

    #[test]
    fn a_deleted_tenant_goes_once_its_last_conversation_has() {
        let now = 1_000;
        let batch = step(BATCH + 1, now);
        assert_eq!(
            after_batch(batch, BATCH, 1, true, now),
            AfterBatch::Again(now + NEXT_BATCH_MS)
        );
        assert_eq!(
            after_batch(batch, 0, BATCH + 1, true, now),
            AfterBatch::Again(now + RETRY_MS),
            "a batch that deleted nothing waits before trying again"
        );
        let last = step(3, now);
        assert_eq!(
            after_batch(last, 2, 1, true, now),
            AfterBatch::Again(now + RETRY_MS),
            "the last batch's failures are retried after the pause"
        );
        assert_eq!(after_batch(last, 3, 0, true, now), AfterBatch::DeleteTenant);
        assert_eq!(
            after_batch(step(0, now), 0, 0, true, now),
            AfterBatch::DeleteTenant
        );
        assert_eq!(after_batch(last, 3, 0, false, now), AfterBatch::Done);
    }

    #[test]
    fn the_list_forgets_only_what_retention_has_deleted() {
        let now = 400 * DAY_MS;
        assert_eq!(forget_before(now, 30), now - 31 * DAY_MS);
        // Retention 0 (delete once the resume window passes): a day of margin still.
        assert_eq!(forget_before(now, 0), now - DAY_MS);
        assert_eq!(forget_before(1_000, 30), 0, "never before the epoch");
    }
}
