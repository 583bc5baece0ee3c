//! Checks of `deploy/`, the Dockerfile-free parts of the install story and the kind workflow:
//! RBAC equals the process's API calls, the overlays render with `kubectl kustomize` (when kubectl
//! is on PATH), no service overlay owns the CRD or a namespace (so uninstalling never deletes the
//! evidence), the base webhook configurations equal the binary's `webhook-config` output, the
//! shipped config is accepted by the binary, and every command of the CI workflow is also given
//! to a person in the docs. Alerts and the dashboard are checked in tests/monitoring.rs.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

mod support;

use serde_json::Value;
use support::{kubectl_available, kustomize, yaml_documents};

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
    let kustomization = yaml_documents(
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
        .flat_map(|r| yaml_documents(&read(&base.join(r)), r))
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

/// `resource: verbs` of a ClusterRole's rules, e.g. `{"workflowexecutions get", ...}`.
fn cluster_role_grants(docs: &[Value], name: &str) -> BTreeSet<String> {
    let role = named(docs, "ClusterRole", None, name)
        .unwrap_or_else(|| panic!("ClusterRole {name} is not rendered"));
    let mut grants = BTreeSet::new();
    for rule in role
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        assert_eq!(strings(rule.get("apiGroups")), ["kubernaut.ai"], "{name}");
        for resource in strings(rule.get("resources")) {
            for verb in strings(rule.get("verbs")) {
                grants.insert(format!("{resource} {verb}"));
            }
        }
    }
    grants
}

/// Read access aggregated to `view`, create/delete to `edit` and `admin`, nothing on status
/// (clearing stays with the explicit block-clearer role).
fn assert_aggregated_roles(docs: &[Value], what: &str) {
    let label = |name: &str, key: &str| {
        named(docs, "ClusterRole", None, name)
            .and_then(|r| str_at(r, &["metadata", "labels", key]))
            .map(str::to_owned)
    };
    let agg = |to: &str| format!("rbac.authorization.k8s.io/aggregate-to-{to}");
    assert_eq!(
        label("workflowexecution-view", &agg("view")).as_deref(),
        Some("true"),
        "{what}"
    );
    for to in ["edit", "admin"] {
        assert_eq!(
            label("workflowexecution-edit", &agg(to)).as_deref(),
            Some("true"),
            "{what}"
        );
    }
    let set = |items: &[&str]| {
        items
            .iter()
            .map(|s| (*s).to_owned())
            .collect::<BTreeSet<_>>()
    };
    let read = [
        "workflowexecutions get",
        "workflowexecutions list",
        "workflowexecutions watch",
    ];
    assert_eq!(
        cluster_role_grants(docs, "workflowexecution-view"),
        set(&read),
        "{what}"
    );
    let mut write = read.to_vec();
    write.extend(["workflowexecutions create", "workflowexecutions delete"]);
    assert_eq!(
        cluster_role_grants(docs, "workflowexecution-edit"),
        set(&write),
        "{what}"
    );
}

#[test]
fn view_and_edit_roles_aggregate_workflowexecution_access() {
    assert_aggregated_roles(&base_documents(), "deploy/base");
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

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter().map(|d| kind_of(d).to_owned()).collect()
}

/// Kinds whose deletion deletes evidence or other services' objects: the CRD takes every WFE with
/// it, a Namespace everything in it. `kubectl delete -k <dir>` deletes exactly what `<dir>`
/// renders, so no service overlay may render these.
const NEVER_IN_A_SERVICE_OVERLAY: &[&str] = &["CustomResourceDefinition", "Namespace"];

/// The resources a kustomization renders, without kubectl: its `resources` entries, following
/// directories into their own kustomization. Generators only make ConfigMaps and Secrets and
/// patches cannot add objects, so for "which kinds does this render" this is the whole answer.
fn kustomization_resources(dir: &Path) -> Vec<Value> {
    let file = dir.join("kustomization.yaml");
    let kustomization = yaml_documents(&read(&file), &file.display().to_string());
    let resources = strings(kustomization[0].get("resources"));
    assert!(
        !resources.is_empty(),
        "{} lists no resources",
        file.display()
    );
    resources
        .iter()
        .flat_map(|r| {
            let path = dir.join(r);
            if path.is_dir() {
                kustomization_resources(&path)
            } else {
                yaml_documents(&read(&path), &path.display().to_string())
            }
        })
        .collect()
}

/// Panics naming every object of `docs` whose deletion would delete evidence or a namespace.
fn assert_deletes_no_evidence(docs: &[Value], what: &str) {
    let owned: Vec<String> = docs
        .iter()
        .filter(|d| NEVER_IN_A_SERVICE_OVERLAY.contains(&kind_of(d)))
        .map(|d| {
            format!(
                "{} {}",
                kind_of(d),
                str_at(d, &["metadata", "name"]).unwrap_or_default()
            )
        })
        .collect();
    assert!(
        owned.is_empty(),
        "`kubectl delete -k {what}` would delete {owned:?}: they belong in deploy/crd or deploy/namespaces"
    );
}

/// Every directory a person runs `kubectl apply -k` / `kubectl delete -k` on for the service.
const SERVICE_DIRS: &[&str] = &[
    "deploy/base",
    "deploy/overlays/cert-manager",
    "deploy/overlays/self-signed",
    "deploy/monitoring",
];

