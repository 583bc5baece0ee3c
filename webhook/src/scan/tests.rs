use std::fmt;

use proptest::prelude::*;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

use super::skip::{self, Masks};
use super::*;

/// An object's members in document order as serde_json reads them: the reference.
fn serde_members(text: &str) -> Option<Vec<(String, String)>> {
    struct Members;
    impl<'de> Visitor<'de> for Members {
        type Value = Option<Vec<(String, String)>>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("anything")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(key) = map.next_key::<String>()? {
                let value: &RawValue = map.next_value()?;
                out.push((key, value.get().to_owned()));
            }
            Ok(Some(out))
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut s: A,
        ) -> Result<Self::Value, A::Error> {
            while s.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let out = (&mut de).deserialize_any(Members).expect("valid JSON");
    de.end().expect("one value");
    out
}

fn scanned_members(text: &str) -> Option<Vec<(String, String)>> {
    let raw = Raw::parse(text).expect("scans");
    members(raw).expect("members").map(|m| {
        m.into_iter()
            .map(|(k, v)| (k.into_owned(), v.get().to_owned()))
            .collect()
    })
}

/// Strings that stress the scan: quotes, runs of backslashes, brackets and multi-byte text.
fn tricky_string() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("\"".to_owned()),
            Just("\\".to_owned()),
            Just("\\\\".to_owned()),
            Just("{".to_owned()),
            Just("]".to_owned()),
            Just("é€".to_owned()),
            "[a-z:]{0,70}",
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        tricky_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::vec((tricky_string(), inner), 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// The object `walk` stands in, read by entering every nested object and resuming after it
/// (the way the admission views read `object` and its `status`), other values parsed.
fn walked(walk: &mut ObjectWalk<'_>) -> Value {
    let mut map = serde_json::Map::new();
    while let Some(key) = walk.next_key().expect("name") {
        let value = match walk.enter() {
            Some(mut nested) => {
                let value = walked(&mut nested);
                walk.resume(&nested).expect("resumes");
                value
            }
            None => serde_json::from_str(walk.skip_value().expect("value").get()).expect("json"),
        };
        map.insert(key.into_owned(), value);
    }
    Value::Object(map)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// A value stepped over by comparison with an earlier one (the stored object against the
    /// new one) is the value a scan finds, whether the two are the same or differ.
    #[test]
    fn values_known_from_earlier_are_those_a_scan_finds(first in json_value(), second in json_value(), same in any::<bool>(), pretty in any::<bool>()) {
        let second = if same { first.clone() } else { second };
        let encode = |v: &Value| if pretty { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) }.expect("encodes");
        let text = format!(r#"{{"a":{},"b":{},"c":{}}}"#, encode(&first), encode(&second), encode(&second));
        let mut walk = ObjectWalk::document(&text).expect("an object");
        let mut plain = ObjectWalk::document(&text).expect("an object");
        walk.next_key().expect("a");
        plain.next_key().expect("a");
        let known = walk.skip_value().expect("first");
        plain.skip_value().expect("first");
        while let Some(key) = walk.next_key().expect("name") {
            prop_assert_eq!(Some(key), plain.next_key().expect("name"));
            prop_assert_eq!(walk.skip_value_known(Some(known)).expect("value"), plain.skip_value().expect("value"), "{}", text);
        }
        prop_assert!(plain.next_key().expect("end").is_none());
        walk.finish_document().expect("read to its end");
    }

    /// Descending into nested objects and resuming after them reads the whole value as
    /// serde_json does, laid out compactly (the API server's form) or indented.
    #[test]
    fn nested_walks_read_what_serde_json_reads(value in json_value(), pretty in any::<bool>()) {
        let object = Value::Object([("v".to_owned(), value), ("after".to_owned(), Value::from(1))].into_iter().collect());
        let text = if pretty { serde_json::to_string_pretty(&object) } else { serde_json::to_string(&object) }.expect("encodes");
        let mut walk = ObjectWalk::document(&text).expect("an object");
        let read = walked(&mut walk);
        walk.finish_document().expect("read to its end");
        // Against serde_json's reading of the same text (its float parsing does not always
        // give back the number that was written).
        let reference: Value = serde_json::from_str(&text).expect("json");
        prop_assert_eq!(read, reference, "{}", text);
    }

    /// Whatever the value and however it is laid out, the scan finds the members serde_json
    /// finds, with the same keys and the same value text.
    #[test]
    fn members_are_those_serde_json_reads(value in json_value(), pretty in any::<bool>(), pad in 0usize..70) {
        let object = Value::Object([("pad".to_owned(), Value::String("x".repeat(pad))), ("v".to_owned(), value.clone())].into_iter().collect());
        for v in [&object, &value] {
            let text = if pretty { serde_json::to_string_pretty(v) } else { serde_json::to_string(v) }.expect("encodes");
            prop_assert_eq!(scanned_members(&text), serde_members(&text), "{}", text);
        }
    }

    /// The vector masks are the bytewise ones (other architectures have only the bytewise
    /// form).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn block_masks_match_the_bytewise_reference(bytes in proptest::collection::vec(prop_oneof![prop::sample::select(b"\"\\{[}]a\xc3".to_vec()), any::<u8>()], 64)) {
        let block: &[u8; 64] = bytes.as_slice().try_into().expect("64 bytes");
        // SAFETY: SSE2 is part of the x86_64 baseline.
        prop_assert_eq!(unsafe { Masks::of_block_sse2(block) }, Masks::of_block_bytewise(block));
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2.
            prop_assert_eq!(unsafe { Masks::of_block_avx2(block) }, Masks::of_block_bytewise(block));
        }
    }

    /// The carry-less multiplication is the shift-and-XOR prefix.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn carry_less_prefix_xor_is_the_shifted_one(x in any::<u64>()) {
        if std::is_x86_feature_detected!("pclmulqdq") {
            // SAFETY: the CPU supports PCLMULQDQ.
            prop_assert_eq!(unsafe { skip::prefix_xor_clmul(x) }, skip::prefix_xor(x));
        }
    }

    /// A plain string is borrowed exactly as serde_json decodes it; a string with an escape
    /// is left to serde_json, and so is text serde_json refuses (a raw control character).
    #[test]
    fn plain_strings_are_what_serde_json_decodes(text in any::<String>(), raw_control in any::<bool>()) {
        let escaped = serde_json::to_string(&text).expect("encodes");
        let quoted = if raw_control { format!("{}\u{1}\"", &escaped[..escaped.len() - 1]) } else { escaped };
        let raw = Raw::parse(&quoted).expect("scans");
        let decoded = serde_json::from_str::<String>(&quoted);
        match raw.plain_str() {
            Some(plain) => prop_assert_eq!(Ok(plain), decoded.as_deref().map_err(|_| ())),
            None => prop_assert!(raw_control || quoted.contains('\\'), "{}", quoted),
        }
        for other in ["1", "null", "[\"a\"]", "{\"a\": \"b\"}"] {
            prop_assert_eq!(Raw::parse(other).expect("scans").plain_str(), None);
        }
    }

    /// Both builds of the string search find the closing quote where serde_json does, say
    /// whether there was an escape, and refuse a string cut short.
    #[test]
    fn both_builds_of_the_string_search_agree(text in tricky_string(), lead in 0usize..70, trail in 0usize..40, cut in any::<prop::sample::Index>()) {
        let quoted = serde_json::to_string(&text).expect("encodes");
        let body = format!("{}{quoted}{}", " ".repeat(lead), ",".repeat(trail));
        let b = body.as_bytes();
        let expected = (lead + quoted.len(), quoted.contains('\\'));
        let short = &b[..lead + 1 + cut.index(quoted.len() - 1)];
        prop_assert_eq!(skip::string_end_baseline(b, lead), Ok(expected));
        prop_assert_eq!(skip::string_end(b, lead), Ok(expected));
        prop_assert_eq!(skip::string_end(short, lead), skip::string_end_baseline(short, lead));
        // The shortcut answers only for what it can settle, and then as the full search does.
        if let Some(end) = skip::short_string_end(b, lead) {
            prop_assert_eq!(Ok((end, false)), skip::string_end_baseline(b, lead));
        }
        prop_assert_eq!(skip::short_string_end(short, lead), None);
        prop_assert!(skip::string_end_baseline(short, lead).is_err());
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2.
            unsafe {
                prop_assert_eq!(skip::string_end_avx2(b, lead), Ok(expected));
                prop_assert_eq!(skip::string_end_avx2(short, lead), skip::string_end_baseline(short, lead));
            }
        }
    }

    /// Both builds of the container loop find the end serde_json finds, and both refuse a
    /// container cut short, wherever the value falls against the 64-byte blocks.
    #[test]
    fn both_builds_of_the_container_skip_agree(value in json_value(), pretty in any::<bool>(), pad in 0usize..70, cut in any::<prop::sample::Index>()) {
        let wrapped = Value::Array(vec![Value::String("x".repeat(pad)), value]);
        let text = if pretty { serde_json::to_string_pretty(&wrapped) } else { serde_json::to_string(&wrapped) }.expect("encodes");
        let b = text.as_bytes();
        let short = &b[..cut.index(b.len())];
        prop_assert_eq!(skip::container_end_baseline(b, 0), Ok(b.len()));
        prop_assert!(skip::container_end_baseline(short, 0).is_err());
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("pclmulqdq") && std::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU supports every feature the AVX2 build enables.
            unsafe {
                prop_assert_eq!(skip::container_end_avx2(b, 0), Ok(b.len()));
                prop_assert_eq!(skip::container_end_avx2(short, 0), skip::container_end_baseline(short, 0));
            }
        }
    }
}

