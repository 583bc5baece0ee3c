//! The generated CRD: in sync with deploy/, structural, and its CEL rules compile and hold.

use serde_json::{Value, json};
use wfe_api::{WorkflowExecution, crd, crd_yaml};

fn schema() -> Value {
    let crd = serde_json::to_value(crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../shared/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

#[test]
fn checked_in_crd_matches_the_types() {
    let path = format!("{}/../deploy/crd/crd.yaml", env!("CARGO_MANIFEST_DIR"));
    let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        on_disk == crd_yaml().unwrap(),
        "{path} is out of date with the Rust types: run `cargo run -- crd > deploy/crd/crd.yaml`"
    );
}

fn assert_structural(node: &Value, path: &str) {
    let obj = node
        .as_object()
        .unwrap_or_else(|| panic!("{path}: schema node is not an object"));
    for forbidden in [
        "$ref",
        "anyOf",
        "oneOf",
        "allOf",
        "not",
        "definitions",
        "$defs",
    ] {
        assert!(
            !obj.contains_key(forbidden),
            "{path}: {forbidden} is not allowed in a structural schema"
        );
    }
    let ty = obj.get("type").and_then(Value::as_str);
    let preserve = obj.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    assert!(
        ty.is_some() || preserve || obj.contains_key("x-kubernetes-int-or-string"),
        "{path}: missing type"
    );
    if let Some(values) = obj.get("enum").and_then(Value::as_array) {
        for v in values {
            let ok = match ty {
                Some("string") => v.is_string(),
                Some("integer") | Some("number") => v.is_number(),
                _ => false,
            };
            assert!(ok, "{path}: enum value {v} does not match type {ty:?}");
        }
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            assert_structural(v, &format!("{path}.{k}"));
        }
    }
    if let Some(items) = obj.get("items") {
        assert_structural(items, &format!("{path}[]"));
    }
    if let Some(ap) = obj.get("additionalProperties").filter(|v| v.is_object()) {
        assert!(
            !obj.contains_key("properties"),
            "{path}: properties and additionalProperties together"
        );
        assert_structural(ap, &format!("{path}{{}}"));
    }
}

#[test]
fn crd_is_structural() {
    assert_structural(&schema(), "openAPIV3Schema");
}

#[test]
fn crd_names_columns_and_subresources() {
    let crd = serde_json::to_value(crd()).unwrap();
    assert_eq!(crd["metadata"]["name"], "workflowexecutions.kubernaut.ai");
    assert_eq!(crd["spec"]["names"]["shortNames"], json!(["wfe"]));
    assert_eq!(crd["spec"]["names"]["categories"], json!(["kubernaut"]));
    assert_eq!(crd["spec"]["scope"], "Namespaced");
    let v = &crd["spec"]["versions"][0];
    assert_eq!(v["subresources"]["status"], json!({}));
    let cols: Vec<(&str, i64)> = v["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["priority"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    // Priority 0 is `kubectl get`, priority 1 the extra `-o wide` columns.
    assert_eq!(
        cols,
        [
            ("Phase", 0),
            ("Target", 0),
            ("Workflow", 0),
            ("Reason", 0),
            ("Age", 0),
            ("PipelineRun", 1),
            ("Blocked", 1),
            ("Started", 1),
            ("Duration", 1)
        ]
    );
    let blocked = &v["additionalPrinterColumns"][6];
    assert_eq!(
        blocked["jsonPath"],
        format!(
            ".status.conditions[?(@.type==\"{}\")].status",
            wfe_api::keys::CONDITION_TARGET_BLOCKED
        )
    );
}

#[test]
fn every_cel_rule_compiles_within_cost_budget() {
    let compiled = kube_cel::compile_schema(&schema());
    assert!(
        !compiled.has_errors(),
        "CEL compilation errors: {:?}",
        compiled.compilation_errors()
    );
    let rules = collect_rules(&schema());
    assert!(
        rules.iter().any(|r| r == "self == oldSelf"),
        "spec immutability rule missing: {rules:?}"
    );
    assert!(
        rules
            .iter()
            .any(|r| r == wfe_api::BLOCK_CLEARANCE_WRITE_ONCE_RULE),
        "write-once rule missing"
    );
    for rule in &rules {
        let warnings = kube_cel::estimate_rule_cost(rule, &compiled);
        assert!(warnings.is_empty(), "{rule}: {warnings:?}");
    }
}

fn collect_rules(node: &Value) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(rules) = node
        .get("x-kubernetes-validations")
        .and_then(Value::as_array)
    {
        out.extend(rules.iter().map(|r| r["rule"].as_str().unwrap().to_owned()));
    }
    for key in ["properties"] {
        if let Some(props) = node.get(key).and_then(Value::as_object) {
            for v in props.values() {
                out.extend(collect_rules(v));
            }
        }
    }
    if let Some(items) = node.get("items") {
        out.extend(collect_rules(items));
    }
    out
}

