//! The pure decision core (DESIGN §4.1): from a WFE and what is observed around it to the status
//! to write, the one lock action to take, the notices to emit once that status is persisted and
//! when to look again. No I/O here; every row of §4.1 is a branch below.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wfe_api::block::{
    BlockFacts, BlockKind, BlockPolicy, ClearanceVerdict, REASON_BLOCK_CLEARED,
    REASON_NO_LONGER_BLOCKING, RecordProblem,
};
use wfe_api::{
    BlockClearance, BlockingWorkflow, ConflictingWorkflow, FailureDetails, FailureReason, Phase,
    PhaseReason, PipelineRunRef, PipelineRunStatus, RecentRemediation, SkipDetails, SkipReason,
    WorkflowExecution, WorkflowExecutionStatus, keys,
};

use crate::audit_due::set_audit_condition;
use crate::conditions::{find, set_condition};
use crate::history;
use crate::neighbour::Neighbour;
use crate::settings::Settings;
use crate::tekton::{self, FailedTask, RunView};

mod failure;
mod lock;
mod notices;
mod pending;
mod prose;
mod running;
mod status;
mod target_block;
mod terminal;
mod types;

pub use lock::{LockState, lock_state};
pub use notices::transition_notices;
pub use running::needs_failed_task;
pub use types::*;

use failure::*;
use lock::lock_release_requeue;
use pending::*;
use prose::*;
use running::*;
use status::*;
use target_block::*;
use terminal::*;

/// The decision for `wfe` given what is observed.
pub fn decide(wfe: &WorkflowExecution, world: &World<'_>, settings: &Settings) -> Decision {
    let (mut status, step, requeue_after) = match wfe.phase() {
        Phase::Pending => {
            let (status, step) = decide_pending(wfe, world, settings);
            (status, step, None)
        }
        Phase::Running => (decide_running(wfe, world, settings), Step::Nothing, None),
        Phase::Completed | Phase::Failed | Phase::Skipped => decide_terminal(wfe, world, settings),
    };
    // A run this decision just observed finishing still holds the lock: come back at cooldown end.
    let requeue_after = match step {
        Step::ReleaseLock(_) => None,
        _ => requeue_after.or_else(|| lock_release_requeue(wfe, &status, world, settings)),
    };
    crate::succeeded::apply_succeeded_condition(&mut status, generation(wfe), world.now);
    set_audit_condition(
        &mut status,
        &settings.block,
        generation(wfe),
        world.now,
        None,
    );
    let mut notices = transition_notices(wfe, wfe.status.as_ref(), &status, &settings.block);
    if let Step::ReleaseLock(d) = &step {
        notices.push(Notice {
            kind: NoticeKind::LockReleased,
            note: format!("deleted PipelineRun {} after the cooldown", d.name),
        });
    }
    Decision {
        status,
        step,
        notices,
        requeue_after,
    }
}

/// The decision after a create attempt (DESIGN §4.2's AlreadyExists rules).
pub fn decide_after_create(
    wfe: &WorkflowExecution,
    outcome: CreateOutcome<'_>,
    world: &World<'_>,
    settings: &Settings,
) -> Decision {
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    let now = world.now;
    let (mut status, step) = match outcome {
        CreateOutcome::Created(run) => (follow_run(wfe, run, world, settings), Step::Nothing),
        CreateOutcome::AlreadyExists(run) => {
            match lock_state(run, uid, world.others, now, settings) {
                LockState::Ours => (follow_run(wfe, run, world, settings), Step::Nothing),
                LockState::Expired(d) => (
                    base_status(wfe),
                    Step::Start {
                        expired_lock: Some(d),
                    },
                ),
                LockState::Held { owner, .. } => (
                    skip(wfe, base_status(wfe), busy(wfe, owner, now)),
                    Step::Nothing,
                ),
            }
        }
        CreateOutcome::Rejected { code, message } => {
            let reason = match code {
                403 => FailureReason::Forbidden,
                _ => match tekton::classify_text(message, false) {
                    FailureReason::Unknown | FailureReason::TaskFailed => {
                        FailureReason::ConfigurationError
                    }
                    other => other,
                },
            };
            let f = FailureInput {
                reason,
                message: format!("PipelineRun could not be created (HTTP {code}): {message}"),
                failed_task: None,
                was_execution_failure: false,
                failed_at: now,
                ran_for: None,
            };
            (
                fail(wfe, base_status(wfe), f, world, settings),
                Step::Nothing,
            )
        }
    };
    // The run just created or read back is the freshest view of the lock.
    let lock = match outcome {
        CreateOutcome::Created(run) | CreateOutcome::AlreadyExists(run) => Some(run),
        CreateOutcome::Rejected { .. } => world.lock,
    };
    let requeue_after = lock_release_requeue(wfe, &status, &World { lock, ..*world }, settings);
    crate::succeeded::apply_succeeded_condition(&mut status, generation(wfe), now);
    set_audit_condition(&mut status, &settings.block, generation(wfe), now, None);
    let notices = transition_notices(wfe, wfe.status.as_ref(), &status, &settings.block);
    Decision {
        status,
        step,
        notices,
        requeue_after,
    }
}

#[cfg(test)]
mod tests;
