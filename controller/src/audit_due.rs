//! Which audit events a persisted WFE state implies, and how delivery is recorded (DESIGN §6).

use std::time::Duration;

use jiff::Timestamp;
use wfe_api::{AuditEventType, Phase, WorkflowExecutionStatus, keys};

use crate::conditions::{find, set_condition};

/// Longest wait between two delivery attempts of pending audit events.
pub const MAX_AUDIT_RETRY: Duration = Duration::from_secs(300);
/// Shortest wait between two delivery attempts of pending audit events.
pub const MIN_AUDIT_RETRY: Duration = Duration::from_secs(5);

/// Every audit event type the status implies, acknowledged or not, in a stable order.
pub fn implied_events(status: &WorkflowExecutionStatus) -> Vec<AuditEventType> {
    let mut out = Vec::new();
    let phase = status.phase.unwrap_or(Phase::Pending);
    let started = status.pipeline_run_ref.is_some() || status.start_time.is_some();
    if phase == Phase::Running || (matches!(phase, Phase::Completed | Phase::Failed) && started) {
        out.push(AuditEventType::WorkflowStarted);
    }
    match phase {
        Phase::Completed => out.push(AuditEventType::WorkflowCompleted),
        Phase::Failed => out.push(AuditEventType::WorkflowFailed),
        _ => {}
    }
    if find(&status.conditions, keys::CONDITION_TARGET_BLOCKED)
        .is_some_and(|c| c.status == "False" && c.reason == BLOCK_CLEARED_REASON)
    {
        out.push(AuditEventType::BlockCleared);
    }
    out
}

/// Reason of `TargetBlocked=False` after a clearance took effect.
pub const BLOCK_CLEARED_REASON: &str = "BlockCleared";

/// Events implied by the persisted status that the sink has not acknowledged yet.
pub fn due_events(status: &WorkflowExecutionStatus) -> Vec<AuditEventType> {
    implied_events(status)
        .into_iter()
        .filter(|e| !status.audited_events.contains(e))
        .collect()
}

/// Sets `AuditRecorded` from what is still due: True when nothing is, False naming the rest.
pub fn set_audit_condition(
    status: &mut WorkflowExecutionStatus,
    generation: Option<i64>,
    now: Timestamp,
    failure: Option<&str>,
) {
    let due = due_events(status);
    if due.is_empty() {
        set_condition(
            &mut status.conditions,
            keys::CONDITION_AUDIT_RECORDED,
            true,
            "Delivered",
            "every audit event for this execution was acknowledged by the audit sink",
            generation,
            now,
        );
    } else if failure.is_none()
        && find(&status.conditions, keys::CONDITION_AUDIT_RECORDED)
            .is_some_and(|c| c.status == "False")
        && pending_names_match(status, &due)
    {
        // Still pending for the same events: keep the last failure message rather than churn
        // a status write that only drops it.
        if let Some(c) = status
            .conditions
            .iter_mut()
            .find(|c| c.type_ == keys::CONDITION_AUDIT_RECORDED)
        {
            c.observed_generation = generation;
        }
    } else {
        let names: Vec<&str> = due.iter().map(|e| e.as_str()).collect();
        let mut message = format!("audit events pending delivery: {}", names.join(", "));
        if let Some(f) = failure {
            message.push_str(&format!("; last attempt failed: {f}"));
        }
        set_condition(
            &mut status.conditions,
            keys::CONDITION_AUDIT_RECORDED,
            false,
            "Pending",
            message,
            generation,
            now,
        );
    }
}

fn pending_names_match(status: &WorkflowExecutionStatus, due: &[AuditEventType]) -> bool {
    let names: Vec<&str> = due.iter().map(|e| e.as_str()).collect();
    let prefix = format!("audit events pending delivery: {}", names.join(", "));
    find(&status.conditions, keys::CONDITION_AUDIT_RECORDED)
        .is_some_and(|c| c.message == prefix || c.message.starts_with(&format!("{prefix};")))
}

/// Records acknowledged event types (kept sorted and unique) and refreshes `AuditRecorded`.
pub fn record_delivery(
    status: &mut WorkflowExecutionStatus,
    acknowledged: &[AuditEventType],
    generation: Option<i64>,
    now: Timestamp,
) {
    for e in acknowledged {
        if !status.audited_events.contains(e) {
            status.audited_events.push(*e);
        }
    }
    status.audited_events.sort();
    set_audit_condition(status, generation, now, None);
}

