//! Following the lock PipelineRun of a Running WFE to its outcome.

use super::*;

pub(super) fn run_status_mirror(run: &RunView) -> PipelineRunStatus {
    let (completed, total) = run.task_progress();
    PipelineRunStatus {
        status: Some(
            run.succeeded
                .as_ref()
                .map_or("Unknown", |c| c.status.as_str())
                .to_owned(),
        ),
        reason: run.succeeded.as_ref().and_then(|c| c.reason.clone()),
        message: run.succeeded.as_ref().and_then(|c| c.message.clone()),
        completed_tasks: completed,
        total_tasks: total,
    }
}

/// Follows this WFE's own PipelineRun: Running, Completed or Failed.
pub(super) fn follow_run(
    wfe: &WorkflowExecution,
    run: &RunView,
    world: &World<'_>,
    settings: &Settings,
) -> WorkflowExecutionStatus {
    let now = world.now;
    let generation = generation(wfe);
    let mut status = base_status(wfe);
    status.pipeline_run_ref = Some(PipelineRunRef {
        name: run.name.clone(),
        namespace: settings.execution_namespace.clone(),
    });
    status
        .start_time
        .get_or_insert(Time(run.start_time.unwrap_or(now)));
    status.pipeline_run_status = Some(Box::new(run_status_mirror(run)));
    set_condition(
        &mut status.conditions,
        keys::CONDITION_PIPELINE_RUN_CREATED,
        true,
        "Created",
        format!("PipelineRun {} created", run.name),
        generation,
        now,
    );
    match run.succeeded.as_ref() {
        Some(c) if c.is_true() => completed(status, run, c, generation, now),
        Some(c) if c.is_false() => {
            let reason = tekton::classify_failure(Some(c), world.failed_task);
            let started =
                !run.task_runs.is_empty() || world.failed_task.is_some_and(|t| t.task_run.started);
            let failed_at = run.completion_time.unwrap_or(now);
            let start = status.start_time.as_ref().map(|t| t.0).unwrap_or(failed_at);
            let message = c
                .message
                .clone()
                .or_else(|| c.reason.clone())
                .unwrap_or_else(|| "PipelineRun failed".to_owned());
            let failure = FailureInput {
                reason,
                message,
                failed_task: world.failed_task,
                was_execution_failure: tekton::was_execution_failure(reason, started),
                failed_at,
                ran_for: Some(duration_between(start, failed_at)),
            };
            fail(wfe, status, failure, world, settings)
        }
        other => running(status, other, generation, now),
    }
}

/// The run succeeded: Completed, the failure count reset, the conditions closed.
fn completed(
    mut status: WorkflowExecutionStatus,
    run: &RunView,
    c: &tekton::SucceededCondition,
    generation: Option<i64>,
    now: Timestamp,
) -> WorkflowExecutionStatus {
    let end = run.completion_time.unwrap_or(now);
    status.phase = Some(Phase::Completed);
    status.reason = None;
    status.completion_time.get_or_insert(Time(end));
    if let (Some(start), Some(end)) = (status.start_time.as_ref(), status.completion_time.as_ref())
    {
        status.duration = Some(wfe_api::duration::format(duration_between(start.0, end.0)));
    }
    status.consecutive_failures = Some(0);
    status.next_allowed_execution = None;
    set_condition(
        &mut status.conditions,
        keys::CONDITION_PIPELINE_RUN_RUNNING,
        false,
        "Succeeded",
        "PipelineRun finished",
        generation,
        now,
    );
    set_condition(
        &mut status.conditions,
        keys::CONDITION_PIPELINE_RUN_COMPLETE,
        true,
        "Succeeded",
        c.message.clone().unwrap_or_default(),
        generation,
        now,
    );
    status
}

/// The run has not finished: Running, with Tekton's reason on the condition.
fn running(
    mut status: WorkflowExecutionStatus,
    succeeded: Option<&tekton::SucceededCondition>,
    generation: Option<i64>,
    now: Timestamp,
) -> WorkflowExecutionStatus {
    status.phase = Some(Phase::Running);
    status.reason = None;
    let reason = succeeded
        .and_then(|c| c.reason.clone())
        .unwrap_or_else(|| "Running".to_owned());
    set_condition(
        &mut status.conditions,
        keys::CONDITION_PIPELINE_RUN_RUNNING,
        true,
        &reason,
        "PipelineRun is running",
        generation,
        now,
    );
    status
}

/// Whether deciding about `wfe` needs its run's failed TaskRun looked up first.
pub fn needs_failed_task(wfe: &WorkflowExecution, lock: Option<&RunView>) -> bool {
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    matches!(wfe.phase(), Phase::Pending | Phase::Running)
        && lock.is_some_and(|r| {
            r.is_owned_by(uid) && r.succeeded.as_ref().is_some_and(|c| c.is_false())
        })
}

pub(super) fn decide_running(
    wfe: &WorkflowExecution,
    world: &World<'_>,
    settings: &Settings,
) -> WorkflowExecutionStatus {
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    match world.lock {
        Some(run) if run.is_owned_by(uid) => follow_run(wfe, run, world, settings),
        _ => {
            let status = base_status(wfe);
            // It never started a task if Tekton had reported none: then nothing touched the target.
            let started = status
                .pipeline_run_status
                .as_ref()
                .is_some_and(|p| p.total_tasks > 0);
            let start = status.start_time.as_ref().map(|t| t.0).unwrap_or(world.now);
            let run_name = status
                .pipeline_run_ref
                .as_ref()
                .map(|r| r.name.clone())
                .unwrap_or_default();
            let f = FailureInput {
                reason: FailureReason::Unknown,
                message: format!("PipelineRun {run_name} {}", tekton::RUN_DELETED_EXTERNALLY),
                failed_task: None,
                was_execution_failure: started,
                failed_at: world.now,
                ran_for: Some(duration_between(start, world.now)),
            };
            fail(wfe, status, f, world, settings)
        }
    }
}
