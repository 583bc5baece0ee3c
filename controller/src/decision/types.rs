//! The decision's vocabulary: what is observed, what to do, what to announce.

use super::*;

/// Everything the decision looks at besides the WFE itself.
#[derive(Debug, Clone, Copy)]
pub struct World<'a> {
    /// The lock PipelineRun (named after the WFE's target), if it exists.
    pub lock: Option<&'a RunView>,
    /// The other WFEs on the same target (from the cache index), excluding this one.
    pub others: &'a [&'a Neighbour],
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
