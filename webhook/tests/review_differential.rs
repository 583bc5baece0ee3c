//! The structural scan behind `parse_review` against serde_json: whatever user-controlled text
//! the API server encodes into a review (annotations, labels, clearance reasons, unknown
//! members), the request fields and both embedded objects read by the webhook are exactly what
//! serde_json reads from the same body.

mod common;

use common::fixture_json as fixture;
use proptest::prelude::*;
use serde_json::{Value, json};
use wfe_webhook::review::{ObjectView, parse_review};

const FIXTURES: &[&str] = &[
    "01-admin-create.json",
    "03-admin-update-spec-parameters.json",
    "04-controller-status-failed-mutate.json",
    "05-alice-status-clearance-request-mutate.json",
    "10-alice-status-forged-clearance-validate-status.json",
    "11-alice-status-jsonpatch-phase-running-validate-status.json",
    "12-alice-status-server-side-apply-mutate.json",
    "15-alice-main-resource-patch-with-status-dropped.json",
];

/// An embedded object as the reference reads it: a null `status` counts as absent.
fn reference_object(value: &Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::Object(map) => {
            let mut map = map.clone();
            if map.get("status") == Some(&Value::Null) {
                map.remove("status");
            }
            Some(Value::Object(map))
        }
        other => Some(other.clone()),
    }
}

fn view_value(view: Option<&ObjectView<'_>>) -> Option<Value> {
    view.map(|v| v.to_value().expect("members parse"))
}

/// Every field `parse_review` returns equals what serde_json reads from the same body.
fn assert_reads_like_serde_json(body: &str) {
    let reference: Value = serde_json::from_str(body).expect("valid JSON");
    let request = &reference["request"];
    let parsed = parse_review(body.as_bytes()).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(parsed.uid, request["uid"].as_str().expect("uid"));
    assert_eq!(
        parsed.kind.kind,
        request["kind"]["kind"].as_str().expect("kind")
    );
    assert_eq!(
        parsed.sub_resource.as_deref(),
        request["subResource"].as_str()
    );
    assert_eq!(parsed.name, request["name"].as_str().unwrap_or_default());
    assert_eq!(parsed.namespace.as_deref(), request["namespace"].as_str());
    assert_eq!(
        serde_json::to_value(parsed.operation).expect("operation"),
        request["operation"]
    );
    assert_eq!(
        serde_json::to_value(&parsed.user_info).expect("userInfo"),
        request["userInfo"]
    );
    assert_eq!(parsed.dry_run, request["dryRun"].as_bool().unwrap_or(false));
    assert_eq!(
        view_value(parsed.object.as_ref()),
        reference_object(&request["object"])
    );
    assert_eq!(
        view_value(parsed.old_object.as_ref()),
        reference_object(&request["oldObject"])
    );
    if let Some(object) = &parsed.object {
        let spec = object
            .spec()
            .map(|raw| serde_json::from_str::<Value>(raw.get()).expect("spec"));
        let want = &request["object"]["spec"];
        assert_eq!(spec.as_ref(), (!want.is_null()).then_some(want));
    }
}

/// Text that is hard to scan once encoded: quotes, backslash runs, brackets, control and
/// multi-byte characters, long runs that push the rest across 64-byte block edges.
fn tricky_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\\\"".to_owned()),
            Just("{\"status\": {\"phase\": \"Running\"}}".to_owned()),
            Just("]}".to_owned()),
            Just("\u{1}\n\t".to_owned()),
            Just("é€😀".to_owned()),
            "[a-z ]{0,80}",
        ],
        0..10,
    )
    .prop_map(|parts| parts.concat())
}

/// Where the user-controlled text goes.
#[derive(Debug, Clone, Copy)]
enum Spot {
    Annotation,
    Label,
    RequestMember,
    ObjectMember,
    StatusMember,
    ClearReason,
}

fn place(review: &mut Value, spot: Spot, key: &str, text: &str) {
    let request = &mut review["request"];
    let object = if request["object"].is_object() {
        &mut request["object"]
    } else {
        &mut request["oldObject"]
    };
    match spot {
        Spot::Annotation => {
            object["metadata"]["annotations"][key] = json!(text);
        }
        Spot::Label => object["metadata"]["labels"][key] = json!(text),
        Spot::RequestMember => request[key] = json!({ "x": text, "y": [text, 1, null] }),
        Spot::ObjectMember => object[format!("{key}-extra")] = json!(text),
        Spot::StatusMember => {
            if object["status"].is_object() {
                object["status"][key] = json!([text, { "k": text }]);
            }
        }
        Spot::ClearReason => {
            if object["status"].is_object() {
                object["status"]["blockClearanceRequest"] = json!({ "clearReason": text });
            }
        }
    }
}

#[test]
fn every_fixture_reads_like_serde_json() {
    for name in FIXTURES {
        let review = fixture(name);
        assert_reads_like_serde_json(&serde_json::to_string(&review).expect("compact"));
        assert_reads_like_serde_json(&serde_json::to_string_pretty(&review).expect("pretty"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn user_controlled_text_never_changes_what_is_read(
        which in 0..FIXTURES.len(),
        edits in proptest::collection::vec(
            (
                prop_oneof![
                    Just(Spot::Annotation), Just(Spot::Label), Just(Spot::RequestMember),
                    Just(Spot::ObjectMember), Just(Spot::StatusMember), Just(Spot::ClearReason),
                ],
                "[a-z]{1,12}",
                tricky_text(),
            ),
            1..4,
        ),
        pretty in any::<bool>(),
    ) {
        let mut review = fixture(FIXTURES[which]);
        for (spot, key, text) in &edits {
            place(&mut review, *spot, key, text);
        }
        let body = if pretty {
            serde_json::to_string_pretty(&review)
        } else {
            serde_json::to_string(&review)
        }
        .expect("encodes");
        assert_reads_like_serde_json(&body);
    }
}
