use super::*;
use crate::fixtures::*;
use wfe_api::block::CLEAR_REASON_PLACEHOLDER;

const GOOD: &str =
    "The pod's memory limit was raised and on-call verified the \"payment\" deployment is healthy";

#[test]
fn patch_is_exactly_the_documented_one() {
    assert_eq!(
        clearance_patch(GOOD),
        json!({"status": {"blockClearanceRequest": {"clearReason": GOOD}}})
    );
    let text = serde_json::to_string(&clearance_patch(GOOD)).unwrap();
    assert!(text.contains(r#"\"payment\""#), "{text}");
}

#[test]
fn reason_rules_are_the_apis_and_refuse_the_placeholder() {
    assert!(check_reason(GOOD, &BlockPolicy::default()).is_ok());
    let e = check_reason("looks fine now", &BlockPolicy::default()).unwrap_err();
    assert!(e.to_string().contains("at least 10 words (got 3)"), "{e}");
    let e = check_reason(CLEAR_REASON_PLACEHOLDER, &BlockPolicy::default()).unwrap_err();
    assert!(e.to_string().contains("placeholder"), "{e}");
    let e = check_reason(&format!("{GOOD}\u{7}"), &BlockPolicy::default()).unwrap_err();
    assert!(e.to_string().contains("U+0007"), "{e}");
}

#[test]
fn only_a_blocking_uncleared_failure_passes_the_local_check() {
    let p = BlockPolicy::default();
    assert!(check_clearable(&failed("boom", 100, true, 0), &p).is_ok());
    let e = check_clearable(&completed("ok", 0, 1), &p).unwrap_err();
    assert!(e.to_string().contains("team-a/ok is not blocking"), "{e}");
    let e = check_clearable(&cleared(failed("boom", 100, true, 0), "alice"), &p).unwrap_err();
    assert!(e.to_string().contains("already cleared by alice"), "{e}");
    // Below the plugin's limit: the service may have a lower one; the webhook decides.
    assert!(check_clearable(&failed("pre", 100, false, 2), &p).is_ok());
}

#[test]
fn the_answer_must_carry_a_stamped_record() {
    let answer = cleared(failed("boom", 100, true, 0), "alice");
    assert_eq!(stamped(&answer).unwrap().cleared_by, "alice");
    let unstamped = with(failed("boom", 100, true, 0), |s| {
        s.block_clearance_request = Some(Box::new(wfe_api::BlockClearanceRequest {
            clear_reason: GOOD.into(),
        }))
    });
    let e = stamped(&unstamped).unwrap_err();
    assert!(
        e.to_string().contains("webhook") && e.to_string().contains("NOT cleared"),
        "{e}"
    );
    assert!(stamped(&failed("boom", 100, true, 0)).is_err());
}

#[test]
fn the_record_is_printed_field_by_field() {
    let answer = cleared(failed("boom", 100, true, 0), "alice");
    let record = stamped(&answer).unwrap();
    let text = render_record(&answer, record, false);
    for part in [
        "Block of team-a/boom on team-a/Deployment/payment-api cleared",
        "clearedBy:            alice",
        "clearedByGroups:      oncall",
        "clearedAt:            2026-03-01T12:02:40.000000Z",
        "clearMethod:          KubernetesAdmissionWebhook",
        "admissionRequestUID:  adm-1",
        "clearedFailureAt:     2026-03-01T12:01:40Z",
        "clearReason:          the pod's memory limit",
        "BlockCleared",
    ] {
        assert!(text.contains(part), "{part:?} missing in:\n{text}");
    }
    let preview = render_record(&answer, record, true);
    assert!(
        preview.starts_with("Dry run: the webhook WOULD clear"),
        "{preview}"
    );
    assert!(!preview.contains("BlockCleared"), "{preview}");
}

proptest::proptest! {
    /// Whatever the operator types, the API server's JSON parser reads back exactly that text.
    #[test]
    fn any_reason_survives_the_patch_encoding(reason in proptest::prelude::any::<String>()) {
        let bytes = serde_json::to_vec(&clearance_patch(&reason)).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        proptest::prop_assert_eq!(
            parsed.pointer("/status/blockClearanceRequest/clearReason").and_then(|v| v.as_str()),
            Some(reason.as_str())
        );
    }
}
