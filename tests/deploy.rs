//! Checks of `deploy/`, the Dockerfile-free parts of the install story and the kind workflow:
//! RBAC equals the process's API calls, the overlays render with `kubectl kustomize` (when kubectl
//! is on PATH), the base webhook configurations equal the binary's `webhook-config` output, the
//! shipped config is accepted by the binary, alerts use real metric names, and every command of
//! the CI workflow is also given to a person in the docs.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_workflowexecution");
const CONTROLLER_NAMESPACE: &str = "kubernaut-system";
const CONTROLLER_SERVICE_ACCOUNT: &str = "workflowexecution-controller";
const EXECUTION_NAMESPACE: &str = "kubernaut-workflows";

/// Where a permission applies: cluster-wide or in one namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Scope {
    Cluster,
    Namespace(String),
}

/// One (scope, API group, resource, verb) the process needs or is granted.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Permission {
    scope: Scope,
    group: String,
    resource: String,
    verb: String,
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scope = match &self.scope {
            Scope::Cluster => "cluster".to_owned(),
            Scope::Namespace(ns) => format!("ns/{ns}"),
        };
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(f, "{scope} {} {group}/{}", self.verb, self.resource)
    }
}

fn permission(scope: Scope, group: &str, resource: &str, verbs: &[&str]) -> Vec<Permission> {
    verbs
        .iter()
        .map(|verb| Permission {
            scope: scope.clone(),
            group: group.to_owned(),
            resource: resource.to_owned(),
            verb: (*verb).to_owned(),
        })
        .collect()
}

/// Every API call the running process makes, as RBAC permissions: the controller's own list
/// (`wfe_controller::API_CALLS`) plus leader election, the webhook's clearance
/// SubjectAccessReview and secure metrics' TokenReview/SubjectAccessReview.
/// `rbac_grants_exactly_the_api_calls_of_the_process` keeps deploy/base equal to it.
fn process_api_calls() -> BTreeSet<Permission> {
    let mut calls: Vec<Permission> = wfe_controller::API_CALLS
        .iter()
        // Allowed to every authenticated user by the default system:basic-user role.
        .filter(|c| c.scope != "basic-user")
        .map(|c| Permission {
            scope: match c.scope {
                "execution" => Scope::Namespace(EXECUTION_NAMESPACE.to_owned()),
                // "cluster", and "wfe": WFEs (and their events) live in any namespace.
                _ => Scope::Cluster,
            },
            group: c.group.to_owned(),
            resource: c.resource.to_owned(),
            verb: c.verb.to_owned(),
        })
        .collect();
    // Leader election (kube-lease-manager): read, create and patch the Lease.
    calls.extend(permission(
        Scope::Namespace(CONTROLLER_NAMESPACE.to_owned()),
        "coordination.k8s.io",
        "leases",
        &["get", "create", "patch"],
    ));
    // Webhook clearance authorisation and secure-metrics authorisation.
    calls.extend(permission(
        Scope::Cluster,
        "authorization.k8s.io",
        "subjectaccessreviews",
        &["create"],
    ));
    // Secure metrics authentication.
    calls.extend(permission(
        Scope::Cluster,
        "authentication.k8s.io",
        "tokenreviews",
        &["create"],
    ));
    calls.into_iter().collect()
}

