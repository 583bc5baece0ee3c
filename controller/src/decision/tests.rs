use super::*;
use crate::tekton::{RunOwner, SucceededCondition, TaskRunView};
use wfe_api::{AuditEventType, BlockClearance};

const TARGET: &str = "team-a/Deployment/payment-api";

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn t0() -> Timestamp {
    t("2026-03-01T12:00:00Z")
}

fn at(secs: i64) -> Timestamp {
    t0().checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap()
}

pub(crate) fn wfe(name: &str) -> WorkflowExecution {
    let mut w = wfe_testing::wfe_on(name, TARGET);
    w.metadata.resource_version = None;
    w
}

fn with_status(
    mut w: WorkflowExecution,
    f: impl FnOnce(&mut WorkflowExecutionStatus),
) -> WorkflowExecution {
    let mut s = w.status.take().unwrap_or_default();
    f(&mut s);
    w.status = Some(s);
    w
}

fn completed(name: &str, finished: Timestamp) -> WorkflowExecution {
    with_status(wfe(name), |s| {
        s.phase = Some(Phase::Completed);
        s.start_time = Some(Time(finished));
        s.completion_time = Some(Time(finished));
        s.pipeline_run_ref = Some(PipelineRunRef {
            name: wfe_api::naming::pipeline_run_name(TARGET),
            namespace: "kubernaut-workflows".into(),
        });
        s.consecutive_failures = Some(0);
    })
}

fn failed(
    name: &str,
    finished: Timestamp,
    execution: bool,
    count: i32,
    settings: &Settings,
) -> WorkflowExecution {
    with_status(wfe(name), |s| {
        s.phase = Some(Phase::Failed);
        s.completion_time = Some(Time(finished));
        if execution {
            s.pipeline_run_ref = Some(PipelineRunRef {
                name: wfe_api::naming::pipeline_run_name(TARGET),
                namespace: "kubernaut-workflows".into(),
            });
            s.start_time = Some(Time(finished));
        } else {
            s.next_allowed_execution = Some(Time(
                finished
                    .checked_add(settings.backoff.window(count as u32))
                    .unwrap(),
            ));
        }
        s.consecutive_failures = Some(count);
        s.failure_details = Some(Box::new(FailureDetails {
            reason: if execution {
                FailureReason::TaskFailed
            } else {
                FailureReason::ConfigurationError
            },
            message: "boom".into(),
            failed_task_name: None,
            failed_task_index: None,
            exit_code: None,
            failed_at: Time(finished),
            execution_time_before_failure: None,
            natural_language_summary: None,
            was_execution_failure: execution,
        }));
    })
}

fn cleared(w: WorkflowExecution) -> WorkflowExecution {
    with_status(w, |s| {
        let failed_at = s.failure_details.as_deref().unwrap().failed_at.clone();
        s.block_clearance = Some(Box::new(BlockClearance {
            cleared_by: "alice".into(),
            cleared_by_uid: None,
            cleared_by_groups: vec![],
            cleared_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(failed_at.0),
            clear_reason:
                "the deployment was rolled back by hand and verified healthy by the on call".into(),
            clear_method: keys::CLEAR_METHOD_WEBHOOK.into(),
            admission_request_uid: "adm-1".into(),
            cleared_failure_at: Some(failed_at),
        }));
    })
}

/// [`cleared`], the clearance given `secs` after `t0`.
fn cleared_at(w: WorkflowExecution, secs: i64) -> WorkflowExecution {
    with_status(cleared(w), |s| {
        s.block_clearance.as_mut().unwrap().cleared_at =
            k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(at(secs));
    })
}

fn running(name: &str) -> WorkflowExecution {
    with_status(wfe(name), |s| {
        s.phase = Some(Phase::Running);
        s.start_time = Some(Time(t0()));
        s.pipeline_run_ref = Some(PipelineRunRef {
            name: wfe_api::naming::pipeline_run_name(TARGET),
            namespace: "kubernaut-workflows".into(),
        });
    })
}

pub(crate) fn run_of(owner: &WorkflowExecution, succeeded: Option<(&str, &str, &str)>) -> RunView {
    RunView {
        name: wfe_api::naming::pipeline_run_name(&owner.spec.target_resource),
        uid: Some(format!("run-of-{}", owner.metadata.uid.as_deref().unwrap())),
        owner: Some(RunOwner {
            namespace: owner.metadata.namespace.clone().unwrap(),
            name: owner.metadata.name.clone().unwrap(),
            uid: owner.metadata.uid.clone().unwrap(),
        }),
        succeeded: succeeded.map(|(status, reason, message)| SucceededCondition {
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
        }),
        task_runs: vec![],
        start_time: Some(t0()),
        completion_time: None,
        deleting: false,
    }
}

fn decide_at(
    w: &WorkflowExecution,
    lock: Option<&RunView>,
    others: &[&WorkflowExecution],
    now: Timestamp,
    s: &Settings,
) -> Decision {
    let neighbours = project(others, s);
    decide(
        w,
        &World {
            lock,
            others: &neighbours.iter().collect::<Vec<_>>(),
            failed_task: None,
            now,
        },
        s,
    )
}

/// What the target index hands the decision for `others`.
fn project(others: &[&WorkflowExecution], s: &Settings) -> Vec<Neighbour> {
    others.iter().map(|w| Neighbour::of(w, s)).collect()
}

fn skip_reason(d: &Decision) -> Option<SkipReason> {
    assert_eq!(d.status.phase, Some(Phase::Skipped));
    d.status.skip_details.as_deref().map(|s| s.reason)
}

fn kinds(d: &Decision) -> Vec<NoticeKind> {
    d.notices.iter().map(|n| n.kind).collect()
}

// The tests, by concern; `skip_details` holds what a skip names and a lock held by a Skipped WFE.
mod clearance;
mod regressions;
mod rows;
mod skip_details;
mod succeeded;
