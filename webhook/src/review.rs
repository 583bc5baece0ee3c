//! The AdmissionReview envelope: reading requests leniently enough to always echo the uid, and
//! building responses.

use std::collections::BTreeMap;

use kube::core::GroupVersionKind;
use kube::core::admission::Operation;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::identity::UserInfo;

const REVIEW_KIND: &str = "AdmissionReview";
const REVIEW_API_VERSION: &str = "admission.k8s.io/v1";

/// The parts of `AdmissionReview.request` the decisions use. `object` and `oldObject` stay JSON:
/// mutating webhooks run before schema validation, so they may not fit the typed API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewRequest {
    /// Request uid, echoed in the response.
    pub uid: String,
    /// Kind of the object.
    pub kind: GroupVersionKind,
    /// Subresource (`status`), absent for the main resource.
    #[serde(default)]
    pub sub_resource: Option<String>,
    /// Object name.
    #[serde(default)]
    pub name: String,
    /// Object namespace.
    #[serde(default)]
    pub namespace: Option<String>,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: Operation,
    /// Authenticated requester.
    pub user_info: UserInfo,
    /// New object (null on DELETE), without `metadata.managedFields` (never read, costly to build).
    #[serde(
        default,
        deserialize_with = "crate::object_json::without_managed_fields"
    )]
    pub object: Option<Value>,
    /// Stored object (null on CREATE), without `metadata.managedFields`.
    #[serde(
        default,
        deserialize_with = "crate::object_json::without_managed_fields"
    )]
    pub old_object: Option<Value>,
    /// Whether nothing will be persisted.
    #[serde(default)]
    pub dry_run: bool,
}

impl ReviewRequest {
    /// Whether this is a write to the `status` subresource.
    pub fn is_status(&self) -> bool {
        self.sub_resource.as_deref() == Some("status")
    }

    /// Denies requests about anything but `kubernaut.ai` WorkflowExecutions (a misregistered
    /// webhook must not silently approve other kinds).
    pub fn check_kind(&self) -> Result<(), Verdict> {
        if self.kind.group == wfe_api::keys::GROUP && self.kind.kind == "WorkflowExecution" {
            Ok(())
        } else {
            Err(Verdict::bad_request(format!(
                "this webhook only reviews kubernaut.ai WorkflowExecutions, got {}/{} {}; check the webhook configuration rules",
                self.kind.group, self.kind.version, self.kind.kind
            )))
        }
    }

    /// `namespace/name` for messages.
    pub fn object_ref(&self) -> String {
        match self.namespace.as_deref() {
            Some(ns) if !ns.is_empty() => format!("{ns}/{}", self.name),
            _ => self.name.clone(),
        }
    }
}

/// A body that is not a usable AdmissionReview; carries the uid when it could be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReviewError {
    /// `request.uid`, if readable.
    pub uid: Option<String>,
    /// What is wrong with the body.
    pub message: String,
}

