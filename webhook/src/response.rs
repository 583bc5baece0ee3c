//! What the webhooks answer: a verdict, and the AdmissionReview response built from it.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::Write as _;

use serde::{Deserialize, Serialize};

use crate::base64_text;
use crate::json_text;
use crate::review::ReviewError;

pub(crate) const REVIEW_KIND: &str = "AdmissionReview";
pub(crate) const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";

/// `auditAnnotations`: names chosen by this webhook (borrowed when they are constants), values
/// from the request. Kept in name order, the order of the JSON object serde writes from a map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditAnnotations(Vec<(Cow<'static, str>, String)>);

impl AuditAnnotations {
    /// From pairs in any order; of two values for one name, the later is kept.
    pub fn from_pairs<K: Into<Cow<'static, str>>>(
        pairs: impl IntoIterator<Item = (K, String)>,
    ) -> Self {
        let mut pairs: Vec<_> = pairs.into_iter().map(|(k, v)| (k.into(), v)).collect();
        wfe_api::parameters::sort_last_wins(&mut pairs);
        AuditAnnotations(pairs)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Name and value of each, in name order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_str()))
    }
}

/// What a webhook decided about one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Let the request through, optionally changed by a JSON patch.
    Allow {
        /// JSON patch for mutating webhooks, already encoded as JSON.
        patch: Option<Vec<u8>>,
        /// Recorded in the API server audit log (prefixed with the webhook name by the server).
        audit_annotations: AuditAnnotations,
    },
    /// Reject the request.
    Deny {
        /// HTTP-style status code shown to the client (403 policy, 400 malformed, 422 invalid).
        code: u16,
        /// Message shown to the client: what is wrong and what to do.
        message: String,
        /// Recorded in the API server audit log.
        audit_annotations: AuditAnnotations,
    },
}

impl Verdict {
    /// Allow without changes.
    pub fn allow() -> Self {
        Verdict::Allow {
            patch: None,
            audit_annotations: AuditAnnotations::default(),
        }
    }

    /// Deny with 403 Forbidden.
    pub fn forbid(message: impl Into<String>) -> Self {
        Verdict::Deny {
            code: 403,
            message: message.into(),
            audit_annotations: AuditAnnotations::default(),
        }
    }

    /// Deny with 422 Invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Verdict::Deny {
            code: 422,
            message: message.into(),
            audit_annotations: AuditAnnotations::default(),
        }
    }

    /// Deny with 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Verdict::Deny {
            code: 400,
            message: message.into(),
            audit_annotations: AuditAnnotations::default(),
        }
    }

    /// Whether the request is allowed.
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allow { .. })
    }

    /// The denial message, if denied.
    pub fn message(&self) -> Option<&str> {
        match self {
            Verdict::Deny { message, .. } => Some(message),
            Verdict::Allow { .. } => None,
        }
    }
}

/// The AdmissionReview sent back to the API server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewResponse {
    /// Always `admission.k8s.io/v1`.
    pub api_version: String,
    /// Always `AdmissionReview`.
    pub kind: String,
    /// The answer.
    pub response: AdmissionAnswer,
}

/// `AdmissionReview.response`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionAnswer {
    /// The request uid, echoed.
    pub uid: String,
    /// Whether the request is allowed.
    pub allowed: bool,
    /// Why it was denied (absent when allowed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AnswerStatus>,
    /// Base64 of a JSON patch (Go encodes `[]byte` as base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// `JSONPatch` when `patch` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// Audit annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
}

/// `response.status` of a denial (a `metav1.Status` subset).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerStatus {
    /// HTTP-style code.
    pub code: u16,
    /// Machine-readable reason (`Forbidden`, `Invalid`, `BadRequest`).
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

impl AdmissionAnswer {
    /// The decoded JSON patch, if any.
    #[cfg(test)]
    pub(crate) fn decoded_patch(&self) -> Option<Result<json_patch::Patch, String>> {
        use base64::Engine;
        self.patch.as_ref().map(|b64| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| e.to_string())?;
            serde_json::from_slice(&bytes).map_err(|e| e.to_string())
        })
    }
}

/// The typed AdmissionReview response for request `uid`: the reference [`encode_review`] is
/// checked against.
#[cfg(test)]
pub(crate) fn to_review(uid: &str, verdict: Verdict) -> ReviewResponse {
    use base64::Engine;
    let answer = match verdict {
        Verdict::Allow {
            patch,
            audit_annotations,
        } => {
            let encoded = patch.map(|b| base64::engine::general_purpose::STANDARD.encode(b));
            AdmissionAnswer {
                uid: uid.to_owned(),
                allowed: true,
                status: None,
                patch_type: encoded.as_ref().map(|_| "JSONPatch".to_owned()),
                patch: encoded,
                audit_annotations: typed_annotations(&audit_annotations),
            }
        }
        Verdict::Deny {
            code,
            message,
            audit_annotations,
        } => AdmissionAnswer {
            uid: uid.to_owned(),
            allowed: false,
            status: Some(AnswerStatus {
                code,
                reason: reason_for(code).to_owned(),
                message,
            }),
            patch: None,
            patch_type: None,
            audit_annotations: typed_annotations(&audit_annotations),
        },
    };
    ReviewResponse {
        api_version: REVIEW_API_VERSION.to_owned(),
        kind: REVIEW_KIND.to_owned(),
        response: answer,
    }
}

