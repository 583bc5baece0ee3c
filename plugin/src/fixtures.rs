//! WorkflowExecutions in each state, for the unit tests.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use wfe_api::{
    BlockClearance, BlockingWorkflow, ConflictingWorkflow, FailureDetails, FailureReason, Phase,
    PhaseReason, PipelineRunRef, PipelineRunStatus, RecentRemediation, SkipDetails, SkipReason,
    WorkflowExecution, WorkflowExecutionStatus, keys,
};

pub const TARGET: &str = "team-a/Deployment/payment-api";

pub fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// 2026-03-01T12:00:00Z plus `secs`.
pub fn at(secs: i64) -> Timestamp {
    t("2026-03-01T12:00:00Z")
        .checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap()
}

pub fn wfe(name: &str, target: &str, created: i64) -> WorkflowExecution {
    let mut w = wfe_testing::wfe_on(name, target);
    w.metadata.creation_timestamp = Some(Time(at(created)));
    w
}

pub fn with(
    w: WorkflowExecution,
    f: impl FnOnce(&mut WorkflowExecutionStatus),
) -> WorkflowExecution {
    wfe_testing::with_status(w, f)
}

pub fn running(name: &str, started: i64) -> WorkflowExecution {
    with(wfe(name, TARGET, started), |s| {
        s.phase = Some(Phase::Running);
        s.start_time = Some(Time(at(started)));
        s.pipeline_run_ref = Some(PipelineRunRef {
            name: "wfe-0d96b913074f137c".into(),
            namespace: "kubernaut-workflows".into(),
        });
        s.pipeline_run_status = Some(Box::new(PipelineRunStatus {
            status: Some("Unknown".into()),
            completed_tasks: 1,
            total_tasks: 3,
            ..Default::default()
        }));
    })
}

pub fn completed(name: &str, started: i64, secs: i64) -> WorkflowExecution {
    with(running(name, started), |s| {
        s.phase = Some(Phase::Completed);
        s.completion_time = Some(Time(at(started + secs)));
        s.duration = Some(wfe_api::duration::format(std::time::Duration::from_secs(
            secs as u64,
        )));
    })
}

/// Failed at `failed`; an execution failure blocks, a pre-execution one with `count` failures.
pub fn failed(name: &str, failed: i64, execution: bool, count: i32) -> WorkflowExecution {
    with(wfe(name, TARGET, failed - 10), |s| {
        s.phase = Some(Phase::Failed);
        s.reason = Some(PhaseReason::Failure(FailureReason::TaskFailed));
        s.completion_time = Some(Time(at(failed)));
        s.consecutive_failures = Some(count);
        if execution {
            s.start_time = Some(Time(at(failed - 10)));
            s.duration = Some("10s".into());
        } else {
            s.next_allowed_execution = Some(Time(at(failed + 60)));
        }
        s.failure_details = Some(Box::new(FailureDetails {
            reason: FailureReason::TaskFailed,
            message: "task restart exited with code 2".into(),
            failed_task_name: Some("restart".into()),
            failed_task_index: Some(0),
            exit_code: Some(2),
            failed_at: Time(at(failed)),
            execution_time_before_failure: Some("10s".into()),
            natural_language_summary: Some(
                "Workflow 'restart-deployment' failed on Deployment team-a/payment-api after running for 10s.".into(),
            ),
            was_execution_failure: execution,
        }));
    })
}

pub fn cleared(w: WorkflowExecution, by: &str) -> WorkflowExecution {
    with(w, |s| {
        let failed_at = s.failure_details.as_deref().unwrap().failed_at.clone();
        s.block_clearance = Some(Box::new(BlockClearance {
            cleared_by: by.into(),
            cleared_by_uid: None,
            cleared_by_groups: vec!["oncall".into()],
            cleared_at: MicroTime(
                failed_at
                    .0
                    .checked_add(jiff::SignedDuration::from_secs(60))
                    .unwrap(),
            ),
            clear_reason: "the pod's memory limit was raised and on-call verified the deployment"
                .into(),
            clear_method: keys::CLEAR_METHOD_WEBHOOK.into(),
            admission_request_uid: "adm-1".into(),
            cleared_failure_at: Some(failed_at),
        }));
    })
}

pub fn skipped(name: &str, when: i64, details: SkipDetails) -> WorkflowExecution {
    with(wfe(name, TARGET, when), |s| {
        s.phase = Some(Phase::Skipped);
        s.reason = Some(PhaseReason::Skip(details.reason));
        s.completion_time = Some(Time(at(when)));
        s.skip_details = Some(Box::new(details));
    })
}

pub fn skip_blocked_by(blocker: &str, when: i64) -> SkipDetails {
    SkipDetails {
        reason: SkipReason::PreviousExecutionFailed,
        message: format!("workflow {blocker} failed during execution"),
        skipped_at: Time(at(when)),
        conflicting_workflow: None,
        recent_remediation: None,
        blocking_workflow: Some(BlockingWorkflow {
            name: blocker.into(),
            namespace: Some("team-a".into()),
            failed_at: Some(Time(at(0))),
            reason: Some(FailureReason::TaskFailed),
        }),
    }
}

pub fn skip_busy(holder: &str, when: i64) -> SkipDetails {
    SkipDetails {
        reason: SkipReason::ResourceBusy,
        message: format!("another workflow ({holder}) holds the lock"),
        skipped_at: Time(at(when)),
        conflicting_workflow: Some(ConflictingWorkflow {
            name: holder.into(),
            workflow_id: Some("restart-deployment".into()),
            started_at: Some(Time(at(0))),
            target_resource: TARGET.into(),
        }),
        recent_remediation: None,
        blocking_workflow: None,
    }
}

pub fn skip_recent(by: &str, when: i64, remaining: &str) -> SkipDetails {
    SkipDetails {
        reason: SkipReason::RecentlyRemediated,
        message: format!("remediated recently by {by}"),
        skipped_at: Time(at(when)),
        conflicting_workflow: None,
        recent_remediation: Some(RecentRemediation {
            name: by.into(),
            workflow_id: "restart-deployment".into(),
            completed_at: Some(Time(at(0))),
            outcome: Phase::Completed,
            cooldown_remaining: remaining.into(),
        }),
        blocking_workflow: None,
    }
}
