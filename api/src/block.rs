//! The block rules (DESIGN §3.3, §4.3, §5), written once over the status: whether a failed WFE
//! blocks its target, whether a clearance releases it, who may add a clearance and what its
//! reason must look like. The webhook, the controller and the kubectl plugin call these and keep
//! no copy of their own, so a security rule cannot drift between them.

use std::fmt;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use serde::{Deserialize, Serialize};

use crate::identity::UserInfo;
use crate::{BlockClearance, Phase, SkipReason, WorkflowExecutionStatus, keys};

/// Reason of `TargetBlocked=False` once a clearance released the block.
pub const REASON_BLOCK_CLEARED: &str = "BlockCleared";

/// The reason the `TargetBlocked` message shows; the reason rules refuse it, so a command pasted
/// without replacing it fails with an explanation instead of clearing a block for no reason.
pub const CLEAR_REASON_PLACEHOLDER: &str =
    "<replace this placeholder with at least 10 words explaining why it is safe>";

/// Default runner identity (`runnerServiceAccount` in the default execution namespace).
pub const DEFAULT_RUNNER_USERNAME: &str =
    "system:serviceaccount:kubernaut-workflows:kubernaut-workflow-runner";

/// Default `backoff.maxConsecutiveFailures`: the one default of the failure limit.
pub const DEFAULT_MAX_CONSECUTIVE_FAILURES: u32 = 5;

/// Why a failed WFE blocks its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BlockKind {
    /// The pre-execution failure count reached the limit.
    ExhaustedRetries,
    /// The workflow failed after it started changing the target (outranks exhausted retries).
    PreviousExecutionFailed,
}

impl BlockKind {
    /// The skip reason a WFE blocked by this gets, also the `TargetBlocked=True` reason.
    pub fn skip_reason(self) -> SkipReason {
        match self {
            BlockKind::ExhaustedRetries => SkipReason::ExhaustedRetries,
            BlockKind::PreviousExecutionFailed => SkipReason::PreviousExecutionFailed,
        }
    }

    /// The name as written in the API.
    pub fn as_str(self) -> &'static str {
        self.skip_reason().as_str()
    }
}

/// Who may clear and what a reason must look like (config key `clearance`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ClearanceRules {
    /// Fewest whitespace-separated words in a reason.
    pub min_words: usize,
    /// Fewest characters in a reason (after trimming).
    pub min_chars: usize,
    /// Most characters in a reason.
    pub max_chars: usize,
    /// Service accounts allowed to clear, as full usernames `system:serviceaccount:<ns>:<name>`.
    pub allow_service_accounts: Vec<String>,
    /// If not empty, the clearer must be in one of these groups (in addition to the SAR).
    pub allowed_groups: Vec<String>,
    /// Ask the API server (SubjectAccessReview) whether the user may clear blocks.
    pub require_subject_access_review: bool,
}

impl Default for ClearanceRules {
    fn default() -> Self {
        ClearanceRules {
            min_words: 10,
            min_chars: 20,
            max_chars: 1000,
            allow_service_accounts: Vec::new(),
            allowed_groups: Vec::new(),
            require_subject_access_review: true,
        }
    }
}

impl ClearanceRules {
    /// Whether `user` passes the optional group restriction.
    pub fn admits_groups(&self, user: &UserInfo) -> bool {
        self.allowed_groups.is_empty() || user.in_any_group(&self.allowed_groups)
    }
}

/// The one policy value the block rules read, built once from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockPolicy {
    /// A Failed WFE whose `consecutiveFailures` reached this blocks its target.
    pub max_consecutive_failures: u32,
    /// Who may clear and what a reason must look like.
    pub clearance: ClearanceRules,
    /// The controller's username: it owns status and may never clear or request a clearance.
    pub controller_username: String,
    /// The runner service account's username: it may never clear.
    pub runner_username: String,
}