/// When to retry pending audit delivery: as long as it has been pending, clamped to
/// [`MIN_AUDIT_RETRY`, `MAX_AUDIT_RETRY`] — a capped backoff derived from persisted state.
pub fn audit_retry_after(status: &WorkflowExecutionStatus, now: Timestamp) -> Duration {
    let pending_since = find(&status.conditions, keys::CONDITION_AUDIT_RECORDED)
        .filter(|c| c.status == "False")
        .map(|c| c.last_transition_time.0);
    let waited = pending_since
        .and_then(|since| Duration::try_from(now.duration_since(since)).ok())
        .unwrap_or_default();
    waited.clamp(MIN_AUDIT_RETRY, MAX_AUDIT_RETRY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use wfe_api::PipelineRunRef;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn due_events_follow_the_persisted_phase() {
        let mut s = WorkflowExecutionStatus {
            phase: Some(Phase::Pending),
            ..Default::default()
        };
        assert!(due_events(&s).is_empty());
        s.phase = Some(Phase::Running);
        s.pipeline_run_ref = Some(PipelineRunRef {
            name: "wfe-x".into(),
            namespace: "ns".into(),
        });
        assert_eq!(due_events(&s), vec![AuditEventType::WorkflowStarted]);
        s.audited_events = vec![AuditEventType::WorkflowStarted];
        s.phase = Some(Phase::Completed);
        assert_eq!(due_events(&s), vec![AuditEventType::WorkflowCompleted]);
        s.phase = Some(Phase::Failed);
        assert_eq!(due_events(&s), vec![AuditEventType::WorkflowFailed]);
        // A pre-execution failure never started anything.
        let pre = WorkflowExecutionStatus {
            phase: Some(Phase::Failed),
            ..Default::default()
        };
        assert_eq!(due_events(&pre), vec![AuditEventType::WorkflowFailed]);
        let skipped = WorkflowExecutionStatus {
            phase: Some(Phase::Skipped),
            ..Default::default()
        };
        assert!(due_events(&skipped).is_empty());
    }

    #[test]
    fn block_cleared_is_due_once_the_condition_is_persisted() {
        let now = t("2026-01-01T00:00:00Z");
        let mut s = WorkflowExecutionStatus {
            phase: Some(Phase::Failed),
            audited_events: vec![AuditEventType::WorkflowFailed],
            ..Default::default()
        };
        set_condition(
            &mut s.conditions,
            keys::CONDITION_TARGET_BLOCKED,
            true,
            "PreviousExecutionFailed",
            "x",
            None,
            now,
        );
        assert!(due_events(&s).is_empty());
        set_condition(
            &mut s.conditions,
            keys::CONDITION_TARGET_BLOCKED,
            false,
            BLOCK_CLEARED_REASON,
            "x",
            None,
            now,
        );
        assert_eq!(due_events(&s), vec![AuditEventType::BlockCleared]);
        record_delivery(&mut s, &[AuditEventType::BlockCleared], None, now);
        assert!(due_events(&s).is_empty());
        assert_eq!(
            find(&s.conditions, keys::CONDITION_AUDIT_RECORDED)
                .unwrap()
                .status,
            "True"
        );
    }

    #[test]
    fn retry_backs_off_with_time_pending_and_is_capped() {
        let start = t("2026-01-01T00:00:00Z");
        let mut s = WorkflowExecutionStatus {
            phase: Some(Phase::Completed),
            start_time: Some(Time(start)),
            ..Default::default()
        };
        set_audit_condition(&mut s, None, start, Some("down"));
        assert_eq!(audit_retry_after(&s, start), MIN_AUDIT_RETRY);
        assert_eq!(
            audit_retry_after(&s, t("2026-01-01T00:01:00Z")),
            Duration::from_secs(60)
        );
        assert_eq!(
            audit_retry_after(&s, t("2026-01-01T05:00:00Z")),
            MAX_AUDIT_RETRY
        );
        // The failure note survives a reconcile that has nothing new to say.
        let before = s.clone();
        set_audit_condition(&mut s, None, t("2026-01-01T00:02:00Z"), None);
        assert_eq!(s, before);
    }
}
