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
        (
            "clearance:\n  allowServiceAccounts: [system:serviceaccount:kubernaut-workflows:kubernaut-workflow-runner]\n",
            "clearance.allowServiceAccounts[0]",
        ),
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
