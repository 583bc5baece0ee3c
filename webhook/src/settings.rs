//! Webhook configuration (DESIGN §7 `clearance`, `controllerIdentity`, `runnerServiceAccount`).

use std::time::Duration;

use wfe_api::SpecPolicy;

/// Default controller identity (`controllerIdentity`).
pub const DEFAULT_CONTROLLER_USERNAME: &str = wfe_api::keys::DEFAULT_CONTROLLER_USERNAME;
/// Default identity of the PipelineRun runner service account (`runnerServiceAccount`).
pub const DEFAULT_RUNNER_USERNAME: &str =
    "system:serviceaccount:kubernaut-workflows:kubernaut-workflow-runner";

/// Everything the admission decisions depend on besides the request itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Username of the controller; it owns status and may never clear blocks.
    pub controller_username: String,
    /// Username of the runner service account; it may never clear blocks.
    pub runner_username: String,
    /// Spec rules that depend on configuration.
    pub spec_policy: SpecPolicy,
    /// Who may clear blocks and what a reason must look like.
    pub clearance: ClearancePolicy,
    /// A Failed WFE whose `consecutiveFailures` reached this blocks its target (ExhaustedRetries).
    pub max_consecutive_failures: u32,
    /// Largest accepted request body. An UPDATE review carries both `object` and `oldObject`
    /// (each up to etcd's 1.5 MiB, plus managedFields), so this is above the API server's 3 MiB
    /// request limit.
    pub max_body_bytes: usize,
    /// Upper bound on one SubjectAccessReview; the API server gives the whole review 5 s.
    pub authorization_timeout: Duration,
    /// Upper bound on receiving a request body (slow clients must not hold a handler).
    pub body_read_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            controller_username: DEFAULT_CONTROLLER_USERNAME.to_owned(),
            runner_username: DEFAULT_RUNNER_USERNAME.to_owned(),
            spec_policy: SpecPolicy::default(),
            clearance: ClearancePolicy::default(),
            max_consecutive_failures: 5,
            max_body_bytes: 6 * 1024 * 1024,
            authorization_timeout: Duration::from_secs(3),
            body_read_timeout: Duration::from_secs(10),
        }
    }
}

/// Rules for block clearance (config key `clearance`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClearancePolicy {
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

impl Default for ClearancePolicy {
    fn default() -> Self {
        ClearancePolicy {
            min_words: 10,
            min_chars: 20,
            max_chars: 1000,
            allow_service_accounts: Vec::new(),
            allowed_groups: Vec::new(),
            require_subject_access_review: true,
        }
    }
}
