//! Arbitrary bytes and mutated real fixtures through parsing and every decision: no panics, and
//! a clearance is never granted without an authorization.

use proptest::prelude::*;
use serde_json::Value;
use wfe_webhook::clearance::{ClearanceOutcome, ClearancePatch, decide_clearance};
use wfe_webhook::ownership::review_status_ownership;
use wfe_webhook::review::{
    ReviewResponse, Verdict, encode_review, error_uid, error_verdict, parse_review,
};
use wfe_webhook::spec_review::review_spec;
use wfe_webhook::{Authorization, Settings};

const FIXTURES: &[&str] = &[
    "01-admin-create.json",
    "03-admin-update-spec-parameters.json",
    "04-controller-status-failed-mutate.json",
    "05-alice-status-clearance-request-mutate.json",
    "06-bob-status-clearance-request-mutate.json",
    "07-test-sa-status-clearance-request-mutate.json",
    "09-admin-as-alice-status-clearance-request-mutate.json",
    "10-alice-status-forged-clearance-validate-status.json",
    "11-alice-status-jsonpatch-phase-running-validate-status.json",
    "12-alice-status-server-side-apply-mutate.json",
    "14-controller-status-reset-removes-clearance-request-mutate.json",
    "15-alice-main-resource-patch-with-status-dropped.json",
];

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../../shared/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .expect("json")
}

fn now() -> jiff::Timestamp {
    "2026-11-22T02:12:00Z".parse().expect("ts")
}

/// The answer as the API server reads it: encoded, then decoded.
fn answer(uid: &str, verdict: &Verdict) -> ReviewResponse {
    serde_json::from_slice(&encode_review(uid, verdict)).expect("the answer is valid JSON")
}

/// Runs every decision on a body; panics only on broken invariants.
fn exercise(body: &[u8]) {
    let settings = Settings::default();
    let request = match parse_review(body) {
        Ok(r) => r,
        Err(e) => {
            let review = answer(error_uid(&e), &error_verdict(&e));
            assert!(!review.response.allowed);
            assert_eq!(review.response.uid, error_uid(&e));
            return;
        }
    };
    let spec = review_spec(&request, &settings);
    let ownership = review_status_ownership(&request, &settings);
    assert_eq!(answer(&request.uid, &spec).response.uid, request.uid);
    assert_eq!(answer(&request.uid, &ownership).response.uid, request.uid);
    let allowed = Authorization::Allowed { reason: None };
    let refusals = [
        Authorization::Denied { reason: None },
        Authorization::Failed { error: "x".into() },
    ];
    for answer in &refusals {
        let outcome = decide_clearance(&request, &settings, Some(answer), now());
        assert!(
            !matches!(outcome, ClearanceOutcome::Cleared(_)),
            "cleared without authorization"
        );
    }
    assert!(!matches!(
        decide_clearance(&request, &settings, None, now()),
        ClearanceOutcome::Cleared(_)
    ));
    if let ClearanceOutcome::Cleared(record) =
        decide_clearance(&request, &settings, Some(&allowed), now())
    {
        let patch: json_patch::Patch = serde_json::from_value(
            serde_json::from_slice::<serde_json::Value>(&ClearancePatch(&record).encode())
                .expect("the patch is JSON"),
        )
        .expect("a JSON patch");
        assert_eq!(record.cleared_by, request.user_info.username);
        assert_eq!(record.admission_request_uid, request.uid);
        let mut object = request
            .object
            .as_ref()
            .expect("cleared requests have an object")
            .to_value()
            .expect("the object is JSON");
        json_patch::patch(&mut object, &patch)
            .expect("the clearance patch applies to the object it was made for");
        assert!(object["status"].get("blockClearanceRequest").is_none());
    }
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("Failed"),
            Just("Running"),
            Just("alice"),
            Just("status"),
            Just("2026-11-22T02:11:55Z")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every JSON pointer in a document.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(prop::sample::Index, Value),
    Remove(prop::sample::Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), json_value()).prop_map(|(i, v)| Mutation::Replace(i, v)),
        any::<prop::sample::Index>().prop_map(Mutation::Remove),
    ]
}

