//! Which audit events a persisted WFE state implies, and how delivery is recorded (DESIGN §6).

use std::time::Duration;

use jiff::Timestamp;
use wfe_api::block::{BlockFacts, BlockPolicy, ClearanceVerdict};
use wfe_api::{AuditEventType, Phase, WorkflowExecutionStatus, keys};

use crate::conditions::{find, set_condition};

/// Longest wait between two delivery attempts of pending audit events.
pub const MAX_AUDIT_RETRY: Duration = Duration::from_secs(300);
/// Shortest wait between two delivery attempts of pending audit events.
pub const MIN_AUDIT_RETRY: Duration = Duration::from_secs(5);

/// Every audit event type the status implies, acknowledged or not, in a stable order. Block
/// events follow the block rules over the persisted record, not the controller's condition.
pub fn implied_events(
    status: &WorkflowExecutionStatus,
    policy: &BlockPolicy,
) -> Vec<AuditEventType> {
    let mut out = Vec::new();
    let phase = status.phase.unwrap_or(Phase::Pending);
    let started = status.pipeline_run_ref.is_some() || status.start_time.is_some();
    if phase == Phase::Running || (matches!(phase, Phase::Completed | Phase::Failed) && started) {
        out.push(AuditEventType::WorkflowStarted);
    }
    match phase {
        Phase::Completed => out.push(AuditEventType::WorkflowCompleted),
        Phase::Failed => out.push(AuditEventType::WorkflowFailed),
        Phase::Skipped if status.skip_details.is_some() => {
            out.push(AuditEventType::WorkflowSkipped)
        }
        _ => {}
    }
    let facts = BlockFacts::from(status);
    if facts.blocking_kind(policy).is_some() {
        match facts.clearance(policy) {
            ClearanceVerdict::Valid(_) => out.push(AuditEventType::BlockCleared),
            ClearanceVerdict::Rejected { .. } => out.push(AuditEventType::ClearanceForged),
            ClearanceVerdict::Absent => {}
        }
    }
    out
}

/// Events implied by the persisted status that the sink has not acknowledged yet.
pub fn due_events(status: &WorkflowExecutionStatus, policy: &BlockPolicy) -> Vec<AuditEventType> {
    implied_events(status, policy)
        .into_iter()
        .filter(|e| !status.audited_events.contains(e))
        .collect()
}

