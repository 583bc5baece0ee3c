//! The pure decision core (DESIGN §4.1): from a WFE and what is observed around it to the status
//! to write, the one lock action to take, the notices to emit once that status is persisted and
//! when to look again. No I/O here; every row of §4.1 is a branch below.

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wfe_api::block::{
    BlockFacts, BlockKind, BlockPolicy, ClearanceVerdict, REASON_BLOCK_CLEARED, RecordProblem,
};
use wfe_api::{
    BlockClearance, BlockingWorkflow, ConflictingWorkflow, FailureDetails, FailureReason, Phase,
    PhaseReason, PipelineRunRef, PipelineRunStatus, RecentRemediation, SkipDetails, SkipReason,
    WorkflowExecution, WorkflowExecutionStatus, commands, keys,
};

use crate::audit_due::set_audit_condition;
use crate::conditions::{find, set_condition};
use crate::history;
use crate::settings::Settings;
use crate::tekton::{self, FailedTask, RunView};

/// Everything the decision looks at besides the WFE itself.
#[derive(Debug, Clone, Copy)]
pub struct World<'a> {
    /// The lock PipelineRun (named after the WFE's target), if it exists.
    pub lock: Option<&'a RunView>,
    /// The other WFEs on the same target (from the cache index), excluding this one.
    pub others: &'a [&'a WorkflowExecution],
    /// The first failed TaskRun of the lock run, when the run failed and it could be looked up.
    pub failed_task: Option<&'a FailedTask>,
    /// The current time.
    pub now: Timestamp,
}

/// A PipelineRun to delete, with the UID the deletion is preconditioned on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDeletion {
    /// PipelineRun name.
    pub name: String,
    /// PipelineRun UID (delete precondition, so a newer run of the same name is never hit).
    pub uid: String,
}

/// The one lock action of a decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to do besides writing the status.
    Nothing,
    /// All clear: create the lock PipelineRun, after deleting an expired lock if given.
    Start {
        /// An expired lock of a finished WFE (or of one that no longer exists) to remove first.
        expired_lock: Option<RunDeletion>,
    },
    /// Release this WFE's own lock (its cooldown is over).
    ReleaseLock(RunDeletion),
}

/// Kubernetes events the controller emits (DESIGN §4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeKind {
    /// The PipelineRun (lock) was created.
    PipelineRunCreated,
    /// The workflow completed.
    WorkflowCompleted,
    /// The workflow failed (Warning).
    WorkflowFailed,
    /// The WFE was skipped.
    Skipped,
    /// The lock PipelineRun was deleted after the cooldown.
    LockReleased,
    /// An operator's clearance released the block.
    BlockCleared,
    /// A clearance failed the block rules and did not release the block (Warning).
    ForgedClearance,
    /// The WFE was deleted and cleaned up.
    WorkflowExecutionDeleted,
}

impl NoticeKind {
    /// The event reason.
    pub fn reason(self) -> &'static str {
        match self {
            NoticeKind::PipelineRunCreated => "PipelineRunCreated",
            NoticeKind::WorkflowCompleted => "WorkflowCompleted",
            NoticeKind::WorkflowFailed => "WorkflowFailed",
            NoticeKind::Skipped => "Skipped",
            NoticeKind::LockReleased => "LockReleased",
            NoticeKind::BlockCleared => "BlockCleared",
            NoticeKind::ForgedClearance => "ForgedClearance",
            NoticeKind::WorkflowExecutionDeleted => "WorkflowExecutionDeleted",
        }
    }

    /// Whether the event is a Warning.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            NoticeKind::WorkflowFailed | NoticeKind::ForgedClearance
        )
    }
}

/// An event to emit once the status it describes is persisted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// Which event.
    pub kind: NoticeKind,
    /// Human-readable note.
    pub note: String,
}

/// What to do for one WFE.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The status the WFE should have; written only when it differs from the current one.
    pub status: WorkflowExecutionStatus,
    /// The lock action.
    pub step: Step,
    /// Events to emit after the status (and step) succeeded.
    pub notices: Vec<Notice>,
    /// When to reconcile again regardless of watch events.
    pub requeue_after: Option<Duration>,
}

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
        owner: Option<&'a WorkflowExecution>,
        /// Whether the holder is still running (Pending/Running) or unknown, rather than a
        /// finished WFE inside its cooldown.
        live: bool,
    },
}

