//! Service configuration (DESIGN §7): YAML file, `WFE_*` environment and `--set` overrides,
//! strict parsing that names the offending key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use wfe_api::block::{ClearanceRules, DEFAULT_MAX_CONSECUTIVE_FAILURES};

/// Environment variables with this prefix override config keys (`WFE_BACKOFF_BASE=2m`).
pub const ENV_PREFIX: &str = "WFE_";
/// `WFE_*` variables that are not config keys (the E2E suite's and the config path).
const RESERVED_ENV: &[&str] = &["WFE_CONFIG", "WFE_E2E_"];

/// Why the configuration was rejected; always names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The path given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed.
    #[error("config file {path} is not valid YAML: {message}")]
    Yaml {
        /// The path given.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// A key is unknown or its value has the wrong type or format.
    #[error("config key `{key}`: {message}")]
    Key {
        /// Dotted key path, e.g. `backoff.base`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn key_error(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Key {
        key: key.into(),
        message: message.into(),
    }
}

/// A duration written as a Go-style string (`30s`, `5m`, `1h30m`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ConfigDuration(pub Duration);

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&wfe_api::duration::format(self.0))
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        wfe_api::duration::parse(&raw)
            .map(ConfigDuration)
            .map_err(serde::de::Error::custom)
    }
}

fn secs(n: u64) -> ConfigDuration {
    ConfigDuration(Duration::from_secs(n))
}

/// The whole configuration. Every key has a default; see `docs/config.example.yaml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Config {
    /// Namespace where PipelineRuns (the locks) are created.
    pub execution_namespace: String,
    /// Service account the workflow tasks run as.
    pub runner_service_account: String,
    /// Service accounts a WFE may request in `executionConfig.serviceAccountName`.
    pub allowed_service_accounts: Vec<String>,
    /// Pipeline timeout when a WFE names none.
    pub default_timeout: ConfigDuration,
    /// Longest pipeline timeout a WFE may request.
    pub max_timeout: ConfigDuration,
    /// Minimum time between two remediations of one target; 0 disables.
    pub cooldown: ConfigDuration,
    /// Exponential backoff after pre-execution failures.
    pub backoff: Backoff,
    /// Username of the controller; empty asks the API server (SelfSubjectReview) at start-up.
    pub controller_identity: String,
    /// Block clearance rules.
    pub clearance: ClearanceRules,
    /// Admission webhook server.
    pub webhook: Webhook,
    /// Health probe server.
    pub health: Health,
    /// Metrics server.
    pub metrics: Metrics,
    /// Leader election for the controller.
    pub leader_election: LeaderElection,
    /// Audit trail.
    pub audit: Audit,
    /// Log output.
    pub logging: Logging,
}

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

impl Default for Config {
    fn default() -> Self {
        Config {
            execution_namespace: "kubernaut-workflows".into(),
            runner_service_account: "kubernaut-workflow-runner".into(),
            allowed_service_accounts: Vec::new(),
            default_timeout: secs(3600),
            max_timeout: ConfigDuration(wfe_api::SpecPolicy::default().max_timeout),
            cooldown: secs(300),
            backoff: Backoff::default(),
            controller_identity: String::new(),
            clearance: ClearanceRules::default(),
            webhook: Webhook::default(),
            health: Health::default(),
            metrics: Metrics::default(),
            leader_election: LeaderElection::default(),
            audit: Audit::default(),
            logging: Logging::default(),
        }
    }
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

/// Where configuration comes from, lowest precedence first: file, environment, `--set`.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// YAML file (`--config`).
    pub file: Option<PathBuf>,
    /// Environment variables (only `WFE_*` ones are looked at).
    pub env: BTreeMap<String, String>,
    /// `--set key=value` overrides, dotted camelCase keys.
    pub set: Vec<String>,
}

