//! Rules between values that types alone cannot express, one function per section; every
//! error names the key.

use super::*;

fn nonempty(key: &str, v: &str) -> Result<(), ConfigError> {
    if v.trim().is_empty() {
        Err(key_error(key, "must not be empty"))
    } else {
        Ok(())
    }
}

fn dns_label(key: &str, v: &str) -> Result<(), ConfigError> {
    if wfe_api::target::is_dns1123_label(v) {
        Ok(())
    } else {
        Err(key_error(
            key,
            format!("{v:?} is not a valid namespace name"),
        ))
    }
}

fn positive(key: &str, d: ConfigDuration) -> Result<(), ConfigError> {
    if d.0.is_zero() {
        Err(key_error(key, "must be greater than zero"))
    } else {
        Ok(())
    }
}

impl Config {
    /// Rules between values that types alone cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        dns_label("executionNamespace", &self.execution_namespace)?;
        nonempty("runnerServiceAccount", &self.runner_service_account)?;
        positive("defaultTimeout", self.default_timeout)?;
        if self.max_timeout < self.default_timeout {
            return Err(key_error("maxTimeout", "must be at least defaultTimeout"));
        }
        self.backoff.validate()?;
        self.clearance
            .validate()
            .map_err(|(key, message)| key_error(format!("clearance.{key}"), message))?;
        self.validate_runners_never_clear()?;
        self.validate_ports()?;
        positive(
            "webhook.certReloadInterval",
            self.webhook.cert_reload_interval,
        )?;
        self.leader_election.validate()?;
        self.audit.validate()?;
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

    /// A service account a workflow runs as may never clear the block its own failure caused
    /// (DESIGN §5 step 1: "the WFE's runner service account").
    fn validate_runners_never_clear(&self) -> Result<(), ConfigError> {
        let runners = std::iter::once(&self.runner_service_account)
            .chain(&self.allowed_service_accounts)
            .map(|sa| wfe_api::identity::service_account_username(&self.execution_namespace, sa));
        for runner in runners {
            if let Some(i) = self
                .clearance
                .allow_service_accounts
                .iter()
                .position(|sa| *sa == runner)
            {
                return Err(key_error(
                    format!("clearance.allowServiceAccounts[{i}]"),
                    format!(
                        "{runner:?} runs workflows (runnerServiceAccount or allowedServiceAccounts) and may never clear blocks"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_ports(&self) -> Result<(), ConfigError> {
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
        Ok(())
    }
}

impl Backoff {
    fn validate(&self) -> Result<(), ConfigError> {
        positive("backoff.base", self.base)?;
        if self.max < self.base {
            return Err(key_error("backoff.max", "must be at least backoff.base"));
        }
        if self.max_exponent > 30 {
            return Err(key_error("backoff.maxExponent", "must be at most 30"));
        }
        if self.max_consecutive_failures == 0 {
            return Err(key_error(
                "backoff.maxConsecutiveFailures",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

impl LeaderElection {
    fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        nonempty("leaderElection.leaseName", &self.lease_name)?;
        dns_label("leaderElection.leaseNamespace", &self.lease_namespace)?;
        if self.lease_duration.0 < Duration::from_secs(2) {
            return Err(key_error(
                "leaderElection.leaseDuration",
                "must be at least 2s",
            ));
        }
        Ok(())
    }
}

impl Audit {
    fn validate(&self) -> Result<(), ConfigError> {
        match self.sink {
            AuditSinkKind::File if self.path.is_none() => {
                return Err(key_error(
                    "audit.path",
                    "is required when audit.sink is file",
                ));
            }
            AuditSinkKind::Datastorage => match &self.url {
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
        if self.batch_size == 0 {
            return Err(key_error("audit.batchSize", "must be at least 1"));
        }
        positive("audit.requestTimeout", self.request_timeout)
    }
}

/// A level (`info`) or a filter whose every directive ends in a level (`wfe_controller=debug,info`).
pub(super) fn is_log_filter(filter: &str) -> bool {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let is_level = |s: &str| LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s.trim()));
    tracing_subscriber::EnvFilter::try_new(filter).is_ok()
        && filter.split(',').all(|d| match d.rsplit_once('=') {
            Some((target, level)) => !target.trim().is_empty() && is_level(level),
            None => is_level(d),
        })
}
