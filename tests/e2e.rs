//! End-to-end suite against a real cluster (DESIGN §9). Opt-in: every test prints
//! "skipped: WFE_E2E_KUBECONFIG not set" and returns unless `WFE_E2E_KUBECONFIG` names the
//! kubeconfig of a cluster the suite may use (its identity needs cluster-admin: it installs the
//! CRDs and RBAC, impersonates users and requests service-account tokens).
//!
//! Environment:
//! - `WFE_E2E_KUBECONFIG`: kubeconfig of the cluster (required to run anything).
//! - `WFE_E2E_MODE`: `external` (default: the suite applies deploy/crd, deploy/namespaces and
//!   the RBAC of deploy/base and starts the built binary on the host as ServiceAccount
//!   kubernaut-system/workflowexecution-controller; the API server must reach 127.0.0.1) or
//!   `in-cluster` (the product is deployed from deploy/; only scenarios run).
//! - `WFE_E2E_TEKTON`: `simulated` (default: PipelineRun/TaskRun CRDs from
//!   shared/reference/tekton are installed when absent and the suite plays Tekton) or `real`.
//! - `WFE_E2E_BUNDLE`: the Tekton bundle of tests/e2e/pipeline.yaml (Pipeline `workflow` with
//!   params TARGET_RESOURCE, EXIT_CODE, SLEEP_SECONDS); required with real Tekton
//!   (.github/workflows/e2e.yaml pushes it to a registry the cluster can reach).
//! - `WFE_E2E_TIMEOUT_SECONDS`: how long to wait for any one expected state (default 180).
//! - `WFE_E2E_WORK_DIR`: where external mode keeps certificates, kubeconfig, and per run the
//!   binary log and the audit file (default a fresh directory under the system temp dir; printed
//!   at start).
//!
//! The timing scenarios need the short cooldown/backoff of tests/e2e/config.yaml: external mode
//! starts the binary with it, in-cluster mode reads the deployed ConfigMap and skips a scenario
//! whose timing would take too long.

#[path = "e2e/admission.rs"]
mod admission;
#[path = "e2e/audit.rs"]
mod audit;
#[path = "e2e/clearance.rs"]
mod clearance;
#[path = "e2e/cluster.rs"]
mod cluster;
#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/lifecycle.rs"]
mod lifecycle;
#[path = "e2e/plugin.rs"]
mod plugin;
#[path = "e2e/settings.rs"]
mod settings;
#[path = "e2e/setup.rs"]
mod setup;
#[path = "e2e/tekton.rs"]
mod tekton;
#[path = "e2e/wfe.rs"]
mod wfe;

#[test]
fn settings_parse_modes_and_defaults() {
    use settings::{Mode, Settings, TektonMode};
    use std::collections::BTreeMap;
    let env = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>()
    };
    assert!(Settings::from_vars(&env(&[])).expect("no error").is_none());
    let s = Settings::from_vars(&env(&[("WFE_E2E_KUBECONFIG", "/k")]))
        .expect("valid")
        .expect("enabled");
    assert_eq!((s.mode, s.tekton), (Mode::External, TektonMode::Simulated));
    assert_eq!(s.timeout.as_secs(), 180);
    let s = Settings::from_vars(&env(&[
        ("WFE_E2E_KUBECONFIG", "/k"),
        ("WFE_E2E_MODE", "in-cluster"),
        ("WFE_E2E_TEKTON", "real"),
        ("WFE_E2E_BUNDLE", "10.0.0.5:5000/wf:v1"),
        ("WFE_E2E_TIMEOUT_SECONDS", "30"),
    ]))
    .expect("valid")
    .expect("enabled");
    assert_eq!(
        (s.mode, s.tekton, s.timeout.as_secs()),
        (Mode::InCluster, TektonMode::Real, 30)
    );
    let err = Settings::from_vars(&env(&[
        ("WFE_E2E_KUBECONFIG", "/k"),
        ("WFE_E2E_MODE", "cluster"),
    ]))
    .expect_err("bad mode");
    assert!(err.contains("WFE_E2E_MODE"), "{err}");
    let err = Settings::from_vars(&env(&[
        ("WFE_E2E_KUBECONFIG", "/k"),
        ("WFE_E2E_TIMEOUT_SECONDS", "soon"),
    ]))
    .expect_err("bad timeout");
    assert!(err.contains("WFE_E2E_TIMEOUT_SECONDS"), "{err}");
}

#[test]
fn simulated_tekton_plays_each_behaviour_from_the_run_params() {
    use serde_json::json;
    use tekton::{Plan, plan};
    let run = |image: &str, params: serde_json::Value| {
        json!({"spec": {"pipelineRef": {"resolver": "bundles", "params": [
            {"name": "bundle", "value": image}, {"name": "name", "value": "workflow"}, {"name": "kind", "value": "pipeline"}]},
            "params": params}})
    };
    assert_eq!(
        plan(&run(
            "reg/x:v1",
            json!([{"name": "TARGET_RESOURCE", "value": "a/B/c"}])
        )),
        Plan {
            resolvable: true,
            exit_code: 0,
            sleep_seconds: 0
        }
    );
    assert_eq!(
        plan(&run(
            "reg/x:v1",
            json!([{"name": "EXIT_CODE", "value": "3"}, {"name": "SLEEP_SECONDS", "value": "20"}])
        )),
        Plan {
            resolvable: true,
            exit_code: 3,
            sleep_seconds: 20
        }
    );
    assert!(
        !plan(&run(
            &format!("reg/{}:v1", tekton::UNRESOLVABLE_BUNDLE_MARK),
            json!([])
        ))
        .resolvable
    );
}
