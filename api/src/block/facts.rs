//! What a status says about blocks: the facts the rules read, the blocking kind, and the verdict on a persisted clearance.

use super::*;

/// The failure a block rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureFacts<'a> {
    /// True when the workflow started running and may have changed the target.
    pub was_execution_failure: bool,
    /// `failureDetails.failedAt`; a clearance is bound to it.
    pub failed_at: Option<&'a Time>,
}

/// The parts of a status the block rules read, borrowed from wherever the status came from.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BlockFacts<'a> {
    /// `status.phase`.
    pub phase: Option<Phase>,
    /// `status.failureDetails`.
    pub failure: Option<FailureFacts<'a>>,
    /// `status.consecutiveFailures`.
    pub consecutive_failures: Option<i64>,
    /// `status.blockClearance`.
    pub clearance: Option<&'a BlockClearance>,
}

impl<'a> From<&'a WorkflowExecutionStatus> for BlockFacts<'a> {
    fn from(status: &'a WorkflowExecutionStatus) -> Self {
        BlockFacts {
            phase: status.phase,
            failure: status.failure_details.as_deref().map(|f| FailureFacts {
                was_execution_failure: f.was_execution_failure,
                failed_at: Some(&f.failed_at),
            }),
            consecutive_failures: status.consecutive_failures.map(i64::from),
            clearance: status.block_clearance.as_deref(),
        }
    }
}

/// The block-relevant fields of a stored status, deserialized from admission JSON (everything
/// else is skipped), for the rules to read through [`StoredBlockStatus::facts`].
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredBlockStatus {
    /// `status.phase`.
    #[serde(default)]
    pub phase: Option<Phase>,
    /// `status.failureDetails`, only what blocks read.
    #[serde(default)]
    pub failure_details: Option<StoredFailure>,
    /// `status.consecutiveFailures`.
    #[serde(default)]
    pub consecutive_failures: Option<i64>,
    /// `status.blockClearance`.
    #[serde(default)]
    pub block_clearance: Option<BlockClearance>,
}

/// `failureDetails` as far as blocks read it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredFailure {
    /// `wasExecutionFailure`.
    #[serde(default)]
    pub was_execution_failure: bool,
    /// `failedAt`.
    #[serde(default)]
    pub failed_at: Option<Time>,
}

impl StoredBlockStatus {
    /// The facts the rules read.
    pub fn facts(&self) -> BlockFacts<'_> {
        BlockFacts {
            phase: self.phase,
            failure: self.failure_details.as_ref().map(|f| FailureFacts {
                was_execution_failure: f.was_execution_failure,
                failed_at: f.failed_at.as_ref(),
            }),
            consecutive_failures: self.consecutive_failures,
            clearance: self.block_clearance.as_ref(),
        }
    }
}

/// What the persisted clearance record, if any, amounts to.
#[derive(Debug, Clone, PartialEq)]
pub enum ClearanceVerdict<'a> {
    /// No clearance.
    Absent,
    /// A clearance that releases the block.
    Valid(&'a BlockClearance),
    /// A clearance that must not release the block: a forgery or one bound to another failure.
    Rejected {
        /// The record as found.
        record: &'a BlockClearance,
        /// Every reason it is not accepted.
        problems: Vec<RecordProblem>,
    },
}

/// Why a persisted clearance record does not release a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordProblem {
    /// `clearMethod` is not the webhook's.
    Method(String),
    /// `clearedFailureAt` is not this WFE's `failureDetails.failedAt`.
    NotBoundToFailure,
    /// `clearedBy` is an identity that may never clear.
    Identity(IdentityRefusal),
}

impl fmt::Display for RecordProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordProblem::Method(m) => write!(
                f,
                "clearMethod is {m:?}, not {}",
                keys::CLEAR_METHOD_WEBHOOK
            ),
            RecordProblem::NotBoundToFailure => {
                f.write_str("clearedFailureAt does not match failureDetails.failedAt")
            }
            RecordProblem::Identity(r) => write!(f, "clearedBy: {r}"),
        }
    }
}

impl<'a> BlockFacts<'a> {
    /// The block this WFE's failure implies, ignoring any clearance; `None` if it blocks nothing.
    pub fn blocking_kind(&self, policy: &BlockPolicy) -> Option<BlockKind> {
        if self.phase != Some(Phase::Failed) {
            return None;
        }
        let failure = self.failure?;
        if failure.was_execution_failure {
            return Some(BlockKind::PreviousExecutionFailed);
        }
        let count = self.consecutive_failures.unwrap_or(0);
        (count >= i64::from(policy.max_consecutive_failures)).then_some(BlockKind::ExhaustedRetries)
    }