impl ReviewError {
    fn new(uid: Option<String>, message: impl Into<String>) -> Self {
        ReviewError {
            uid,
            message: message.into(),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope {
    kind: String,
    api_version: String,
    request: Option<ReviewRequest>,
}

/// Parses an `admission.k8s.io/v1` AdmissionReview request body.
pub fn parse_review(body: &[u8]) -> Result<ReviewRequest, ReviewError> {
    // Fast path: one pass straight into the typed request. Anything it rejects goes through
    // the slower path below, which finds the uid and names the offending field.
    if let Ok(Envelope {
        kind,
        api_version,
        request: Some(request),
    }) = serde_json::from_slice::<Envelope>(body)
        && kind == REVIEW_KIND
        && api_version == REVIEW_API_VERSION
        && !request.uid.is_empty()
    {
        return Ok(request);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ReviewError::new(
            None,
            "request body is empty: expected an admission.k8s.io/v1 AdmissionReview",
        ));
    }
    let root: Value = serde_json::from_slice(body).map_err(|e| {
        // A truncated body may still show its uid: echo it so the API server can match.
        ReviewError::new(
            crate::uid_salvage::salvage_uid(body),
            format!(
                "request body is not JSON ({e}): expected an admission.k8s.io/v1 AdmissionReview"
            ),
        )
    })?;
    let Value::Object(mut root) = root else {
        return Err(ReviewError::new(
            None,
            "request body is not a JSON object: expected an admission.k8s.io/v1 AdmissionReview",
        ));
    };
    let uid = root
        .get("request")
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let kind = root.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = root.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind != REVIEW_KIND || api_version != REVIEW_API_VERSION {
        return Err(ReviewError::new(
            uid,
            format!(
                "expected kind AdmissionReview, apiVersion admission.k8s.io/v1; got kind {kind:?}, apiVersion {api_version:?}"
            ),
        ));
    }
    let request = match root.remove("request") {
        Some(Value::Null) | None => {
            return Err(ReviewError::new(uid, "AdmissionReview has no request"));
        }
        Some(r) => r,
    };
    if uid.as_deref().is_none_or(str::is_empty) {
        return Err(ReviewError::new(
            None,
            "AdmissionReview request.uid is missing or empty",
        ));
    }
    serde_path_to_error::deserialize::<_, ReviewRequest>(request).map_err(|e| {
        let path = e.path().to_string();
        ReviewError::new(
            uid.clone(),
            format!(
                "AdmissionReview request.{path} is invalid: {}",
                e.into_inner()
            ),
        )
    })
}

/// What a webhook decided about one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Let the request through, optionally changed by a JSON patch.
    Allow {
        /// Patch for mutating webhooks.
        patch: Option<json_patch::Patch>,
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

    /// The patch, if any.
    pub fn patch(&self) -> Option<&json_patch::Patch> {
        match self {
            Verdict::Allow { patch, .. } => patch.as_ref(),
            Verdict::Deny { .. } => None,
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
    /// The decoded JSON patch, if any (for tests and tools).
    pub fn decoded_patch(&self) -> Option<Result<json_patch::Patch, String>> {
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
            let encoded = match patch.map(|p| serde_json::to_vec(&p)).transpose() {
                Ok(bytes) => bytes.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
                Err(e) => {
                    // A patch of plain JSON values always serialises; if it ever does not,
                    // failing closed is the only safe answer.
                    return to_review(
                        uid,
                        Verdict::Deny {
                            code: 500,
                            message: format!("internal error: cannot serialise patch: {e}"),
                            audit_annotations: BTreeMap::new(),
                        },
                    );
                }
            };
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

    const FIXTURE_05: &str = include_str!(
        "../../../shared/fixtures/admission/05-alice-status-clearance-request-mutate.json"
    );

    #[test]
    fn parses_a_real_status_review() {
        let r = parse_review(FIXTURE_05.as_bytes()).expect("parses");
        assert_eq!(r.uid, "f68b493b-c8d8-45f4-a78a-c1976893fea5");
        assert!(r.is_status());
        assert_eq!(r.operation, Operation::Update);
        assert_eq!(r.user_info.username, "alice");
        assert_eq!(r.user_info.uid.as_deref(), Some("uid-alice"));
        assert_eq!(r.object_ref(), "team-a/wfe-restart-payment-api");
        assert!(!r.dry_run);
    }

    #[test]
    fn malformed_bodies_are_errors_with_uid_when_readable() {
        let cases: &[(&[u8], Option<&str>, &str)] = &[
            (b"", None, "empty"),
            (b"  \n", None, "empty"),
            (b"{not json", None, "not JSON"),
            (b"[1,2]", None, "not a JSON object"),
            (br#"{"kind":"Pod","apiVersion":"v1","request":{"uid":"u1"}}"#, Some("u1"), "expected kind AdmissionReview"),
            (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1beta1","request":{"uid":"u2"}}"#, Some("u2"), "expected kind"),
            (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#, None, "has no request"),
            (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":null}"#, None, "has no request"),
            (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":""}}"#, None, "uid is missing"),
            (br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u3"}}"#, Some("u3"), "request."),
            (
                br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u4","kind":{"group":"","version":"v1","kind":"X"},"resource":{"group":"","version":"v1","resource":"x"},"operation":"FROB","userInfo":{}}}"#,
                Some("u4"),
                "request.operation",
            ),
        ];
        for (body, uid, needle) in cases {
            let e = parse_review(body).expect_err("must fail");
            assert_eq!(e.uid.as_deref(), *uid, "{e}");
            assert!(
                e.message.contains(needle),
                "{:?} should mention {needle:?}",
                e.message
            );
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
                patch: Some(patch),
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