#[test]
fn service_overlays_never_own_the_crd_or_a_namespace() {
    for dir in SERVICE_DIRS {
        let docs = kustomization_resources(&Path::new(ROOT).join(dir));
        assert!(!docs.is_empty(), "{dir} renders nothing");
        assert_deletes_no_evidence(&docs, dir);
    }
}

#[test]
fn the_helper_notices_a_crd_or_namespace_in_an_overlay() {
    let crd = yaml_documents(
        "kind: CustomResourceDefinition\nmetadata: {name: x}\n---\nkind: ConfigMap\n",
        "t",
    );
    let caught = std::panic::catch_unwind(|| assert_deletes_no_evidence(&crd, "t"));
    assert!(caught.is_err(), "a CRD in an overlay must be refused");
    let ns = yaml_documents("kind: Namespace\nmetadata: {name: kubernaut-system}\n", "t");
    assert!(std::panic::catch_unwind(|| assert_deletes_no_evidence(&ns, "t")).is_err());
    let fine = yaml_documents("kind: ConfigMap\nmetadata: {name: x}\n", "t");
    assert_deletes_no_evidence(&fine, "t");
}

/// (kind, name) of every object in `docs`.
fn objects(docs: &[Value]) -> BTreeSet<(String, String)> {
    docs.iter()
        .map(|d| {
            (
                kind_of(d).to_owned(),
                str_at(d, &["metadata", "name"])
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

fn pair(kind: &str, name: &str) -> (String, String) {
    (kind.to_owned(), name.to_owned())
}

#[test]
fn crd_and_namespace_components_hold_exactly_the_crd_and_the_shared_namespaces() {
    let crd_dir = Path::new(ROOT).join("deploy/crd");
    let ns_dir = Path::new(ROOT).join("deploy/namespaces");
    let want_crd = BTreeSet::from([pair(
        "CustomResourceDefinition",
        "workflowexecutions.kubernaut.ai",
    )]);
    let want_ns = BTreeSet::from([
        pair("Namespace", CONTROLLER_NAMESPACE),
        pair("Namespace", EXECUTION_NAMESPACE),
    ]);
    assert_eq!(objects(&kustomization_resources(&crd_dir)), want_crd);
    assert_eq!(objects(&kustomization_resources(&ns_dir)), want_ns);
    // Applying deploy/namespaces first is enough: every namespaced object of the service lands in
    // one of them (nothing creates a namespace implicitly).
    let mut used = BTreeSet::new();
    for dir in SERVICE_DIRS {
        for doc in kustomization_resources(&Path::new(ROOT).join(dir)) {
            if let Some(ns) = str_at(&doc, &["metadata", "namespace"]) {
                used.insert(pair("Namespace", ns));
            }
        }
    }
    assert!(
        used.is_subset(&want_ns),
        "objects in namespaces deploy/namespaces does not create: {:?}",
        used.difference(&want_ns).collect::<Vec<_>>()
    );
    if !kubectl_available() {
        println!("kubectl not on PATH: rendered with the file reader only");
        return;
    }
    assert_eq!(objects(&kustomize(&crd_dir)), want_crd);
    assert_eq!(objects(&kustomize(&ns_dir)), want_ns);
    assert_deletes_no_evidence(
        &kustomize(&Path::new(ROOT).join("deploy/base")),
        "deploy/base",
    );
}

/// What the service overlays render (on top of their own Certificate/Secret). Namespace and
/// CustomResourceDefinition are deliberately absent: see `service_overlays_never_own_the_crd_or_a_namespace`.
const BASE_KINDS: &[&str] = &[
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
    assert_deletes_no_evidence(&docs, "deploy/overlays/cert-manager");
    let k = kinds(&docs);
    for kind in BASE_KINDS.iter().chain(&["Certificate", "Issuer"]) {
        assert!(k.contains(*kind), "cert-manager overlay lacks {kind}");
    }
    assert_eq!(
        granted_permissions(&docs, CONTROLLER_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT),
        process_api_calls(),
        "the rendered overlay's RBAC must equal the process's API calls"
    );
    assert_aggregated_roles(&docs, "cert-manager overlay");
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
    assert_deletes_no_evidence(&docs, "deploy/overlays/self-signed");
    let k = kinds(&docs);
    for kind in BASE_KINDS.iter().chain(&["Secret"]) {
        assert!(k.contains(*kind), "self-signed overlay lacks {kind}");
    }
    assert_aggregated_roles(&docs, "self-signed overlay");
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
    assert_deletes_no_evidence(&docs, "deploy/monitoring");
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
    let mut in_order = Vec::new();
    for (_, job) in jobs {
        assert!(job.get("runs-on").is_some(), "a job without runs-on");
        for step in job["steps"].as_array().expect("steps") {
            if let Some(script) = str_at(step, &["run"]) {
                for command in shell_commands(script) {
                    count += 1;
                    in_order.push(command.clone());
                    if !documented.contains(&command) {
                        undocumented.push(command);
                    }
                }
            }
        }
    }
    // The service overlays no longer carry the CRD and the namespaces: CI installs them first.
    let position = |wanted: &str| in_order.iter().position(|c| c.starts_with(wanted));
    let overlay = position("kubectl apply -k deploy/overlays/").expect("CI installs an overlay");
    for first in [
        "kubectl apply -k deploy/namespaces",
        "kubectl apply -k deploy/crd",
    ] {
        assert!(
            position(first).is_some_and(|p| p < overlay),
            "CI must run `{first}` before the overlay"
        );
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
}
