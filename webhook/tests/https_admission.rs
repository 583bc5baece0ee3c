//! The real server over HTTPS with the AdmissionReview bodies a Kubernetes v1.36.2 API server sent.

mod common;

use std::sync::atomic::Ordering;

use common::{NOW, fixture, fixture_json, message_of, patch_of, start};
use serde_json::{Value, json};

const MUTATE: &str = "/mutate-workflowexecution-status";
const VALIDATE_STATUS: &str = "/validate-workflowexecution-status";
const VALIDATE: &str = "/validate-workflowexecution";
const REASON: &str =
    "Root cause fixed in payment-api v2.3.1, memory limit raised and verified healthy for one hour";

fn request_uid(name: &str) -> String {
    fixture_json(name)["request"]["uid"]
        .as_str()
        .expect("uid")
        .to_owned()
}

fn expected_patch(user: &str, uid: Option<&str>, groups: &[&str], request_uid: &str) -> Value {
    let mut record = json!({
        "clearedBy": user,
        "clearedByGroups": groups,
        "clearedAt": NOW,
        "clearReason": REASON,
        "clearMethod": "KubernetesAdmissionWebhook",
        "admissionRequestUID": request_uid,
        "clearedFailureAt": "2026-11-22T02:11:55Z",
    });
    if let Some(uid) = uid {
        record["clearedByUID"] = json!(uid);
    }
    json!([
        {"op": "add", "path": "/status/blockClearance", "value": record},
        {"op": "remove", "path": "/status/blockClearanceRequest"},
    ])
}

/// The validate-status body as the API server would send it after applying our patch.
fn after_patch(validate_fixture: &str, patch: &Value) -> Vec<u8> {
    let mut body = fixture_json(validate_fixture);
    let patch: json_patch::Patch = serde_json::from_value(patch.clone()).expect("patch");
    json_patch::patch(&mut body["request"]["object"], &patch)
        .expect("patch applies to the real object");
    serde_json::to_vec(&body).expect("json")
}