#[test]
fn controller_api_call_scopes_are_known() {
    for c in wfe_controller::API_CALLS {
        assert!(
            matches!(c.scope, "cluster" | "execution" | "wfe" | "basic-user"),
            "unknown scope {:?} in {c:?}",
            c.scope
        );
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn documents(text: &str, what: &str) -> Vec<Value> {
    let mut input = std::io::Cursor::new(text.as_bytes());
    serde_saphyr::read_with_options(&mut input, yaml_options())
        .enumerate()
        .map(|(i, doc)| doc.unwrap_or_else(|e| panic!("{what}: document {i} is not YAML: {e}")))
        .collect()
}

/// YAML 1.2 booleans only, so that a workflow's `on:` key stays the string it is.
fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The documents of deploy/base, read file by file as listed in its kustomization (no kubectl).
fn base_documents() -> Vec<Value> {
    let base = Path::new(ROOT).join("deploy/base");
    let kustomization = documents(
        &read(&base.join("kustomization.yaml")),
        "deploy/base/kustomization.yaml",
    );
    let resources = strings(kustomization[0].get("resources"));
    assert!(
        !resources.is_empty(),
        "deploy/base/kustomization.yaml lists no resources"
    );
    resources
        .iter()
        .flat_map(|r| documents(&read(&base.join(r)), r))
        .collect()
}

fn kind_of(doc: &Value) -> &str {
    str_at(doc, &["kind"]).unwrap_or_default()
}

fn named<'a>(
    docs: &'a [Value],
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Option<&'a Value> {
    docs.iter().find(|d| {
        kind_of(d) == kind
            && str_at(d, &["metadata", "name"]) == Some(name)
            && str_at(d, &["metadata", "namespace"]) == namespace
    })
}

/// Permissions `docs` grant the ServiceAccount `namespace/name` through (Cluster)RoleBindings.
/// Wildcards and resourceNames are refused: least privilege lists everything explicitly.
fn granted_permissions(docs: &[Value], namespace: &str, name: &str) -> BTreeSet<Permission> {
    let mut granted = BTreeSet::new();
    for binding in docs
        .iter()
        .filter(|d| matches!(kind_of(d), "RoleBinding" | "ClusterRoleBinding"))
    {
        let binds_us = binding
            .get("subjects")
            .and_then(Value::as_array)
            .is_some_and(|subjects| {
                subjects.iter().any(|s| {
                    str_at(s, &["kind"]) == Some("ServiceAccount")
                        && str_at(s, &["name"]) == Some(name)
                        && str_at(s, &["namespace"]) == Some(namespace)
                })
            });
        if !binds_us {
            continue;
        }
        let binding_ns = str_at(binding, &["metadata", "namespace"]);
        let scope = match (kind_of(binding), binding_ns) {
            ("ClusterRoleBinding", _) => Scope::Cluster,
            (_, Some(ns)) => Scope::Namespace(ns.to_owned()),
            (_, None) => panic!(
                "RoleBinding {:?} has no namespace",
                str_at(binding, &["metadata", "name"])
            ),
        };
        let role_kind = str_at(binding, &["roleRef", "kind"]).unwrap_or_default();
        let role_name = str_at(binding, &["roleRef", "name"]).unwrap_or_default();
        let role_ns = if role_kind == "Role" {
            binding_ns
        } else {
            None
        };
        let role = named(docs, role_kind, role_ns, role_name).unwrap_or_else(|| {
            panic!("binding refers to {role_kind} {role_name:?}, which deploy/base does not define")
        });
        for rule in role
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            assert!(
                rule.get("resourceNames").is_none(),
                "{role_name}: resourceNames are not used"
            );
            assert!(
                rule.get("nonResourceURLs").is_none(),
                "{role_name}: the controller needs no non-resource URLs"
            );
            let (groups, resources, verbs) = (
                strings(rule.get("apiGroups")),
                strings(rule.get("resources")),
                strings(rule.get("verbs")),
            );
            for list in [&groups, &resources, &verbs] {
                assert!(
                    !list.contains(&"*".to_owned()),
                    "{role_name}: wildcard in {rule:?}"
                );
            }
            for group in &groups {
                for resource in &resources {
                    for verb in &verbs {
                        granted.insert(Permission {
                            scope: scope.clone(),
                            group: group.clone(),
                            resource: resource.clone(),
                            verb: verb.clone(),
                        });
                    }
                }
            }
        }
    }
    granted
}

fn describe(set: &BTreeSet<Permission>) -> String {
    set.iter().map(|p| format!("\n  {p}")).collect()
}

#[test]
fn rbac_grants_exactly_the_api_calls_of_the_process() {
    let granted = granted_permissions(
        &base_documents(),
        CONTROLLER_NAMESPACE,
        CONTROLLER_SERVICE_ACCOUNT,
    );
    let needed = process_api_calls();
    let missing: BTreeSet<_> = needed.difference(&granted).cloned().collect();
    let extra: BTreeSet<_> = granted.difference(&needed).cloned().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "RBAC differs from the process's API calls\nmissing:{}\nbeyond need:{}",
        describe(&missing),
        describe(&extra)
    );
}

