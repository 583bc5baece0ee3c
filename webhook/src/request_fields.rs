//! The request's small typed members read straight from their text: `kind` (three plain
//! strings) and `operation` (one of four words), as the API server always writes them. Any
//! other shape gives `None`, and the caller decodes the member with serde_json as before, so a
//! malformed member keeps its exact refusal.

use std::borrow::Cow;

use kube::core::admission::Operation;

use crate::review::KindRef;
use crate::scan::{ObjectWalk, Raw};

/// `request.kind` when it is an object of exactly `group`, `version` and `kind`, each a string
/// without escapes.
pub(crate) fn kind(raw: Raw<'_>) -> Option<KindRef<'_>> {
    let mut walk = ObjectWalk::document(raw.get())?;
    let mut parts = [""; 3];
    let names = ["group", "version", "kind"];
    walk.each_member(&names, 0b111, |member, walk| {
        parts[member] = walk.skip_value().ok()?.plain_str()?;
        Some(())
    })?;
    let [group, version, kind] = parts.map(Cow::Borrowed);
    Some(KindRef {
        group,
        version,
        kind,
    })
}

/// `request.operation` when it is one of the four operations as a plain string.
pub(crate) fn operation(raw: Raw<'_>) -> Option<Operation> {
    match raw.plain_str()? {
        "CREATE" => Some(Operation::Create),
        "UPDATE" => Some(Operation::Update),
        "DELETE" => Some(Operation::Delete),
        "CONNECT" => Some(Operation::Connect),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Raw<'_> {
        Raw::parse(text).expect("scans")
    }

    /// Whatever is read here, serde_json reads the same; what is not, is left to it.
    #[test]
    fn what_is_read_is_what_serde_json_reads() {
        for text in [
            r#"{"group":"kubernaut.ai","version":"v1alpha1","kind":"WorkflowExecution"}"#,
            r#"{"kind":"Pod","version":"v1","group":""}"#,
            r#"{ "group" : "a", "version": "b", "kind": "c" }"#,
            r#"{"group":"a","version":"b"}"#,
            r#"{"group":"a","version":"b","kind":"c","extra":1}"#,
            r#"{"group":"a","group":"b","version":"b","kind":"c"}"#,
            r#"{"group":"\u0061","version":"b","kind":"c"}"#,
            r#"{"group":null,"version":"b","kind":"c"}"#,
            r#"{"group":1,"version":"b","kind":"c"}"#,
            r#""kind""#,
        ] {
            let serde = serde_json::from_str::<KindRef<'_>>(text).ok();
            match kind(raw(text)) {
                Some(read) => assert_eq!(Some(read), serde, "{text}"),
                None => assert!(
                    serde.is_none() || text.contains("extra") || text.contains("\\u"),
                    "a clean kind was not read: {text}"
                ),
            }
        }
        for text in [
            r#""CREATE""#,
            r#""UPDATE""#,
            r#""DELETE""#,
            r#""CONNECT""#,
            r#""create""#,
            r#""PATCH""#,
            r#""\u0043REATE""#,
            "1",
            "null",
        ] {
            let serde = serde_json::from_str::<Operation>(text).ok();
            match operation(raw(text)) {
                Some(read) => assert_eq!(Some(read), serde, "{text}"),
                None => assert!(serde.is_none() || text.contains("\\u"), "{text}"),
            }
        }
    }
}
