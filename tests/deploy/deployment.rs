//! The Deployment, the shipped config, the webhook configurations and the CRD component.

use super::*;

#[test]
fn deployment_runs_two_restricted_replicas_with_probes_and_the_cert_volume() {
    let docs = base_documents();
    let d = named(
        &docs,
        "Deployment",
        Some(CONTROLLER_NAMESPACE),
        "workflowexecution",
    )
    .expect("Deployment");
    assert_eq!(d["spec"]["replicas"].as_u64(), Some(2));
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(
        str_at(pod, &["serviceAccountName"]),
        Some(CONTROLLER_SERVICE_ACCOUNT)
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        str_at(pod, &["securityContext", "seccompProfile", "type"]),
        Some("RuntimeDefault")
    );
    let c = &pod["containers"][0];
    assert_eq!(
        strings(c.get("args")),
        ["run", "--config", "/etc/workflowexecution/config.yaml"]
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(strings(sc["capabilities"].get("drop")), ["ALL"]);
    assert_eq!(
        str_at(c, &["livenessProbe", "httpGet", "path"]),
        Some("/healthz")
    );
    assert_eq!(
        str_at(c, &["readinessProbe", "httpGet", "path"]),
        Some("/readyz")
    );
    assert!(
        c["resources"]["requests"].get("memory").is_some()
            && c["resources"]["limits"].get("memory").is_some()
    );
    let env_names: Vec<&str> = c["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| str_at(e, &["name"]))
        .collect();
    assert!(env_names.contains(&"POD_NAME"), "{env_names:?}");
    let mounts = c["volumeMounts"].as_array().expect("volumeMounts");
    let cert_mount = mounts
        .iter()
        .find(|m| str_at(m, &["mountPath"]) == Some("/tmp/k8s-webhook-server/serving-certs"))
        .expect("serving-certs mount");
    let volume_name = str_at(cert_mount, &["name"]).expect("mount name");
    let volume = pod["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| str_at(v, &["name"]) == Some(volume_name))
        .expect("volume");
    assert_eq!(
        str_at(volume, &["secret", "secretName"]),
        Some("workflowexecution-webhook-tls")
    );
    let svc = named(
        &docs,
        "Service",
        Some(CONTROLLER_NAMESPACE),
        "workflowexecution-webhook",
    )
    .expect("webhook Service");
    assert_eq!(svc["spec"]["ports"][0]["port"].as_u64(), Some(443));
    let pdb = named(
        &docs,
        "PodDisruptionBudget",
        Some(CONTROLLER_NAMESPACE),
        "workflowexecution",
    )
    .expect("PDB");
    assert_eq!(pdb["spec"]["minAvailable"].as_u64(), Some(1));
    assert!(
        named(
            &docs,
            "NetworkPolicy",
            Some(CONTROLLER_NAMESPACE),
            "workflowexecution"
        )
        .is_some()
    );
}

#[test]
fn shipped_config_is_accepted_by_the_binary_with_leader_election_on() {
    let docs = base_documents();
    let cm = named(
        &docs,
        "ConfigMap",
        Some(CONTROLLER_NAMESPACE),
        "workflowexecution-config",
    )
    .expect("ConfigMap");
    let body = str_at(cm, &["data", "config.yaml"]).expect("data.config.yaml");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, body).expect("write config");
    let out = Command::new(BIN)
        .arg("config")
        .arg("--config")
        .arg(&path)
        .env_remove("WFE_CONFIG")
        .output()
        .expect("run workflowexecution config");
    assert!(
        out.status.success(),
        "the binary rejects deploy/base's config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let effective: Value = serde_saphyr::from_slice_with_options(&out.stdout, yaml_options())
        .expect("effective config is YAML");
    assert_eq!(effective["leaderElection"]["enabled"].as_bool(), Some(true));
    assert_eq!(
        str_at(&effective, &["webhook", "certDir"]),
        Some("/tmp/k8s-webhook-server/serving-certs")
    );
    assert_eq!(
        str_at(&effective, &["executionNamespace"]),
        Some(EXECUTION_NAMESPACE)
    );
}

/// The base webhook configurations without caBundle, as the binary prints them.
fn binary_webhook_configurations() -> Vec<Value> {
    let out = Command::new(BIN)
        .args([
            "webhook-config",
            "--service-namespace",
            CONTROLLER_NAMESPACE,
            "--service-name",
            "workflowexecution-webhook",
        ])
        .output()
        .expect("run workflowexecution webhook-config");
    assert!(
        out.status.success(),
        "webhook-config failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_documents(
        &String::from_utf8_lossy(&out.stdout),
        "webhook-config output",
    )
}

/// Drops labels the kustomization adds so that the comparison is about the webhooks.
fn without_kustomize_labels(mut doc: Value) -> Value {
    if let Some(labels) = doc
        .get_mut("metadata")
        .and_then(|m| m.get_mut("labels"))
        .and_then(Value::as_object_mut)
    {
        labels.remove("app.kubernetes.io/part-of");
    }
    doc
}

#[test]
fn base_webhook_configurations_equal_the_binary_output() {
    let base: Vec<Value> = base_documents()
        .into_iter()
        .filter(|d| kind_of(d).ends_with("WebhookConfiguration"))
        .map(without_kustomize_labels)
        .collect();
    let printed: Vec<Value> = binary_webhook_configurations()
        .into_iter()
        .map(without_kustomize_labels)
        .collect();
    assert_eq!(
        base, printed,
        "deploy/base/webhooks.yaml drifted from `workflowexecution webhook-config`"
    );
}

#[test]
fn crd_component_is_the_generated_crd() {
    let out = Command::new(BIN)
        .arg("crd")
        .output()
        .expect("run workflowexecution crd");
    assert!(out.status.success());
    assert_eq!(
        read(&Path::new(ROOT).join("deploy/crd/crd.yaml")),
        String::from_utf8_lossy(&out.stdout),
        "regenerate with: cargo run -q -- crd > deploy/crd/crd.yaml"
    );
}
