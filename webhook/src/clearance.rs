//! `/mutate-workflowexecution-status`: turning a `blockClearanceRequest` into an attributed
//! `blockClearance` (DESIGN §5 steps 1–5). Pure: a function of the request, the settings, the
//! authorizer's answer and the time.

use std::collections::BTreeMap;

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation, RemoveOperation};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::core::admission::Operation;
use serde_json::{Map, Value};
use wfe_api::BlockClearance;
use wfe_api::block::{self, StoredBlockStatus};

use crate::authorizer::{Authorization, AuthorizationRequest};
use crate::denial::ClearanceStep;
use crate::review::ReviewRequest;
use crate::settings::Settings;

const DENIED: &str = "block clearance denied";

/// A refused clearance: the rule and the message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule that refused it.
    pub step: ClearanceStep,
    /// Stable message: what is wrong and what to do.
    pub message: String,
}

impl Refusal {
    fn new(step: ClearanceStep, message: impl Into<String>) -> Self {
        Refusal {
            step,
            message: message.into(),
        }
    }
}

/// What to do before a clearance can be decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClearancePlan {
    /// Not a clearance request: let the write through unchanged.
    Pass,
    /// Refused without asking anyone.
    Refuse(Refusal),
    /// Ask the authorizer this, then call [`decide_clearance`] with the answer.
    Authorize(AuthorizationRequest),
    /// No authorization needed (SubjectAccessReview disabled): call [`decide_clearance`].
    Decide,
}

/// The final decision.
#[derive(Debug, Clone, PartialEq)]
pub enum ClearanceOutcome {
    /// Not a clearance request.
    Pass,
    /// Refused.
    Refused(Refusal),
    /// Granted: apply `patch`, which stamps `record`.
    Cleared {
        /// Minimal JSON patch: add `status.blockClearance`, remove `status.blockClearanceRequest`.
        patch: Patch,
        /// The stamped record.
        record: Box<BlockClearance>,
    },
}

/// Steps 1 and the group part of 2: decides whether a request is a clearance and whether the
/// authorizer has to be asked.
pub fn plan_clearance(request: &ReviewRequest, settings: &Settings) -> ClearancePlan {
    if request.operation != Operation::Update || !request.is_status() {
        return ClearancePlan::Pass;
    }
    if let Err(v) = request.check_kind() {
        return ClearancePlan::Refuse(Refusal::new(
            ClearanceStep::Request,
            v.message().unwrap_or_default(),
        ));
    }
    let Some(new_status) = request.object.as_ref().and_then(status_map) else {
        // No status (or not an object): nothing to convert; schema validation judges the shape.
        return ClearancePlan::Pass;
    };
    let old_status = request.old_object.as_ref().and_then(status_map);
    let new_request = present(new_status.get("blockClearanceRequest"));
    let old_request = old_status.and_then(|s| present(s.get("blockClearanceRequest")));
    let new_clearance = present(new_status.get("blockClearance"));
    let old_clearance = old_status.and_then(|s| present(s.get("blockClearance")));
    let user = &request.user_info;
    let is_controller = user.username == settings.block.controller_username;

    let Some(_) = new_request else {
        if !is_controller && new_clearance.is_some() && old_clearance.is_none() {
            return ClearancePlan::Refuse(Refusal::new(
                ClearanceStep::Request,
                format!(
                    "{DENIED}: status.blockClearance is stamped by the admission webhook and cannot be written directly; \
                     request a clearance with status.blockClearanceRequest.clearReason instead"
                ),
            ));
        }
        return ClearancePlan::Pass;
    };
    // The controller rewriting status that still carries an old request is not a new request.
    if is_controller && new_request == old_request {
        return ClearancePlan::Pass;
    }
    if new_clearance.is_some() && new_clearance != old_clearance {
        return ClearancePlan::Refuse(Refusal::new(
            ClearanceStep::Request,
            format!(
                "{DENIED}: status.blockClearance cannot be written together with status.blockClearanceRequest; \
                 send only status.blockClearanceRequest.clearReason and the webhook stamps the clearance"
            ),
        ));
    }

    if let Err(refusal) = check_identity(request, settings) {
        return ClearancePlan::Refuse(refusal);
    }
    let policy = &settings.block.clearance;
    if !policy.admits_groups(user) {
        return ClearancePlan::Refuse(Refusal::new(
            ClearanceStep::Authorization,
            format!(
                "{DENIED}: user {:?} is not in any group allowed to clear blocks ({}); ask an administrator for membership",
                user.username,
                policy.allowed_groups.join(", ")
            ),
        ));
    }
    if policy.require_subject_access_review {
        ClearancePlan::Authorize(AuthorizationRequest {
            user: user.clone(),
            namespace: request.namespace.clone().unwrap_or_default(),
            name: request.name.clone(),
        })
    } else {
        ClearancePlan::Decide
    }
}