impl Config {
    /// Loads and validates the configuration from its sources.
    pub fn load(sources: &Sources) -> Result<Config, ConfigError> {
        let mut tree = match &sources.file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                parse_yaml(&text, &path.display().to_string())?
            }
            None => Value::Object(Default::default()),
        };
        if tree.is_null() {
            tree = Value::Object(Default::default());
        }
        if !tree.is_object() {
            return Err(key_error(
                "<root>",
                "the config file must be a YAML mapping of keys to values",
            ));
        }
        let leaves = leaf_keys();
        for (name, value) in &sources.env {
            let Some(suffix) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if RESERVED_ENV.iter().any(|r| name.starts_with(r)) {
                continue;
            }
            let key = leaves
                .iter()
                .find(|k| env_name(k) == format!("{ENV_PREFIX}{suffix}"))
                .ok_or_else(|| key_error(name.clone(), "unknown environment override: it matches no config key (see docs/config.example.yaml)"))?;
            set_path(&mut tree, key, parse_scalar(value));
        }
        for assignment in &sources.set {
            let (key, value) = assignment.split_once('=').ok_or_else(|| {
                key_error(
                    assignment.clone(),
                    "--set takes key=value, e.g. --set backoff.base=2m",
                )
            })?;
            if !leaves.iter().any(|k| k == key) {
                return Err(key_error(key, "unknown key (see docs/config.example.yaml)"));
            }
            set_path(&mut tree, key, parse_scalar(value));
        }
        let config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
            let key = e.path().to_string();
            key_error(
                if key == "." { "<root>".into() } else { key },
                e.into_inner().to_string(),
            )
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Rules between values that types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let nonempty = |key: &str, v: &str| {
            if v.trim().is_empty() {
                Err(key_error(key, "must not be empty"))
            } else {
                Ok(())
            }
        };
        let dns_label = |key: &str, v: &str| {
            if wfe_api::target::is_dns1123_label(v) {
                Ok(())
            } else {
                Err(key_error(
                    key,
                    format!("{v:?} is not a valid namespace name"),
                ))
            }
        };
        dns_label("executionNamespace", &self.execution_namespace)?;
        nonempty("runnerServiceAccount", &self.runner_service_account)?;
        if self.default_timeout.0.is_zero() {
            return Err(key_error("defaultTimeout", "must be greater than zero"));
        }
        if self.max_timeout < self.default_timeout {
            return Err(key_error("maxTimeout", "must be at least defaultTimeout"));
        }
        if self.backoff.base.0.is_zero() {
            return Err(key_error("backoff.base", "must be greater than zero"));
        }
        if self.backoff.max < self.backoff.base {
            return Err(key_error("backoff.max", "must be at least backoff.base"));
        }
        if self.backoff.max_exponent > 30 {
            return Err(key_error("backoff.maxExponent", "must be at most 30"));
        }
        if self.backoff.max_consecutive_failures == 0 {
            return Err(key_error(
                "backoff.maxConsecutiveFailures",
                "must be at least 1",
            ));
        }
        if self.clearance.min_chars > self.clearance.max_chars {
            return Err(key_error(
                "clearance.maxChars",
                "must be at least clearance.minChars",
            ));
        }
        if self.clearance.max_chars > 1000 {
            return Err(key_error(
                "clearance.maxChars",
                "must be at most 1000 (the CRD's limit on clearReason)",
            ));
        }
        for (i, sa) in self.clearance.allow_service_accounts.iter().enumerate() {
            if !sa.starts_with("system:serviceaccount:") || sa.split(':').count() != 4 {
                return Err(key_error(
                    format!("clearance.allowServiceAccounts[{i}]"),
                    format!(
                        "{sa:?} must be a full username system:serviceaccount:<namespace>:<name>"
                    ),
                ));
            }
        }
        let ports = [
            ("webhook.port", self.webhook.port),
            ("health.port", self.health.port),
            ("metrics.port", self.metrics.port),
        ];
        for (i, (key, port)) in ports.iter().enumerate() {
            if *port == 0 {
                return Err(key_error(*key, "must be a port number from 1 to 65535"));
            }
            if let Some((other, _)) = ports[..i].iter().find(|(_, p)| p == port) {
                return Err(key_error(
                    *key,
                    format!("port {port} is already used by {other}"),
                ));
            }
        }
        if self.webhook.cert_reload_interval.0.is_zero() {
            return Err(key_error(
                "webhook.certReloadInterval",
                "must be greater than zero",
            ));
        }
        if self.leader_election.enabled {
            nonempty("leaderElection.leaseName", &self.leader_election.lease_name)?;
            dns_label(
                "leaderElection.leaseNamespace",
                &self.leader_election.lease_namespace,
            )?;
            if self.leader_election.lease_duration.0 < Duration::from_secs(2) {
                return Err(key_error(
                    "leaderElection.leaseDuration",
                    "must be at least 2s",
                ));
            }
        }
        match self.audit.sink {
            AuditSinkKind::File if self.audit.path.is_none() => {
                return Err(key_error(
                    "audit.path",
                    "is required when audit.sink is file",
                ));
            }
            AuditSinkKind::Datastorage => match &self.audit.url {
                None => {
                    return Err(key_error(
                        "audit.url",
                        "is required when audit.sink is datastorage",
                    ));
                }
                Some(u) if !(u.starts_with("https://") || u.starts_with("http://")) => {
                    return Err(key_error(
                        "audit.url",
                        format!("{u:?} must start with http:// or https://"),
                    ));
                }
                Some(_) => {}
            },
            _ => {}
        }
        if self.audit.batch_size == 0 {
            return Err(key_error("audit.batchSize", "must be at least 1"));
        }
        if self.audit.request_timeout.0.is_zero() {
            return Err(key_error(
                "audit.requestTimeout",
                "must be greater than zero",
            ));
        }
        if !is_log_filter(&self.logging.level) {
            return Err(key_error(
                "logging.level",
                format!(
                    "{:?} is not a level (error, warn, info, debug, trace) or filter",
                    self.logging.level
                ),
            ));
        }
        Ok(())
    }

    /// The configuration as YAML (every key, defaults filled in).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// A level (`info`) or a filter whose every directive ends in a level (`wfe_controller=debug,info`).