fn validate(new: &Value, old: Option<&Value>) -> Result<(), String> {
    kube_cel::validate(&schema(), new, old).map_err(|e| format!("{e:?}"))
}

fn stored_failed_wfe() -> Value {
    fixture("05-alice-status-clearance-request-mutate.json")["request"]["oldObject"].clone()
}

#[test]
fn spec_is_immutable() {
    let old = stored_failed_wfe();
    assert_eq!(validate(&old, Some(&old)), Ok(()));
    let mut new = old.clone();
    new["spec"]["targetResource"] = json!("team-a/Deployment/checkout-api");
    let err = validate(&new, Some(&old)).unwrap_err();
    assert!(err.contains("spec is immutable"), "{err}");
}

fn clearance() -> Value {
    json!({
        "clearedBy": "alice", "clearedByUID": "uid-alice", "clearedByGroups": ["sre-team"],
        "clearedAt": "2026-11-22T02:12:00.123456Z", "clearReason": "root cause fixed and verified healthy for an hour now",
        "clearMethod": "KubernetesAdmissionWebhook", "admissionRequestUID": "f68b493b-c8d8-45f4-a78a-c1976893fea5",
        "clearedFailureAt": "2026-11-22T02:11:55Z"
    })
}

#[test]
fn block_clearance_may_be_added_once() {
    let old = stored_failed_wfe();
    let mut new = old.clone();
    new["status"]["blockClearance"] = clearance();
    assert_eq!(validate(&new, Some(&old)), Ok(()));
    // Unchanged afterwards is fine (the controller keeps writing status).
    assert_eq!(validate(&new, Some(&new)), Ok(()));
}

#[test]
fn block_clearance_cannot_change_or_disappear() {
    let mut old = stored_failed_wfe();
    old["status"]["blockClearance"] = clearance();

    let mut changed = old.clone();
    changed["status"]["blockClearance"]["clearedBy"] = json!("mallory");
    let err = validate(&changed, Some(&old)).unwrap_err();
    assert!(err.contains("write-once"), "{err}");

    let mut removed = old.clone();
    removed["status"]
        .as_object_mut()
        .unwrap()
        .remove("blockClearance");
    assert!(
        validate(&removed, Some(&old))
            .unwrap_err()
            .contains("write-once")
    );

    let mut status_dropped = old.clone();
    status_dropped.as_object_mut().unwrap().remove("status");
    assert!(
        validate(&status_dropped, Some(&old))
            .unwrap_err()
            .contains("write-once")
    );
}

#[test]
fn real_api_server_objects_decode_into_the_types() {
    for name in [
        "01-admin-create.json",
        "04-controller-status-failed-mutate.json",
        "05-alice-status-clearance-request-mutate.json",
        "13-alice-patch-spec-targetresource.json",
    ] {
        let review = fixture(name);
        for key in ["object", "oldObject"] {
            let v = &review["request"][key];
            if v.is_null() {
                continue;
            }
            let wfe: WorkflowExecution = wfe_api::parse_workflow_execution(v.clone())
                .unwrap_or_else(|e| panic!("{name} {key}: {e}"));
            assert_eq!(wfe.spec.workflow_ref.workflow_id, "restart-deployment");
            assert_eq!(
                wfe_api::validate_spec(&wfe.spec, &Default::default()),
                Ok(()),
                "{name} {key}"
            );
        }
    }
    // A forged clearance is not even well-formed; decoding names the field instead of panicking.
    // (Mutating webhooks run before schema validation, so the webhook must cope with this.)
    let forged =
        fixture("10-alice-status-forged-clearance-mutate.json")["request"]["object"].clone();
    let err = wfe_api::parse_workflow_execution(forged).unwrap_err();
    assert_eq!(err.field, "status.blockClearance");
    assert!(err.message.contains("clearedAt"), "{err}");

    let failed = wfe_api::parse_workflow_execution(stored_failed_wfe()).unwrap();
    let status = failed.status.unwrap();
    assert_eq!(status.phase, Some(wfe_api::Phase::Failed));
    let fd = status.failure_details.unwrap();
    assert_eq!(fd.reason, wfe_api::FailureReason::TaskFailed);
    assert!(fd.was_execution_failure);
    assert_eq!(fd.exit_code, Some(1));
}
