//! Audit configuration (`audit.*` in the service config).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default location of the mounted service-account token.
pub const DEFAULT_TOKEN_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";
/// Default `actor_id` of controller-emitted events.
pub const DEFAULT_CONTROLLER_IDENTITY: &str = "workflowexecution-controller";

/// Where audit events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// JSON lines on standard output.
    #[default]
    Stdout,
    /// JSON lines appended to `path`, fsynced per batch.
    File,
    /// Kubernaut DataStorage over HTTP(S).
    Datastorage,
}

impl SinkKind {
    /// The name used in config and in the `sink` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Stdout => "stdout",
            SinkKind::File => "file",
            SinkKind::Datastorage => "datastorage",
        }
    }
}

impl FromStr for SinkKind {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stdout" => Ok(SinkKind::Stdout),
            "file" => Ok(SinkKind::File),
            "datastorage" => Ok(SinkKind::Datastorage),
            other => Err(SettingsError::new(
                "audit.sink",
                format!("must be stdout, file or datastorage, got {other:?}"),
            )),
        }
    }
}

/// Audit settings; `Default` is a working stdout configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSettings {
    /// Sink kind (default `stdout`).
    pub sink: SinkKind,
    /// JSON-lines file: required for `file`; for `datastorage`, where quarantined and
    /// schema-rejected events are kept (stdout when unset). Default unset.
    pub path: Option<PathBuf>,
    /// DataStorage base URL (`http(s)://host:port`); required for `datastorage`.
    pub url: Option<String>,
    /// PEM CA bundle to trust for DataStorage TLS; the system roots when unset.
    pub ca_file: Option<PathBuf>,
    /// Bearer token file, re-read when it changes; no `Authorization` header when unset.
    /// Default: the mounted service-account token.
    pub token_file: Option<PathBuf>,
    /// Events per DataStorage request (default 50).
    pub batch_size: usize,
    /// Longest an event waits for its batch to fill (default 1 s).
    pub flush_interval: Duration,
    /// Per-request timeout (default 10 s).
    pub request_timeout: Duration,
    /// First retry delay after a 5xx or network error (default 500 ms); doubles per attempt.
    pub retry_initial_backoff: Duration,
    /// Cap of the retry delay (default 30 s).
    pub retry_max_backoff: Duration,
    /// Attempts per batch before `deliver` reports the sink unavailable and the controller
    /// requeues (default 5).
    pub max_attempts: u32,
    /// `actor_id` of controller-emitted events (default `workflowexecution-controller`; set it to
    /// the pod's service-account username).
    pub controller_identity: String,
    /// `cluster_id` stamped on every event (default unset).
    pub cluster_id: Option<String>,
    /// OpenAPI document to validate against instead of the compiled-in DataStorage schema.
    pub schema_file: Option<PathBuf>,
}

impl Default for AuditSettings {
    fn default() -> Self {
        AuditSettings {
            sink: SinkKind::Stdout,
            path: None,
            url: None,
            ca_file: None,
            token_file: Some(PathBuf::from(DEFAULT_TOKEN_FILE)),
            batch_size: 50,
            flush_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            retry_initial_backoff: Duration::from_millis(500),
            retry_max_backoff: Duration::from_secs(30),
            max_attempts: 5,
            controller_identity: DEFAULT_CONTROLLER_IDENTITY.to_owned(),
            cluster_id: None,
            schema_file: None,
        }
    }
}

/// A setting that cannot work, naming the config key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {message}")]
pub struct SettingsError {
    /// Config key, e.g. `audit.url`.
    pub field: &'static str,
    /// What is wrong and what is expected.
    pub message: String,
}

impl SettingsError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        SettingsError {
            field,
            message: message.into(),
        }
    }
}

