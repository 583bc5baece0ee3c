//! Delivering the audit events a persisted status implies, and recording the acknowledgement.

use super::*;

/// Delivers the audit events the persisted status implies and records the acknowledgement.
/// Returns when to retry if something is still pending.
///
/// `from_cache`: `persisted` is the watch cache's copy, which may predate our own last write
/// (the write that recorded an acknowledgement). Before delivering on its word, the status is
/// read fresh, so a lagging cache never sends an event twice.
pub(super) async fn deliver_audit(
    ctx: &Context,
    persisted: &WorkflowExecution,
    from_cache: bool,
    now: Timestamp,
) -> Result<Option<Duration>, Error> {
    let Some(cached_status) = persisted.status.as_ref() else {
        return Ok(None);
    };
    let policy = &ctx.settings.block;
    if due_events(cached_status, policy).is_empty() {
        return Ok(None);
    }
    let fresh;
    let persisted = if from_cache {
        fresh = read_status(ctx, persisted).await?;
        &fresh
    } else {
        persisted
    };
    let Some(status) = persisted.status.as_ref() else {
        return Ok(None);
    };
    let due = due_events(status, policy);
    if due.is_empty() {
        return Ok(None);
    }
    let (written, result) = deliver_and_record(ctx, persisted, &due, now, true).await?;
    let still_due = written
        .status
        .as_ref()
        .map(|s| due_events(s, policy))
        .unwrap_or_default();
    if still_due.is_empty() {
        return Ok(None);
    }
    if let Err(e) = result {
        warn!(wfe = %persisted.name_any(), error = %e, "audit delivery failed; will retry");
    }
    Ok(Some(
        written
            .status
            .as_ref()
            .map_or(crate::audit_due::MIN_AUDIT_RETRY, |s| {
                audit_retry_after(s, now)
            }),
    ))
}

/// Hands `due` to the audit trail and records what it settled in the status (one write, only
/// if something changed). A failure is written as the `AuditRecorded` message only when
/// `record_failure` (not while the object is being deleted). Returns the object as persisted
/// and the trail's answer. The one delivery path of both reconcile and cleanup.
pub(super) async fn deliver_and_record(
    ctx: &Context,
    persisted: &WorkflowExecution,
    due: &[AuditEventType],
    now: Timestamp,
    record_failure: bool,
) -> Result<(WorkflowExecution, Result<(), AuditError>), Error> {
    let Some(status) = persisted.status.as_ref() else {
        return Ok((persisted.clone(), Ok(())));
    };
    let (policy, generation) = (&ctx.settings.block, persisted.metadata.generation);
    let mut next = status.clone();
    let result = match ctx.audit.deliver(persisted, due).await {
        Ok(acked) => {
            record_delivery(&mut next, &acked, policy, generation, now);
            Ok(())
        }
        Err(e) => {
            if record_failure {
                set_audit_condition(&mut next, policy, generation, now, Some(&e.to_string()));
            }
            Err(e)
        }
    };
    let written = if &next != status {
        write_status(ctx, persisted, &next).await?
    } else {
        persisted.clone()
    };
    Ok((written, result))
}
