//! The Failed transition: failure details, the carried failure count and the backoff window.

use super::*;

/// Inputs of a failure transition.
pub(super) struct FailureInput<'a> {
    pub(super) reason: FailureReason,
    pub(super) message: String,
    pub(super) failed_task: Option<&'a FailedTask>,
    pub(super) was_execution_failure: bool,
    pub(super) failed_at: Timestamp,
    pub(super) ran_for: Option<Duration>,
}

pub(super) fn fail(
    wfe: &WorkflowExecution,
    mut status: WorkflowExecutionStatus,
    f: FailureInput<'_>,
    world: &World<'_>,
    settings: &Settings,
) -> WorkflowExecutionStatus {
    let previous = history::previous_failure_count(world.others);
    let count = if f.was_execution_failure {
        previous
    } else {
        previous.saturating_add(1)
    };
    status.phase = Some(Phase::Failed);
    status.reason = Some(PhaseReason::Failure(f.reason));
    status.completion_time.get_or_insert(Time(f.failed_at));
    if let (Some(start), Some(end)) = (status.start_time.as_ref(), status.completion_time.as_ref())
    {
        status.duration = Some(wfe_api::duration::format(duration_between(start.0, end.0)));
    }
    status.consecutive_failures = Some(i32::try_from(count).unwrap_or(i32::MAX));
    status.next_allowed_execution = if f.was_execution_failure {
        None
    } else {
        f.failed_at
            .checked_add(settings.backoff.window(count))
            .ok()
            .map(Time)
    };
    status.failure_details = Some(Box::new(FailureDetails {
        reason: f.reason,
        natural_language_summary: Some(tekton::natural_language_summary(
            wfe,
            f.reason,
            &f.message,
            f.failed_task,
            f.ran_for,
        )),
        message: f.message,
        failed_task_name: f.failed_task.map(|t| t.task_name.clone()),
        failed_task_index: f.failed_task.map(|t| t.index),
        exit_code: f.failed_task.and_then(|t| t.task_run.exit_code),
        failed_at: Time(f.failed_at),
        execution_time_before_failure: f.ran_for.map(wfe_api::duration::format),
        was_execution_failure: f.was_execution_failure,
    }));
    let generation = generation(wfe);
    if status.pipeline_run_ref.is_some() {
        set_condition(
            &mut status.conditions,
            keys::CONDITION_PIPELINE_RUN_RUNNING,
            false,
            f.reason.as_str(),
            "PipelineRun finished",
            generation,
            world.now,
        );
        set_condition(
            &mut status.conditions,
            keys::CONDITION_PIPELINE_RUN_COMPLETE,
            false,
            f.reason.as_str(),
            "PipelineRun failed",
            generation,
            world.now,
        );
    } else {
        set_condition(
            &mut status.conditions,
            keys::CONDITION_PIPELINE_RUN_CREATED,
            false,
            f.reason.as_str(),
            "no PipelineRun was created",
            generation,
            world.now,
        );
    }
    apply_block_condition(&mut status, wfe, settings, world.now);
    status
}