/// All steps: `authorization` is the authorizer's answer to the plan's question (`None` when
/// none was asked; if one was needed that is a refusal, never an allow).
pub fn decide_clearance(
    request: &ReviewRequest,
    settings: &Settings,
    authorization: Option<&Authorization>,
    now: jiff::Timestamp,
) -> ClearanceOutcome {
    match plan_clearance(request, settings) {
        ClearancePlan::Pass => return ClearanceOutcome::Pass,
        ClearancePlan::Refuse(r) => return ClearanceOutcome::Refused(r),
        ClearancePlan::Decide => {}
        ClearancePlan::Authorize(question) => {
            if let Err(r) = check_authorization(&question, authorization) {
                return ClearanceOutcome::Refused(r);
            }
        }
    }
    let failed_at = match check_block_state(request, settings) {
        Ok(failed_at) => failed_at,
        Err(r) => return ClearanceOutcome::Refused(r),
    };
    let new_status = request.object.as_ref().and_then(status_map);
    let reason = match read_reason(new_status.and_then(|s| present(s.get("blockClearanceRequest"))))
    {
        Ok(reason) => reason,
        Err(r) => return ClearanceOutcome::Refused(r),
    };
    if let Err(r) = check_reason(&reason, settings) {
        return ClearanceOutcome::Refused(r);
    }
    stamp(request, reason, failed_at, now)
}

fn check_identity(request: &ReviewRequest, settings: &Settings) -> Result<(), Refusal> {
    block::may_clear(&request.user_info, &settings.block)
        .map_err(|r| Refusal::new(ClearanceStep::Identity, format!("{DENIED}: {r}")))
}

fn check_authorization(
    question: &AuthorizationRequest,
    answer: Option<&Authorization>,
) -> Result<(), Refusal> {
    let user = &question.user.username;
    let ns = &question.namespace;
    let refuse = |m: String| Err(Refusal::new(ClearanceStep::Authorization, m));
    match answer {
        Some(Authorization::Allowed { .. }) => Ok(()),
        Some(Authorization::Denied { reason }) => refuse(format!(
            "{DENIED}: user {user:?} is not authorized to update workflowexecutions/blockclearance (kubernaut.ai) in namespace {ns}{}; \
             ask an administrator to bind a role such as workflowexecution-block-clearer",
            reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        )),
        Some(Authorization::Failed { error }) => refuse(format!(
            "{DENIED}: could not verify that user {user:?} may clear blocks in namespace {ns} ({error}); retry later"
        )),
        None => refuse(format!(
            "{DENIED}: authorization of user {user:?} was not checked; retry later"
        )),
    }
}

/// Step 3, on the stored object. Returns the failure time the clearance is bound to.
fn check_block_state(
    request: &ReviewRequest,
    settings: &Settings,
) -> Result<Option<Time>, Refusal> {
    let wfe = request.object_ref();
    let refuse = |m: String| Err(Refusal::new(ClearanceStep::BlockState, m));
    let Some(old_status) = request
        .old_object
        .as_ref()
        .and_then(|o| present(o.get("status")))
    else {
        return refuse(format!(
            "{DENIED}: WorkflowExecution {wfe} is not blocking its target (it has no status yet); only a Failed WorkflowExecution that blocks its target can be cleared"
        ));
    };
    let stored: StoredBlockStatus = match serde_path_to_error::deserialize(old_status) {
        Ok(f) => f,
        Err(e) => {
            return refuse(format!(
                "{DENIED}: the stored status of WorkflowExecution {wfe} cannot be read at status.{}: {}",
                e.path(),
                e.inner()
            ));
        }
    };
    match stored.facts().clearable(&settings.block) {
        Ok(failed_at) => Ok(failed_at.cloned()),
        Err(not) => refuse(format!("{DENIED}: {}", not.message(&wfe))),
    }
}

