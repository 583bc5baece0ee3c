//! Typed decoding of unparsed JSON, with the error messages of decoding a `serde_json::Value`.
//!
//! The fast path deserializes straight from the request body's bytes. Its errors carry byte
//! positions and may stop at a different field, so when it fails the value is decoded again
//! from a `Value` with `serde_path_to_error`: users see the same field path and message as
//! before the typed path existed. Denials are rare, so the second pass costs nothing in practice.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::value::{
    BorrowedStrDeserializer, MapAccessDeserializer, StrDeserializer, StringDeserializer,
};
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use wfe_api::WorkflowExecution;
use wfe_api::validation::Violation;

use crate::json_view::{Fields, Shallow, value_of};
use crate::object_json::{MANAGED_FIELDS, metadata_value};
use crate::scan::{self, Raw};

/// Why a value does not decode: the field path (`.` for the value itself) and the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    /// Field path relative to the decoded value, as `serde_path_to_error` prints it.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl DecodeError {
    fn whole(e: serde_json::Error) -> Self {
        DecodeError {
            path: ".".to_owned(),
            message: e.to_string(),
        }
    }
}

/// Decodes `T` from a `Value`, reporting the path of the first bad field.
fn decode_value<T: DeserializeOwned>(value: Value) -> Result<T, DecodeError> {
    serde_path_to_error::deserialize(value).map_err(|e| DecodeError {
        path: e.path().to_string(),
        message: e.into_inner().to_string(),
    })
}

/// Decodes `T` from an unparsed value.
pub(crate) fn decode<T: DeserializeOwned>(raw: Raw<'_>) -> Result<T, DecodeError> {
    match serde_json::from_str(raw.get()) {
        Ok(v) => Ok(v),
        Err(_) => decode_value(value_of(raw).map_err(DecodeError::whole)?),
    }
}

/// Decodes `T` from an object's members.
pub(crate) fn decode_fields<T: DeserializeOwned>(fields: &Fields<'_>) -> Result<T, DecodeError> {
    let access = FieldsAccess::new(fields, false, Nested::Walked);
    match T::deserialize(MapAccessDeserializer::new(access)) {
        Ok(v) => Ok(v),
        Err(_) => decode_value(fields.to_value().map_err(DecodeError::whole)?),
    }
}

/// Decodes `T` from a value read one level deep.
pub(crate) fn decode_shallow<T: DeserializeOwned>(value: &Shallow<'_>) -> Result<T, DecodeError> {
    match value {
        Shallow::Object(fields) => decode_fields(fields),
        Shallow::Other(value) => decode_value(value.clone()),
    }
}

/// Decodes a whole WorkflowExecution from its members and status, without building its
/// `metadata.managedFields`; errors as `wfe_api::parse_workflow_execution` reports them.
pub(crate) fn decode_workflow_execution(
    fields: &Fields<'_>,
    status: Option<&Shallow<'_>>,
) -> Result<WorkflowExecution, Violation> {
    let access = FieldsAccess {
        status,
        ..FieldsAccess::new(fields, true, Nested::Parsed)
    };
    if let Ok(wfe) = WorkflowExecution::deserialize(MapAccessDeserializer::new(access)) {
        return Ok(wfe);
    }
    let failed = |field: &str, e: serde_json::Error| Violation {
        field: field.to_owned(),
        message: e.to_string(),
    };
    let mut map = serde_json::Map::new();
    for (key, raw) in fields.iter() {
        let value = if key == "metadata" {
            metadata_value(raw)
        } else {
            value_of(raw)
        };
        map.insert(key.to_owned(), value.map_err(|e| failed(key, e))?);
    }
    if let Some(status) = status {
        let value = status.to_value().map_err(|e| failed("status", e))?;
        map.insert("status".to_owned(), value);
    }
    wfe_api::parse_workflow_execution(Value::Object(map))
}

/// The members of an object as a serde map, each value deserialized from its own bytes, then
/// `status` if it was read separately.
struct FieldsAccess<'f, 'a> {
    members: std::slice::Iter<'f, (Cow<'a, str>, Raw<'a>)>,
    status: Option<&'f Shallow<'a>>,
    pending: Option<Pending<'f, 'a>>,
    /// Hide `metadata.managedFields` (for whole objects).
    prune_metadata: bool,
    nested: Nested,
}

