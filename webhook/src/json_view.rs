//! Borrowed, one-level views of JSON: an object's members with their values left unparsed
//! ([`Raw`], pointing into the request body, found by the structural [`crate::scan`]), so that
//! admission reads only the fields its decisions use and skips the rest without building a
//! `serde_json::Value` tree.
//!
//! The rules were written against `serde_json::Value` and keep its semantics here: a repeated
//! key keeps its last value, a member that is JSON `null` counts as absent, and two values are
//! equal when they are equal as `Value`s (raw bytes are compared first; they are the same
//! whenever the API server encoded both, which is what makes the fast path the common one).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::Value;

use crate::scan::{self, Members, Raw};

/// A JSON string borrowed from the body unless it contained escapes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct CowStr<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// An unparsed JSON string's text: borrowed as it stands when it has no escape (without a
/// parser), otherwise decoded by serde_json, which also refuses what is not a string.
pub(crate) fn string_of(raw: Raw<'_>) -> Result<Cow<'_, str>, serde_json::Error> {
    match raw.plain_str() {
        Some(s) => Ok(Cow::Borrowed(s)),
        None => serde_json::from_str::<CowStr>(raw.get()).map(|s| s.0),
    }
}

/// An optional JSON string: `null` reads as absent, anything else as [`string_of`] reads it.
pub(crate) fn optional_string_of(raw: Raw<'_>) -> Result<Option<Cow<'_, str>>, serde_json::Error> {
    if raw.is_null() {
        Ok(None)
    } else {
        string_of(raw).map(Some)
    }
}

/// The members of a JSON object with unparsed values: sorted by key, a repeated key keeping its
/// last value (as `serde_json::Value` does).
#[derive(Debug, Clone, Default)]
pub struct Fields<'a>(Members<'a>);

impl<'a> Fields<'a> {
    pub(crate) fn from_members(mut members: Members<'a>) -> Self {
        // Go's encoder writes map keys sorted, so this is usually a no-op check.
        if !members.is_sorted_by(|a, b| a.0 < b.0) {
            wfe_api::parameters::sort_last_wins(&mut members);
        }
        Fields(members)
    }

    /// The value of `key` unless it is absent or JSON `null`.
    pub fn get(&self, key: &str) -> Option<Raw<'a>> {
        // The objects rules look into (a status, a clearance request) have a dozen members or
        // fewer: string equality rules most out on length alone, where each step of a binary
        // search is a full ordering comparison.
        let found = if self.0.len() <= 16 {
            self.0.iter().find(|(k, _)| k == key)
        } else {
            let i = self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key)).ok();
            i.map(|i| &self.0[i])
        };
        found.map(|(_, v)| *v).filter(|v| !v.is_null())
    }

    /// [`get`](Self::get) for keys asked in key order (a walk of an object the API server
    /// wrote, whose keys are sorted): searches from `from` first, and leaves it after the
    /// member found, so that each key is usually found at the first step.
    pub(crate) fn get_in_order(&self, key: &str, from: &mut usize) -> Option<Raw<'a>> {
        let rest = self.0.get(*from..).unwrap_or_default();
        match rest.iter().position(|(k, _)| k == key) {
            Some(i) => {
                *from += i + 1;
                Some(rest[i].1).filter(|v| !v.is_null())
            }
            None => self.get(key),
        }
    }

    /// The members in key order, `null` ones included.
    pub(crate) fn members(&self) -> &[(Cow<'a, str>, Raw<'a>)] {
        &self.0
    }

    /// Every member in key order, `null` ones included.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Raw<'a>)> + '_ {
        self.0.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    /// The members as a `Value` object (for error messages and tests).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        let mut map = serde_json::Map::new();
        for (k, v) in self.iter() {
            map.insert(k.to_owned(), value_of(v)?);
        }
        Ok(Value::Object(map))
    }
}

/// A JSON value read one level deep: an object as its members, anything else whole (rules only
/// look into objects; other shapes are rare and small).
#[derive(Debug, Clone)]
pub enum Shallow<'a> {
    /// A JSON object.
    Object(Fields<'a>),
    /// Any other JSON value.
    Other(Value),
}

impl<'a> Shallow<'a> {
    /// Reads an unparsed value one level deep.
    pub fn parse(raw: Raw<'a>) -> Result<Self, serde_json::Error> {
        match scan::members(raw).map_err(de::Error::custom)? {
            Some(members) => Ok(Shallow::Object(Fields::from_members(members))),
            None => serde_json::from_str(raw.get()).map(Shallow::Other),
        }
    }

