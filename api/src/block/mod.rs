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

mod denial;
mod facts;
mod identity;
mod reason;
mod record;
mod run;

pub use denial::*;
pub use facts::*;
pub use identity::*;
pub use reason::*;
pub use record::*;
pub use run::*;

/// Reason of `TargetBlocked=False` once a clearance released the block.
pub const REASON_BLOCK_CLEARED: &str = "BlockCleared";

/// Reason of `TargetBlocked=False` on a failure that blocked the target and no longer does under
/// the current settings (`backoff.maxConsecutiveFailures` raised since).
pub const REASON_NO_LONGER_BLOCKING: &str = "NoLongerBlocking";

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
    /// Rules between the values: `Err((key, message))` names the offending key of the
    /// `clearance` config section.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.min_chars > self.max_chars {
            return Err((
                "maxChars".into(),
                "must be at least clearance.minChars".into(),
            ));
        }
        if self.max_chars > 1000 {
            return Err((
                "maxChars".into(),
                "must be at most 1000 (the CRD's limit on clearReason)".into(),
            ));
        }
        for (i, sa) in self.allow_service_accounts.iter().enumerate() {
            if !sa.starts_with("system:serviceaccount:") || sa.split(':').count() != 4 {
                return Err((
                    format!("allowServiceAccounts[{i}]"),
                    format!(
                        "{sa:?} must be a full username system:serviceaccount:<namespace>:<name>"
                    ),
                ));
            }
        }
        Ok(())
    }

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

#[cfg(test)]
mod tests;
