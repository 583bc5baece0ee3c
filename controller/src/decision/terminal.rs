//! Terminal WFEs: completion time, the block condition and releasing the lock after the cooldown.

use super::*;

pub(super) fn decide_terminal(
    wfe: &WorkflowExecution,
    world: &World<'_>,
    settings: &Settings,
) -> (WorkflowExecutionStatus, Step, Option<Duration>) {
    let now = world.now;
    let mut status = base_status(wfe);
    if status.completion_time.is_none() {
        // Upstream stalled on terminal objects without one; give it the time we noticed.
        let at = status
            .failure_details
            .as_ref()
            .map(|f| f.failed_at.0)
            .unwrap_or(now);
        status.completion_time = Some(Time(at));
    }
    if wfe.phase() == Phase::Failed {
        apply_block_condition(&mut status, wfe, settings, now);
    }
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    let finished = status.completion_time.as_ref().map(|t| t.0).unwrap_or(now);
    match world.lock {
        Some(run) if wfe.phase() != Phase::Skipped && run.is_owned_by(uid) && !run.deleting => {
            let end = finished.checked_add(settings.cooldown).unwrap_or(finished);
            match (now >= end, run.uid.clone()) {
                (true, Some(run_uid)) => (
                    status,
                    Step::ReleaseLock(RunDeletion {
                        name: run.name.clone(),
                        uid: run_uid,
                    }),
                    None,
                ),
                // Exactly at the end of the cooldown, not a resync period later.
                (false, _) => (
                    status,
                    Step::Nothing,
                    Some(duration_between(now, end).max(Duration::from_millis(1))),
                ),
                (true, None) => (status, Step::Nothing, None),
            }
        }
        _ => (status, Step::Nothing, None),
    }
}