impl AuditSettings {
    /// Checks the combination of settings, naming the first offending key.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.sink == SinkKind::File && self.path.is_none() {
            return Err(SettingsError::new(
                "audit.path",
                "is required when audit.sink is file",
            ));
        }
        if self.sink == SinkKind::Datastorage {
            let url = self.url.as_deref().ok_or_else(|| {
                SettingsError::new("audit.url", "is required when audit.sink is datastorage")
            })?;
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(SettingsError::new(
                    "audit.url",
                    format!("must start with http:// or https://, got {url:?}"),
                ));
            }
        }
        if self.batch_size == 0 {
            return Err(SettingsError::new("audit.batchSize", "must be at least 1"));
        }
        if self.max_attempts == 0 {
            return Err(SettingsError::new(
                "audit.maxAttempts",
                "must be at least 1",
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(SettingsError::new(
                "audit.requestTimeout",
                "must be greater than 0",
            ));
        }
        if self.retry_max_backoff < self.retry_initial_backoff {
            return Err(SettingsError::new(
                "audit.retryMaxBackoff",
                "must not be smaller than audit.retryInitialBackoff",
            ));
        }
        if self.controller_identity.trim().is_empty() {
            return Err(SettingsError::new(
                "audit.controllerIdentity",
                "must not be empty",
            ));
        }
        Ok(())
    }

    /// Delay before retry number `attempt` (1-based): initial × 2^(attempt−1), capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(31));
        self.retry_initial_backoff
            .saturating_mul(factor)
            .min(self.retry_max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_stdout() {
        let s = AuditSettings::default();
        assert_eq!(s.sink, SinkKind::Stdout);
        assert_eq!(s.batch_size, 50);
        assert_eq!(s.flush_interval, Duration::from_secs(1));
        assert_eq!(
            s.token_file.as_deref(),
            Some(std::path::Path::new(DEFAULT_TOKEN_FILE))
        );
        s.validate().unwrap();
    }

    #[test]
    fn invalid_combinations_name_the_key() {
        let field = |s: AuditSettings| s.validate().unwrap_err().field;
        assert_eq!(
            field(AuditSettings {
                sink: SinkKind::File,
                ..Default::default()
            }),
            "audit.path"
        );
        assert_eq!(
            field(AuditSettings {
                sink: SinkKind::Datastorage,
                ..Default::default()
            }),
            "audit.url"
        );
        let ftp = AuditSettings {
            sink: SinkKind::Datastorage,
            url: Some("ftp://x".into()),
            ..Default::default()
        };
        assert_eq!(field(ftp), "audit.url");
        assert_eq!(
            field(AuditSettings {
                batch_size: 0,
                ..Default::default()
            }),
            "audit.batchSize"
        );
        assert_eq!(
            field(AuditSettings {
                max_attempts: 0,
                ..Default::default()
            }),
            "audit.maxAttempts"
        );
        assert_eq!(
            field(AuditSettings {
                request_timeout: Duration::ZERO,
                ..Default::default()
            }),
            "audit.requestTimeout"
        );
        assert_eq!(
            field(AuditSettings {
                controller_identity: " ".into(),
                ..Default::default()
            }),
            "audit.controllerIdentity"
        );
        let backwards = AuditSettings {
            retry_max_backoff: Duration::from_millis(1),
            ..Default::default()
        };
        assert_eq!(field(backwards), "audit.retryMaxBackoff");
    }

    #[test]
    fn sink_kind_parses_config_names() {
        for kind in [SinkKind::Stdout, SinkKind::File, SinkKind::Datastorage] {
            assert_eq!(kind.as_str().parse::<SinkKind>().unwrap(), kind);
        }
        assert_eq!("kafka".parse::<SinkKind>().unwrap_err().field, "audit.sink");
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let s = AuditSettings {
            retry_initial_backoff: Duration::from_millis(500),
            retry_max_backoff: Duration::from_secs(3),
            ..Default::default()
        };
        let got: Vec<u128> = (1..=6).map(|a| s.backoff(a).as_millis()).collect();
        assert_eq!(got, vec![500, 1000, 2000, 3000, 3000, 3000]);
        assert_eq!(s.backoff(u32::MAX), Duration::from_secs(3));
    }
}
