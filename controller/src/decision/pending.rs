//! A Pending WFE (DESIGN §4.1): blocked, busy, inside a time window, or all clear.

use super::*;

pub(super) fn skip(
    wfe: &WorkflowExecution,
    mut status: WorkflowExecutionStatus,
    details: SkipDetails,
) -> WorkflowExecutionStatus {
    status.phase = Some(Phase::Skipped);
    status.reason = Some(PhaseReason::Skip(details.reason));
    status
        .completion_time
        .get_or_insert(details.skipped_at.clone());
    status.observed_generation = generation(wfe);
    status.skip_details = Some(Box::new(details));
    status
}

pub(super) fn busy(
    wfe: &WorkflowExecution,
    holder: Option<&Neighbour>,
    now: Timestamp,
) -> SkipDetails {
    let target = wfe.spec.target_resource.clone();
    let conflicting = ConflictingWorkflow {
        name: holder
            .map(|h| h.name().to_owned())
            .unwrap_or_else(|| wfe_api::naming::pipeline_run_name(&target)),
        workflow_id: holder.map(|h| h.workflow_id.to_string()),
        started_at: holder.and_then(|h| h.started.clone()),
        target_resource: target.clone(),
    };
    SkipDetails {
        reason: SkipReason::ResourceBusy,
        message: format!(
            "another workflow ({}) holds the lock on {target}; this execution was not started",
            conflicting.name
        ),
        skipped_at: Time(now),
        conflicting_workflow: Some(conflicting),
        recent_remediation: None,
        blocking_workflow: None,
    }
}

pub(super) fn decide_pending(
    wfe: &WorkflowExecution,
    world: &World<'_>,
    settings: &Settings,
) -> (WorkflowExecutionStatus, Step) {
    let now = world.now;
    let status = base_status(wfe);
    if let Err(violations) = wfe_api::validate_spec(&wfe.spec, &settings.spec_policy()) {
        let f = FailureInput {
            reason: FailureReason::ConfigurationError,
            message: format!("invalid spec: {violations}"),
            failed_task: None,
            was_execution_failure: false,
            failed_at: now,
            ran_for: None,
        };
        return (fail(wfe, status, f, world, settings), Step::Nothing);
    }
    if let Some((blocker, kind)) = history::blocking_workflow(world.others) {
        let details = blocked_details(wfe, blocker, kind, now, settings);
        return (skip(wfe, status, details), Step::Nothing);
    }
    if let Some(running) = world
        .others
        .iter()
        .copied()
        .find(|w| w.phase == Phase::Running)
    {
        return (
            skip(wfe, status, busy(wfe, Some(running), now)),
            Step::Nothing,
        );
    }
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    let mut expired_lock = None;
    let mut held_by_finished = None;
    if let Some(run) = world.lock {
        match lock_state(run, uid, world.others, now, settings) {
            LockState::Ours => return (follow_run(wfe, run, world, settings), Step::Nothing),
            LockState::Expired(d) => expired_lock = Some(d),
            LockState::Held { owner, live: true } => {
                return (skip(wfe, status, busy(wfe, owner, now)), Step::Nothing);
            }
            LockState::Held { owner, live: false } => held_by_finished = Some(owner),
        }
    }
    if let Some(window) = history::open_window(world.others, now, settings) {
        let details = recent_details(wfe, &window, now);
        return (skip(wfe, status, details), Step::Nothing);
    }
    if let Some(owner) = held_by_finished {
        return (skip(wfe, status, busy(wfe, owner, now)), Step::Nothing);
    }
    (status, Step::Start { expired_lock })
}

/// Skipped `PreviousExecutionFailed` or `ExhaustedRetries`, naming the WFE to clear.
pub(super) fn blocked_details(
    wfe: &WorkflowExecution,
    blocker: &Neighbour,
    kind: BlockKind,
    now: Timestamp,
    settings: &Settings,
) -> SkipDetails {
    let name = blocker.name().to_owned();
    let message = match kind {
        BlockKind::PreviousExecutionFailed => format!(
            "workflow {name} failed during execution on {}; the target is blocked until an operator clears {name}",
            wfe.spec.target_resource
        ),
        BlockKind::ExhaustedRetries => format!(
            "{} has had {} consecutive pre-execution failures (among them {name}); the target is blocked until an operator clears {name}",
            wfe.spec.target_resource, settings.block.max_consecutive_failures
        ),
    };
    SkipDetails {
        reason: kind.skip_reason(),
        message,
        skipped_at: Time(now),
        conflicting_workflow: None,
        recent_remediation: None,
        blocking_workflow: Some(BlockingWorkflow {
            name,
            namespace: blocker.namespace().map(str::to_owned),
            failed_at: blocker.failure.as_ref().map(|(at, _)| at.clone()),
            reason: blocker.failure.as_ref().map(|(_, reason)| *reason),
        }),
    }
}

/// Skipped `RecentlyRemediated`: who remediated last and when the window closes.
pub(super) fn recent_details(
    wfe: &WorkflowExecution,
    window: &history::OpenWindow<'_>,
    now: Timestamp,
) -> SkipDetails {
    let w = window.wfe;
    let remaining = duration_between(now, window.ends_at);
    let name = w.name().to_owned();
    SkipDetails {
        reason: SkipReason::RecentlyRemediated,
        message: format!(
            "{} was remediated recently by {name}; the next remediation is allowed in {} (at {})",
            wfe.spec.target_resource,
            wfe_api::duration::human(remaining),
            window.ends_at
        ),
        skipped_at: Time(now),
        conflicting_workflow: None,
        recent_remediation: Some(RecentRemediation {
            name,
            workflow_id: w.workflow_id.to_string(),
            completed_at: w.finished.map(Time),
            outcome: w.phase,
            cooldown_remaining: wfe_api::duration::format(remaining),
        }),
        blocking_workflow: None,
    }
}
