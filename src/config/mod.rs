//! Service configuration (DESIGN §7): YAML file, `WFE_*` environment and `--set` overrides,
//! strict parsing that names the offending key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use wfe_api::block::{ClearanceRules, DEFAULT_MAX_CONSECUTIVE_FAILURES};

mod layers;
mod sections;
mod validate;

use layers::*;
pub use layers::{env_name, leaf_keys};
pub use sections::*;

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

    /// The configuration as YAML (every key, defaults filled in).
    pub fn to_yaml(&self) -> String {
        serde_saphyr::to_string(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

/// Reads the config file named by `--config` or `WFE_CONFIG`.
pub fn config_path(flag: Option<&Path>, env: &BTreeMap<String, String>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf)
        .or_else(|| env.get("WFE_CONFIG").map(PathBuf::from))
}

#[cfg(test)]
mod tests;