impl Default for BlockPolicy {
    fn default() -> Self {
        BlockPolicy {
            max_consecutive_failures: DEFAULT_MAX_CONSECUTIVE_FAILURES,
            clearance: ClearanceRules::default(),
            controller_username: keys::DEFAULT_CONTROLLER_USERNAME.to_owned(),
            runner_username: DEFAULT_RUNNER_USERNAME.to_owned(),
        }
    }
}

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
            failure: status.failure_details.as_ref().map(|f| FailureFacts {
                was_execution_failure: f.was_execution_failure,
                failed_at: Some(&f.failed_at),
            }),
            consecutive_failures: status.consecutive_failures.map(i64::from),
            clearance: status.block_clearance.as_ref(),
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
    /// method, bound to this failure, an identity that may clear. Who wrote it is the admission
    /// policy's to enforce; this catches what got past it.
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
        if let Err(refusal) = may_clear(&record_clearer(record), policy) {
            problems.push(RecordProblem::Identity(refusal));
        }
        if problems.is_empty() {
            ClearanceVerdict::Valid(record)
        } else {
            ClearanceVerdict::Rejected { record, problems }
        }
    }

    /// Whether a valid clearance releases this WFE's failure.
    pub fn is_cleared(&self, policy: &BlockPolicy) -> bool {
        matches!(self.clearance(policy), ClearanceVerdict::Valid(_))
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
                at: format_micro(&existing.cleared_at),
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

/// Why an identity may not clear a block (step 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityRefusal {
    /// Anonymous or unauthenticated.
    Anonymous,
    /// The controller's own identity.
    Controller(String),
    /// The workflow runner's identity.
    Runner(String),
    /// A service account that is not allow-listed.
    ServiceAccount(String),
}

impl fmt::Display for IdentityRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdentityRefusal::Anonymous => f.write_str(
                "anonymous or unauthenticated requests cannot clear blocks; authenticate as a user allowed to update workflowexecutions/blockclearance",
            ),
            IdentityRefusal::Controller(u) => write!(
                f,
                "the controller's identity ({u}) cannot clear blocks; a human operator must request the clearance"
            ),
            IdentityRefusal::Runner(u) => write!(
                f,
                "the workflow runner service account ({u}) cannot clear blocks; a human operator must request the clearance"
            ),
            IdentityRefusal::ServiceAccount(u) => write!(
                f,
                "service account {u} is not allowed to clear blocks; clear as a human user, or ask an administrator to add it to clearance.allowServiceAccounts"
            ),
        }
    }
}

/// Step 1: whether `user` is an identity that may clear blocks at all.
pub fn may_clear(user: &UserInfo, policy: &BlockPolicy) -> Result<(), IdentityRefusal> {
    if user.is_anonymous() {
        return Err(IdentityRefusal::Anonymous);
    }
    if user.username == policy.controller_username {
        return Err(IdentityRefusal::Controller(user.username.clone()));
    }
    if user.username == policy.runner_username {
        return Err(IdentityRefusal::Runner(user.username.clone()));
    }
    if user.is_service_account()
        && !policy
            .clearance
            .allow_service_accounts
            .contains(&user.username)
    {
        return Err(IdentityRefusal::ServiceAccount(user.username.clone()));
    }
    Ok(())
}

/// The clearer a record names, as far as the record tells.
fn record_clearer(record: &BlockClearance) -> UserInfo {
    UserInfo {
        username: record.cleared_by.clone(),
        uid: record.cleared_by_uid.clone(),
        groups: record.cleared_by_groups.clone(),
        ..UserInfo::default()
    }
}

/// The clearance record the webhook stamps: the authenticated identity, server time cut to the
/// microseconds `clearedAt` keeps, bound to the failure it clears.
pub fn stamp_clearance(
    requester: &UserInfo,
    reason: String,
    now: Timestamp,
    failed_at: Option<Time>,
    admission_request_uid: &str,
) -> BlockClearance {
    let cleared_at = Timestamp::from_microsecond(now.as_microsecond()).unwrap_or(now);
    BlockClearance {
        cleared_by: requester.username.clone(),
        cleared_by_uid: requester.uid.clone().filter(|u| !u.is_empty()),
        cleared_by_groups: requester.groups.clone(),
        cleared_at: MicroTime(cleared_at),
        clear_reason: reason,
        clear_method: keys::CLEAR_METHOD_WEBHOOK.to_owned(),
        admission_request_uid: admission_request_uid.to_owned(),
        cleared_failure_at: failed_at,
    }
}