/// Classifies the lock run relative to the WFE `uid` (DESIGN §4.2).
pub fn lock_state<'a>(
    run: &RunView,
    uid: &str,
    others: &[&'a WorkflowExecution],
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
    let owner_wfe = others.iter().copied().find(|w| {
        w.metadata
            .uid
            .as_deref()
            .is_some_and(|u| wfe_api::naming::label_value(u) == owner.uid)
    });
    match owner_wfe {
        Some(w) if history::counts_as_history(w) || w.phase() == Phase::Skipped => {
            let expired = match history::finished_at(w) {
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

fn generation(wfe: &WorkflowExecution) -> Option<i64> {
    wfe.metadata.generation
}

fn base_status(wfe: &WorkflowExecution) -> WorkflowExecutionStatus {
    let mut status = wfe.status.clone().unwrap_or_default();
    status.observed_generation = generation(wfe);
    status
}

fn duration_between(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or_default()
}

fn blocked_message(wfe: &WorkflowExecution, kind: BlockKind) -> String {
    let name = wfe.metadata.name.as_deref().unwrap_or("<name>");
    let ns = wfe.metadata.namespace.as_deref().unwrap_or("<namespace>");
    let why = match kind {
        BlockKind::PreviousExecutionFailed => {
            "This workflow failed after it started changing the target"
        }
        BlockKind::ExhaustedRetries => {
            "The target reached the maximum number of consecutive pre-execution failures"
        }
    };
    // The plugin command first (it encodes any reason safely), the raw patch as the fallback;
    // both carry the placeholder the reason rules refuse.
    format!(
        "{why}; no further remediation of {} will run until an authorised operator clears this block: \
         {} (without the kubectl-wfe plugin: {})",
        wfe.spec.target_resource,
        commands::plugin_clear_command(name, ns),
        commands::patch_clear_command(name, ns)
    )
}

fn rejected_clearance_message(
    wfe: &WorkflowExecution,
    record: &BlockClearance,
    problems: &[RecordProblem],
) -> String {
    let name = wfe.metadata.name.as_deref().unwrap_or("<name>");
    let ns = wfe.metadata.namespace.as_deref().unwrap_or("<namespace>");
    let why: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!(
        "The blockClearance naming {:?} was rejected and does not release the block ({}); it was not \
         stamped by the admission webhook for an operator allowed to clear. It is kept as evidence \
         (write-once): investigate who wrote it (ForgedClearance event, audit trail). To release \
         {}, export this WorkflowExecution (kubectl get wfe {name} -n {ns} -o yaml) and delete it.",
        record.cleared_by,
        why.join("; "),
        wfe.spec.target_resource
    )
}

/// The TargetBlocked condition a failed WFE should carry, from the block rules over its status.
fn apply_block_condition(
    status: &mut WorkflowExecutionStatus,
    wfe: &WorkflowExecution,
    settings: &Settings,
    now: Timestamp,
) {
    let facts = BlockFacts::from(&*status);
    let Some(kind) = facts.blocking_kind(&settings.block) else {
        return;
    };
    let (blocked, reason, message) = match facts.clearance(&settings.block) {
        ClearanceVerdict::Valid(c) => (
            false,
            REASON_BLOCK_CLEARED,
            format!("block cleared by {}: {}", c.cleared_by, c.clear_reason),
        ),
        ClearanceVerdict::Rejected { record, problems } => (
            true,
            kind.as_str(),
            rejected_clearance_message(wfe, record, &problems),
        ),
        ClearanceVerdict::Absent => (true, kind.as_str(), blocked_message(wfe, kind)),
    };
    set_condition(
        &mut status.conditions,
        keys::CONDITION_TARGET_BLOCKED,
        blocked,
        reason,
        message,
        generation(wfe),
        now,
    );
}

/// Inputs of a failure transition.
struct FailureInput<'a> {
    reason: FailureReason,
    message: String,
    failed_task: Option<&'a FailedTask>,
    was_execution_failure: bool,
    failed_at: Timestamp,
    ran_for: Option<Duration>,
}

fn fail(
    wfe: &WorkflowExecution,
    mut status: WorkflowExecutionStatus,
    f: FailureInput<'_>,
    world: &World<'_>,
    settings: &Settings,
) -> WorkflowExecutionStatus {
    let previous = history::previous_failure_count(world.others, settings);
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
    status.failure_details = Some(FailureDetails {
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
    });
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

fn skip(
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
    status.skip_details = Some(details);
    status
}

fn run_status_mirror(run: &RunView) -> PipelineRunStatus {
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
fn follow_run(
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
    status.pipeline_run_status = Some(run_status_mirror(run));
    set_condition(
        &mut status.conditions,
        keys::CONDITION_PIPELINE_RUN_CREATED,
        true,
        "Created",
        format!("PipelineRun {} created", run.name),
        generation,
        now,
    );
    let succeeded = run.succeeded.as_ref();
    match succeeded {
        Some(c) if c.is_true() => {
            let end = run.completion_time.unwrap_or(now);
            status.phase = Some(Phase::Completed);
            status.reason = None;
            status.completion_time.get_or_insert(Time(end));
            if let (Some(start), Some(end)) =
                (status.start_time.as_ref(), status.completion_time.as_ref())
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
            fail(
                wfe,
                status,
                FailureInput {
                    reason,
                    message,
                    failed_task: world.failed_task,
                    was_execution_failure: tekton::was_execution_failure(reason, started),
                    failed_at,
                    ran_for: Some(duration_between(start, failed_at)),
                },
                world,
                settings,
            )
        }
        _ => {
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
    }
}

/// Whether deciding about `wfe` needs its run's failed TaskRun looked up first.
pub fn needs_failed_task(wfe: &WorkflowExecution, lock: Option<&RunView>) -> bool {
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    matches!(wfe.phase(), Phase::Pending | Phase::Running)
        && lock.is_some_and(|r| {
            r.is_owned_by(uid) && r.succeeded.as_ref().is_some_and(|c| c.is_false())
        })
}

fn busy(
    wfe: &WorkflowExecution,
    holder: Option<&WorkflowExecution>,
    now: Timestamp,
) -> SkipDetails {
    let target = wfe.spec.target_resource.clone();
    let conflicting = ConflictingWorkflow {
        name: holder
            .and_then(|h| h.metadata.name.clone())
            .unwrap_or_else(|| wfe_api::naming::pipeline_run_name(&target)),
        workflow_id: holder.map(|h| h.spec.workflow_ref.workflow_id.clone()),
        started_at: holder
            .and_then(|h| h.status.as_ref())
            .and_then(|s| s.start_time.clone()),
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

fn decide_pending(
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
    if let Some((blocker, reason)) = history::blocking_workflow(world.others, settings) {
        let name = blocker.metadata.name.clone().unwrap_or_default();
        let details = blocker
            .status
            .as_ref()
            .and_then(|s| s.failure_details.as_ref());
        let message = match reason {
            BlockKind::PreviousExecutionFailed => format!(
                "workflow {name} failed during execution on {}; the target is blocked until an operator clears {name}",
                wfe.spec.target_resource
            ),
            BlockKind::ExhaustedRetries => format!(
                "{} has had {} consecutive pre-execution failures (last: {name}); the target is blocked until an operator clears {name}",
                wfe.spec.target_resource, settings.block.max_consecutive_failures
            ),
        };
        let skip_details = SkipDetails {
            reason: reason.skip_reason(),
            message,
            skipped_at: Time(now),
            conflicting_workflow: None,
            recent_remediation: None,
            blocking_workflow: Some(BlockingWorkflow {
                name,
                namespace: blocker.metadata.namespace.clone(),
                failed_at: details.map(|d| d.failed_at.clone()),
                reason: details.map(|d| d.reason),
            }),
        };
        return (skip(wfe, status, skip_details), Step::Nothing);
    }
    if let Some(running) = world
        .others
        .iter()
        .copied()
        .find(|w| w.phase() == Phase::Running)
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
        let w = window.wfe;
        let remaining = duration_between(now, window.ends_at);
        let name = w.metadata.name.clone().unwrap_or_default();
        let details = SkipDetails {
            reason: SkipReason::RecentlyRemediated,
            message: format!(
                "{} was remediated recently by {name}; the next remediation is allowed in {} (at {})",
                wfe.spec.target_resource,
                wfe_api::duration::format(remaining),
                window.ends_at
            ),
            skipped_at: Time(now),
            conflicting_workflow: None,
            recent_remediation: Some(RecentRemediation {
                name,
                workflow_id: w.spec.workflow_ref.workflow_id.clone(),
                completed_at: history::finished_at(w).map(Time),
                outcome: w.phase(),
                cooldown_remaining: wfe_api::duration::format(remaining),
            }),
            blocking_workflow: None,
        };
        return (skip(wfe, status, details), Step::Nothing);
    }
    if let Some(owner) = held_by_finished {
        return (skip(wfe, status, busy(wfe, owner, now)), Step::Nothing);
    }
    (status, Step::Start { expired_lock })
}

fn decide_running(
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

fn decide_terminal(
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

/// Notices implied by going from `old` to `new` (so they follow persisted state, never retries).
pub fn transition_notices(
    wfe: &WorkflowExecution,
    old: Option<&WorkflowExecutionStatus>,
    new: &WorkflowExecutionStatus,
    policy: &BlockPolicy,
) -> Vec<Notice> {
    let mut out = Vec::new();
    let old_phase = old.and_then(|s| s.phase).unwrap_or(Phase::Pending);
    let new_phase = new.phase.unwrap_or(Phase::Pending);
    let target = &wfe.spec.target_resource;
    if old.is_none_or(|s| s.pipeline_run_ref.is_none())
        && let Some(r) = &new.pipeline_run_ref
    {
        out.push(Notice {
            kind: NoticeKind::PipelineRunCreated,
            note: format!(
                "created PipelineRun {}/{} for {target}",
                r.namespace, r.name
            ),
        });
    }
    if old_phase != new_phase {
        match new_phase {
            Phase::Completed => out.push(Notice {
                kind: NoticeKind::WorkflowCompleted,
                note: format!(
                    "workflow {} completed on {target}",
                    wfe.spec.workflow_ref.workflow_id
                ),
            }),
            Phase::Failed => out.push(Notice {
                kind: NoticeKind::WorkflowFailed,
                note: new.failure_details.as_ref().map_or_else(String::new, |f| {
                    format!(
                        "{}: {}",
                        f.reason.as_str(),
                        f.message.chars().take(900).collect::<String>()
                    )
                }),
            }),
            Phase::Skipped => out.push(Notice {
                kind: NoticeKind::Skipped,
                note: new.skip_details.as_ref().map_or_else(String::new, |s| {
                    format!("{}: {}", s.reason.as_str(), s.message)
                }),
            }),
            _ => {}
        }
    }
    out.extend(block_notice(wfe, old, new, policy));
    out
}

/// The notice for a new block verdict: what happened comes from the block rules over the
/// persisted record; the TargetBlocked condition changing says the verdict is new (so a
/// restart or a retry never announces it twice).
fn block_notice(
    wfe: &WorkflowExecution,
    old: Option<&WorkflowExecutionStatus>,
    new: &WorkflowExecutionStatus,
    policy: &BlockPolicy,
) -> Option<Notice> {
    let verdict = |s: &WorkflowExecutionStatus| {
        find(&s.conditions, keys::CONDITION_TARGET_BLOCKED)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    if old.and_then(verdict) == verdict(new) {
        return None;
    }
    let target = &wfe.spec.target_resource;
    let facts = BlockFacts::from(new);
    facts.blocking_kind(policy)?;
    match facts.clearance(policy) {
        ClearanceVerdict::Valid(c) => Some(Notice {
            kind: NoticeKind::BlockCleared,
            note: format!("block on {target} cleared by {}", c.cleared_by),
        }),
        ClearanceVerdict::Rejected { record, problems } => Some(Notice {
            kind: NoticeKind::ForgedClearance,
            note: format!(
                "rejected a blockClearance naming {:?} on {target}; the block stays: {}",
                record.cleared_by,
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }),
        ClearanceVerdict::Absent => None,
    }
}

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

fn lock_release_requeue(
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

/// What happened when the executor tried to create the lock PipelineRun.
#[derive(Debug, Clone, Copy)]
pub enum CreateOutcome<'a> {
    /// Created; the lock is ours.
    Created(&'a RunView),
    /// A PipelineRun of that name exists (as read back after the conflict).
    AlreadyExists(&'a RunView),
    /// The API server refused the create for a reason retrying will not fix.
    Rejected {
        /// HTTP status code.
        code: u16,
        /// The API server's message.
        message: &'a str,
    },
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