fn is_log_filter(filter: &str) -> bool {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let is_level = |s: &str| LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s.trim()));
    tracing_subscriber::EnvFilter::try_new(filter).is_ok()
        && filter.split(',').all(|d| match d.rsplit_once('=') {
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(d),
        })
}

/// The environment variable that overrides a dotted key: `backoff.maxExponent` → `WFE_BACKOFF_MAX_EXPONENT`.
pub fn env_name(key: &str) -> String {
    let mut out = String::from(ENV_PREFIX);
    for (i, part) in key.split('.').enumerate() {
        if i > 0 {
            out.push('_');
        }
        for (j, c) in part.chars().enumerate() {
            if c.is_ascii_uppercase() && j > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_uppercase());
        }
    }
    out
}

/// Every settable key, dotted, derived from the defaults so it can never drift from the types.
pub fn leaf_keys() -> Vec<String> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                for (k, child) in m {
                    let path = if prefix.is_empty() {
                        k.to_owned()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    if child.is_object() {
                        walk(&path, child, out)
                    } else {
                        out.push(path)
                    }
                }
            }
            _ => out.push(prefix.to_owned()),
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::to_value(Config::default()) {
        walk("", &v, &mut out);
    }
    out
}

/// The file as an untyped tree: the typed pass runs after the env and `--set` overrides.
fn parse_yaml(text: &str, origin: &str) -> Result<Value, ConfigError> {
    serde_saphyr::from_str_with_options(text, crate::yaml::untyped_options()).map_err(|e| {
        ConfigError::Yaml {
            path: origin.to_owned(),
            message: crate::yaml::describe_error(&e, origin),
        }
    })
}

/// An override value is YAML too (`true`, `5`, `[a, b]`), falling back to the raw string.
fn parse_scalar(raw: &str) -> Value {
    serde_saphyr::from_str_with_options(raw, crate::yaml::untyped_options())
        .unwrap_or_else(|_| Value::String(raw.to_owned()))
}

