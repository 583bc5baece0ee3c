//! The lock PipelineRun relative to a WFE (DESIGN §4.2): ours, expired, or held.

use super::*;

/// How the lock PipelineRun relates to a WFE that wants it.
#[derive(Debug, Clone, PartialEq)]
pub enum LockState<'a> {
    /// It belongs to this WFE.
    Ours,
    /// Its owner finished and its cooldown is over, or its finished owner no longer exists.
    Expired(RunDeletion),
    /// Someone holds it.
    Held {
        /// The owning WFE, when it is known and still exists.
        owner: Option<&'a Neighbour>,
        /// Whether the holder is still running (Pending/Running) or unknown, rather than a
        /// finished WFE inside its cooldown.
        live: bool,
    },
}

/// Classifies the lock run relative to the WFE `uid` (DESIGN §4.2).
pub fn lock_state<'a>(
    run: &RunView,
    uid: &str,
    others: &[&'a Neighbour],
    now: Timestamp,
    settings: &Settings,
) -> LockState<'a> {
    if run.is_owned_by(uid) {
        return LockState::Ours;
    }
    let Some(owner) = &run.owner else {
        // Not labelled by us: never ours to delete.
        return LockState::Held {
            owner: None,
            live: true,
        };
    };
    let deletion = run.uid.clone().map(|run_uid| RunDeletion {
        name: run.name.clone(),
        uid: run_uid,
    });
    let owner_wfe = others.iter().copied().find(|w| w.has_owner_uid(&owner.uid));
    match owner_wfe {
        Some(w) if w.counts_as_history() || w.phase == Phase::Skipped => {
            let expired = match w.finished {
                Some(end) => {
                    settings.cooldown.is_zero()
                        || end.checked_add(settings.cooldown).is_ok_and(|e| now >= e)
                }
                None => false,
            };
            match (expired, deletion) {
                (true, Some(d)) if !run.deleting => LockState::Expired(d),
                _ => LockState::Held {
                    owner: Some(w),
                    live: false,
                },
            }
        }
        Some(w) => LockState::Held {
            owner: Some(w),
            live: true,
        },
        None => {
            // The owner is gone (finalizer bypassed). Only a finished run past its cooldown may
            // be taken over: a running one might belong to a WFE our cache has not seen yet.
            let finished = run
                .succeeded
                .as_ref()
                .is_some_and(|c| c.is_true() || c.is_false());
            let end = run
                .completion_time
                .and_then(|t| t.checked_add(settings.cooldown).ok());
            match (finished && end.is_some_and(|e| now >= e), deletion) {
                (true, Some(d)) if !run.deleting => LockState::Expired(d),
                _ => LockState::Held {
                    owner: None,
                    live: true,
                },
            }
        }
    }
}

pub(super) fn lock_release_requeue(
    wfe: &WorkflowExecution,
    status: &WorkflowExecutionStatus,
    world: &World<'_>,
    settings: &Settings,
) -> Option<Duration> {
    let uid = wfe.metadata.uid.as_deref()?;
    let holds = world.lock.is_some_and(|r| r.is_owned_by(uid));
    let phase = status.phase?;
    if !holds || !matches!(phase, Phase::Completed | Phase::Failed) {
        return None;
    }
    let end = status
        .completion_time
        .as_ref()?
        .0
        .checked_add(settings.cooldown)
        .ok()?;
    Some(duration_between(world.now, end).max(Duration::from_millis(1)))
}
