//! The clearance provenance ValidatingAdmissionPolicy, evaluated with a CEL engine on real
//! AdmissionReview bodies and on forgeries: the controller's own writes and an operator's
//! webhook-stamped clearance pass; a clearance added by anyone under someone else's name, or
//! by the controller or runner at all, and a clearance request by the controller, are denied.

use kube_cel::{AdmissionRequest, VapEvaluator, VapExpression};
use serde_json::{Value, json};
use wfe_webhook::clearance::{ClearanceOutcome, ClearancePatch, decide_clearance};
use wfe_webhook::provenance_policy::{ProvenancePolicyOptions, provenance_policy, validations};
use wfe_webhook::review::parse_review;
use wfe_webhook::{Authorization, Settings};

const CONTROLLER: &str = "system:serviceaccount:kubernaut-system:workflowexecution-controller";
const RUNNER: &str = "system:serviceaccount:kubernaut-workflows:kubernaut-workflow-runner";

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../shared/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .unwrap()
}

/// The ConfigMap the binding passes as `params`, exactly as generated.
fn params() -> Value {
    provenance_policy(&ProvenancePolicyOptions::default())[0].clone()
}

fn expressions() -> Vec<VapExpression> {
    let policy = &provenance_policy(&ProvenancePolicyOptions::default())[1];
    policy["spec"]["validations"]
        .as_array()
        .unwrap()
        .iter()
        // The API server's authorizer cannot be evaluated here (kube-cel has no `authorizer`);
        // the e2e suite covers it against a real API server.
        .filter(|v| !v["expression"].as_str().unwrap().contains("authorizer."))
        .map(|v| VapExpression {
            expression: v["expression"].as_str().unwrap().to_owned(),
            message: v["message"].as_str().map(str::to_owned),
            message_expression: v["messageExpression"].as_str().map(str::to_owned),
        })
        .collect()
}

/// The messages of the failed validations (empty: allowed).
fn denials(user: &str, old: &Value, new: &Value) -> Vec<String> {
    denials_as(user, &[], old, new)
}

/// Like [`denials`], for a requester with `groups`.
fn denials_as(user: &str, groups: &[String], old: &Value, new: &Value) -> Vec<String> {
    let evaluator = VapEvaluator::builder()
        .object(new.clone())
        .old_object(old.clone())
        .params(params())
        .request(AdmissionRequest {
            operation: "UPDATE".into(),
            username: user.into(),
            groups: groups.to_vec(),
            ..Default::default()
        })
        .build();
    evaluator
        .evaluate(&expressions())
        .into_iter()
        .filter(|r| !r.passed)
        .map(|r| r.message.unwrap_or_default())
        .collect()
}

fn review_parts(name: &str) -> (String, Value, Value) {
    let body = fixture(name);
    let req = &body["request"];
    (
        req["userInfo"]["username"].as_str().unwrap().to_owned(),
        req["oldObject"].clone(),
        req["object"].clone(),
    )
}

fn groups_of(name: &str) -> Vec<String> {
    serde_json::from_value(fixture(name)["request"]["userInfo"]["groups"].clone()).unwrap()
}

#[test]
fn every_validation_compiles_and_the_generated_policy_uses_them() {
    assert_eq!(expressions().len(), validations(false).len());
    assert_eq!(validations(true).len(), validations(false).len() + 1);
    let with_rbac = provenance_policy(&ProvenancePolicyOptions::default());
    assert!(
        with_rbac[1]["spec"]["validations"]
            .to_string()
            .contains("subresource('blockclearance')"),
        "the default policy asks the API server's authorizer, like the webhook's SubjectAccessReview"
    );
    let evaluator = VapEvaluator::builder().build();
    for compiled in evaluator.compile_expressions(&expressions()) {
        assert!(compiled.is_ok(), "{compiled:?}");
    }
}