/// How a member that is itself an object is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nested {
    /// Walked member by member, the members its type does not name stepped over: for types
    /// that read a few members of large objects (a stored status and its `failureDetails`).
    Walked,
    /// Parsed by serde_json in one pass: for types that read nearly every member (a whole
    /// WorkflowExecution's spec), where a parse per member costs more than it saves.
    Parsed,
}

enum Pending<'f, 'a> {
    Member(&'f str, Raw<'a>),
    Status(&'f Shallow<'a>),
}

impl<'f, 'a> FieldsAccess<'f, 'a> {
    fn new(fields: &'f Fields<'a>, prune_metadata: bool, nested: Nested) -> Self {
        FieldsAccess {
            members: fields.members().iter(),
            status: None,
            pending: None,
            prune_metadata,
            nested,
        }
    }
}

impl<'de> MapAccess<'de> for FieldsAccess<'_, 'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        let (key, pending) = match (self.members.next(), self.status.take()) {
            (Some((key, raw)), status) => {
                self.status = status;
                (key.as_ref(), Pending::Member(key.as_ref(), *raw))
            }
            (None, Some(status)) => ("status", Pending::Status(status)),
            (None, None) => return Ok(None),
        };
        self.pending = Some(pending);
        seed.deserialize(StrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        match self.pending.take() {
            Some(Pending::Member(key, raw)) if self.prune_metadata && key == "metadata" => {
                // Only an object is decoded here; anything else falls back to the `Value`
                // form, which names the problem.
                let Some(mut members) = scan::members(raw).map_err(de::Error::custom)? else {
                    return Err(de::Error::custom("metadata is not an object"));
                };
                members.retain(|(k, _)| k != MANAGED_FIELDS);
                let metadata = Fields::from_members(members);
                seed.deserialize(MapAccessDeserializer::new(FieldsAccess::new(
                    &metadata,
                    false,
                    self.nested,
                )))
            }
            Some(Pending::Member(_, raw)) => seed.deserialize(Unparsed(raw, self.nested)),
            Some(Pending::Status(Shallow::Object(fields))) => seed.deserialize(
                MapAccessDeserializer::new(FieldsAccess::new(fields, false, self.nested)),
            ),
            Some(Pending::Status(Shallow::Other(value))) => seed.deserialize(value.clone()),
            None => Err(de::Error::custom("value requested before its key")),
        }
    }
}

/// An unparsed member as a deserializer that does not scan it again to ignore it (the
/// structural scan already found its end). An object read as a struct or map is, when
/// [`Nested::Walked`], walked member by member in the same way, so that the members its type
/// does not name (most of `failureDetails`, say) are stepped over, not parsed; everything else
/// is read from the bytes.
struct Unparsed<'a>(Raw<'a>, Nested);

/// serde_json reading one unparsed value.
type JsonReader<'de> = serde_json::Deserializer<serde_json::de::StrRead<'de>>;

/// The members of an object as a serde map, found one at a time by the structural scan.
struct WalkAccess<'a> {
    walk: scan::ObjectWalk<'a>,
}

impl<'de> MapAccess<'de> for WalkAccess<'de> {
    type Error = serde_json::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Self::Error> {
        match self.walk.next_key().map_err(de::Error::custom)? {
            None => Ok(None),
            Some(Cow::Borrowed(key)) => seed
                .deserialize(BorrowedStrDeserializer::new(key))
                .map(Some),
            Some(Cow::Owned(key)) => seed.deserialize(StringDeserializer::new(key)).map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Self::Error> {
        let raw = self.walk.skip_value().map_err(de::Error::custom)?;
        seed.deserialize(Unparsed(raw, Nested::Walked))
    }
}

impl<'de> Unparsed<'de> {
    /// Reads the value with serde_json, which must consume all of it.
    fn parsed<T>(
        self,
        read: impl FnOnce(&mut JsonReader<'de>) -> Result<T, serde_json::Error>,
    ) -> Result<T, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(self.0.get());
        let value = read(&mut de)?;
        de.end()?;
        Ok(value)
    }

    /// A string without escapes is handed over borrowed, as serde_json hands it, without
    /// setting up a parser for it; anything else is read by `read`.
    fn plain_or_parsed<V: Visitor<'de>>(
        self,
        visitor: V,
        read: impl FnOnce(&mut JsonReader<'de>, V) -> Result<V::Value, serde_json::Error>,
    ) -> Result<V::Value, serde_json::Error> {
        match self.0.plain_str() {
            Some(s) => visitor.visit_borrowed_str(s),
            None => self.parsed(|de| read(de, visitor)),
        }
    }

    /// Visits the object as a map walked member by member; anything else as serde_json does.
    fn walk_map<V: Visitor<'de>>(
        self,
        visitor: V,
        otherwise: impl FnOnce(&mut JsonReader<'de>, V) -> Result<V::Value, serde_json::Error>,
    ) -> Result<V::Value, serde_json::Error> {
        let walk = match self.1 {
            Nested::Walked => scan::ObjectWalk::document(self.0.get()),
            Nested::Parsed => None,
        };
        let Some(walk) = walk else {
            return self.parsed(|de| otherwise(de, visitor));
        };
        let mut access = WalkAccess { walk };
        let value = visitor.visit_map(&mut access)?;
        // A visitor that stops early leaves members unread, which serde_json refuses too.
        access.walk.finish_document().map_err(de::Error::custom)?;
        Ok(value)
    }
}

macro_rules! forward_to_raw {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, Self::Error> {
            self.parsed(|de| de.$method($($arg,)* visitor))
        }
    )*};
}

