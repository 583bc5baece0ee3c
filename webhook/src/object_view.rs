//! An embedded `object`/`oldObject` as the decisions read it: its members left unparsed
//! ([`Raw`] into the request body) and its `status` read one level deep, all in the one
//! pass that reads the request. Nothing else of the object is ever parsed unless a rule needs
//! it (the whole WorkflowExecution only to name what changed in a spec, or what is wrong with
//! a create that has no spec).

use serde::de;
use serde_json::Value;
use wfe_api::WorkflowExecution;
use wfe_api::validation::Violation;

use crate::decode::decode_workflow_execution;
use crate::json_view::{Fields, Shallow};
use crate::scan::{ObjectWalk, Raw, ScanError};

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
    /// Reads an embedded object: its members found by the structural scan, `status` one level
    /// deeper; a value that is not an object is kept whole.
    pub fn parse(raw: Raw<'a>) -> Result<Self, serde_json::Error> {
        match ObjectWalk::document(raw.get()) {
            Some(mut walk) => Self::walk_known(&mut walk, None),
            None => Ok(ObjectView {
                whole: Shallow::Other(serde_json::from_str(raw.get())?),
                status: None,
            }),
        }
    }

    /// Reads the object `walk` stands in, to its end; with `known` (the new object, already
    /// read, when this is the stored one) members that repeat it are compared byte for byte
    /// instead of scanned.
    pub(crate) fn walk_known(
        walk: &mut ObjectWalk<'a>,
        known: Option<&ObjectView<'a>>,
    ) -> Result<Self, serde_json::Error> {
        let scan = |e: ScanError| <serde_json::Error as de::Error>::custom(e);
        let known_members = known.and_then(|k| k.whole.fields());
        let known_status = known.and_then(ObjectView::status_fields);
        let mut rest = Vec::with_capacity(8);
        let mut status = None;
        let mut cursor = 0;
        while let Some(key) = walk.next_key().map_err(scan)? {
            if key != STATUS {
                let same = known_members.and_then(|k| k.get_in_order(&key, &mut cursor));
                rest.push((key, walk.skip_value_known(same).map_err(scan)?));
                continue;
            }
            // A repeated key keeps its last value, as for every other member.
            status = match walk.enter() {
                Some(mut nested) => {
                    let members = nested.collect_known(known_status).map_err(scan)?;
                    walk.resume(&nested).map_err(scan)?;
                    Some(Shallow::Object(Fields::from_members(members)))
                }
                None => {
                    let raw = walk.skip_value().map_err(scan)?;
                    let value: Value = serde_json::from_str(raw.get())?;
                    (value != Value::Null).then_some(Shallow::Other(value))
                }
            };
        }
        Ok(ObjectView {
            whole: Shallow::Object(Fields::from_members(rest)),
            status,
        })
    }

    /// Whether the object is a JSON object at all.
    pub fn is_object(&self) -> bool {
        self.whole.fields().is_some()
    }

    /// `spec`, unless absent or null.
    pub fn spec(&self) -> Option<Raw<'a>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(json: &str) -> ObjectView<'_> {
        ObjectView::parse(Raw::parse(json).expect("scans")).expect("parses")
    }

    #[test]
    fn status_is_read_one_level_deep_and_the_rest_kept_unparsed() {
        let v = view(
            r#"{"spec": {"a": 1}, "status": {"phase": "Failed", "n": null}, "metadata": {"name": "x"}}"#,
        );
        assert!(v.is_object());
        assert_eq!(v.spec().map(Raw::get), Some(r#"{"a": 1}"#));
        let status = v.status_fields().expect("status object");
        assert_eq!(status.get("phase").map(Raw::get), Some(r#""Failed""#));
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