#[test]
fn the_controllers_real_status_writes_pass() {
    for name in [
        "04-controller-status-failed-validate-status.json",
        "14-controller-status-reset-removes-clearance-request-validate-status.json",
    ] {
        let (user, old, new) = review_parts(name);
        assert_eq!(user, CONTROLLER, "{name}");
        assert_eq!(denials(&user, &old, &new), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn an_operators_webhook_stamped_clearance_passes() {
    let body =
        serde_json::to_vec(&fixture("05-alice-status-clearance-request-mutate.json")).unwrap();
    let review = parse_review(&body).unwrap();
    let mut settings = Settings::default();
    settings.block.clearance.require_subject_access_review = true;
    let allowed = Authorization::Allowed { reason: None };
    let now = "2026-11-22T02:12:00Z".parse().unwrap();
    let ClearanceOutcome::Cleared(record) =
        decide_clearance(&review, &settings, Some(&allowed), now)
    else {
        panic!("fixture 05 is a grantable clearance");
    };
    let patch: json_patch::Patch =
        serde_json::from_slice(&ClearancePatch(&record).encode()).unwrap();
    let (user, old, mut new) = review_parts("05-alice-status-clearance-request-mutate.json");
    json_patch::patch(&mut new, &patch).unwrap();
    assert_eq!(new["status"]["blockClearance"]["clearedBy"], "alice");
    let groups = groups_of("05-alice-status-clearance-request-mutate.json");
    assert_eq!(denials_as(&user, &groups, &old, &new), Vec::<String>::new());
    // The same record claiming groups alice is not in (attribution forged by hand) is denied.
    let mut claimed = new.clone();
    claimed["status"]["blockClearance"]["clearedByGroups"] = json!(["system:masters"]);
    let got = denials_as(&user, &groups, &old, &claimed);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("clearedByGroups"), "{got:?}");
    // An operator's plain clearance request (before the webhook turns it into a record) passes too.
    let (user, old, new) = review_parts("05-alice-status-clearance-request-validate-status.json");
    assert_eq!(denials(&user, &old, &new), Vec::<String>::new());
}

#[test]
fn a_clearance_in_someone_elses_name_is_denied_with_both_names() {
    let (user, old, new) = review_parts("10-alice-status-forged-clearance-validate-status.json");
    let got = denials(&user, &old, &new);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("clearedBy is someone-else but the request was made by alice"),
        "{got:?}"
    );
}

fn with_clearance(old: &Value, cleared_by: &str) -> Value {
    let mut new = old.clone();
    new["status"]["blockClearance"] = json!({
        "clearedBy": cleared_by, "clearedAt": "2026-11-22T02:12:00.000000Z",
        "clearReason": "Root cause fixed in payment-api v2.3.1, memory limit raised and verified healthy",
        "clearMethod": "KubernetesAdmissionWebhook", "admissionRequestUID": "x",
    });
    new
}

#[test]
fn the_controller_and_runner_tokens_can_never_add_a_clearance() {
    let (_, old, _) = review_parts("05-alice-status-clearance-request-mutate.json");
    // The attack: the controller's token writes a clearance in alice's name.
    let got = denials(CONTROLLER, &old, &with_clearance(&old, "alice"));
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        got[0].contains("clearedBy is alice but the request was made by"),
        "{got:?}"
    );
    assert!(
        got[1].contains("is the controller or the workflow runner"),
        "{got:?}"
    );
    // Naming itself does not help.
    let got = denials(CONTROLLER, &old, &with_clearance(&old, CONTROLLER));
    assert_eq!(got.len(), 1, "{got:?}");
    let got = denials(RUNNER, &old, &with_clearance(&old, RUNNER));
    assert_eq!(got.len(), 1, "{got:?}");
    // Keeping an existing clearance is not adding one.
    let cleared = with_clearance(&old, "alice");
    assert_eq!(
        denials(CONTROLLER, &cleared, &cleared),
        Vec::<String>::new()
    );
}

#[test]
fn the_controller_cannot_request_a_clearance_but_may_carry_an_existing_request() {
    let (_, old, _) = review_parts("04-controller-status-failed-validate-status.json");
    let mut request = old.clone();
    request["status"]["blockClearanceRequest"] = json!({"clearReason": "let me through please"});
    let got = denials(CONTROLLER, &old, &request);
    assert_eq!(
        got,
        vec![
            "status.blockClearanceRequest: the controller's identity cannot request a block clearance; a human operator must request it"
        ]
    );
    assert_eq!(
        denials(CONTROLLER, &request, &request),
        Vec::<String>::new()
    );
    assert_eq!(denials("alice", &old, &request), Vec::<String>::new());
}