fn read_reason(block_request: Option<&Value>) -> Result<String, Refusal> {
    let refuse = |m: String| Err(Refusal::new(ClearanceStep::Request, m));
    let Some(Value::Object(fields)) = block_request else {
        return refuse(format!(
            "{DENIED}: status.blockClearanceRequest must be an object with a clearReason string, e.g. {{\"clearReason\":\"...\"}}"
        ));
    };
    match fields.get("clearReason") {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => refuse(format!(
            "{DENIED}: status.blockClearanceRequest.clearReason must be a string"
        )),
    }
}

/// Step 4: the reason rules of `wfe_api::block`, as a refusal.
pub fn check_reason(reason: &str, settings: &Settings) -> Result<(), Refusal> {
    block::check_reason(reason, &settings.block.clearance)
        .map_err(|p| Refusal::new(ClearanceStep::Reason, format!("{DENIED}: {p}")))
}

fn stamp(
    request: &ReviewRequest,
    reason: String,
    failed_at: Option<Time>,
    now: jiff::Timestamp,
) -> ClearanceOutcome {
    let record = block::stamp_clearance(&request.user_info, reason, now, failed_at, &request.uid);
    let value = match serde_json::to_value(&record) {
        Ok(v) => v,
        Err(e) => {
            return ClearanceOutcome::Refused(Refusal::new(
                ClearanceStep::Request,
                format!(
                    "{DENIED}: internal error encoding the clearance record ({e}); retry later"
                ),
            ));
        }
    };
    let patch = Patch(vec![
        PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(["status", "blockClearance"]),
            value,
        }),
        PatchOperation::Remove(RemoveOperation {
            path: PointerBuf::from_tokens(["status", "blockClearanceRequest"]),
        }),
    ]);
    ClearanceOutcome::Cleared {
        patch,
        record: Box::new(record),
    }
}

/// Audit annotations for a granted clearance (the API server prefixes them with the webhook name).
pub fn grant_annotations(record: &BlockClearance) -> BTreeMap<String, String> {
    let mut out = BTreeMap::from([
        ("cleared-by".to_owned(), record.cleared_by.clone()),
        (
            "cleared-by-groups".to_owned(),
            record.cleared_by_groups.join(","),
        ),
        (
            "cleared-at".to_owned(),
            block::format_micro(&record.cleared_at),
        ),
    ]);
    if let Some(uid) = &record.cleared_by_uid {
        out.insert("cleared-by-uid".to_owned(), uid.clone());
    }
    out
}

fn status_map(object: &Value) -> Option<&Map<String, Value>> {
    object.get("status").and_then(Value::as_object)
}

/// A field that is present and not JSON null.
fn present(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{ALICE_05, REASON, new_status, old_status, review};
    use serde_json::json;

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
            ClearanceOutcome::Cleared { patch, .. } => serde_json::to_value(patch).expect("json"),
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
        let outcome = decide_clearance(
            &review("09-admin-as-alice-status-clearance-request-mutate.json"),
            &settings,
            Some(&allowed()),
            now(),
        );
        let value = &patch_json(&outcome)[0]["value"];
        assert_eq!(value["clearedBy"], "alice");
        assert!(value.get("clearedByUID").is_none());
        let ssa = decide_clearance(
            &review("12-alice-status-server-side-apply-mutate.json"),
            &settings,
            Some(&allowed()),
            now(),
        );
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
            ClearanceOutcome::Cleared { .. }
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
        let mut carry = review(ALICE_05);
        carry.user_info.username = settings.block.controller_username.clone();
        let request = new_status(&mut carry)["blockClearanceRequest"].clone();
        old_status(&mut carry).insert("blockClearanceRequest".into(), request);
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

        let mut both = review(ALICE_05);
        new_status(&mut both).insert("blockClearance".into(), json!({"clearedBy": "alice"}));
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
        let decide = |edit: &dyn Fn(&mut ReviewRequest)| {
            let mut req = review(ALICE_05);
            edit(&mut req);
            decide_clearance(&req, &settings, Some(&allowed()), now())
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
            r.old_object
                .as_mut()
                .and_then(Value::as_object_mut)
                .expect("old")
                .remove("status");
        }));
        assert!(r.message.contains("has no status yet"), "{}", r.message);

        let pre_execution = |failures: i64| {
            move |r: &mut ReviewRequest| {
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
            ClearanceOutcome::Cleared { .. }
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
            let mut req = review(ALICE_05);
            new_status(&mut req).insert("blockClearanceRequest".into(), value);
            let r = refusal(decide_clearance(&req, &settings, Some(&allowed()), now()));
            assert!(r.message.contains(needle), "{}", r.message);
        }
    }
}