fn apply(doc: &mut Value, m: &Mutation) {
    let mut all = Vec::new();
    pointers(doc, String::new(), &mut all);
    if all.is_empty() {
        return;
    }
    match m {
        Mutation::Replace(i, v) => {
            if let Some(slot) = doc.pointer_mut(&all[i.index(all.len())]) {
                *slot = v.clone();
            }
        }
        Mutation::Remove(i) => {
            let p = &all[i.index(all.len())];
            let (parent, key) = p.rsplit_once('/').unwrap_or(("", p));
            match doc.pointer_mut(parent) {
                Some(Value::Object(map)) => {
                    map.remove(&key.replace("~1", "/").replace("~0", "~"));
                }
                Some(Value::Array(items)) => {
                    if let Ok(i) = key.parse::<usize>()
                        && i < items.len()
                    {
                        items.remove(i);
                    }
                }
                _ => {}
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        exercise(&bytes);
    }

    #[test]
    fn mutated_fixtures_never_panic_nor_clear_without_authorization(
        which in 0..FIXTURES.len(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut doc = fixture(FIXTURES[which]);
        for m in &mutations {
            apply(&mut doc, m);
        }
        let body = serde_json::to_vec(&doc).expect("json");
        exercise(&body);
        // Truncations of the mutated body exercise the parser's error paths too.
        exercise(&body[..body.len() / 2]);
    }
}

#[test]
fn unmutated_fixtures_pass_the_invariants() {
    for name in FIXTURES {
        exercise(&serde_json::to_vec(&fixture(name)).expect("json"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// An accepted reason satisfies every rule; a refused one breaks at least one.
    #[test]
    fn reason_rules_agree_with_their_definition(
        words in prop::collection::vec("[a-zA-Z0-9.,]{1,12}", 0..16),
        separator in prop_oneof![Just(" "), Just("\n"), Just("\t"), Just("  ")],
        suffix in prop_oneof![Just(String::new()), Just("\u{7}".to_owned()), Just("\u{0}".to_owned()), "x{0,990}"],
    ) {
        let reason = format!("{}{suffix}", words.join(separator));
        let settings = Settings::default();
        let trimmed = reason.trim();
        let ok = trimmed.split_whitespace().count() >= 10
            && trimmed.chars().count() >= 20
            && reason.chars().count() <= 1000
            && !reason.chars().any(|c| c.is_control() && c != '\n' && c != '\t');
        prop_assert_eq!(wfe_webhook::clearance::check_reason(&reason, &settings).is_ok(), ok, "{:?}", reason);
    }

    /// Any change by a non-controller to a status field other than the clearance is denied
    /// naming that field.
    #[test]
    fn non_controller_status_changes_are_denied_with_their_path(
        key_index in any::<prop::sample::Index>(),
        value in json_value(),
    ) {
        let mut doc = fixture("11-alice-status-jsonpatch-phase-running-validate-status.json");
        doc["request"]["object"]["status"] = doc["request"]["oldObject"]["status"].clone();
        let keys: Vec<String> = doc["request"]["oldObject"]["status"].as_object().expect("status").keys().cloned().collect();
        let key = &keys[key_index.index(keys.len())];
        prop_assume!(doc["request"]["oldObject"]["status"][key] != value && !value.is_null());
        doc["request"]["object"]["status"][key] = value;
        let body = serde_json::to_vec(&doc).expect("json");
        let request = parse_review(&body).expect("parses");
        let verdict = review_status_ownership(&request, &Settings::default());
        let message = verdict.message().expect("denied").to_owned();
        let needle = format!("status.{key}");
        prop_assert!(message.contains(&needle), "{}", message);
    }
}
