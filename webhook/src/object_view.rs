//! An embedded `object`/`oldObject` as the decisions read it: its members left unparsed
//! (`&RawValue` into the request body) and its `status` read one level deep, all in the one
//! pass that reads the request. Nothing else of the object is ever parsed unless a rule needs
//! it (the whole WorkflowExecution only for spec validation).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use wfe_api::WorkflowExecution;
use wfe_api::validation::Violation;

use crate::decode::decode_workflow_execution;
use crate::json_view::{CowStr, Fields, Shallow, ShallowVisitor};

/// The member read one level deep instead of kept unparsed.
const STATUS: &str = "status";

/// An embedded object: its members other than `status` unparsed, and `status` (unless absent or
/// null) read one level deep.
#[derive(Debug, Clone)]
pub struct ObjectView<'a> {
    /// The members without `status`, or the whole value if it is not a JSON object.
    whole: Shallow<'a>,
    status: Option<Shallow<'a>>,
}

impl<'a> ObjectView<'a> {
    /// Whether the object is a JSON object at all.
    pub fn is_object(&self) -> bool {
        self.whole.fields().is_some()
    }

    /// `spec`, unless absent or null.
    pub fn spec(&self) -> Option<&'a RawValue> {
        self.whole.fields().and_then(|f| f.get("spec"))
    }

    /// `status`, unless absent or null.
    pub fn status(&self) -> Option<&Shallow<'a>> {
        self.status.as_ref()
    }

    /// The members of `status`, if it is an object.
    pub fn status_fields(&self) -> Option<&Fields<'a>> {
        self.status.as_ref().and_then(Shallow::fields)
    }

    /// The whole object as a WorkflowExecution (`managedFields` left out), with the field path
    /// of the first problem; `None` if it is not a JSON object.
    pub fn workflow_execution(&self) -> Option<Result<WorkflowExecution, Violation>> {
        let fields = self.whole.fields()?;
        Some(decode_workflow_execution(fields, self.status.as_ref()))
    }

    /// The whole object as a `Value` (for tools and tests; a null `status` reads as absent).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        let mut value = self.whole.to_value()?;
        if let (Value::Object(map), Some(status)) = (&mut value, &self.status) {
            map.insert(STATUS.to_owned(), status.to_value()?);
        }
        Ok(value)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ObjectView<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ObjectVisitor)
    }
}

struct ObjectVisitor;

impl ObjectVisitor {
    fn other<'a>(whole: Shallow<'a>) -> ObjectView<'a> {
        ObjectView {
            whole,
            status: None,
        }
    }
}

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = ObjectView<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a Kubernetes object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut members = Vec::with_capacity(8);
        let mut status = None;
        while let Some(CowStr(key)) = map.next_key()? {
            if key == STATUS {
                // A repeated key keeps its last value, as for every other member.
                status = Some(map.next_value::<Shallow<'de>>()?)
                    .filter(|s| !matches!(s, Shallow::Other(Value::Null)));
            } else {
                members.push((key, map.next_value::<&'de RawValue>()?));
            }
        }
        Ok(ObjectView {
            whole: Shallow::Object(Fields::from_members(members)),
            status,
        })
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        ShallowVisitor.visit_seq(seq).map(Self::other)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        ShallowVisitor.visit_bool(v).map(Self::other)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        ShallowVisitor.visit_i64(v).map(Self::other)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        ShallowVisitor.visit_u64(v).map(Self::other)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        ShallowVisitor.visit_f64(v).map(Self::other)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        ShallowVisitor.visit_str(v).map(Self::other)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        ShallowVisitor.visit_unit().map(Self::other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(json: &str) -> ObjectView<'_> {
        serde_json::from_str(json).expect("parses")
    }

    #[test]
    fn status_is_read_one_level_deep_and_the_rest_kept_unparsed() {
        let v = view(
            r#"{"spec": {"a": 1}, "status": {"phase": "Failed", "n": null}, "metadata": {"name": "x"}}"#,
        );
        assert!(v.is_object());
        assert_eq!(v.spec().map(RawValue::get), Some(r#"{"a": 1}"#));
        let status = v.status_fields().expect("status object");
        assert_eq!(status.get("phase").map(RawValue::get), Some(r#""Failed""#));
        assert_eq!(
            v.to_value().expect("value"),
            json!({"spec": {"a": 1}, "status": {"phase": "Failed", "n": null}, "metadata": {"name": "x"}})
        );
    }

    #[test]
    fn null_or_repeated_status_reads_as_a_value_would() {
        assert!(view(r#"{"status": null}"#).status().is_none());
        assert!(
            view(r#"{"status": {"a": 1}, "status": null}"#)
                .status()
                .is_none()
        );
        let last = view(r#"{"status": null, "status": "text"}"#);
        assert!(matches!(last.status(), Some(Shallow::Other(Value::String(s))) if s == "text"));
        assert!(last.status_fields().is_none());
    }

    #[test]
    fn other_shapes_are_not_objects() {
        for json in ["[1, 2]", "\"text\"", "3", "-3", "1.5", "true"] {
            let v = view(json);
            assert!(
                !v.is_object() && v.spec().is_none() && v.status().is_none(),
                "{json}"
            );
            assert!(v.workflow_execution().is_none());
        }
    }
}