#[test]
fn escapes_across_block_boundaries_are_followed() {
    // A string whose backslash runs and escaped quotes land on every offset around the 64-byte
    // block edges, inside a container that must be skipped whole.
    for shift in 0..130 {
        for run in 1..5 {
            let s = format!("{}{}\"{{]", "a".repeat(shift), "\\".repeat(run));
            let value = serde_json::json!({"k": [s, {"x": "}"}], "after": 1});
            let text = serde_json::to_string(&value).expect("encodes");
            assert_eq!(scanned_members(&text), serde_members(&text), "{text}");
        }
    }
}

#[test]
fn every_admission_fixture_scans_like_serde_json() {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/admission"
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let compact = serde_json::to_string(&serde_json::from_str::<Value>(&text).expect("json"))
            .expect("encodes");
        for text in [&text, &compact] {
            assert_eq!(
                scanned_members(text),
                serde_members(text),
                "{}",
                path.display()
            );
            let request = serde_json::from_str::<Value>(text).expect("json")["request"].to_string();
            assert_eq!(
                scanned_members(&request),
                serde_members(&request),
                "{}",
                path.display()
            );
        }
        seen += 1;
    }
    assert!(seen >= 20, "only {seen} fixtures found in {dir}");
}

#[test]
fn unicode_escapes_of_quotes_and_backslashes_scan_like_serde_json() {
    for text in [
        r#"{"a\u0022b": "x\u005C\"y", "c": 1}"#,
        r#"{"k": "\u005c", "l": ["\u0022]", "\\\u0022"], "m": {"n": "\/\b\f\n\r\t"}}"#,
        r#"{"u\u0069d": "\ud83d\ude00", "z": "\\\\"}"#,
    ] {
        assert_eq!(scanned_members(text), serde_members(text), "{text}");
    }
}

