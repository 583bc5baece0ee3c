//! Webhook configuration: the shared block policy plus what only admission needs.

use std::time::Duration;

use wfe_api::SpecPolicy;
use wfe_api::block::BlockPolicy;

/// Everything the admission decisions depend on besides the request itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The block rules: failure limit, who may clear, reason rules, controller and runner.
    pub block: BlockPolicy,
    /// Spec rules that depend on configuration.
    pub spec_policy: SpecPolicy,
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
            block: BlockPolicy::default(),
            spec_policy: SpecPolicy::default(),
            max_body_bytes: 6 * 1024 * 1024,
            authorization_timeout: Duration::from_secs(3),
            body_read_timeout: Duration::from_secs(10),
        }
    }
}