/// `clearedAt` as RFC 3339 with microseconds.
pub fn format_micro(t: &MicroTime) -> String {
    jiff::fmt::strtime::format("%Y-%m-%dT%H:%M:%S%.6fZ", t.0).unwrap_or_else(|_| t.0.to_string())
}

/// Why a clearance reason is refused (step 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReasonProblem {
    /// Empty or only whitespace.
    Empty {
        /// Required words.
        min_words: usize,
    },
    /// The `TargetBlocked` message's placeholder was pasted unchanged.
    Placeholder,
    /// Too few words.
    TooFewWords {
        /// Required.
        min: usize,
        /// Found.
        got: usize,
    },
    /// Too few characters after trimming.
    TooFewChars {
        /// Required.
        min: usize,
        /// Found.
        got: usize,
    },
    /// Too many characters.
    TooManyChars {
        /// Allowed.
        max: usize,
        /// Found.
        got: usize,
    },
    /// A control character other than newline and tab.
    ControlChar(char),
}

impl fmt::Display for ReasonProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReasonProblem::Empty { min_words } => write!(
                f,
                "reason is empty; set status.blockClearanceRequest.clearReason to at least {min_words} words explaining why it is safe to remediate the target again"
            ),
            ReasonProblem::Placeholder => f.write_str(
                "reason still contains the placeholder from the TargetBlocked message; replace the placeholder with your own words explaining why it is safe to remediate the target again",
            ),
            ReasonProblem::TooFewWords { min, got } => {
                write!(f, "reason must have at least {min} words (got {got})")
            }
            ReasonProblem::TooFewChars { min, got } => {
                write!(f, "reason must have at least {min} characters (got {got})")
            }
            ReasonProblem::TooManyChars { max, got } => {
                write!(f, "reason must have at most {max} characters (got {got})")
            }
            ReasonProblem::ControlChar(c) => write!(
                f,
                "reason contains the control character U+{:04X}; only newline and tab are allowed",
                u32::from(*c)
            ),
        }
    }
}

/// Step 4: the reason rules, in a stable order.
pub fn check_reason(reason: &str, rules: &ClearanceRules) -> Result<(), ReasonProblem> {
    let trimmed = reason.trim();
    if trimmed.is_empty() {
        return Err(ReasonProblem::Empty {
            min_words: rules.min_words,
        });
    }
    if is_placeholder(trimmed) {
        return Err(ReasonProblem::Placeholder);
    }
    let words = trimmed.split_whitespace().count();
    if words < rules.min_words {
        return Err(ReasonProblem::TooFewWords {
            min: rules.min_words,
            got: words,
        });
    }
    let chars = trimmed.chars().count();
    if chars < rules.min_chars {
        return Err(ReasonProblem::TooFewChars {
            min: rules.min_chars,
            got: chars,
        });
    }
    let total = reason.chars().count();
    if total > rules.max_chars {
        return Err(ReasonProblem::TooManyChars {
            max: rules.max_chars,
            got: total,
        });
    }
    if let Some(c) = reason
        .chars()
        .find(|c| c.is_control() && *c != '\n' && *c != '\t')
    {
        return Err(ReasonProblem::ControlChar(c));
    }
    Ok(())
}

/// Whether `reason` still carries the placeholder (pasted alone, or with words around it).
fn is_placeholder(reason: &str) -> bool {
    let inner = CLEAR_REASON_PLACEHOLDER
        .trim_start_matches('<')
        .trim_end_matches('>');
    reason.to_lowercase().contains(&inner.to_lowercase())
}

