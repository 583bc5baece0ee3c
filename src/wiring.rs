//! How the configuration becomes each part's settings: built once here, handed to the
//! controller, the webhook and the audit trail (one definition, one default per setting).

use wfe_api::block::BlockPolicy;
use wfe_audit::{AuditSettings, LocalRecorder, SinkKind};
use wfe_webhook::{ClearanceDenial, DenialSink};

use crate::config::{AuditSinkKind, Config};
use crate::run::replica_identity;

/// The spec rules the webhook, controller and `validate` share, from the config.
pub fn spec_policy(cfg: &Config) -> wfe_api::SpecPolicy {
    wfe_api::SpecPolicy {
        max_timeout: cfg.max_timeout.0,
        allowed_service_accounts: cfg.allowed_service_accounts.clone(),
    }
}

/// The block rules, built once from the config and shared by controller and webhook.
pub fn block_policy(cfg: &Config, controller_username: &str) -> BlockPolicy {
    BlockPolicy {
        max_consecutive_failures: cfg.backoff.max_consecutive_failures,
        clearance: cfg.clearance.clone(),
        controller_username: controller_username.to_owned(),
        runner_username: wfe_api::identity::service_account_username(
            &cfg.execution_namespace,
            &cfg.runner_service_account,
        ),
    }
}

/// The controller's settings, from the config.
pub fn controller_settings(cfg: &Config, block: BlockPolicy) -> wfe_controller::Settings {
    wfe_controller::Settings {
        execution_namespace: cfg.execution_namespace.clone(),
        runner_service_account: cfg.runner_service_account.clone(),
        default_timeout: cfg.default_timeout.0,
        max_timeout: cfg.max_timeout.0,
        allowed_service_accounts: cfg.allowed_service_accounts.clone(),
        cooldown: cfg.cooldown.0,
        backoff: wfe_controller::BackoffSettings {
            base: cfg.backoff.base.0,
            max: cfg.backoff.max.0,
            max_exponent: cfg.backoff.max_exponent,
        },
        block,
        audit_delete_timeout: cfg.audit.delete_timeout.0,
        reporting_instance: Some(replica_identity()),
    }
}

/// The webhook's decision settings, from the config.
pub fn webhook_settings(cfg: &Config, block: BlockPolicy) -> wfe_webhook::Settings {
    wfe_webhook::Settings {
        block,
        spec_policy: spec_policy(cfg),
        ..wfe_webhook::Settings::default()
    }
}

/// The audit trail's settings, from the config.
pub fn audit_settings(cfg: &Config, controller_username: &str) -> AuditSettings {
    AuditSettings {
        sink: match cfg.audit.sink {
            AuditSinkKind::Stdout => SinkKind::Stdout,
            AuditSinkKind::File => SinkKind::File,
            AuditSinkKind::Datastorage => SinkKind::Datastorage,
        },
        path: cfg.audit.path.clone(),
        url: cfg.audit.url.clone(),
        ca_file: cfg.audit.ca_file.clone(),
        token_file: Some(cfg.audit.token_file.clone()),
        batch_size: cfg.audit.batch_size,
        flush_interval: cfg.audit.flush_interval.0,
        request_timeout: cfg.audit.request_timeout.0,
        controller_identity: controller_username.to_owned(),
        schema_file: cfg.audit.schema_file.clone(),
        ..AuditSettings::default()
    }
}

/// Writes the webhook's refused clearances to the local audit sink, off the request path.
pub struct LocalDenialSink(pub LocalRecorder);

impl DenialSink for LocalDenialSink {
    fn record(&self, denial: &ClearanceDenial) {
        let record = wfe_audit::local::clearance_denied_record(denial);
        let recorder = self.0.clone();
        tokio::spawn(async move {
            if let Err(e) = recorder.record(&record).await {
                tracing::warn!(error = %e, "cannot write a clearance denial to the local audit sink");
            }
        });
    }
}
