//! Controller configuration (DESIGN §7) with the documented defaults.

use std::time::Duration;

use wfe_api::SpecPolicy;
use wfe_api::block::BlockPolicy;

/// Exponential backoff after pre-execution failures (DESIGN §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackoffSettings {
    /// Window after the first pre-execution failure.
    pub base: Duration,
    /// Longest window.
    pub max: Duration,
    /// Largest exponent applied to `base` (`base × 2^min(n−1, max_exponent)`).
    pub max_exponent: u32,
}

impl Default for BackoffSettings {
    fn default() -> Self {
        BackoffSettings {
            base: Duration::from_secs(60),
            max: Duration::from_secs(600),
            max_exponent: 4,
        }
    }
}

impl BackoffSettings {
    /// Backoff window after the `failures`-th pre-execution failure in a row (`failures ≥ 1`).
    pub fn window(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(self.max_exponent).min(31);
        let factor = 1u32 << exponent;
        self.base
            .checked_mul(factor)
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// Everything the reconciler needs from the service configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Namespace where PipelineRuns (the locks) are created.
    pub execution_namespace: String,
    /// Service account the workflow's TaskRuns run as unless the WFE names an allowed one.
    pub runner_service_account: String,
    /// Pipeline timeout when the WFE does not set one.
    pub default_timeout: Duration,
    /// Longest pipeline timeout a WFE may ask for (shared with the webhook through `SpecPolicy`).
    pub max_timeout: Duration,
    /// Service accounts a WFE may name in `executionConfig.serviceAccountName`.
    pub allowed_service_accounts: Vec<String>,
    /// Minimum time between two remediations of one target; zero disables it.
    pub cooldown: Duration,
    /// Backoff after pre-execution failures.
    pub backoff: BackoffSettings,
    /// The block rules (failure limit, who may clear), shared with the webhook.
    pub block: BlockPolicy,
    /// How long deletion waits for pending audit events before giving up (and logging).
    pub audit_delete_timeout: Duration,
    /// `reportingInstance` on Kubernetes events (the pod name); the controller name when unset.
    pub reporting_instance: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        let policy = SpecPolicy::default();
        Settings {
            execution_namespace: "kubernaut-workflows".to_owned(),
            runner_service_account: "kubernaut-workflow-runner".to_owned(),
            default_timeout: Duration::from_secs(3600),
            max_timeout: policy.max_timeout,
            allowed_service_accounts: policy.allowed_service_accounts,
            cooldown: Duration::from_secs(300),
            backoff: BackoffSettings::default(),
            block: BlockPolicy::default(),
            audit_delete_timeout: Duration::from_secs(300),
            reporting_instance: None,
        }
    }
}

impl Settings {
    /// The spec rules that depend on this configuration, as the webhook applies them.
    pub fn spec_policy(&self) -> SpecPolicy {
        SpecPolicy {
            max_timeout: self.max_timeout,
            allowed_service_accounts: self.allowed_service_accounts.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_sequence_is_1_2_4_8_10_minutes() {
        let b = BackoffSettings::default();
        let minutes: Vec<u64> = (1..=7).map(|n| b.window(n).as_secs() / 60).collect();
        assert_eq!(minutes, vec![1, 2, 4, 8, 10, 10, 10]);
    }

    #[test]
    fn backoff_never_overflows() {
        let b = BackoffSettings {
            max_exponent: 1000,
            ..BackoffSettings::default()
        };
        assert_eq!(b.window(u32::MAX), b.max);
    }

    #[test]
    fn defaults_match_the_design() {
        let s = Settings::default();
        assert_eq!(s.execution_namespace, "kubernaut-workflows");
        assert_eq!(s.runner_service_account, "kubernaut-workflow-runner");
        assert_eq!(s.cooldown, Duration::from_secs(300));
        assert_eq!(s.spec_policy(), SpecPolicy::default());
    }
}
