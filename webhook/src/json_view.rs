//! Borrowed, one-level views of JSON: an object's members with their values left unparsed
//! (`&RawValue`, pointing into the request body), so that admission reads only the fields its
//! decisions use and skips the rest without building a `serde_json::Value` tree.
//!
//! The rules were written against `serde_json::Value` and keep its semantics here: a repeated
//! key keeps its last value, a member that is JSON `null` counts as absent, and two values are
//! equal when they are equal as `Value`s (raw bytes are compared first; they are the same
//! whenever the API server encoded both, which is what makes the fast path the common one).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

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

/// `serde(deserialize_with)` for an optional string that borrows from the body (serde's own
/// `Option<Cow<str>>` always copies).
pub(crate) fn optional_cow<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Cow<'de, str>>, D::Error> {
    Ok(Option::<CowStr<'de>>::deserialize(d)?.map(|s| s.0))
}

/// Whether an unparsed value is JSON `null` (absent, for every rule).
pub fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// The members of a JSON object with unparsed values: sorted by key, a repeated key keeping its
/// last value (as `serde_json::Value` does).
#[derive(Debug, Clone, Default)]
pub struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Fields<'a> {
    pub(crate) fn from_members(mut members: Vec<(Cow<'a, str>, &'a RawValue)>) -> Self {
        // Go's encoder writes map keys sorted, so this is usually a no-op check.
        if !members.is_sorted_by(|a, b| a.0 < b.0) {
            members.reverse();
            members.sort_by(|a, b| a.0.cmp(&b.0));
            // After the reversal the last occurrence of a key comes first; keep it.
            members.dedup_by(|later, kept| later.0 == kept.0);
        }
        Fields(members)
    }

    /// The value of `key` unless it is absent or JSON `null`.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        let i = self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key)).ok()?;
        Some(self.0[i].1).filter(|v| !is_null(v))
    }

    /// The members in key order, `null` ones included.
    pub(crate) fn members(&self) -> &[(Cow<'a, str>, &'a RawValue)] {
        &self.0
    }

    /// Every member in key order, `null` ones included.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &'a RawValue)> + '_ {
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
    pub fn parse(raw: &'a RawValue) -> Result<Self, serde_json::Error> {
        serde_json::from_str(raw.get())
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

impl<'de: 'a, 'a> Deserialize<'de> for Shallow<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ShallowVisitor)
    }
}

pub(crate) struct ShallowVisitor;

impl<'de> Visitor<'de> for ShallowVisitor {
    type Value = Shallow<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(CowStr(key)) = map.next_key()? {
            members.push((key, map.next_value::<&'de RawValue>()?));
        }
        Ok(Shallow::Object(Fields::from_members(members)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        Ok(Shallow::Other(Value::Array(items)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Shallow::Other(Value::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Shallow::Other(Value::from(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Shallow::Other(Value::from(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Shallow::Other(Value::from(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Shallow::Other(Value::String(v.to_owned())))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Shallow::Other(Value::Null))
    }
}

/// An unparsed value as a `Value`.
pub fn value_of(raw: &RawValue) -> Result<Value, serde_json::Error> {
    serde_json::from_str(raw.get())
}

/// Whether two optional values are equal as `Value`s; a value that cannot be parsed (nesting
/// beyond serde_json's limit) is never equal to anything, so a rule comparing it fails closed.
pub fn same(a: Option<&RawValue>, b: Option<&RawValue>) -> bool {
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
        serde_json::from_str(json).expect("parses")
    }

    #[test]
    fn members_are_sorted_with_the_last_duplicate_kept_and_nulls_absent() {
        let s = shallow(r#"{"b": 1, "a": {"x": [1, 2]}, "b": 2, "n": null, "e\u0073c": "v"}"#);
        let fields = s.fields().expect("object");
        let keys: Vec<&str> = fields.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["a", "b", "esc", "n"]);
        assert_eq!(fields.get("b").map(RawValue::get), Some("2"));
        assert_eq!(fields.get("a").map(RawValue::get), Some(r#"{"x": [1, 2]}"#));
        assert!(fields.get("n").is_none() && fields.get("missing").is_none());
        assert_eq!(
            s.to_value().expect("value"),
            json!({"a": {"x": [1, 2]}, "b": 2, "esc": "v", "n": null})
        );
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
        fn raw(s: &str) -> &RawValue {
            serde_json::from_str(s).expect("raw")
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