/// Sets `AuditRecorded` from what is still due: True when nothing is, False naming the rest.
pub fn set_audit_condition(
    status: &mut WorkflowExecutionStatus,
    policy: &BlockPolicy,
    generation: Option<i64>,
    now: Timestamp,
    failure: Option<&str>,
) {
    let due = due_events(status, policy);
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
    policy: &BlockPolicy,
    generation: Option<i64>,
    now: Timestamp,
) {
    for e in acknowledged {
        if !status.audited_events.contains(e) {
            status.audited_events.push(*e);
        }
    }
    status.audited_events.sort();
    set_audit_condition(status, policy, generation, now, None);
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
    use wfe_api::block::stamp_clearance;
    use wfe_api::identity::UserInfo;
    use wfe_api::{FailureDetails, FailureReason, PipelineRunRef, SkipDetails, SkipReason};

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn due(s: &WorkflowExecutionStatus) -> Vec<AuditEventType> {
        due_events(s, &BlockPolicy::default())
    }

    #[test]
    fn due_events_follow_the_persisted_phase() {
        let mut s = WorkflowExecutionStatus {
            phase: Some(Phase::Pending),
            ..Default::default()
        };
        assert!(due(&s).is_empty());
        s.phase = Some(Phase::Running);
        s.pipeline_run_ref = Some(PipelineRunRef {
            name: "wfe-x".into(),
            namespace: "ns".into(),
        });
        assert_eq!(due(&s), vec![AuditEventType::WorkflowStarted]);
        s.audited_events = vec![AuditEventType::WorkflowStarted];
        s.phase = Some(Phase::Completed);
        assert_eq!(due(&s), vec![AuditEventType::WorkflowCompleted]);
        s.phase = Some(Phase::Failed);
        assert_eq!(due(&s), vec![AuditEventType::WorkflowFailed]);
        // A pre-execution failure never started anything.
        let pre = WorkflowExecutionStatus {
            phase: Some(Phase::Failed),
            ..Default::default()
        };
        assert_eq!(due(&pre), vec![AuditEventType::WorkflowFailed]);
        // A skip is recorded once its details are persisted.
        let mut skipped = WorkflowExecutionStatus {
            phase: Some(Phase::Skipped),
            ..Default::default()
        };
        assert!(due(&skipped).is_empty());
        skipped.skip_details = Some(Box::new(SkipDetails {
            reason: SkipReason::ResourceBusy,
            message: "busy".into(),
            skipped_at: Time(t("2026-01-01T00:00:00Z")),
            conflicting_workflow: None,
            recent_remediation: None,
            blocking_workflow: None,
        }));
        assert_eq!(due(&skipped), vec![AuditEventType::WorkflowSkipped]);
        skipped.audited_events = vec![AuditEventType::WorkflowSkipped];
        assert!(due(&skipped).is_empty());
    }

    fn blocked_failure(failed_at: Timestamp) -> WorkflowExecutionStatus {
        WorkflowExecutionStatus {
            phase: Some(Phase::Failed),
            audited_events: vec![AuditEventType::WorkflowFailed],
            failure_details: Some(Box::new(FailureDetails {
                reason: FailureReason::TaskFailed,
                message: "x".into(),
                failed_task_name: None,
                failed_task_index: None,
                exit_code: None,
                failed_at: Time(failed_at),
                execution_time_before_failure: None,
                natural_language_summary: None,
                was_execution_failure: true,
            })),
            ..Default::default()
        }
    }

    fn alice() -> UserInfo {
        UserInfo {
            username: "alice".into(),
            ..Default::default()
        }
    }

    #[test]
    fn block_cleared_is_due_once_a_valid_clearance_is_persisted() {
        let now = t("2026-01-01T00:00:00Z");
        let failed_at = t("2025-12-31T23:00:00Z");
        let policy = BlockPolicy::default();
        let mut s = blocked_failure(failed_at);
        assert!(due(&s).is_empty());
        s.block_clearance = Some(Box::new(
            stamp_clearance(&alice(), "r".into(), now, Some(Time(failed_at)), "uid-1").to_record(),
        ));
        assert_eq!(due(&s), vec![AuditEventType::BlockCleared]);
        record_delivery(&mut s, &[AuditEventType::BlockCleared], &policy, None, now);
        assert!(due(&s).is_empty());
        assert_eq!(
            find(&s.conditions, keys::CONDITION_AUDIT_RECORDED)
                .unwrap()
                .status,
            "True"
        );
    }

    #[test]
    fn a_forged_clearance_is_recorded_instead_of_a_release() {
        let now = t("2026-01-01T00:00:00Z");
        let failed_at = t("2025-12-31T23:00:00Z");
        let mut s = blocked_failure(failed_at);
        let controller = UserInfo {
            username: wfe_api::keys::DEFAULT_CONTROLLER_USERNAME.into(),
            ..Default::default()
        };
        s.block_clearance = Some(Box::new(
            stamp_clearance(&controller, "r".into(), now, Some(Time(failed_at)), "uid-1")
                .to_record(),
        ));
        assert_eq!(due(&s), vec![AuditEventType::ClearanceForged]);
        // Bound to another failure: not a release either.
        s.block_clearance = Some(Box::new(
            stamp_clearance(&alice(), "r".into(), now, None, "uid-2").to_record(),
        ));
        assert_eq!(due(&s), vec![AuditEventType::ClearanceForged]);
    }

    #[test]
    fn retry_backs_off_with_time_pending_and_is_capped() {
        let start = t("2026-01-01T00:00:00Z");
        let mut s = WorkflowExecutionStatus {
            phase: Some(Phase::Completed),
            start_time: Some(Time(start)),
            ..Default::default()
        };
        set_audit_condition(&mut s, &BlockPolicy::default(), None, start, Some("down"));
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
        set_audit_condition(
            &mut s,
            &BlockPolicy::default(),
            None,
            t("2026-01-01T00:02:00Z"),
            None,
        );
        assert_eq!(s, before);
    }
}