/// Why a newly added `blockClearance` may not be written by this requester onto this status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddedClearanceProblem {
    /// `clearedBy` is missing.
    ClearerMissing,
    /// `clearedBy` names someone other than the requester.
    ClearerMismatch {
        /// What the record says.
        cleared_by: String,
        /// Who asked.
        requester: String,
    },
    /// The requester may never clear.
    Identity(IdentityRefusal),
    /// `clearedByUID` is not the requester's uid.
    Uid,
    /// `clearedByGroups` are not the requester's groups.
    Groups,
    /// `clearMethod` is not the webhook's.
    Method,
    /// `clearedFailureAt` is not the stored `failureDetails.failedAt`.
    FailureAt,
}

impl AddedClearanceProblem {
    /// The field path and explanation, as the ownership webhook reports it.
    pub fn message(&self) -> String {
        match self {
            AddedClearanceProblem::ClearerMissing => {
                "status.blockClearance.clearedBy: is required and must be the requesting user"
                    .to_owned()
            }
            AddedClearanceProblem::ClearerMismatch {
                cleared_by,
                requester,
            } => format!(
                "status.blockClearance.clearedBy: is {cleared_by:?} but the request was made by {requester:?}; a clearance is stamped by the webhook with the authenticated identity"
            ),
            AddedClearanceProblem::Identity(r) => format!("status.blockClearance.clearedBy: {r}"),
            AddedClearanceProblem::Uid => {
                "status.blockClearance.clearedByUID: does not match the requesting user's uid"
                    .to_owned()
            }
            AddedClearanceProblem::Groups => {
                "status.blockClearance.clearedByGroups: does not match the requesting user's groups"
                    .to_owned()
            }
            AddedClearanceProblem::Method => format!(
                "status.blockClearance.clearMethod: must be {}",
                keys::CLEAR_METHOD_WEBHOOK
            ),
            AddedClearanceProblem::FailureAt => "status.blockClearance.clearedFailureAt: does not match the stored status.failureDetails.failedAt".to_owned(),
        }
    }
}

/// The `clearedBy` part of [`added_clearance_problems`], usable on a record too malformed to
/// read whole, so that a forged identity is still named.
pub fn clearer_problem(
    cleared_by: Option<&str>,
    requester: &UserInfo,
) -> Option<AddedClearanceProblem> {
    match cleared_by {
        Some(by) if by == requester.username => None,
        Some(by) => Some(AddedClearanceProblem::ClearerMismatch {
            cleared_by: by.to_owned(),
            requester: requester.username.clone(),
        }),
        None => Some(AddedClearanceProblem::ClearerMissing),
    }
}

/// May `requester` add `record` to a status whose failure time is `failed_at`? Empty when yes.
/// The record must be exactly what the webhook stamps for this requester and this failure.
pub fn added_clearance_problems(
    record: &BlockClearance,
    requester: &UserInfo,
    failed_at: Option<&Time>,
    policy: &BlockPolicy,
) -> Vec<AddedClearanceProblem> {
    let mut out: Vec<AddedClearanceProblem> = clearer_problem(Some(&record.cleared_by), requester)
        .into_iter()
        .collect();
    if let Err(refusal) = may_clear(requester, policy) {
        out.push(AddedClearanceProblem::Identity(refusal));
    }
    if record.cleared_by_uid.as_deref() != requester.uid.as_deref().filter(|u| !u.is_empty()) {
        out.push(AddedClearanceProblem::Uid);
    }
    if record.cleared_by_groups != requester.groups {
        out.push(AddedClearanceProblem::Groups);
    }
    if record.clear_method != keys::CLEAR_METHOD_WEBHOOK {
        out.push(AddedClearanceProblem::Method);
    }
    if record.cleared_failure_at.as_ref() != failed_at {
        out.push(AddedClearanceProblem::FailureAt);
    }
    out
}

#[cfg(test)]
mod tests;