#[test]
fn numbers_follow_the_json_grammar() {
    for ok in ["0", "-0", "12", "-3.25", "1e9", "2E-7", "6.02e+23"] {
        let text = format!("{{\"n\": {ok}, \"m\": [{ok}]}}");
        assert_eq!(scanned_members(&text), serde_members(&text), "{text}");
    }
    for bad in [
        "3-9", "01", "-", "1.", ".5", "1e", "7--", "1+1", "+1", "1.e3",
    ] {
        let text = format!("{{\"n\": {bad}}}");
        let outcome = Raw::parse(&text).and_then(|raw| members(raw).map(|_| ()));
        assert!(outcome.is_err(), "{text} should not scan");
    }
}

#[test]
fn broken_structure_is_an_error_not_a_panic() {
    for text in [
        "",
        " ",
        "{",
        "[",
        "{\"a\"",
        "{\"a\":",
        "{\"a\": 1",
        "{\"a\" 1}",
        "{\"a\": 1,}",
        "{1: 2}",
        "{\"a\": [1, 2}",
        "\"open",
        "{\"a\": \"x\\\"}",
        "tru",
        "nul",
        "{} x",
        "{\"a\": @}",
        "{\"a\": [}",
        "[[[[",
        "{\"a\\u00\": 1}",
    ] {
        let outcome = Raw::parse(text).and_then(|raw| members(raw).map(|_| ()));
        assert!(outcome.is_err(), "{text:?} should not scan");
    }
    let e = Raw::parse("{\"a\": \"never closed").expect_err("unterminated");
    assert_eq!(e.to_string(), "unterminated object or array at byte 0");
}