fn set_path(tree: &mut Value, key: &str, value: Value) {
    let mut node = tree;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !node.is_object() {
            *node = Value::Object(Default::default());
        }
        let Value::Object(map) = node else { return };
        let k = (*part).to_owned();
        if i == parts.len() - 1 {
            map.insert(k, value);
            return;
        }
        node = map
            .entry(k)
            .or_insert_with(|| Value::Object(Default::default()));
    }
}

/// Reads the config file named by `--config` or `WFE_CONFIG`.
pub fn config_path(flag: Option<&Path>, env: &BTreeMap<String, String>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| env.get("WFE_CONFIG").map(PathBuf::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_yaml(yaml: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        Config::load(&Sources {
            file: Some(path),
            ..Default::default()
        })
    }

    fn err_key(r: Result<Config, ConfigError>) -> String {
        match r {
            Err(ConfigError::Key { key, .. }) => key,
            other => panic!("expected a key error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_match_the_design() {
        let c = Config::load(&Sources::default()).unwrap();
        assert_eq!(c.execution_namespace, "kubernaut-workflows");
        assert_eq!(c.runner_service_account, "kubernaut-workflow-runner");
        assert_eq!(c.cooldown.0, Duration::from_secs(300));
        assert_eq!(
            c.backoff,
            Backoff {
                base: secs(60),
                max: secs(600),
                max_exponent: 4,
                max_consecutive_failures: 5
            }
        );
        assert_eq!(c.webhook.port, 9443);
        assert_eq!(
            c.webhook.cert_dir,
            PathBuf::from("/tmp/k8s-webhook-server/serving-certs")
        );
        assert_eq!(c.health.port, 8081);
        assert_eq!(c.metrics.port, 9090);
        assert!(!c.leader_election.enabled);
        assert_eq!(c.audit.sink, AuditSinkKind::Stdout);
        assert_eq!(c.audit.delete_timeout.0, Duration::from_secs(300));
        assert_eq!(c.logging.format, LogFormat::Json);
        assert!(c.clearance.require_subject_access_review);
        assert_eq!(
            (
                c.clearance.min_words,
                c.clearance.min_chars,
                c.clearance.max_chars
            ),
            (10, 20, 1000)
        );
    }

    #[test]
    fn file_values_are_read() {
        let c = load_yaml(
            "cooldown: 30s\nbackoff:\n  base: 2m\n  max: 20m\nleaderElection:\n  enabled: true\n",
        )
        .unwrap();
        assert_eq!(c.cooldown.0, Duration::from_secs(30));
        assert_eq!(c.backoff.base.0, Duration::from_secs(120));
        assert_eq!(c.backoff.max_exponent, 4, "unset keys keep their defaults");
        assert!(c.leader_election.enabled);
        assert_eq!(load_yaml("").unwrap(), Config::default());
    }

    #[test]
    fn env_then_set_override_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, "cooldown: 30s\nlogging:\n  level: info\n").unwrap();
        let env = BTreeMap::from([
            ("WFE_COOLDOWN".to_owned(), "1m".to_owned()),
            (
                "WFE_BACKOFF_MAX_CONSECUTIVE_FAILURES".to_owned(),
                "3".to_owned(),
            ),
            ("WFE_LOGGING_FORMAT".to_owned(), "text".to_owned()),
            ("WFE_E2E_KUBECONFIG".to_owned(), "/ignored".to_owned()),
            ("HOME".to_owned(), "/root".to_owned()),
        ]);
        let set = vec![
            "cooldown=2m".to_owned(),
            "clearance.allowedGroups=[sre-team, oncall]".to_owned(),
        ];
        let c = Config::load(&Sources {
            file: Some(path),
            env,
            set,
        })
        .unwrap();
        assert_eq!(
            c.cooldown.0,
            Duration::from_secs(120),
            "--set wins over env and file"
        );
        assert_eq!(c.backoff.max_consecutive_failures, 3);
        assert_eq!(c.logging.format, LogFormat::Text);
        assert_eq!(c.clearance.allowed_groups, vec!["sre-team", "oncall"]);
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_path() {
        assert_eq!(err_key(load_yaml("cooldwn: 5m\n")), "cooldwn");
        assert_eq!(err_key(load_yaml("backoff:\n  bas: 1m\n")), "backoff.bas");
        let env = BTreeMap::from([("WFE_COOLDWN".to_owned(), "1m".to_owned())]);
        assert_eq!(
            err_key(Config::load(&Sources {
                env,
                ..Default::default()
            })),
            "WFE_COOLDWN"
        );
        let set = vec!["webhook.prot=1".to_owned()];
        assert_eq!(
            err_key(Config::load(&Sources {
                set,
                ..Default::default()
            })),
            "webhook.prot"
        );
    }

    #[test]
    fn malformed_yaml_names_the_file_and_line() {
        let err = load_yaml("cooldown: 5m\nbackoff:\n  base: [1m\n").unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::Yaml { .. }), "{err:?}");
        assert!(text.contains("config.yaml:3:9"), "{text}");
        assert!(text.contains("unclosed bracket"), "{text}");
    }

    #[test]
    fn bad_durations_are_rejected_with_their_key() {
        let err = load_yaml("backoff:\n  base: soon\n").unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("config key `backoff.base`: invalid duration \"soon\""),
            "{text}"
        );
        assert_eq!(err_key(load_yaml("cooldown: 5\n")), "cooldown");
        assert_eq!(
            err_key(load_yaml("leaderElection:\n  leaseDuration: -1s\n")),
            "leaderElection.leaseDuration"
        );
    }

    #[test]
    fn invalid_values_are_rejected_with_their_key() {
        let cases = [
            ("webhook:\n  port: 70000\n", "webhook.port"),
            ("metrics:\n  port: 9443\n", "metrics.port"),
            ("logging:\n  format: xml\n", "logging.format"),
            ("logging:\n  level: loud\n", "logging.level"),
            ("audit:\n  sink: file\n", "audit.path"),
            ("audit:\n  sink: datastorage\n  url: ftp://x\n", "audit.url"),
            ("backoff:\n  base: 5m\n  max: 1m\n", "backoff.max"),
            (
                "backoff:\n  maxConsecutiveFailures: 0\n",
                "backoff.maxConsecutiveFailures",
            ),
            ("executionNamespace: Bad_NS\n", "executionNamespace"),
            ("maxTimeout: 1m\n", "maxTimeout"),
            (
                "clearance:\n  allowServiceAccounts: [ci-bot]\n",
                "clearance.allowServiceAccounts[0]",
            ),
            ("backoff:\n  maxExponent: many\n", "backoff.maxExponent"),
            ("- a\n- b\n", "<root>"),
        ];
        for (yaml, key) in cases {
            assert_eq!(err_key(load_yaml(yaml)), key, "{yaml:?}");
        }
    }

    #[test]
    fn env_names_follow_the_keys() {
        assert_eq!(env_name("cooldown"), "WFE_COOLDOWN");
        assert_eq!(env_name("backoff.maxExponent"), "WFE_BACKOFF_MAX_EXPONENT");
        assert_eq!(
            env_name("leaderElection.leaseDuration"),
            "WFE_LEADER_ELECTION_LEASE_DURATION"
        );
        let keys = leaf_keys();
        assert!(keys.contains(&"audit.deleteTimeout".to_owned()));
        assert!(keys.contains(&"webhook.certDir".to_owned()));
        assert!(
            keys.contains(&"audit.path".to_owned()),
            "optional keys are listed too"
        );
    }

    #[test]
    fn example_config_in_docs_is_complete_and_valid() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.example.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let c = Config::load(&Sources {
            file: Some(path.into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c, Config::default(), "the example documents the defaults");
        for key in leaf_keys() {
            let last = key.rsplit('.').next().unwrap();
            assert!(
                text.contains(&format!("{last}:")),
                "docs/config.example.yaml does not document `{key}`"
            );
        }
    }
}
