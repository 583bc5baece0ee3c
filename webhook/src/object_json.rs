//! Reading an embedded `object`/`oldObject` without `metadata.managedFields`: no decision reads
//! them, yet they are the largest and most allocation-heavy part of a stored WFE (about 40% of
//! its JSON, thousands of tiny maps). This is the `Value` form (for error messages); the typed
//! decode leaves the member out of the scanned `metadata` (`decode::decode_workflow_execution`).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::scan::Raw;

/// The key left out of `metadata`.
pub(crate) const MANAGED_FIELDS: &str = "managedFields";

/// `metadata` as a `Value`, without `managedFields`.
pub(crate) fn metadata_value(raw: Raw<'_>) -> Result<Value, serde_json::Error> {
    Pruned(&[MANAGED_FIELDS]).deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
}

/// A JSON value with the field at `self.0` (relative to it) left out.
#[derive(Clone, Copy)]
struct Pruned(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for Pruned {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pruned {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match self.0 {
                [last] if *last == key => {
                    map.next_value::<IgnoredAny>()?;
                }
                [first, rest @ ..] if *first == key => {
                    let value = map.next_value_seed(Pruned(rest))?;
                    out.insert(key, value);
                }
                _ => {
                    let value = map.next_value::<Value>()?;
                    out.insert(key, value);
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const METADATA: &str = r#"{"name": "a", "managedFields": [{"manager": "kubectl"}], "labels": {"x": "1"}, "uid": "u"}"#;

    fn raw(s: &str) -> Raw<'_> {
        Raw::parse(s).expect("raw")
    }

    #[test]
    fn value_form_drops_only_managed_fields() {
        assert_eq!(
            metadata_value(raw(METADATA)).expect("value"),
            json!({"name": "a", "labels": {"x": "1"}, "uid": "u"})
        );
        let odd = r#"{"managedFields": 1, "spec": {"managedFields": "kept"}, "l": [1, -2, 1.5, true, null]}"#;
        assert_eq!(
            metadata_value(raw(odd)).expect("value"),
            json!({"spec": {"managedFields": "kept"}, "l": [1, -2, 1.5, true, null]})
        );
        assert_eq!(metadata_value(raw("7")).expect("value"), json!(7));
    }
}