#[test]
fn block_clearer_role_grants_the_virtual_subresource_and_status_patch_only() {
    let docs = base_documents();
    let role = named(
        &docs,
        "ClusterRole",
        None,
        "workflowexecution-block-clearer",
    )
    .expect("ClusterRole workflowexecution-block-clearer");
    let mut grants = BTreeSet::new();
    for rule in role
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for resource in strings(rule.get("resources")) {
            for verb in strings(rule.get("verbs")) {
                grants.insert(format!("{verb} {resource}"));
            }
        }
    }
    let expected: BTreeSet<String> = [
        "update workflowexecutions/blockclearance",
        "get workflowexecutions/status",
        "patch workflowexecutions/status",
        "get workflowexecutions",
        "list workflowexecutions",
        "watch workflowexecutions",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(grants, expected);
    // The runner account exists and nothing binds it in base.
    assert!(
        named(
            &docs,
            "ServiceAccount",
            Some(EXECUTION_NAMESPACE),
            "kubernaut-workflow-runner"
        )
        .is_some()
    );
    assert!(
        granted_permissions(&docs, EXECUTION_NAMESPACE, "kubernaut-workflow-runner").is_empty()
    );
}

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
    documents(
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
fn base_crd_is_the_generated_one() {
    let out = Command::new(BIN)
        .arg("crd")
        .output()
        .expect("run workflowexecution crd");
    assert!(out.status.success());
    assert_eq!(
        read(&Path::new(ROOT).join("deploy/base/crd.yaml")),
        String::from_utf8_lossy(&out.stdout),
        "regenerate with: cargo run -q -- crd > deploy/base/crd.yaml"
    );
}

/// Metric names the product exports (DESIGN §4.6).
const METRICS: &[&str] = &[
    "workflowexecution_total",
    "workflowexecution_duration_seconds",
    "workflowexecution_pipelinerun_creation_total",
    "workflowexecution_skip_total",
    "workflowexecution_block_clearances_total",
    "workflowexecution_reconcile_duration_seconds",
    "workflowexecution_reconcile_errors_total",
    "workflowexecution_admission_requests_total",
    "workflowexecution_admission_duration_seconds",
    "workflowexecution_webhook_cert_expiry_timestamp_seconds",
    "workflowexecution_audit_events_total",
    "workflowexecution_audit_pending",
];

fn metric_names_in(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = expr;
    while let Some(i) = rest.find("workflowexecution_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    names
}

fn is_known_metric(name: &str) -> bool {
    METRICS.iter().any(|m| {
        name == *m
            || [
                format!("{m}_bucket"),
                format!("{m}_sum"),
                format!("{m}_count"),
            ]
            .iter()
            .any(|s| s == name)
    })
}

#[test]
fn alerts_and_dashboard_use_exported_metrics_and_cover_design_4_6() {
    let monitoring = Path::new(ROOT).join("deploy/monitoring");
    let rule = documents(
        &read(&monitoring.join("prometheusrule.yaml")),
        "prometheusrule.yaml",
    )
    .remove(0);
    let mut alerts = BTreeSet::new();
    let mut used = BTreeSet::new();
    for group in rule["spec"]["groups"].as_array().into_iter().flatten() {
        for r in group["rules"].as_array().into_iter().flatten() {
            alerts.insert(str_at(r, &["alert"]).expect("alert name").to_owned());
            used.extend(metric_names_in(str_at(r, &["expr"]).expect("expr")));
            assert!(
                str_at(r, &["annotations", "description"])
                    .is_some_and(|d| d.contains("docs/runbook.md"))
                    || str_at(r, &["alert"]) == Some("WorkflowExecutionReconcileErrors")
            );
        }
    }
    for required in [
        "WorkflowExecutionFailureRatioHigh",
        "WorkflowExecutionSkipSpike",
        "WorkflowExecutionAdmissionLatencyHigh",
        "WorkflowExecutionWebhookCertExpiringSoon",
        "WorkflowExecutionAuditBacklogGrowing",
    ] {
        assert!(alerts.contains(required), "missing alert {required}");
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&read(&monitoring.join("dashboard.json"))).expect("dashboard is JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            used.extend(metric_names_in(target["expr"].as_str().unwrap_or_default()));
        }
    }
    let unknown: Vec<_> = used.iter().filter(|n| !is_known_metric(n)).collect();
    assert!(
        unknown.is_empty(),
        "alerts/dashboard use metrics nobody exports: {unknown:?}"
    );
    for m in METRICS {
        assert!(
            used.iter().any(|u| u.starts_with(m)),
            "the dashboard and alerts never show {m}"
        );
    }
    let runbook = read(&Path::new(ROOT).join("docs/runbook.md"));
    for alert in &alerts {
        assert!(
            runbook.contains(alert.as_str()),
            "docs/runbook.md does not explain alert {alert}"
        );
    }
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn kustomize(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    documents(
        &String::from_utf8_lossy(&out.stdout),
        &dir.display().to_string(),
    )
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter().map(|d| kind_of(d).to_owned()).collect()
}

const BASE_KINDS: &[&str] = &[
    "Namespace",
    "CustomResourceDefinition",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "ConfigMap",
    "Deployment",
    "Service",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration",
];

fn webhook_client_configs(docs: &[Value]) -> Vec<&Value> {
    docs.iter()
        .filter(|d| kind_of(d).ends_with("WebhookConfiguration"))
        .flat_map(|d| d["webhooks"].as_array().into_iter().flatten())
        .map(|w| &w["clientConfig"])
        .collect()
}

#[test]
fn cert_manager_overlay_renders_with_ca_injection() {
    if !kubectl_available() {
        println!("skipped: kubectl not on PATH");
        return;
    }
    let docs = kustomize(&Path::new(ROOT).join("deploy/overlays/cert-manager"));
    let k = kinds(&docs);
    for kind in BASE_KINDS.iter().chain(&["Certificate", "Issuer"]) {
        assert!(k.contains(*kind), "cert-manager overlay lacks {kind}");
    }
    assert_eq!(
        granted_permissions(&docs, CONTROLLER_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT),
        process_api_calls(),
        "the rendered overlay's RBAC must equal the process's API calls"
    );
    let configs: Vec<_> = docs
        .iter()
        .filter(|d| kind_of(d).ends_with("WebhookConfiguration"))
        .collect();
    assert_eq!(configs.len(), 3);
    for c in configs {
        assert_eq!(
            str_at(
                c,
                &["metadata", "annotations", "cert-manager.io/inject-ca-from"]
            ),
            Some("kubernaut-system/workflowexecution-webhook")
        );
    }
    let cert = named(
        &docs,
        "Certificate",
        Some(CONTROLLER_NAMESPACE),
        "workflowexecution-webhook",
    )
    .expect("serving Certificate");
    assert_eq!(
        str_at(cert, &["spec", "secretName"]),
        Some("workflowexecution-webhook-tls")
    );
    assert!(
        strings(cert["spec"].get("dnsNames"))
            .contains(&"workflowexecution-webhook.kubernaut-system.svc".to_owned())
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn self_signed_overlay_renders_after_the_documented_generate_step() {
    if !kubectl_available() {
        println!("skipped: kubectl not on PATH");
        return;
    }
    // A copy of deploy/, so the generated key never lands in the working tree.
    let dir = tempfile::tempdir().expect("tempdir");
    let deploy = dir.path().join("deploy");
    copy_tree(&Path::new(ROOT).join("deploy"), &deploy);
    let overlay = deploy.join("overlays/self-signed");
    let _ = std::fs::remove_dir_all(overlay.join("certs"));
    let out = Command::new("sh")
        .arg(overlay.join("generate-certs.sh"))
        .env("WORKFLOWEXECUTION", BIN)
        .env_remove("CERT_DIR")
        .output()
        .expect("run generate-certs.sh");
    assert!(
        out.status.success(),
        "generate-certs.sh failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let docs = kustomize(&overlay);
    let k = kinds(&docs);
    for kind in BASE_KINDS.iter().chain(&["Secret"]) {
        assert!(k.contains(*kind), "self-signed overlay lacks {kind}");
    }
    let secret = named(
        &docs,
        "Secret",
        Some(CONTROLLER_NAMESPACE),
        "workflowexecution-webhook-tls",
    )
    .expect("TLS Secret with its plain name");
    assert_eq!(str_at(secret, &["type"]), Some("kubernetes.io/tls"));
    for key in ["tls.crt", "tls.key", "ca.crt"] {
        assert!(secret["data"].get(key).is_some(), "Secret lacks {key}");
    }
    let ca = read(&overlay.join("certs/ca.crt"));
    let expected_bundle = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(ca.as_bytes())
    };
    let configs = webhook_client_configs(&docs);
    assert_eq!(configs.len(), 3);
    for c in configs {
        assert_eq!(
            str_at(c, &["caBundle"]),
            Some(expected_bundle.as_str()),
            "caBundle must be the generated CA"
        );
        assert_eq!(
            str_at(c, &["service", "name"]),
            Some("workflowexecution-webhook")
        );
    }
}

#[test]
fn monitoring_renders() {
    if !kubectl_available() {
        println!("skipped: kubectl not on PATH");
        return;
    }
    let docs = kustomize(&Path::new(ROOT).join("deploy/monitoring"));
    let k = kinds(&docs);
    for kind in ["ServiceMonitor", "PrometheusRule", "ConfigMap"] {
        assert!(k.contains(kind), "monitoring lacks {kind}");
    }
    let dashboard = named(
        &docs,
        "ConfigMap",
        Some(CONTROLLER_NAMESPACE),
        "workflowexecution-dashboard",
    )
    .expect("dashboard ConfigMap");
    assert_eq!(
        str_at(dashboard, &["metadata", "labels", "grafana_dashboard"]),
        Some("1")
    );
}

/// Joins shell continuation lines and drops blanks and comments.
fn shell_commands(script: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        if let Some(part) = line.strip_suffix('\\') {
            current.push_str(part.trim_end());
            current.push(' ');
        } else {
            current.push_str(line);
            commands.push(normalise(&current));
            current.clear();
        }
    }
    if !current.trim().is_empty() {
        commands.push(normalise(&current));
    }
    commands
}

fn normalise(command: &str) -> String {
    command.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn workflow_path() -> PathBuf {
    Path::new(ROOT).join(".github/workflows/e2e.yaml")
}

#[test]
fn e2e_workflow_is_valid_yaml_and_every_command_is_documented() {
    let workflow: Value =
        serde_saphyr::from_str_with_options(&read(&workflow_path()), yaml_options())
            .expect(".github/workflows/e2e.yaml is YAML");
    let jobs = workflow["jobs"].as_object().expect("jobs");
    assert!(!jobs.is_empty());
    let docs: String = ["docs/install.md", "docs/runbook.md", "README.md"]
        .iter()
        .map(|p| std::fs::read_to_string(Path::new(ROOT).join(p)).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let documented: BTreeSet<String> = docs
        .split("```")
        .skip(1)
        .step_by(2)
        .flat_map(shell_commands)
        .collect();
    let mut undocumented = Vec::new();
    let mut count = 0;
    for (_, job) in jobs {
        assert!(job.get("runs-on").is_some(), "a job without runs-on");
        for step in job["steps"].as_array().expect("steps") {
            if let Some(script) = str_at(step, &["run"]) {
                for command in shell_commands(script) {
                    count += 1;
                    if !documented.contains(&command) {
                        undocumented.push(command);
                    }
                }
            }
        }
    }
    assert!(
        count > 10,
        "the workflow runs suspiciously few commands ({count})"
    );
    assert!(
        undocumented.is_empty(),
        "commands of the kind workflow that docs/install.md or docs/runbook.md do not give a person:\n  {}",
        undocumented.join("\n  ")
    );
}

#[test]
fn shell_commands_join_continuations_and_skip_comments() {
    let cmds = shell_commands("# c\n\nkubectl apply \\\n   -k deploy/x\n  echo  hi  \n");
    assert_eq!(cmds, ["kubectl apply -k deploy/x", "echo hi"]);
    assert_eq!(
        metric_names_in(
            "rate(workflowexecution_total{a=\"b\"}[5m]) / workflowexecution_audit_pending"
        ),
        BTreeSet::from([
            "workflowexecution_total".to_owned(),
            "workflowexecution_audit_pending".to_owned()
        ])
    );
    assert!(is_known_metric(
        "workflowexecution_admission_duration_seconds_bucket"
    ));
    assert!(!is_known_metric("workflowexecution_nope"));
}
