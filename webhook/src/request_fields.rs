//! The request's small typed members read straight from their text: `kind` (three plain
//! strings), `operation` (one of four words), `userInfo` (plain strings) and `dryRun`, as the
//! API server always writes them. Any other shape gives `None`, and the caller decodes the
//! member with serde_json as before, so a malformed member keeps its exact refusal.

use std::borrow::Cow;

use kube::core::admission::Operation;

use wfe_api::identity::UserInfo;

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

/// `request.userInfo` when its members are among `username`, `uid` (strings without escapes)
/// and `groups` (an array of such strings, written without whitespace). `extra`, which only
/// some authenticators send, is left to serde_json with everything else.
pub(crate) fn user_info(raw: Raw<'_>) -> Option<UserInfo> {
    let mut walk = ObjectWalk::document(raw.get())?;
    let mut info = UserInfo::default();
    walk.each_member(&["username", "uid", "groups"], 0, |member, walk| {
        let value = walk.skip_value().ok()?;
        match member {
            0 => info.username = value.plain_str()?.to_owned(),
            1 => info.uid = Some(value.plain_str()?.to_owned()),
            _ => info.groups = plain_strings(value)?,
        }
        Some(())
    })?;
    Some(info)
}

/// An array of strings without escapes, written without whitespace.
fn plain_strings(raw: Raw<'_>) -> Option<Vec<String>> {
    let mut rest = raw.get().strip_prefix('[')?.strip_suffix(']')?;
    let mut items = Vec::new();
    while !rest.is_empty() {
        let body = rest.strip_prefix('"')?;
        // The first quote closes the string unless one is escaped, and then the text before
        // it holds a backslash, which declines it below.
        let close = body.find('"')?;
        let item = &body[..close];
        if crate::json_text::needs_escape(item.as_bytes()) {
            return None;
        }
        items.push(item.to_owned());
        rest = &body[close + 1..];
        if !rest.is_empty() {
            rest = rest.strip_prefix(',').filter(|after| !after.is_empty())?;
        }
    }
    Some(items)
}

/// `request.dryRun` when it is `true` or `false`.
pub(crate) fn flag(raw: Raw<'_>) -> Option<bool> {
    match raw.get() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn raw(text: &str) -> Raw<'_> {
        Raw::parse(text).expect("scans")
    }

    /// What `user_info` reads is what serde_json reads; what it declines is a shape it does
    /// not take (whitespace in the array, an escape, `extra`, a repeat) or one serde refuses.
    fn agrees_with_serde(text: &str) -> Result<(), TestCaseError> {
        let Ok(scanned) = Raw::parse(text) else {
            return Ok(());
        };
        let serde = serde_json::from_str::<UserInfo>(text).ok();
        match user_info(scanned) {
            Some(read) => prop_assert_eq!(Some(read), serde, "{}", text),
            None => prop_assert!(
                serde.is_none()
                    || !text.starts_with('{')
                    || text.contains('\\')
                    || text.contains("extra")
                    || text.contains(", ")
                    || text.contains("[ ")
                    || text.contains(" ]")
                    || text.contains(" ,")
                    || text.contains("null")
                    || text.matches("\"uid\"").count() > 1,
                "a clean userInfo was not read: {}",
                text
            ),
        }
        Ok(())
    }

    #[test]
    fn user_info_is_read_as_serde_json_reads_it() {
        for text in [
            r#"{"username":"alice","uid":"uid-alice","groups":["sre-team","system:authenticated"]}"#,
            r#"{"username":"system:serviceaccount:ns:sa","groups":[]}"#,
            r#"{}"#,
            r#"{"groups":["a,b","c"]}"#,
            r#"{"groups":["a\"b"]}"#,
            r#"{"groups":["a",]}"#,
            r#"{"groups":[1]}"#,
            r#"{"groups":"a"}"#,
            r#"{"groups":null}"#,
            r#"{"uid":null}"#,
            r#"{"username":null}"#,
            r#"{"username":"a","username":"b"}"#,
            r#"{"username":"a","extra":{"k":["v"]}}"#,
            r#"{"username":"\u0061"}"#,
            r#"{"username":"tab\there"}"#,
            r#"{"groups":[ "a" ]}"#,
            r#"[]"#,
        ] {
            agrees_with_serde(text)
                .map_err(|e| e.to_string())
                .expect("agrees");
        }
    }

    proptest! {
        #[test]
        fn any_user_info_reads_as_serde_json_reads_it(
            username in proptest::option::of("[a-z:,\" \\\\\\[\\]{}]{0,12}"),
            uid in proptest::option::of(proptest::option::of("[a-z0-9-]{0,8}")),
            groups in proptest::option::of(proptest::collection::vec("[a-z:,\" \\\\\\[\\]{}]{0,10}", 0..4)),
            separator in prop_oneof![Just(","), Just(", "), Just(" ,")],
        ) {
            let mut members = Vec::new();
            if let Some(u) = &username {
                members.push(format!("\"username\":{}", serde_json::to_string(u).expect("json")));
            }
            if let Some(uid) = &uid {
                members.push(format!("\"uid\":{}", serde_json::to_string(uid).expect("json")));
            }
            if let Some(groups) = &groups {
                let items: Vec<String> = groups.iter().map(|g| serde_json::to_string(g).expect("json")).collect();
                members.push(format!("\"groups\":[{}]", items.join(separator)));
            }
            agrees_with_serde(&format!("{{{}}}", members.join(",")))?;
        }
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
        for text in ["true", "false", "null", "1", r#""true""#] {
            let serde = serde_json::from_str::<bool>(text).ok();
            assert_eq!(flag(raw(text)), serde, "{text}");
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
