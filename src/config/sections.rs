//! The sections of the service configuration (DESIGN §7), each with its defaults.

use super::*;

/// `backoff.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Backoff {
    /// Delay after the first pre-execution failure.
    pub base: ConfigDuration,
    /// Longest delay.
    pub max: ConfigDuration,
    /// Largest exponent applied to `base`.
    pub max_exponent: u32,
    /// Pre-execution failures in a row after which the target needs an operator.
    pub max_consecutive_failures: u32,
}

/// `webhook.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Webhook {
    /// HTTPS port.
    pub port: u16,
    /// Directory holding `tls.crt` and `tls.key`; reloaded when they change.
    pub cert_dir: PathBuf,
    /// How often the certificate files are checked for rotation.
    pub cert_reload_interval: ConfigDuration,
    /// On shutdown, how long admission keeps being served after readiness turns false, so the
    /// Service stops routing to this replica before its listener closes.
    pub shutdown_delay: ConfigDuration,
}

/// `health.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Health {
    /// Plain HTTP port for `/healthz` and `/readyz`.
    pub port: u16,
}

/// `metrics.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Metrics {
    /// Port for `/metrics`.
    pub port: u16,
    /// HTTPS with TokenReview + SubjectAccessReview on every request.
    pub secure: bool,
}

/// `leaderElection.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LeaderElection {
    /// Only the Lease holder reconciles.
    pub enabled: bool,
    /// Lease name.
    pub lease_name: String,
    /// Lease namespace.
    pub lease_namespace: String,
    /// How long a lease is valid without renewal.
    pub lease_duration: ConfigDuration,
}

/// Where audit events go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditSinkKind {
    /// JSON lines on standard output.
    Stdout,
    /// JSON lines appended to `audit.path`.
    File,
    /// Kubernaut DataStorage at `audit.url`.
    Datastorage,
}

/// `audit.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Audit {
    /// Sink kind.
    pub sink: AuditSinkKind,
    /// File for the `file` sink.
    pub path: Option<PathBuf>,
    /// Base URL of DataStorage for the `datastorage` sink.
    pub url: Option<String>,
    /// CA bundle to verify DataStorage's certificate (system roots otherwise).
    pub ca_file: Option<PathBuf>,
    /// Bearer token file, re-read when it rotates.
    pub token_file: PathBuf,
    /// Events per batch.
    pub batch_size: usize,
    /// Longest time an event waits for its batch to fill.
    pub flush_interval: ConfigDuration,
    /// Timeout of one request to DataStorage.
    pub request_timeout: ConfigDuration,
    /// How long deletion of a WFE waits for its pending audit events.
    pub delete_timeout: ConfigDuration,
    /// Also write webhook clearance denials to the local sink.
    pub record_denials: bool,
    /// DataStorage OpenAPI document to check events against instead of the one built in.
    pub schema_file: Option<PathBuf>,
}

/// Log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (default; for clusters).
    Json,
    /// Human-readable lines (for local runs).
    Text,
}

/// `logging.*`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Logging {
    /// Output format.
    pub format: LogFormat,
    /// Level or tracing filter (`info`, `debug`, `wfe_controller=debug,info`); `RUST_LOG` wins.
    pub level: String,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            base: secs(60),
            max: secs(600),
            max_exponent: 4,
            max_consecutive_failures: DEFAULT_MAX_CONSECUTIVE_FAILURES,
        }
    }
}

impl Default for Webhook {
    fn default() -> Self {
        Webhook {
            port: 9443,
            cert_dir: PathBuf::from("/tmp/k8s-webhook-server/serving-certs"),
            cert_reload_interval: secs(10),
            shutdown_delay: secs(5),
        }
    }
}

impl Default for Health {
    fn default() -> Self {
        Health { port: 8081 }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            port: 9090,
            secure: false,
        }
    }
}

impl Default for LeaderElection {
    fn default() -> Self {
        LeaderElection {
            enabled: false,
            lease_name: "workflowexecution-controller".into(),
            lease_namespace: "kubernaut-system".into(),
            lease_duration: secs(15),
        }
    }
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            sink: AuditSinkKind::Stdout,
            path: None,
            url: None,
            ca_file: None,
            token_file: PathBuf::from("/var/run/secrets/kubernetes.io/serviceaccount/token"),
            batch_size: 50,
            flush_interval: secs(1),
            request_timeout: secs(10),
            delete_timeout: secs(300),
            record_denials: true,
            schema_file: None,
        }
    }
}

impl Default for Logging {
    fn default() -> Self {
        Logging {
            format: LogFormat::Json,
            level: "info".into(),
        }
    }
}
