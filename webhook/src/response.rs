//! What the webhooks answer: a verdict, and the AdmissionReview response built from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::review::ReviewError;

pub(crate) const REVIEW_KIND: &str = "AdmissionReview";
pub(crate) const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";

/// What a webhook decided about one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Let the request through, optionally changed by a JSON patch.
    Allow {
        /// JSON patch for mutating webhooks, already encoded as JSON.
        patch: Option<Vec<u8>>,
        /// Recorded in the API server audit log (prefixed with the webhook name by the server).
        audit_annotations: BTreeMap<String, String>,
    },
    /// Reject the request.
    Deny {
        /// HTTP-style status code shown to the client (403 policy, 400 malformed, 422 invalid).
        code: u16,
        /// Message shown to the client: what is wrong and what to do.
        message: String,
        /// Recorded in the API server audit log.
        audit_annotations: BTreeMap<String, String>,
    },
}

impl Verdict {
    /// Allow without changes.
    pub fn allow() -> Self {
        Verdict::Allow {
            patch: None,
            audit_annotations: BTreeMap::new(),
        }
    }

    /// Deny with 403 Forbidden.
    pub fn forbid(message: impl Into<String>) -> Self {
        Verdict::Deny {
            code: 403,
            message: message.into(),
            audit_annotations: BTreeMap::new(),
        }
    }

    /// Deny with 422 Invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Verdict::Deny {
            code: 422,
            message: message.into(),
            audit_annotations: BTreeMap::new(),
        }
    }

    /// Deny with 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Verdict::Deny {
            code: 400,
            message: message.into(),
            audit_annotations: BTreeMap::new(),
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

/// Turns a verdict into the AdmissionReview response body for request `uid`.
pub fn to_review(uid: &str, verdict: Verdict) -> ReviewResponse {
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
                audit_annotations,
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
            audit_annotations,
        },
    };
    ReviewResponse {
        api_version: REVIEW_API_VERSION.to_owned(),
        kind: REVIEW_KIND.to_owned(),
        response: answer,
    }
}

/// The response for a body that could not be read as an AdmissionReview.
pub fn error_review(error: &ReviewError) -> ReviewResponse {
    to_review(
        error.uid.as_deref().unwrap_or(""),
        Verdict::bad_request(error.message.clone()),
    )
}

/// The response for a body over the size limit.
pub fn too_large_review(limit: usize) -> ReviewResponse {
    to_review(
        "",
        Verdict::Deny {
            code: 413,
            message: format!(
                "request body is larger than {limit} bytes; WorkflowExecution objects must be smaller"
            ),
            audit_annotations: BTreeMap::new(),
        },
    )
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
                audit_annotations: BTreeMap::from([("k".into(), "v".into())]),
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