    /// The members, if this is an object.
    pub fn fields(&self) -> Option<&Fields<'a>> {
        match self {
            Shallow::Object(fields) => Some(fields),
            Shallow::Other(_) => None,
        }
    }

    /// As a whole `Value`.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        match self {
            Shallow::Object(fields) => fields.to_value(),
            Shallow::Other(value) => Ok(value.clone()),
        }
    }
}

/// An unparsed value as a `Value`.
pub fn value_of(raw: Raw<'_>) -> Result<Value, serde_json::Error> {
    serde_json::from_str(raw.get())
}

/// Whether two optional values are equal as `Value`s; a value that cannot be parsed (nesting
/// beyond serde_json's limit) is never equal to anything, so a rule comparing it fails closed.
pub fn same(a: Option<Raw<'_>>, b: Option<Raw<'_>>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => {
            a.get() == b.get() || matches!((value_of(a), value_of(b)), (Ok(a), Ok(b)) if a == b)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shallow(json: &str) -> Shallow<'_> {
        Shallow::parse(Raw::parse(json).expect("scans")).expect("parses")
    }

    #[test]
    fn members_are_sorted_with_the_last_duplicate_kept_and_nulls_absent() {
        let s = shallow(r#"{"b": 1, "a": {"x": [1, 2]}, "b": 2, "n": null, "e\u0073c": "v"}"#);
        let fields = s.fields().expect("object");
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "esc", "n"]);
        assert_eq!(fields.get("b").map(Raw::get), Some("2"));
        assert_eq!(fields.get("a").map(Raw::get), Some(r#"{"x": [1, 2]}"#));
        assert!(fields.get("n").is_none() && fields.get("missing").is_none());
        assert_eq!(
            s.to_value().expect("value"),
            json!({"a": {"x": [1, 2]}, "b": 2, "esc": "v", "n": null})
        );
    }

    #[test]
    fn small_and_large_objects_are_looked_up_alike() {
        for n in [3, 16, 17, 40] {
            let mut text = String::from("{");
            for i in (0..n).rev() {
                text.push_str(&format!(
                    r#""k{i}": {i}, "k{i}": "last{i}", "z{i}": null, "#
                ));
            }
            text.push_str(r#""end": true}"#);
            let s = shallow(&text);
            let fields = s.fields().expect("object");
            let value: Value = serde_json::from_str(&text).expect("json");
            for i in 0..n {
                let key = format!("k{i}");
                let found = fields.get(&key).map(|r| value_of(r).expect("value"));
                assert_eq!(found.as_ref(), value.get(&key), "{n} members, {key}");
                assert!(fields.get(&format!("z{i}")).is_none(), "null is absent");
            }
            assert!(fields.get("k").is_none() && fields.get("end").is_some());
            // Asked in key order, out of order, or for absent keys: what `get` finds.
            let mut keys: Vec<String> = (0..n)
                .flat_map(|i| [format!("k{i}"), format!("z{i}"), format!("y{i}")])
                .collect();
            keys.sort();
            let shuffled: Vec<String> = keys.iter().rev().step_by(2).cloned().collect();
            for order in [&keys, &shuffled] {
                let mut cursor = 0;
                for key in order {
                    let by_cursor = fields.get_in_order(key, &mut cursor);
                    assert_eq!(by_cursor, fields.get(key), "{n} members, {key}");
                }
            }
        }
    }

    #[test]
    fn other_shapes_are_kept_whole() {
        for (json, value) in [
            ("[1, {\"a\": 2}]", json!([1, {"a": 2}])),
            ("\"text\"", json!("text")),
            ("-3", json!(-3)),
            ("1.5", json!(1.5)),
            ("true", json!(true)),
            ("null", Value::Null),
        ] {
            let s = shallow(json);
            assert!(s.fields().is_none());
            assert_eq!(s.to_value().expect("value"), value, "{json}");
        }
    }

    #[test]
    fn equality_is_value_equality() {
        fn raw(s: &str) -> Raw<'_> {
            Raw::parse(s).expect("raw")
        }
        let (a, b, c) = (
            raw(r#"{"x":1,"y":2}"#),
            raw(r#"{ "y": 2, "x": 1 }"#),
            raw("[1]"),
        );
        assert!(same(Some(a), Some(b)));
        assert!(!same(Some(a), Some(c)));
        assert!(same(None, None) && !same(Some(a), None));
        // Nested beyond serde_json's limit: equal as text would be, but cannot be compared.
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let spaced = format!("{}{}", "[ ".repeat(200), "]".repeat(200));
        assert!(!same(Some(raw(&deep)), Some(raw(&spaced))));
    }
}
