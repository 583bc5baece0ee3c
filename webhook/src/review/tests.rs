use super::*;

const FIXTURE_05: &str = include_str!(
    "../../../../shared/fixtures/admission/05-alice-status-clearance-request-mutate.json"
);

#[test]
fn parses_a_real_status_review() {
    let r = parse_review(FIXTURE_05.as_bytes()).expect("parses");
    assert_eq!(r.uid, "f68b493b-c8d8-45f4-a78a-c1976893fea5");
    assert!(r.is_status());
    assert_eq!(r.operation, Operation::Update);
    assert_eq!(r.user_info.username, "alice");
    assert_eq!(r.user_info.uid.as_deref(), Some("uid-alice"));
    assert_eq!(r.object_ref(), "team-a/wfe-restart-payment-api");
    assert!(!r.dry_run);
}

#[test]
fn a_repeated_request_field_is_refused_with_the_uid() {
    let body = FIXTURE_05.replacen(
        r#""dryRun": false"#,
        r#""dryRun": false, "operation": "CREATE""#,
        1,
    );
    assert_ne!(body, FIXTURE_05);
    let e = parse_review(body.as_bytes()).expect_err("repeated key");
    assert_eq!(
        e.uid.as_deref(),
        Some("f68b493b-c8d8-45f4-a78a-c1976893fea5")
    );
    assert!(
        e.message.contains("duplicate field `operation`"),
        "{}",
        e.message
    );
}

/// What the structural pass alone enforces at the envelope: one review, each field once.
#[test]
fn trailing_text_and_repeated_envelope_fields_are_refused() {
    let trailing = format!("{FIXTURE_05} x");
    let e = parse_review(trailing.as_bytes()).expect_err("trailing text");
    assert!(e.message.contains("not JSON"), "{}", e.message);
    let repeated = FIXTURE_05.replacen(
        r#""kind": "AdmissionReview""#,
        r#""kind": "AdmissionReview", "kind": "AdmissionReview""#,
        1,
    );
    assert_ne!(repeated, FIXTURE_05);
    let e = parse_review(repeated.as_bytes()).expect_err("repeated kind");
    assert!(
        e.message.contains("duplicate field `kind`"),
        "{}",
        e.message
    );
    assert_eq!(
        e.uid.as_deref(),
        Some("f68b493b-c8d8-45f4-a78a-c1976893fea5")
    );
}

/// Request strings, with and without escapes, read as serde_json reads them (plain ones
/// are borrowed without a parser).
#[test]
fn request_strings_are_read_as_serde_json_reads_them() {
    let edited = |edit: &dyn Fn(&mut Value)| {
        let mut doc: Value = serde_json::from_str(FIXTURE_05).expect("fixture");
        edit(&mut doc);
        serde_json::to_string(&doc).expect("json")
    };
    let escaped = edited(&|d| {
        d["request"]["name"] = "wfe-\u{e9}\"quoted\"\n".into();
        d["request"]["namespace"] = Value::Null;
    });
    // The envelope's kind spelled with an escape is still an AdmissionReview.
    let escaped = escaped.replacen(
        r#""kind":"AdmissionReview""#,
        r#""kind":"AdmissionRevie\u0077""#,
        1,
    );
    assert!(escaped.contains(r#"AdmissionRevie\u0077"#));
    let r = parse_review(escaped.as_bytes()).expect("parses");
    assert_eq!(r.name, "wfe-\u{e9}\"quoted\"\n");
    assert_eq!(r.namespace, None);
    let plain = parse_review(FIXTURE_05.as_bytes()).expect("parses");
    assert!(matches!(
        plain.name,
        Cow::Borrowed("wfe-restart-payment-api")
    ));
    assert_eq!(plain.namespace.as_deref(), Some("team-a"));
    for bad in [Value::from(5), Value::from(vec!["x"])] {
        let body = edited(&|d| d["request"]["name"] = bad.clone());
        let e = parse_review(body.as_bytes()).expect_err("not a string");
        assert!(e.message.contains("request.name"), "{}", e.message);
    }
}

#[test]
fn malformed_bodies_are_errors_with_uid_when_readable() {
    let cases: &[(&[u8], Option<&str>, &str)] = &[
        (b"", None, "empty"),
        (b"  \n", None, "empty"),
        (b"{not json", None, "not JSON"),
        (b"[1,2]", None, "not a JSON object"),
        (br#"{"kind":"Pod","apiVersion":"v1","request":{"uid":"u1"}}"#, Some("u1"), "expected kind AdmissionReview"),
        (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"u2"}}"#, Some("u2"), "expected kind"),
        (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#, None, "has no request"),
        (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":null}"#, None, "has no request"),
        (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":""}}"#, None, "uid is missing"),
        (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u3"}}"#, Some("u3"), "request."),
        (
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u4","kind":{"group":"","version":"v1","kind":"X"},"resource":{"group":"","version":"v1","resource":"x"},"operation":"FROB","userInfo":{}}}"#,
            Some("u4"),
            "request.operation",
        ),
    ];
    for (body, uid, needle) in cases {
        let e = parse_review(body).expect_err("must fail");
        assert_eq!(e.uid.as_deref(), *uid, "{e}");
        assert!(
            e.message.contains(needle),
            "{:?} should mention {needle:?}",
            e.message
        );
    }
}