    /// Judges the persisted clearance as far as the record itself can show it: the webhook's
    /// method, bound to this failure, and a `clearedBy` that is never allowed to clear
    /// (anonymous, the controller, the runner). Who wrote it is the admission policy's to
    /// enforce; this catches what got past it. Deliberately not judged here: the service-account
    /// allow-list, groups and RBAC. They were checked when the record was written and may change
    /// later; judging an accepted record against today's configuration would re-block a target
    /// (and raise a forgery alarm) long after the operator cleared it.
    pub fn clearance(&self, policy: &BlockPolicy) -> ClearanceVerdict<'a> {
        let Some(record) = self.clearance else {
            return ClearanceVerdict::Absent;
        };
        let mut problems = Vec::new();
        if record.clear_method != keys::CLEAR_METHOD_WEBHOOK {
            problems.push(RecordProblem::Method(record.clear_method.clone()));
        }
        let failed_at = self.failure.and_then(|f| f.failed_at);
        if failed_at.is_none() || record.cleared_failure_at.as_ref() != failed_at {
            problems.push(RecordProblem::NotBoundToFailure);
        }
        if let Err(refusal) = never_clears(&record.cleared_by, &record.cleared_by_groups, policy) {
            problems.push(RecordProblem::Identity(refusal));
        }
        if problems.is_empty() {
            ClearanceVerdict::Valid(record)
        } else {
            ClearanceVerdict::Rejected { record, problems }
        }
    }

    /// Whether a valid clearance releases this WFE's failure. Only a blocking failure can be
    /// cleared (DESIGN §5 step 3): a record on any other WFE releases nothing and resets no
    /// failure count.
    pub fn is_cleared(&self, policy: &BlockPolicy) -> bool {
        self.blocking_kind(policy).is_some()
            && matches!(self.clearance(policy), ClearanceVerdict::Valid(_))
    }

    /// The block this WFE puts on its target now: its blocking kind unless validly cleared.
    pub fn active_block(&self, policy: &BlockPolicy) -> Option<BlockKind> {
        self.blocking_kind(policy)
            .filter(|_| !self.is_cleared(policy))
    }

    /// Step 3 of a clearance: whether this stored status can be cleared at all. On success,
    /// the failure time the new clearance is bound to.
    pub fn clearable(&self, policy: &BlockPolicy) -> Result<Option<&'a Time>, NotClearable> {
        if let Some(existing) = self.clearance {
            return Err(NotClearable::AlreadyCleared {
                by: existing.cleared_by.clone(),
                at: crate::timestamp::micro(&existing.cleared_at),
            });
        }
        match self.phase {
            Some(Phase::Failed) => {}
            other => return Err(NotClearable::NotFailed(other)),
        }
        if self.blocking_kind(policy).is_none() {
            return Err(NotClearable::NotBlocking {
                failures: self.consecutive_failures.unwrap_or(0),
                max: policy.max_consecutive_failures,
            });
        }
        Ok(self.failure.and_then(|f| f.failed_at))
    }
}

/// Why a stored status cannot be cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotClearable {
    /// It already carries a clearance (write-once).
    AlreadyCleared {
        /// `clearedBy` of the existing record.
        by: String,
        /// `clearedAt` of the existing record.
        at: String,
    },
    /// It is not Failed (`None`: no phase yet).
    NotFailed(Option<Phase>),
    /// It failed before execution and is below the failure limit.
    NotBlocking {
        /// `consecutiveFailures`.
        failures: i64,
        /// The limit.
        max: u32,
    },
}

impl NotClearable {
    /// The operator-facing explanation for WorkflowExecution `wfe` (`namespace/name`).
    pub fn message(&self, wfe: &str) -> String {
        let not_blocking = "only a Failed WorkflowExecution that blocks its target can be cleared";
        match self {
            NotClearable::AlreadyCleared { by, at } => format!(
                "WorkflowExecution {wfe} was already cleared by {by} at {at}; a clearance is write-once, create a new WorkflowExecution if another run is needed"
            ),
            NotClearable::NotFailed(Some(phase)) => format!(
                "WorkflowExecution {wfe} is not blocking its target (phase is {}, not Failed); {not_blocking}",
                phase.as_str()
            ),
            NotClearable::NotFailed(None) => format!(
                "WorkflowExecution {wfe} is not blocking its target (it has no phase); {not_blocking}"
            ),
            NotClearable::NotBlocking { failures, max } => format!(
                "WorkflowExecution {wfe} is not blocking its target: it failed before execution (wasExecutionFailure=false) and \
                 consecutiveFailures is {failures}, below the limit of {max}; the target is retried with backoff and needs no clearance"
            ),
        }
    }
}
