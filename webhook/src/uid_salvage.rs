//! Reading `request.uid` out of a body that does not parse as a whole (truncated or broken
//! after the uid), so that even that error answer echoes it (DESIGN §5).

use std::fmt;

use serde::Deserializer as _;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// The `request.uid` string of an AdmissionReview body, if the JSON up to it is well formed.
/// Parsing stops at the uid, so whatever follows it (a cut-off tail) does not matter.
pub fn salvage_uid(body: &[u8]) -> Option<String> {
    let mut found = None;
    let mut de = serde_json::Deserializer::from_slice(body);
    // The error for the broken remainder is expected; only what was found before it counts.
    let _ = de.deserialize_map(Root { found: &mut found });
    found.filter(|uid| !uid.is_empty())
}

/// The top-level object: skips every member but `request`.
struct Root<'a> {
    found: &'a mut Option<String>,
}

impl<'de> Visitor<'de> for Root<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionReview object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "request" {
                return map.next_value_seed(Request { found: self.found });
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

/// The `request` object: stops at `uid`.
struct Request<'a> {
    found: &'a mut Option<String>,
}

impl<'de> DeserializeSeed<'de> for Request<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Request<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionReview request object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            if key == "uid" {
                *self.found = map.next_value::<String>().ok();
                // Stop here: the rest may be cut off. Returning an error ends the parse.
                return Err(serde::de::Error::custom("uid found"));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uid_is_read_up_to_a_cut_off_tail() {
        let body = br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u-3","kind":{"group":"kubernaut.ai"},"object":{"spec":{"tar"#;
        assert_eq!(salvage_uid(body).as_deref(), Some("u-3"));
        let escaped = br#"{"request":{"kind":{"uid":"nested"},"uid":"a\"b"#;
        assert_eq!(
            salvage_uid(escaped),
            None,
            "the uid string itself is cut off"
        );
        let escaped = br#"{"request":{"kind":{"uid":"nested"},"uid":"a\"b","x"#;
        assert_eq!(salvage_uid(escaped).as_deref(), Some("a\"b"));
    }

    #[test]
    fn nothing_is_made_up() {
        for body in [
            &b""[..],
            b"<xml/>",
            br#"{"kind":"AdmissionReview","request":{"operation":"UPD"#,
            br#"{"request":{"uid":""}}"#,
            br#"{"request":{"uid":7,"#,
            br#"{"kind":"Admiss"#,
            br#"{"object":{"request":{"uid":"deep"}}, "request": 5"#,
        ] {
            assert_eq!(salvage_uid(body), None, "{}", String::from_utf8_lossy(body));
        }
    }
}