/// The annotations as the typed response's map.
#[cfg(test)]
fn typed_annotations(annotations: &AuditAnnotations) -> BTreeMap<String, String> {
    annotations
        .iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// The uid echoed for a body that could not be read: the request's if it was readable.
pub fn error_uid(error: &ReviewError) -> &str {
    error.uid.as_deref().unwrap_or("")
}

/// The verdict on a body that could not be read as an AdmissionReview.
pub fn error_verdict(error: &ReviewError) -> Verdict {
    Verdict::bad_request(error.message.clone())
}

/// The verdict on a body over the size limit.
pub fn too_large_verdict(limit: usize) -> Verdict {
    Verdict::Deny {
        code: 413,
        message: format!(
            "request body is larger than {limit} bytes; WorkflowExecution objects must be smaller"
        ),
        audit_annotations: AuditAnnotations::default(),
    }
}

/// The AdmissionReview answer to request `uid` as the bytes sent back: exactly what serde
/// writes for the typed [`ReviewResponse`], without building it. The patch's base64 is
/// written straight into the body (its alphabet needs no escaping) and nothing but the body
/// is allocated (and a denial's status code as text), which matters because the API server
/// waits on one of these per request (DESIGN §10).
pub fn encode_review(uid: &str, verdict: &Verdict) -> Vec<u8> {
    const ANSWER_HEAD: &[u8] =
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"#;
    let (patch, annotations) = match verdict {
        Verdict::Allow {
            patch,
            audit_annotations,
        } => (patch.as_deref(), audit_annotations),
        Verdict::Deny {
            audit_annotations, ..
        } => (None, audit_annotations),
    };
    // The exact length unless a string needs escapes: an answer that fits the allocator's
    // per-thread cache (about 1 KiB on glibc) is not made to miss it by a generous guess.
    let patch_len = patch.map_or(0, |p| {
        br#","patch":"","patchType":"JSONPatch""#.len() + p.len().div_ceil(3) * 4
    });
    let verdict_len = match verdict {
        Verdict::Allow { .. } => br#","allowed":true"#.len(),
        Verdict::Deny { message, .. } => {
            br#","allowed":false,"status":{"code":,"reason":"","message":""}"#.len()
                + "RequestEntityTooLarge".len()
                + 5
                + message.len()
        }
    };
    let annotations_len = if annotations.is_empty() {
        0
    } else {
        // Each `"name":"value"` and the comma before all but the first.
        br#","auditAnnotations":{}"#.len() - 1
            + annotations
                .iter()
                .map(|(k, v)| k.len() + v.len() + 6)
                .sum::<usize>()
    };
    let mut out = Vec::with_capacity(
        ANSWER_HEAD.len() + uid.len() + 2 + verdict_len + patch_len + annotations_len + 2,
    );
    // `apiVersion` and `kind` are REVIEW_API_VERSION and REVIEW_KIND (the test against the
    // typed answer pins it).
    out.extend_from_slice(ANSWER_HEAD);
    json_text::string(&mut out, uid);
    match verdict {
        Verdict::Allow { .. } => out.extend_from_slice(br#","allowed":true"#),
        Verdict::Deny { code, message, .. } => {
            out.extend_from_slice(br#","allowed":false,"status":{"code":"#);
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{code}");
            out.extend_from_slice(br#","reason":"#);
            json_text::string(&mut out, reason_for(*code));
            out.extend_from_slice(br#","message":"#);
            json_text::string(&mut out, message);
            out.push(b'}');
        }
    }
    if let Some(patch) = patch {
        // The base64 alphabet needs no escaping in a JSON string.
        out.extend_from_slice(br#","patch":""#);
        base64_text::append(&mut out, patch);
        out.extend_from_slice(br#"","patchType":"JSONPatch""#);
    }
    if !annotations.is_empty() {
        out.extend_from_slice(br#","auditAnnotations":{"#);
        for (i, (key, value)) in annotations.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_text::string(&mut out, key);
            out.push(b':');
            json_text::string(&mut out, value);
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"}}");
    out
}

fn reason_for(code: u16) -> &'static str {
    match code {
        400 => "BadRequest",
        403 => "Forbidden",
        413 => "RequestEntityTooLarge",
        422 => "Invalid",
        _ => "InternalError",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the encoder must write: serde's encoding of the typed response.
    fn reference(uid: &str, verdict: &Verdict) -> Vec<u8> {
        serde_json::to_vec(&to_review(uid, verdict.clone())).expect("encodes")
    }

    #[test]
    fn the_encoded_answer_is_the_typed_answer_byte_for_byte() {
        let annotations = AuditAnnotations::from_pairs([
            ("cleared-by", "alice".to_owned()),
            ("cleared-by-groups", "ops,\"quoted\"\n".to_owned()),
        ]);
        let verdicts = [
            Verdict::allow(),
            Verdict::forbid("no"),
            Verdict::invalid("spec.x: bad \"value\"\t\u{1}é"),
            Verdict::bad_request(""),
            too_large_verdict(1024),
            Verdict::Deny {
                code: 599,
                message: "odd".into(),
                audit_annotations: annotations.clone(),
            },
            Verdict::Allow {
                patch: Some(br#"[{"op":"add","path":"/status/x","value":1}]"#.to_vec()),
                audit_annotations: annotations,
            },
            Verdict::Allow {
                patch: Some(Vec::new()),
                audit_annotations: AuditAnnotations::default(),
            },
        ];
        let uids = [
            "",
            "705ab4f5-6393-11e8-b7cc-42010a800002",
            "a\"b",
            "a\\b",
            "a\u{7f}\u{1f}é",
        ];
        for uid in uids {
            for verdict in &verdicts {
                assert_eq!(
                    String::from_utf8(encode_review(uid, verdict)).expect("utf-8"),
                    String::from_utf8(reference(uid, verdict)).expect("utf-8"),
                    "{uid:?} {verdict:?}"
                );
            }
        }
    }

    #[test]
    fn an_answer_without_escapes_is_allocated_at_its_exact_length() {
        let verdict = Verdict::Allow {
            patch: Some(br#"[{"op":"remove","path":"/status/x"}]"#.to_vec()),
            audit_annotations: AuditAnnotations::from_pairs([
                ("cleared-by", "alice".to_owned()),
                ("cleared-at", "2026-11-22T02:12:00.123456Z".to_owned()),
            ]),
        };
        for verdict in [verdict, Verdict::allow()] {
            let answer = encode_review("705ab4f5-6393-11e8-b7cc-42010a800002", &verdict);
            assert_eq!(answer.capacity(), answer.len(), "{verdict:?}");
        }
        // A denial's code and reason are reserved at their longest.
        let answer = encode_review("u", &Verdict::forbid("no"));
        assert!(answer.capacity() - answer.len() < 32);
    }

    #[test]
    fn annotations_are_kept_in_name_order_and_a_repeated_name_keeps_its_last_value() {
        let annotations = AuditAnnotations::from_pairs([
            ("b", "1".to_owned()),
            ("a", "first".to_owned()),
            ("c", "2".to_owned()),
            ("a", "second".to_owned()),
            ("a", "last".to_owned()),
        ]);
        assert_eq!(
            annotations.iter().collect::<Vec<_>>(),
            [("a", "last"), ("b", "1"), ("c", "2")]
        );
        assert!(AuditAnnotations::default().is_empty());
    }

    proptest! {
        #[test]
        fn any_verdict_encodes_as_serde_would(
            uid in any::<String>(),
            allowed in any::<bool>(),
            code in any::<u16>(),
            message in any::<String>(),
            patch in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..64)),
            annotations in proptest::collection::btree_map(any::<String>(), any::<String>(), 0..4),
        ) {
            let annotations = AuditAnnotations::from_pairs(annotations);
            let verdict = if allowed {
                Verdict::Allow { patch, audit_annotations: annotations }
            } else {
                Verdict::Deny { code, message, audit_annotations: annotations }
            };
            prop_assert_eq!(encode_review(&uid, &verdict), reference(&uid, &verdict));
        }
    }

    #[test]
    fn responses_echo_uid_and_carry_code_and_patch() {
        let review = to_review("abc", Verdict::forbid("no"));
        let json = serde_json::to_value(&review).expect("json");
        assert_eq!(json["kind"], "AdmissionReview");
        assert_eq!(json["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(json["response"]["uid"], "abc");
        assert_eq!(json["response"]["allowed"], false);
        assert_eq!(json["response"]["status"]["code"], 403);
        assert_eq!(json["response"]["status"]["message"], "no");

        let patch: json_patch::Patch =
            serde_json::from_value(serde_json::json!([{"op":"remove","path":"/a"}]))
                .expect("patch");
        let review = to_review(
            "def",
            Verdict::Allow {
                patch: Some(serde_json::to_vec(&patch).expect("encodes")),
                audit_annotations: AuditAnnotations::from_pairs([("k", "v".to_owned())]),
            },
        );
        let json = serde_json::to_value(&review).expect("json");
        assert_eq!(json["response"]["allowed"], true);
        assert_eq!(json["response"]["patchType"], "JSONPatch");
        assert_eq!(json["response"]["auditAnnotations"]["k"], "v");
        assert!(json["response"]["patch"].is_string());
        assert_eq!(
            review
                .response
                .decoded_patch()
                .expect("some")
                .expect("decodes")
                .0
                .len(),
            1
        );
    }
}