impl<'de> Deserializer<'de> for Unparsed<'de> {
    type Error = serde_json::Error;

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_unit()
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        if self.0.is_null() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.walk_map(visitor, |de, visitor| de.deserialize_map(visitor))
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.plain_or_parsed(visitor, |de, v| de.deserialize_str(v))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.plain_or_parsed(visitor, |de, v| de.deserialize_string(v))
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.plain_or_parsed(visitor, |de, v| de.deserialize_any(v))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        self.walk_map(visitor, |de, visitor| {
            de.deserialize_struct(name, fields, visitor)
        })
    }

    forward_to_raw! {
        deserialize_bool(), deserialize_i8(), deserialize_i16(),
        deserialize_i32(), deserialize_i64(), deserialize_i128(), deserialize_u8(),
        deserialize_u16(), deserialize_u32(), deserialize_u64(), deserialize_u128(),
        deserialize_f32(), deserialize_f64(), deserialize_char(), deserialize_bytes(), deserialize_byte_buf(),
        deserialize_unit(), deserialize_unit_struct(name: &'static str),
        deserialize_newtype_struct(name: &'static str), deserialize_seq(),
        deserialize_tuple(len: usize), deserialize_tuple_struct(name: &'static str, len: usize),
        deserialize_enum(name: &'static str, variants: &'static [&'static str]),
        deserialize_identifier(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfe_api::block::StoredBlockStatus;

    fn fields(json: &str) -> Fields<'_> {
        match Shallow::parse(Raw::parse(json).expect("raw")).expect("shallow") {
            Shallow::Object(f) => f,
            Shallow::Other(v) => panic!("not an object: {v}"),
        }
    }

    #[test]
    fn typed_and_value_paths_agree_and_errors_carry_paths_without_positions() {
        let ok: StoredBlockStatus = decode_fields(&fields(
            r#"{"phase": "Failed", "consecutiveFailures": 3, "x": [1]}"#,
        ))
        .expect("decodes");
        assert_eq!(ok.consecutive_failures, Some(3));
        let e = decode_fields::<StoredBlockStatus>(&fields(
            r#"{"phase": "Exploded", "failureDetails": {"failedAt": 7}}"#,
        ))
        .expect_err("bad");
        assert_eq!(e.path, "failureDetails.failedAt");
        assert!(!e.message.contains("line"), "{}", e.message);
        // A repeated key decodes as the Value path reads it: the last one wins.
        let dup: StoredBlockStatus =
            decode(Raw::parse(r#"{"phase": "Exploded", "phase": "Failed"}"#).unwrap())
                .expect("last wins");
        assert_eq!(dup.phase, Some(wfe_api::Phase::Failed));
    }

    proptest::proptest! {
        /// A status whose objects are walked member by member (known members decoded, the
        /// rest stepped over) decodes to what serde_json reads through a `Value`.
        #[test]
        fn walked_objects_decode_as_a_value_does(
            phase in proptest::sample::select(vec!["Failed", "Running", "Exploded"]),
            was in proptest::prelude::any::<bool>(),
            failed_at in proptest::option::of(proptest::sample::select(vec!["2026-11-22T02:11:00Z", "yesterday"])),
            failures in proptest::option::of(0i64..9),
            noise in proptest::collection::vec(("[a-zA-Z\"\\\\]{1,8}", "[ -~]{0,40}"), 0..6),
            details_null in proptest::prelude::any::<bool>(),
            cleared_by in proptest::option::of(proptest::prelude::any::<String>()),
            groups in proptest::collection::vec("[ -~]{0,12}|\\PC{0,6}", 0..3),
        ) {
            use serde_json::json;
            let mut details = json!({"wasExecutionFailure": was, "reason": "TaskFailed", "nested": {"deep": [1, {"x": "}"}]}});
            if let Some(at) = failed_at {
                details["failedAt"] = json!(at);
            }
            let mut status = json!({"phase": phase, "conditions": [{"type": "Ready", "status": "False"}]});
            status["failureDetails"] = if details_null { Value::Null } else { details.clone() };
            if let Some(n) = failures {
                status["consecutiveFailures"] = json!(n);
            }
            for (key, text) in &noise {
                status[key.as_str()] = json!(text);
                details[key.as_str()] = json!({"k": text});
            }
            if !details_null {
                status["failureDetails"] = details;
            }
            // A stored clearance: strings with and without escapes, decoded by the walk.
            if let Some(by) = cleared_by {
                status["blockClearance"] = json!({"clearedBy": by, "clearedByGroups": groups,
                    "clearedAt": "2026-11-22T02:12:00.123456Z", "clearReason": "fixed \"it\"",
                    "clearMethod": "KubernetesAdmissionWebhook", "admissionRequestUID": "u-1"});
            }
            let text = serde_json::to_string(&status).expect("encodes");
            // Through the members, as the clearance webhook reads a stored status: the value,
            // or the path of the refusal, that the `Value` path gives.
            let walked = decode_fields::<StoredBlockStatus>(&fields(&text)).map_err(|e| e.path);
            let reference = decode_value::<StoredBlockStatus>(status).map_err(|e| e.path);
            proptest::prop_assert_eq!(walked, reference, "{}", text);
        }
    }

    /// A map visitor that stops after one member: serde_json refuses the unread rest, and so
    /// must the walk, or the fast path would accept what the `Value` path refuses.
    #[test]
    fn a_walked_object_read_only_in_part_is_refused_as_serde_json_refuses_it() {
        struct FirstKey;
        impl<'de> Deserialize<'de> for FirstKey {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = FirstKey;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a map")
                    }
                    fn visit_map<A: MapAccess<'de>>(
                        self,
                        mut map: A,
                    ) -> Result<FirstKey, A::Error> {
                        map.next_entry::<String, de::IgnoredAny>()?;
                        Ok(FirstKey)
                    }
                }
                d.deserialize_map(V)
            }
        }
        #[derive(Deserialize)]
        struct Outer {
            #[allow(dead_code)]
            a: FirstKey,
        }
        let text = r#"{"a": {"x": 1, "y": 2}}"#;
        assert!(
            serde_json::from_str::<Outer>(text).is_err(),
            "serde_json refuses"
        );
        assert!(decode_fields::<Outer>(&fields(text)).is_err());
        let whole = r#"{"a": {"x": 1}}"#;
        assert!(decode_fields::<Outer>(&fields(whole)).is_ok());
    }

    #[test]
    fn whole_objects_are_decoded_without_managed_fields() {
        let object = r#"{"apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecution",
            "metadata": {"name": "a", "managedFields": [{"manager": "kubectl"}], "labels": {"x": "1"}, "uid": "u"},
            "spec": {"workflowRef": {"workflowId": "w", "version": "v1", "containerImage": "quay.io/b:1"},
                     "targetResource": "ns/Deployment/app",
                     "remediationRequestRef": {"apiVersion": "kubernaut.ai/v1alpha1", "kind": "RemediationRequest", "name": "rr"}}}"#;
        let wfe = decode_workflow_execution(&fields(object), None).expect("decodes");
        assert_eq!(wfe.metadata.name.as_deref(), Some("a"));
        assert_eq!(wfe.metadata.uid.as_deref(), Some("u"));
        assert!(wfe.metadata.managed_fields.is_none());
        assert_eq!(wfe.metadata.labels.expect("labels")["x"], "1");
        for metadata in ["[1]", r#"{"name": 5}"#] {
            let bad = object.replace(
                r#"{"name": "a", "managedFields": [{"manager": "kubectl"}], "labels": {"x": "1"}, "uid": "u"}"#,
                metadata,
            );
            let e = decode_workflow_execution(&fields(&bad), None).expect_err(metadata);
            assert!(e.field.starts_with("metadata"), "{metadata}: {e:?}");
        }
    }
}
