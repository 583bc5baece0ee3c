//! Reading an embedded `object`/`oldObject` without `metadata.managedFields`: no decision reads
//! them, yet they are the largest and most allocation-heavy part of a stored WFE (about 40% of
//! its JSON, thousands of tiny maps). Two forms: typed (a deserializer for `metadata` that hides
//! the key, so `ObjectMeta` never builds them) and as a `Value` (for error messages).

use std::borrow::Cow;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::json_view::CowStr;

/// The key left out of `metadata`.
const MANAGED_FIELDS: &str = "managedFields";

/// `metadata` as a `Value`, without `managedFields`.
pub(crate) fn metadata_value(raw: &RawValue) -> Result<Value, serde_json::Error> {
    Pruned(&[MANAGED_FIELDS]).deserialize(&mut serde_json::Deserializer::from_str(raw.get()))
}

/// A deserializer of an unparsed `metadata` object that skips its `managedFields` member.
/// Only objects are supported; any other shape is an error (callers fall back to the `Value`
/// form, which names the problem).
pub(crate) struct MetadataWithoutManagedFields<'a>(pub &'a RawValue);

impl<'de> Deserializer<'de> for MetadataWithoutManagedFields<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        serde_json::Deserializer::from_str(self.0.get()).deserialize_map(SkipVisitor(visitor))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

/// Hands the wrapped visitor a map without `managedFields`.
struct SkipVisitor<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for SkipVisitor<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<V::Value, A::Error> {
        self.0.visit_map(SkipManagedFields(map))
    }
}

struct SkipManagedFields<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipManagedFields<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        while let Some(CowStr(key)) = self.0.next_key()? {
            if key == MANAGED_FIELDS {
                self.0.next_value::<IgnoredAny>()?;
                continue;
            }
            let key: de::value::CowStrDeserializer<'_, A::Error> =
                Cow::<str>::into_deserializer(key);
            return seed.deserialize(key).map(Some);
        }
        Ok(None)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.0.next_value_seed(seed)
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
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde::Deserialize;
    use serde_json::json;

    const METADATA: &str = r#"{"name": "a", "managedFields": [{"manager": "kubectl"}], "labels": {"x": "1"}, "uid": "u"}"#;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).expect("raw")
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

    #[test]
    fn typed_form_builds_object_meta_without_them() {
        let meta =
            ObjectMeta::deserialize(MetadataWithoutManagedFields(raw(METADATA))).expect("metadata");
        assert_eq!(meta.name.as_deref(), Some("a"));
        assert_eq!(meta.uid.as_deref(), Some("u"));
        assert!(meta.managed_fields.is_none());
        assert_eq!(meta.labels.expect("labels")["x"], "1");
        assert!(ObjectMeta::deserialize(MetadataWithoutManagedFields(raw("[1]"))).is_err());
        assert!(
            ObjectMeta::deserialize(MetadataWithoutManagedFields(raw(r#"{"name": 5}"#))).is_err()
        );
    }
}
