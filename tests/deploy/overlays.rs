//! The overlays: none owns the CRD or a namespace (uninstalling never deletes evidence), and
//! each renders with `kubectl kustomize` when kubectl is on PATH.

use super::*;
use crate::rbac::{assert_aggregated_roles, granted_permissions, process_api_calls};

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
