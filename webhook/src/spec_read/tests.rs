use proptest::prelude::*;
use wfe_api::WorkflowExecutionSpec;

use super::*;

/// A JSON text built member by member, so that a test can repeat a member (which a
/// `serde_json::Value` cannot hold).
#[derive(Clone, Debug)]
enum Json {
    Leaf(String),
    Object(Vec<(String, Json)>),
}

impl Json {
    fn render(&self, out: &mut String) {
        match self {
            Json::Leaf(text) => out.push_str(text),
            Json::Object(members) => {
                out.push('{');
                for (i, (key, value)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(key);
                    out.push_str("\":");
                    value.render(out);
                }
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        out
    }
}

fn leaf(text: &str) -> Json {
    Json::Leaf(text.to_owned())
}

fn object(members: &[(&str, Json)]) -> Json {
    Json::Object(
        members
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

/// The spec of fixture 01, every member present.
fn full_spec() -> Json {
    object(&[
        ("confidence", leaf("0.92")),
        ("executionConfig", object(&[("timeout", leaf(r#""15m""#))])),
        (
            "parameters",
            object(&[
                ("DEPLOYMENT_NAME", leaf(r#""payment-api""#)),
                ("NAMESPACE", leaf(r#""team-a""#)),
            ]),
        ),
        ("rationale", leaf(r#""Memory leak pattern""#)),
        (
            "remediationRequestRef",
            object(&[
                ("apiVersion", leaf(r#""kubernaut.ai/v1alpha1""#)),
                ("kind", leaf(r#""RemediationRequest""#)),
                ("name", leaf(r#""rr-payment-api-7f9c2""#)),
                ("namespace", leaf(r#""team-a""#)),
            ]),
        ),
        ("targetResource", leaf(r#""team-a/Deployment/payment-api""#)),
        (
            "workflowRef",
            object(&[
                (
                    "containerDigest",
                    leaf(&format!(r#""sha256:{}""#, "a".repeat(64))),
                ),
                ("containerImage", leaf(r#""quay.io/k/restart:v1""#)),
                ("version", leaf(r#""v1""#)),
                ("workflowId", leaf(r#""restart""#)),
            ]),
        ),
    ])
}

/// What serde reads of `text`, as a view: the reference the reader must agree with.
fn decoded(text: &str) -> Option<WorkflowExecutionSpec> {
    serde_json::from_str(text).ok()
}

fn read(text: &str) -> Option<SpecView<'_>> {
    read_spec(Raw::parse(text).ok()?)
}

/// Values a member may be given: strings plain, escaped, non-ASCII or empty, and every other
/// JSON shape.
const LEAVES: &[&str] = &[
    "null",
    r#""x""#,
    r#""a\u0042\n\"q\"""#,
    r#""é €""#,
    r#""""#,
    "0.5",
    "1",
    "-0",
    "1e400",
    "0.30000000000000004",
    "true",
    "[]",
    "{}",
    r#"{"A":"b"}"#,
    r#"{"name":"n","workflowId":"w","version":"v","containerImage":"i"}"#,
    r#"{"timeout":null}"#,
];

/// One edit of one object of the spec (chosen by `at` among the spec and its object members).
#[derive(Clone, Debug)]
enum Edit {
    Remove(usize),
    Set(usize, &'static str),
    Repeat(usize),
    AddUnknown,
    EscapeKey(usize),
    /// A raw control character put into a name (invalid JSON that the walk steps over).
    ControlKey(usize),
    Reverse,
}

fn edit() -> impl Strategy<Value = (usize, Edit)> {
    let member = 0usize..8;
    (
        0usize..6,
        prop_oneof![
            member.clone().prop_map(Edit::Remove),
            (member.clone(), prop::sample::select(LEAVES)).prop_map(|(i, v)| Edit::Set(i, v)),
            member.clone().prop_map(Edit::Repeat),
            Just(Edit::AddUnknown),
            member.clone().prop_map(Edit::EscapeKey),
            member.prop_map(Edit::ControlKey),
            Just(Edit::Reverse),
        ],
    )
}

/// The object `at` selects: 0 the spec, then its members that are objects, in order.
fn target(spec: &mut Json, at: usize) -> &mut Vec<(String, Json)> {
    let Json::Object(members) = spec else {
        unreachable!("the spec under edit is an object")
    };
    let nested: Vec<usize> = members
        .iter()
        .enumerate()
        .filter(|(_, (_, v))| matches!(v, Json::Object(_)))
        .map(|(i, _)| i)
        .collect();
    match at.checked_sub(1).and_then(|n| nested.get(n)) {
        Some(&i) => match &mut members[i].1 {
            Json::Object(inner) => inner,
            Json::Leaf(_) => unreachable!("selected for being an object"),
        },
        None => members,
    }
}

fn apply(spec: &mut Json, at: usize, edit: &Edit) {
    let members = target(spec, at);
    let n = members.len();
    match *edit {
        _ if n == 0 && !matches!(edit, Edit::AddUnknown) => {}
        Edit::Remove(i) => {
            members.remove(i % n);
        }
        Edit::Set(i, value) => members[i % n].1 = leaf(value),
        Edit::Repeat(i) => {
            let copy = members[i % n].clone();
            members.push(copy);
        }
        Edit::AddUnknown => members.push(("unknownField".to_owned(), leaf("1"))),
        Edit::EscapeKey(i) => {
            // The same name with its first character escaped: serde reads it as the name.
            let key = &mut members[i % n].0;
            if let Some(first) = key.chars().next() {
                *key = format!("\\u{:04x}{}", first as u32, &key[first.len_utf8()..]);
            }
        }
        Edit::ControlKey(i) => members[i % n].0.push('\u{1}'),
        Edit::Reverse => members.reverse(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the reader accepts, serde decodes to the same view; what it declines is left to
    /// the full decode, so no spec is ever judged differently.
    #[test]
    fn the_reader_agrees_with_serde(edits in prop::collection::vec(edit(), 0..4)) {
        let mut spec = full_spec();
        for (at, e) in &edits {
            apply(&mut spec, *at, e);
        }
        let text = spec.text();
        if let Some(view) = read(&text) {
            let serde = decoded(&text);
            prop_assert!(serde.is_some(), "read what serde refuses: {text}");
            prop_assert_eq!(SpecView::from(serde.as_ref().expect("decoded")), view, "{}", text);
        }
    }
}

#[test]
fn clean_specs_are_read_without_the_full_decode() {
    let mut reordered = full_spec();
    apply(&mut reordered, 0, &Edit::Reverse);
    let mut escaped_key = full_spec();
    apply(&mut escaped_key, 0, &Edit::EscapeKey(5));
    let mut optional_null = full_spec();
    apply(&mut optional_null, 0, &Edit::Set(0, "null"));
    apply(&mut optional_null, 0, &Edit::Set(1, "null"));
    apply(&mut optional_null, 0, &Edit::Set(3, "null"));
    let mut no_optionals = full_spec();
    for i in [3, 2, 1, 0] {
        apply(&mut no_optionals, 0, &Edit::Remove(i));
    }
    let mut escaped_values = full_spec();
    apply(&mut escaped_values, 0, &Edit::Set(3, LEAVES[2]));
    apply(&mut escaped_values, 2, &Edit::Set(0, LEAVES[3]));
    for spec in [
        full_spec(),
        reordered,
        escaped_key,
        optional_null,
        no_optionals,
        escaped_values,
    ] {
        let text = spec.text();
        let view = read(&text).unwrap_or_else(|| panic!("not read: {text}"));
        let serde = decoded(&text).unwrap_or_else(|| panic!("serde refuses: {text}"));
        assert_eq!(SpecView::from(&serde), view, "{text}");
    }
}

#[test]
fn repeats_unknowns_and_wrong_shapes_are_left_to_the_full_decode() {
    let cases: [(usize, Edit); 7] = [
        (2, Edit::ControlKey(0)),
        (0, Edit::Repeat(5)),
        (0, Edit::AddUnknown),
        (3, Edit::AddUnknown),
        (0, Edit::Set(5, "1")),
        (0, Edit::Set(2, "null")),
        (0, Edit::Remove(6)),
    ];
    for (at, e) in &cases {
        let mut spec = full_spec();
        apply(&mut spec, *at, e);
        let text = spec.text();
        assert!(read(&text).is_none(), "{e:?} read: {text}");
    }
    assert!(read("[1]").is_none() && read("\"spec\"").is_none());
}

#[test]
fn every_captured_spec_is_read() {
    let mut read_any = false;
    for entry in std::fs::read_dir(format!(
        "{}/../../shared/fixtures/admission",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixtures")
    {
        let name = entry.expect("entry").file_name();
        let name = name.to_string_lossy();
        if !name.ends_with(".json") {
            continue;
        }
        // The spec's bytes as the request holds them (the stored files are indented); some
        // fixtures are bodies the webhook refuses whole.
        let body = crate::test_fixtures::raw(&name);
        let Ok(request) = crate::review::parse_review(&body) else {
            continue;
        };
        for (which, object) in [
            ("object", &request.object),
            ("oldObject", &request.old_object),
        ] {
            let Some(spec) = object.as_ref().and_then(|o| o.spec()) else {
                continue;
            };
            let view = read_spec(spec).unwrap_or_else(|| panic!("{name} {which}: not read"));
            let serde: WorkflowExecutionSpec = serde_json::from_str(spec.get()).expect("decodes");
            assert_eq!(SpecView::from(&serde), view, "{name} {which}");
            read_any = true;
        }
    }
    assert!(read_any, "no fixture has a spec");
}
