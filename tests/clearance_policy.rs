//! The clearance provenance policy as installed: the checked-in copy is what the binary
//! generates, and its identities follow the install's final namespaces and names.

use std::path::{Path, PathBuf};

mod support;

use serde_json::Value;
use support::{kubectl_available, kustomize};
use wfe_webhook::provenance_policy::{PARAMS_NAME, POLICY_NAME};
use wfe_webhook::{ProvenancePolicyOptions, provenance_policy_yaml};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn checked_in_policy_is_what_the_binary_prints() {
    let path = repo().join("deploy/base/clearance-policy.yaml");
    let on_disk = std::fs::read_to_string(&path).expect("deploy/base/clearance-policy.yaml");
    let generated = provenance_policy_yaml(&ProvenancePolicyOptions::default()).unwrap();
    let body: String = on_disk
        .lines()
        .skip_while(|l| l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        body == generated,
        "{} is out of date: regenerate it with `cargo run -- clearance-policy` (keep the header comment)",
        path.display()
    );
    let base = std::fs::read_to_string(repo().join("deploy/base/kustomization.yaml")).unwrap();
    assert!(
        base.contains("- clearance-policy.yaml"),
        "deploy/base must install the policy"
    );
}

/// `to` as a path relative to the directory `from`, both under the repository.
fn relative(from: &Path, to: &Path) -> String {
    let up = from.strip_prefix(repo()).unwrap().components().count();
    let down = to.strip_prefix(repo()).unwrap();
    format!("{}{}", "../".repeat(up), down.display())
}

fn find<'a>(docs: &'a [Value], kind: &str, name_suffix: &str) -> &'a Value {
    docs.iter()
        .find(|d| {
            d["kind"] == kind
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.ends_with(name_suffix))
        })
        .unwrap_or_else(|| panic!("no {kind} *{name_suffix} rendered"))
}

fn username(sa: &Value) -> String {
    format!(
        "system:serviceaccount:{}:{}",
        sa["metadata"]["namespace"].as_str().unwrap(),
        sa["metadata"]["name"].as_str().unwrap()
    )
}

/// The parameters name the rendered ServiceAccounts, and the binding points at the parameters.
fn assert_identities_follow(docs: &[Value]) {
    let params = find(docs, "ConfigMap", PARAMS_NAME);
    let controller = find(docs, "ServiceAccount", "workflowexecution-controller");
    let runner = find(docs, "ServiceAccount", "kubernaut-workflow-runner");
    assert_eq!(
        params["data"]["controllerUsername"],
        username(controller).as_str()
    );
    assert_eq!(params["data"]["runnerUsername"], username(runner).as_str());
    let binding = find(docs, "ValidatingAdmissionPolicyBinding", POLICY_NAME);
    let policy = find(docs, "ValidatingAdmissionPolicy", POLICY_NAME);
    assert_eq!(
        binding["spec"]["paramRef"]["name"],
        params["metadata"]["name"]
    );
    assert_eq!(
        binding["spec"]["paramRef"]["namespace"],
        params["metadata"]["namespace"]
    );
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    assert_eq!(
        binding["spec"]["validationActions"],
        serde_json::json!(["Deny"])
    );
}

#[test]
fn the_policy_identities_follow_the_install() {
    if !kubectl_available() {
        println!("skipped: kubectl not on PATH");
        return;
    }
    let cert_manager = repo().join("deploy/overlays/cert-manager");
    assert_identities_follow(&kustomize(&cert_manager));

    // An operator's install in another namespace with prefixed names, the component applied in
    // a kustomization above the renaming one (docs/install.md).
    // Inside the repository: kustomize refuses absolute resource paths.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let renamed = dir.path().join("renamed");
    let top = dir.path().join("top");
    std::fs::create_dir_all(&renamed).unwrap();
    std::fs::create_dir_all(&top).unwrap();
    std::fs::write(
        renamed.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ops\nnamePrefix: acme-\nresources:\n  - {}\n",
            relative(&renamed, &cert_manager)
        ),
    )
    .unwrap();
    std::fs::write(
        top.join("kustomization.yaml"),
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../renamed\ncomponents:\n  - {}\n",
            relative(&top, &repo().join("deploy/components/clearance-identities"))
        ),
    )
    .unwrap();
    let docs = kustomize(&top);
    assert_identities_follow(&docs);
    let params = find(&docs, "ConfigMap", PARAMS_NAME);
    assert_eq!(
        params["data"]["controllerUsername"],
        "system:serviceaccount:ops:acme-workflowexecution-controller"
    );
    // Without the component on top, the renamed install would keep the stale default: the
    // check above is what catches it.
    let stale = kustomize(&renamed);
    let stale_params = find(&stale, "ConfigMap", PARAMS_NAME);
    assert_ne!(
        stale_params["data"]["controllerUsername"],
        "system:serviceaccount:ops:acme-workflowexecution-controller"
    );
}
