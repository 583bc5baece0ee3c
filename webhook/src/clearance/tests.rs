//! The clearance decision on the captured fixtures and edits of them.

use super::*;
use crate::test_fixtures::{ALICE_05, REASON, edited, new_status, old_status, review};
use serde_json::{Value, json};

fn now() -> jiff::Timestamp {
    // Nanosecond precision on purpose: clearedAt must be cut to microseconds.
    "2026-11-22T02:12:00.123456789Z".parse().expect("timestamp")
}

fn allowed() -> Authorization {
    Authorization::Allowed {
        reason: Some("RBAC: allowed".into()),
    }
}

fn refusal(outcome: ClearanceOutcome) -> Refusal {
    match outcome {
        ClearanceOutcome::Refused(r) => r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn patch_json(outcome: &ClearanceOutcome) -> Value {
    match outcome {
        ClearanceOutcome::Cleared(record) => {
            serde_json::from_slice(&ClearancePatch(record).encode()).expect("json")
        }
        other => panic!("expected a clearance, got {other:?}"),
    }
}

#[test]
fn authorised_alice_gets_exactly_add_clearance_and_remove_request() {
    let req = review(ALICE_05);
    let settings = Settings::default();
    match plan_clearance(&req, &settings) {
        ClearancePlan::Authorize(q) => {
            assert_eq!(q.user.username, "alice");
            assert_eq!(q.namespace, "team-a");
            assert_eq!(q.name, "wfe-restart-payment-api");
        }
        other => panic!("expected Authorize, got {other:?}"),
    }
    let outcome = decide_clearance(&req, &settings, Some(&allowed()), now());
    assert_eq!(
        patch_json(&outcome),
        json!([
            {"op": "add", "path": "/status/blockClearance", "value": {
                "clearedBy": "alice",
                "clearedByUID": "uid-alice",
                "clearedByGroups": ["sre-team", "system:authenticated"],
                "clearedAt": "2026-11-22T02:12:00.123456Z",
                "clearReason": REASON,
                "clearMethod": "KubernetesAdmissionWebhook",
                "admissionRequestUID": "f68b493b-c8d8-45f4-a78a-c1976893fea5",
                "clearedFailureAt": "2026-11-22T02:11:55Z"
            }},
            {"op": "remove", "path": "/status/blockClearanceRequest"}
        ])
    );
}

#[test]
fn impersonated_alice_without_uid_and_server_side_apply_are_cleared() {
    let settings = Settings::default();
    let impersonated = review("09-admin-as-alice-status-clearance-request-mutate.json");
    let outcome = decide_clearance(&impersonated, &settings, Some(&allowed()), now());
    let value = &patch_json(&outcome)[0]["value"];
    assert_eq!(value["clearedBy"], "alice");
    assert!(value.get("clearedByUID").is_none());
    let applied = review("12-alice-status-server-side-apply-mutate.json");
    let ssa = decide_clearance(&applied, &settings, Some(&allowed()), now());
    assert_eq!(
        patch_json(&ssa)[1],
        json!({"op": "remove", "path": "/status/blockClearanceRequest"})
    );
}

#[test]
fn dry_run_gets_the_same_decision() {
    let settings = Settings::default();
    let dry = review("08-alice-status-clearance-request-dryrun-mutate.json");
    assert!(dry.dry_run);
    let outcome = decide_clearance(&dry, &settings, Some(&allowed()), now());
    assert_eq!(patch_json(&outcome)[0]["value"]["clearedBy"], "alice");
}

#[test]
fn bob_without_rbac_and_failed_or_missing_authorization_are_refused() {
    let settings = Settings::default();
    let bob = review("06-bob-status-clearance-request-mutate.json");
    let r = refusal(decide_clearance(
        &bob,
        &settings,
        Some(&Authorization::Denied { reason: None }),
        now(),
    ));
    assert_eq!(r.step, ClearanceStep::Authorization);
    assert_eq!(
        r.message,
        "block clearance denied: user \"bob\" is not authorized to update workflowexecutions/blockclearance (kubernaut.ai) in namespace team-a; \
         ask an administrator to bind a role such as workflowexecution-block-clearer"
    );
    let r = refusal(decide_clearance(
        &bob,
        &settings,
        Some(&Authorization::Failed {
            error: "connection refused".into(),
        }),
        now(),
    ));
    assert!(
        r.message.contains("could not verify") && r.message.contains("connection refused"),
        "{}",
        r.message
    );
    let r = refusal(decide_clearance(&bob, &settings, None, now()));
    assert_eq!(r.step, ClearanceStep::Authorization);
}

#[test]
fn identities_that_may_never_clear_are_refused_before_authorization() {
    let settings = Settings::default();
    let sa = review("07-test-sa-status-clearance-request-mutate.json");
    match plan_clearance(&sa, &settings) {
        ClearancePlan::Refuse(r) => {
            assert_eq!(r.step, ClearanceStep::Identity);
            assert!(
                r.message.contains(
                    "service account system:serviceaccount:default:test-sa is not allowed"
                ),
                "{}",
                r.message
            );
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut allow_sa = settings.clone();
    allow_sa.block.clearance.allow_service_accounts =
        vec!["system:serviceaccount:default:test-sa".into()];
    assert!(matches!(
        plan_clearance(&sa, &allow_sa),
        ClearancePlan::Authorize(_)
    ));

    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "system:anonymous",
            vec!["system:unauthenticated"],
            "anonymous",
        ),
        ("", vec![], "anonymous"),
        ("mallory", vec!["system:unauthenticated"], "anonymous"),
        (
            wfe_api::keys::DEFAULT_CONTROLLER_USERNAME,
            vec!["system:serviceaccounts"],
            "controller",
        ),
        (
            wfe_api::block::DEFAULT_RUNNER_USERNAME,
            vec!["system:serviceaccounts"],
            "runner",
        ),
    ];
    for (username, groups, needle) in cases {
        let mut req = review(ALICE_05);
        req.user_info.username = username.into();
        req.user_info.groups = groups.into_iter().map(String::from).collect();
        let r = refusal(decide_clearance(&req, &settings, Some(&allowed()), now()));
        assert_eq!(r.step, ClearanceStep::Identity, "{username}");
        assert!(r.message.contains(needle), "{username}: {}", r.message);
        // Even an (impossible) allow from the authorizer does not let these through.
    }
}

#[test]
fn allowed_groups_are_required_when_configured() {
    let mut settings = Settings::default();
    settings.block.clearance.allowed_groups = vec!["sre-team".into()];
    assert!(matches!(
        plan_clearance(&review(ALICE_05), &settings),
        ClearancePlan::Authorize(_)
    ));
    let bob = review("06-bob-status-clearance-request-mutate.json");
    let r = refusal(decide_clearance(&bob, &settings, Some(&allowed()), now()));
    assert_eq!(r.step, ClearanceStep::Authorization);
    assert!(
        r.message
            .contains("not in any group allowed to clear blocks (sre-team)"),
        "{}",
        r.message
    );
}

#[test]
fn subject_access_review_can_be_turned_off() {
    let mut settings = Settings::default();
    settings.block.clearance.require_subject_access_review = false;
    let req = review(ALICE_05);
    assert_eq!(plan_clearance(&req, &settings), ClearancePlan::Decide);
    assert!(matches!(
        decide_clearance(&req, &settings, None, now()),
        ClearanceOutcome::Cleared(_)
    ));
}

#[test]
fn writes_without_a_request_pass_and_the_controller_is_not_a_requester() {
    let settings = Settings::default();
    for f in [
        "04-controller-status-failed-mutate.json",
        "11-alice-status-jsonpatch-phase-running-mutate.json",
        "14-controller-status-reset-removes-clearance-request-mutate.json",
    ] {
        assert_eq!(
            plan_clearance(&review(f), &settings),
            ClearancePlan::Pass,
            "{f}"
        );
    }
    // Main-resource and non-UPDATE reviews are not clearance requests.
    assert_eq!(
        plan_clearance(
            &review("15-alice-main-resource-patch-with-status-dropped.json"),
            &settings
        ),
        ClearancePlan::Pass
    );
    // The controller carrying over a request already stored is not requesting one...
    let mut carry = edited(ALICE_05, |r| {
        let request = new_status(r)["blockClearanceRequest"].clone();
        old_status(r).insert("blockClearanceRequest".into(), request);
    });
    carry.user_info.username = settings.block.controller_username.clone();
    assert_eq!(plan_clearance(&carry, &settings), ClearancePlan::Pass);
    // ...but adding one is refused.
    let mut adds = review(ALICE_05);
    adds.user_info.username = settings.block.controller_username.clone();
    assert_eq!(
        refusal(decide_clearance(&adds, &settings, None, now())).step,
        ClearanceStep::Identity
    );
}

#[test]
fn forged_clearances_are_refused() {
    let settings = Settings::default();
    let forged = review("10-alice-status-forged-clearance-mutate.json");
    let r = refusal(decide_clearance(
        &forged,
        &settings,
        Some(&allowed()),
        now(),
    ));
    assert_eq!(r.step, ClearanceStep::Request);
    assert!(
        r.message.contains("cannot be written directly"),
        "{}",
        r.message
    );

    let both = edited(ALICE_05, |r| {
        new_status(r).insert("blockClearance".into(), json!({"clearedBy": "alice"}));
    });
    let r = refusal(decide_clearance(&both, &settings, Some(&allowed()), now()));
    assert!(
        r.message.contains("cannot be written together"),
        "{}",
        r.message
    );
}

#[test]
fn only_a_blocking_uncleared_failure_can_be_cleared() {
    let settings = Settings::default();
    let decide = |edit: &dyn Fn(&mut Value)| {
        // Leaked like the body, so that the outcome (which borrows the request) can be returned.
        let req: &'static ReviewRequest<'static> = Box::leak(Box::new(edited(ALICE_05, edit)));
        decide_clearance(req, &settings, Some(&allowed()), now())
    };
    let r = refusal(decide(&|r| {
        old_status(r).insert("phase".into(), json!("Running"));
    }));
    assert_eq!(r.step, ClearanceStep::BlockState);
    assert!(
        r.message.contains("phase is Running, not Failed"),
        "{}",
        r.message
    );

    let r = refusal(decide(&|r| {
        r["oldObject"]
            .as_object_mut()
            .expect("old")
            .remove("status");
    }));
    assert!(r.message.contains("has no status yet"), "{}", r.message);

    let pre_execution = |failures: i64| {
        move |r: &mut Value| {
            let s = old_status(r);
            s["failureDetails"]["wasExecutionFailure"] = json!(false);
            s.insert("consecutiveFailures".into(), json!(failures));
        }
    };
    let r = refusal(decide(&pre_execution(4)));
    assert!(
        r.message
            .contains("consecutiveFailures is 4, below the limit of 5"),
        "{}",
        r.message
    );
    assert!(matches!(
        decide(&pre_execution(5)),
        ClearanceOutcome::Cleared(_)
    ));

    let r = refusal(decide(&|r| {
        old_status(r).insert(
            "blockClearance".into(),
            // A complete record: the CRD schema admits no other into storage.
            json!({"clearedBy": "carol", "clearedAt": "2026-11-22T02:12:00.000000Z",
                   "clearReason": REASON, "clearMethod": "KubernetesAdmissionWebhook",
                   "admissionRequestUID": "4a1c"}),
        );
    }));
    assert!(
        r.message.contains("already cleared by carol"),
        "{}",
        r.message
    );

    let r = refusal(decide(&|r| {
        old_status(r).insert("phase".into(), json!("Exploded"));
    }));
    assert!(r.message.contains("status.phase"), "{}", r.message);
}

#[test]
fn reason_rules_in_order_with_stable_messages() {
    let settings = Settings::default();
    let long = "word ".repeat(201);
    let cases: Vec<(String, Option<&str>)> = vec![
        (
            String::new(),
            Some(
                "block clearance denied: reason is empty; set status.blockClearanceRequest.clearReason to at least 10 words explaining why it is safe to remediate the target again",
            ),
        ),
        ("  \n\t ".into(), Some("reason is empty")),
        (
            "fixed it now".into(),
            Some("block clearance denied: reason must have at least 10 words (got 3)"),
        ),
        (
            "a b c d e f g h i j".into(),
            Some("block clearance denied: reason must have at least 20 characters (got 19)"),
        ),
        (
            long.clone(),
            Some("block clearance denied: reason must have at most 1000 characters (got 1005)"),
        ),
        (
            format!("{REASON}\u{7}"),
            Some(
                "block clearance denied: reason contains the control character U+0007; only newline and tab are allowed",
            ),
        ),
        (format!("{REASON}\u{1b}[31m"), Some("U+001B")),
        (
            "line one of the reason\n\twith a tab and enough words to pass".to_owned(),
            None,
        ),
        (REASON.into(), None),
    ];
    for (reason, expected) in cases {
        match (check_reason(&reason, &settings), expected) {
            (Ok(()), None) => {}
            (Err(r), Some(needle)) => {
                assert_eq!(r.step, ClearanceStep::Reason);
                assert!(r.message.contains(needle), "{reason:?}: {}", r.message);
            }
            (got, want) => panic!("{reason:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn malformed_requests_are_refused_with_the_field() {
    let settings = Settings::default();
    for (value, needle) in [
        (json!("just a string"), "must be an object"),
        (json!({"clearReason": 42}), "clearReason must be a string"),
        (json!({}), "reason is empty"),
    ] {
        let req = edited(ALICE_05, |r| {
            new_status(r).insert("blockClearanceRequest".into(), value);
        });
        let r = refusal(decide_clearance(&req, &settings, Some(&allowed()), now()));
        assert!(r.message.contains(needle), "{}", r.message);
    }
}
