//! Reading the embedded `object`/`oldObject` of an AdmissionReview as JSON without
//! `metadata.managedFields`: no decision reads them, yet they are the largest and most
//! allocation-heavy part of a stored WFE (about 40% of its JSON, thousands of tiny maps), and
//! building them was a third of each admission's cost (see BENCHMARKS.md).

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// The path of the field to leave out, from the object's root.
const SKIPPED: &[&str] = &["metadata", "managedFields"];

/// `serde(deserialize_with)` for `Option<Value>` object fields: like `Value`, minus
/// `metadata.managedFields`. Anything that is not an object is kept as it is.
pub(crate) fn without_managed_fields<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Value>, D::Error> {
    deserializer.deserialize_option(OptionVisitor)
}

struct OptionVisitor;

impl<'de> Visitor<'de> for OptionVisitor {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        Pruned(SKIPPED).deserialize(d).map(Some)
    }
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
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(default, deserialize_with = "super::without_managed_fields")]
        object: Option<Value>,
    }

    use serde_json::Value;

    fn read(object: Value) -> Option<Value> {
        serde_json::from_value::<Holder>(json!({ "object": object }))
            .unwrap()
            .object
    }

    #[test]
    fn drops_only_metadata_managed_fields() {
        let object = json!({
            "apiVersion": "kubernaut.ai/v1alpha1",
            "metadata": {"name": "a", "managedFields": [{"manager": "kubectl"}], "labels": {"x": "1"}},
            "spec": {"managedFields": "kept", "n": 1.5, "m": -3, "b": true, "z": null, "l": [1, {"k": "v"}]},
            "status": {"phase": "Failed"},
        });
        let mut expected = object.clone();
        let from_bytes: Holder =
            serde_json::from_slice(&serde_json::to_vec(&json!({ "object": object })).unwrap())
                .unwrap();
        expected["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("managedFields");
        assert_eq!(from_bytes.object, Some(expected.clone()));
        assert_eq!(read(object), Some(expected));
    }

    #[test]
    fn keeps_absent_null_and_non_objects() {
        let absent: Holder = serde_json::from_str("{}").unwrap();
        assert_eq!(absent.object, None);
        let null: Holder = serde_json::from_str(r#"{"object": null}"#).unwrap();
        assert_eq!(null.object, None);
        let text: Holder = serde_json::from_str(r#"{"object": "text"}"#).unwrap();
        assert_eq!(text.object, Some(json!("text")));
        let odd: Holder = serde_json::from_str(r#"{"object": {"metadata": 7}}"#).unwrap();
        assert_eq!(odd.object, Some(json!({"metadata": 7})));
    }
}