#[test]
fn values_are_exact_and_null_is_recognised() {
    let raw = Raw::parse(" \n {\"a\" :\t[1, {\"b\": null}] , \"n\": null, \"s\": \"q\\\"\"}  ")
        .expect("scans");
    let m = members(raw).expect("members").expect("object");
    let got: Vec<(&str, &str)> = m.iter().map(|(k, v)| (k.as_ref(), v.get())).collect();
    assert_eq!(
        got,
        [
            ("a", "[1, {\"b\": null}]"),
            ("n", "null"),
            ("s", "\"q\\\"\"")
        ]
    );
    assert!(m[1].1.is_null() && !m[0].1.is_null());
    assert_eq!(
        members(Raw::parse("[1]").expect("array")).expect("scans"),
        None
    );
    assert_eq!(
        members(Raw::parse("{}").expect("empty"))
            .expect("scans")
            .map(|m| m.len()),
        Some(0)
    );
}

#[test]
fn a_known_number_or_literal_is_never_taken_for_a_longer_one() {
    for (first, second) in [
        ("1", "12"),
        ("-1", "-1.5e3"),
        ("0", "0.25"),
        ("true", "true"),
    ] {
        let text = format!(r#"{{"a":{first},"b":{second}}}"#);
        let mut walk = ObjectWalk::document(&text).expect("an object");
        walk.next_key().expect("a");
        let known = walk.skip_value().expect("a's value");
        walk.next_key().expect("b");
        assert_eq!(
            walk.skip_value_known(Some(known)).expect("b's value").get(),
            second
        );
    }
    // A repeated string or container is stepped over whole.
    let text = r#"{"a":{"x":["}"]},"b":{"x":["}"]},"c":"s","d":"s"}"#;
    let mut walk = ObjectWalk::document(text).expect("an object");
    walk.next_key().expect("a");
    let known = walk.skip_value().expect("a's value");
    walk.next_key().expect("b");
    assert_eq!(
        walk.skip_value_known(Some(known)).expect("b").get(),
        r#"{"x":["}"]}"#
    );
    walk.next_key().expect("c");
    let known = walk.skip_value().expect("c's value");
    walk.next_key().expect("d");
    assert_eq!(
        walk.skip_value_known(Some(known)).expect("d").get(),
        r#""s""#
    );
    walk.finish_document().expect_err("not read to the end");
    assert!(walk.next_key().expect("end").is_none());
    walk.finish_document().expect("read to its end");
}

#[test]
fn a_known_value_is_taken_by_comparison_without_a_scan() {
    // A deliberately false `known` (a prefix that is no whole value) shows the comparison is
    // what steps over the value: a scan would have found `[1]`.
    let text = r#"{"a":[1]}"#;
    let mut walk = ObjectWalk::document(text).expect("an object");
    walk.next_key().expect("a");
    assert_eq!(
        walk.skip_value_known(Some(Raw("["))).expect("taken").get(),
        "["
    );
    // Bytes that differ are scanned.
    let mut walk = ObjectWalk::document(text).expect("an object");
    walk.next_key().expect("a");
    assert_eq!(
        walk.skip_value_known(Some(Raw("[2]")))
            .expect("scanned")
            .get(),
        "[1]"
    );
}