#[tokio::test]
async fn authorised_clearance_gets_exactly_the_expected_patch_and_passes_ownership() {
    let server = start().await;
    let mut client = server.client().await;
    for (prefix, uid) in [
        ("05-alice-status-clearance-request", Some("uid-alice")),
        ("09-admin-as-alice-status-clearance-request", None),
    ] {
        let mutate = format!("{prefix}-mutate.json");
        let (status, review) = client.post(MUTATE, fixture(&mutate)).await;
        assert_eq!(status, 200);
        assert_eq!(review["kind"], "AdmissionReview");
        assert_eq!(review["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(review["response"]["uid"], json!(request_uid(&mutate)));
        assert_eq!(review["response"]["allowed"], true, "{review}");
        assert_eq!(review["response"]["patchType"], "JSONPatch");
        let patch = patch_of(&review).expect("patch");
        assert_eq!(
            patch,
            expected_patch(
                "alice",
                uid,
                &["sre-team", "system:authenticated"],
                &request_uid(&mutate)
            )
        );
        // The identity in the API server's audit log too; the uid only when there is one.
        let mut annotations = json!({
            "cleared-at": NOW,
            "cleared-by": "alice",
            "cleared-by-groups": "sre-team,system:authenticated",
        });
        if let Some(uid) = uid {
            annotations["cleared-by-uid"] = json!(uid);
        }
        assert_eq!(review["response"]["auditAnnotations"], annotations);

        // The patched object decodes into the typed API and passes the status webhook.
        let validate = format!("{prefix}-validate-status.json");
        let body = after_patch(&validate, &patch);
        let object =
            serde_json::from_slice::<Value>(&body).expect("json")["request"]["object"].clone();
        let wfe =
            wfe_api::parse_workflow_execution(object).expect("patched object fits the API types");
        assert_eq!(
            wfe.status
                .and_then(|s| s.block_clearance)
                .map(|c| c.cleared_by),
            Some("alice".to_owned())
        );
        let (status, review) = client.post(VALIDATE_STATUS, body).await;
        assert_eq!(status, 200);
        assert_eq!(review["response"]["allowed"], true, "{review}");
        assert_eq!(review["response"]["uid"], json!(request_uid(&validate)));
    }
    assert_eq!(server.authorizer.calls.load(Ordering::SeqCst), 2);
    assert_eq!(server.sink.len(), 0);
    assert_eq!(server.metrics.requests("mutate-status", "UPDATE", true), 2);
}

#[tokio::test]
async fn bob_without_the_blockclearance_permission_is_denied_and_recorded() {
    let server = start().await;
    let mut client = server.client().await;
    let (status, review) = client
        .post(
            MUTATE,
            fixture("06-bob-status-clearance-request-mutate.json"),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(review["response"]["status"]["code"], 403);
    assert_eq!(
        review["response"]["uid"],
        json!(request_uid("06-bob-status-clearance-request-mutate.json"))
    );
    assert_eq!(
        message_of(&review),
        "block clearance denied: user \"bob\" is not authorized to update workflowexecutions/blockclearance (kubernaut.ai) in namespace team-a; \
         ask an administrator to bind a role such as workflowexecution-block-clearer"
    );
    assert!(patch_of(&review).is_none());
    assert_eq!(
        review["response"]["auditAnnotations"],
        json!({"clearance-denied-step": "Authorization", "clearance-denied-user": "bob"})
    );
    let denials = server.sink.0.lock().expect("lock").clone();
    assert_eq!(denials.len(), 1);
    assert_eq!(denials[0].user, "bob");
    assert_eq!(denials[0].user_uid.as_deref(), Some("uid-bob"));
    assert_eq!(
        denials[0].groups,
        vec!["dev-team".to_owned(), "system:authenticated".to_owned()]
    );
    assert_eq!(denials[0].namespace, "team-a");
    assert_eq!(denials[0].name, "wfe-restart-payment-api");
    assert!(!denials[0].dry_run);
    assert_eq!(server.metrics.requests("mutate-status", "UPDATE", false), 1);
}

#[tokio::test]
async fn service_account_is_denied_without_asking_rbac() {
    let server = start().await;
    let mut client = server.client().await;
    let (_, review) = client
        .post(
            MUTATE,
            fixture("07-test-sa-status-clearance-request-mutate.json"),
        )
        .await;
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(
        message_of(&review),
        "block clearance denied: service account system:serviceaccount:default:test-sa is not allowed to clear blocks; \
         clear as a human user, or ask an administrator to add it to clearance.allowServiceAccounts"
    );
    assert_eq!(server.authorizer.calls.load(Ordering::SeqCst), 0);
    assert_eq!(server.sink.len(), 1);
}

#[tokio::test]
async fn dry_run_gets_the_same_decision_and_records_nothing() {
    let server = start().await;
    let mut client = server.client().await;
    let name = "08-alice-status-clearance-request-dryrun-mutate.json";
    let (_, review) = client.post(MUTATE, fixture(name)).await;
    assert_eq!(review["response"]["allowed"], true);
    assert_eq!(
        patch_of(&review),
        Some(expected_patch(
            "alice",
            Some("uid-alice"),
            &["sre-team", "system:authenticated"],
            &request_uid(name)
        ))
    );

    // A dry-run denial: same message as the real one, but nothing reaches the sink.
    let mut as_bob = fixture_json(name);
    as_bob["request"]["userInfo"] = json!({"username": "bob", "uid": "uid-bob", "groups": ["dev-team", "system:authenticated"]});
    let (_, dry_denied) = client
        .post(MUTATE, serde_json::to_vec(&as_bob).expect("json"))
        .await;
    let (_, real_denied) = client
        .post(
            MUTATE,
            fixture("06-bob-status-clearance-request-mutate.json"),
        )
        .await;
    assert_eq!(dry_denied["response"]["allowed"], false);
    assert_eq!(message_of(&dry_denied), message_of(&real_denied));
    let denials = server.sink.0.lock().expect("lock").clone();
    assert_eq!(denials.len(), 1, "only the non-dry-run denial is recorded");
    assert!(!denials[0].dry_run);
}

#[tokio::test]
async fn forged_clearance_is_denied_by_both_status_webhooks() {
    let server = start().await;
    let mut client = server.client().await;
    let (_, review) = client
        .post(
            MUTATE,
            fixture("10-alice-status-forged-clearance-mutate.json"),
        )
        .await;
    assert_eq!(review["response"]["allowed"], false);
    assert!(message_of(&review).contains(
        "status.blockClearance is stamped by the admission webhook and cannot be written directly"
    ));
    let (_, review) = client
        .post(
            VALIDATE_STATUS,
            fixture("10-alice-status-forged-clearance-validate-status.json"),
        )
        .await;
    assert_eq!(review["response"]["allowed"], false);
    assert!(
        message_of(&review).contains("status.blockClearance.clearedBy: is \"someone-else\" but the request was made by \"alice\""),
        "{}",
        message_of(&review)
    );
}

#[tokio::test]
async fn json_patch_of_phase_passes_mutation_and_is_denied_by_ownership() {
    let server = start().await;
    let mut client = server.client().await;
    let (_, review) = client
        .post(
            MUTATE,
            fixture("11-alice-status-jsonpatch-phase-running-mutate.json"),
        )
        .await;
    assert_eq!(review["response"]["allowed"], true);
    assert!(patch_of(&review).is_none());
    let (_, review) = client
        .post(
            VALIDATE_STATUS,
            fixture("11-alice-status-jsonpatch-phase-running-validate-status.json"),
        )
        .await;
    assert_eq!(review["response"]["allowed"], false);
    assert!(
        message_of(&review).contains("status.phase: only the controller may change it"),
        "{}",
        message_of(&review)
    );
}

#[tokio::test]
async fn server_side_apply_clearance_is_handled_like_a_merge_patch() {
    let server = start().await;
    let mut client = server.client().await;
    let name = "12-alice-status-server-side-apply-mutate.json";
    let (_, review) = client.post(MUTATE, fixture(name)).await;
    assert_eq!(review["response"]["allowed"], true);
    let patch = patch_of(&review).expect("patch");
    assert_eq!(
        patch,
        expected_patch(
            "alice",
            Some("uid-alice"),
            &["sre-team", "system:authenticated"],
            &request_uid(name)
        )
    );
    let (_, review) = client
        .post(
            VALIDATE_STATUS,
            after_patch(
                "12-alice-status-server-side-apply-validate-status.json",
                &patch,
            ),
        )
        .await;
    assert_eq!(review["response"]["allowed"], true, "{review}");
}

#[tokio::test]
async fn controller_status_writes_pass_both_status_webhooks() {
    let server = start().await;
    let mut client = server.client().await;
    for prefix in [
        "04-controller-status-failed",
        "14-controller-status-reset-removes-clearance-request",
    ] {
        for (path, suffix) in [(MUTATE, "mutate"), (VALIDATE_STATUS, "validate-status")] {
            let (_, review) = client
                .post(path, fixture(&format!("{prefix}-{suffix}.json")))
                .await;
            assert_eq!(
                review["response"]["allowed"], true,
                "{prefix} {suffix}: {review}"
            );
            assert!(patch_of(&review).is_none());
        }
    }
}

#[tokio::test]
async fn tampered_or_removed_clearance_is_denied() {
    let server = start().await;
    let mut client = server.client().await;
    let (_, review) = client
        .post(
            MUTATE,
            fixture("05-alice-status-clearance-request-mutate.json"),
        )
        .await;
    let patch = patch_of(&review).expect("patch");
    let stored: Value = serde_json::from_slice(&after_patch(
        "05-alice-status-clearance-request-validate-status.json",
        &patch,
    ))
    .expect("json");
    let record = stored["request"]["object"]["status"]["blockClearance"].clone();

    // A later status write by alice over an object that already holds the clearance.
    let base = |edit: &dyn Fn(&mut Value)| {
        let mut body = fixture_json("11-alice-status-jsonpatch-phase-running-validate-status.json");
        body["request"]["oldObject"]["status"]["blockClearance"] = record.clone();
        body["request"]["object"]["status"] = body["request"]["oldObject"]["status"].clone();
        edit(&mut body["request"]["object"]["status"]);
        serde_json::to_vec(&body).expect("json")
    };
    let (_, review) = client.post(VALIDATE_STATUS, base(&|_| {})).await;
    assert_eq!(
        review["response"]["allowed"], true,
        "an unchanged clearance is fine: {review}"
    );

    let (_, review) = client
        .post(
            VALIDATE_STATUS,
            base(&|s| s["blockClearance"]["clearedBy"] = json!("mallory")),
        )
        .await;
    assert_eq!(review["response"]["allowed"], false);
    assert!(message_of(&review).contains(
        "status.blockClearance.clearedBy: status.blockClearance is write-once and cannot be changed"
    ));

    let (_, review) = client
        .post(
            VALIDATE_STATUS,
            base(&|s| {
                s.as_object_mut().expect("status").remove("blockClearance");
            }),
        )
        .await;
    assert_eq!(review["response"]["allowed"], false);
    assert!(
        message_of(&review).contains("status.blockClearance: is write-once and cannot be removed")
    );

    // Asking again on an already-cleared WFE is refused by the mutating webhook.
    let mut again = fixture_json("05-alice-status-clearance-request-mutate.json");
    again["request"]["oldObject"]["status"]["blockClearance"] = record.clone();
    let (_, review) = client
        .post(MUTATE, serde_json::to_vec(&again).expect("json"))
        .await;
    assert_eq!(review["response"]["allowed"], false);
    assert!(
        message_of(&review).contains("was already cleared by alice"),
        "{}",
        message_of(&review)
    );
}

#[tokio::test]
async fn spec_rules_and_immutability_on_the_main_resource() {
    let server = start().await;
    let mut client = server.client().await;
    for name in [
        "01-admin-create.json",
        "02-admin-create-dryrun.json",
        "15-alice-main-resource-patch-with-status-dropped.json",
    ] {
        let (_, review) = client.post(VALIDATE, fixture(name)).await;
        assert_eq!(review["response"]["allowed"], true, "{name}: {review}");
        assert_eq!(review["response"]["uid"], json!(request_uid(name)));
    }
    for (name, field) in [
        ("03-admin-update-spec-parameters.json", "spec.parameters"),
        (
            "13-alice-patch-spec-targetresource.json",
            "spec.targetResource",
        ),
    ] {
        let (_, review) = client.post(VALIDATE, fixture(name)).await;
        assert_eq!(review["response"]["allowed"], false);
        assert!(
            message_of(&review).contains(&format!(
                "spec is immutable after creation (changed: {field})"
            )),
            "{}",
            message_of(&review)
        );
    }

    let mut bad = fixture_json("01-admin-create.json");
    let spec = &mut bad["request"]["object"]["spec"];
    spec["workflowRef"]["workflowId"] = json!("");
    spec["workflowRef"]["version"] = json!("");
    spec["workflowRef"]["containerImage"] = json!("has spaces in it");
    spec["targetResource"] = json!("no-slashes");
    spec["parameters"]["bad-key"] = json!("x");
    spec["confidence"] = json!(7);
    spec["executionConfig"]["serviceAccountName"] = json!("cluster-admin");
    let (_, review) = client
        .post(VALIDATE, serde_json::to_vec(&bad).expect("json"))
        .await;
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(review["response"]["status"]["code"], 422);
    let message = message_of(&review);
    for field in [
        "spec.workflowRef.workflowId",
        "spec.workflowRef.version",
        "spec.workflowRef.containerImage",
        "spec.targetResource",
        "spec.parameters",
        "spec.confidence",
        "spec.executionConfig.serviceAccountName",
    ] {
        assert!(message.contains(field), "{field} missing from {message}");
    }
}
