//! Reading an AdmissionReview request: leniently enough to always echo the uid, and into
//! borrowed, typed views of only what the decisions read. The body's structure is found by
//! [`crate::scan`]; the request fields the decisions use are then read from their own bytes
//! (plain strings, `kind` and `operation` as text, `userInfo` and `dryRun` by serde_json).
//! `object`/`oldObject` are kept as their members unparsed ([`Raw`] into the
//! body), with `status` read one level deep; everything else (managedFields, annotations,
//! options, ...) is stepped over without being read.

use std::borrow::Cow;

use kube::core::GroupVersionKind;
use kube::core::admission::Operation;
use serde::Deserialize;
use serde_json::Value;

use crate::json_view::{optional_string_of, string_of};
pub use crate::object_view::ObjectView;
use crate::request_fields;
pub use crate::response::{
    AdmissionAnswer, AnswerStatus, AuditAnnotations, ReviewResponse, Verdict, encode_review,
    error_uid, error_verdict, too_large_verdict,
};
use crate::response::{REVIEW_API_VERSION, REVIEW_KIND};
use crate::scan::{ObjectWalk, Raw, ScanError};
use wfe_api::identity::UserInfo;

/// The parts of `AdmissionReview.request` the decisions use, borrowed from the body.
/// `object` and `oldObject` are not typed as WorkflowExecutions: mutating webhooks run before
/// schema validation, so they may not fit the typed API.
#[derive(Debug, Clone)]
pub struct ReviewRequest<'a> {
    /// Request uid, echoed in the response.
    pub uid: Cow<'a, str>,
    /// Kind of the object.
    pub kind: KindRef<'a>,
    /// Subresource (`status`), absent for the main resource.
    pub sub_resource: Option<Cow<'a, str>>,
    /// Object name.
    pub name: Cow<'a, str>,
    /// Object namespace.
    pub namespace: Option<Cow<'a, str>>,
    /// CREATE, UPDATE, DELETE or CONNECT.
    pub operation: Operation,
    /// Authenticated requester.
    pub user_info: UserInfo,
    /// New object (absent on DELETE).
    pub object: Option<ObjectView<'a>>,
    /// Stored object (absent on CREATE).
    pub old_object: Option<ObjectView<'a>>,
    /// Whether nothing will be persisted.
    pub dry_run: bool,
}

/// `request.kind`, borrowed (the fields of `kube`'s `GroupVersionKind`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct KindRef<'a> {
    /// API group.
    #[serde(borrow)]
    pub group: Cow<'a, str>,
    /// Version.
    #[serde(borrow)]
    pub version: Cow<'a, str>,
    /// Kind.
    #[serde(borrow)]
    pub kind: Cow<'a, str>,
}

impl ReviewRequest<'_> {
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
            _ => self.name.clone().into_owned(),
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

/// The owned shape of [`ReviewRequest`] (same fields, types and order; the embedded objects
/// accept any JSON), decoded from a `Value` only to name the bad field of a rejected body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct RequestShape {
    uid: String,
    kind: GroupVersionKind,
    #[serde(default)]
    sub_resource: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    operation: Operation,
    user_info: UserInfo,
    #[serde(default)]
    dry_run: bool,
}

/// Parses an `admission.k8s.io/v1` AdmissionReview request body.
pub fn parse_review(body: &[u8]) -> Result<ReviewRequest<'_>, ReviewError> {
    // Fast path: one structural pass, then each field a decision uses parsed from its own
    // bytes. Anything it rejects goes through the slower path below, which finds the uid and
    // names the offending field.
    // Validating UTF-8 once up front lets every borrowed string and unparsed member skip its
    // own check.
    let Ok(text) = simdutf8::basic::from_utf8(body) else {
        return Err(explain_rejection(body, None));
    };
    let fast_error = match read_envelope(text) {
        Ok(Some(request)) if !request.uid.is_empty() => return Ok(request),
        Ok(_) => None,
        Err(e) => Some(e),
    };
    Err(explain_rejection(body, fast_error))
}

/// The request of an AdmissionReview of the right kind and version; `None` if the kind,
/// version or request is not there.
fn read_envelope(text: &str) -> Result<Option<ReviewRequest<'_>>, String> {
    let scan = |e: ScanError| e.to_string();
    let Some(mut walk) = ObjectWalk::document(text) else {
        return Ok(None);
    };
    let (mut kind, mut api_version, mut request) = (None, None, None);
    while let Some(key) = walk.next_key().map_err(scan)? {
        let duplicate = match key.as_ref() {
            "kind" => kind.replace(walk.skip_value().map_err(scan)?).is_some(),
            "apiVersion" => api_version
                .replace(walk.skip_value().map_err(scan)?)
                .is_some(),
            "request" => {
                // The request is read in the same pass, before the kind is known to be right;
                // a body of the wrong kind is explained by the slow path anyway.
                let read = match walk.enter() {
                    Some(mut nested) => {
                        let read = read_request(&mut nested)?;
                        walk.resume(&nested).map_err(scan)?;
                        Some(read)
                    }
                    None => {
                        let raw = walk.skip_value().map_err(scan)?;
                        if !raw.is_null() {
                            return Err("request is not an object".to_owned());
                        }
                        None
                    }
                };
                request.replace(read).is_some()
            }
            _ => {
                walk.skip_value().map_err(scan)?;
                false
            }
        };
        if duplicate {
            return Err(format!("duplicate field `{key}`"));
        }
    }
    walk.finish_document().map_err(scan)?;
    let is = |raw: Option<Raw<'_>>, want: &str| {
        raw.is_some_and(|r| string_of(r).is_ok_and(|s| s == want))
    };
    if !is(kind, REVIEW_KIND) || !is(api_version, REVIEW_API_VERSION) {
        return Ok(None);
    }
    Ok(request.flatten())
}

/// `request`, field by field; a field the decisions use must appear at most once.
fn read_request<'a>(walk: &mut ObjectWalk<'a>) -> Result<ReviewRequest<'a>, String> {
    fn field<'a, T: Deserialize<'a>>(name: &str, raw: Raw<'a>) -> Result<T, String> {
        serde_json::from_str(raw.get()).map_err(|e| format!("request.{name}: {e}"))
    }
    fn text<'a>(name: &str, raw: Raw<'a>) -> Result<Cow<'a, str>, String> {
        string_of(raw).map_err(|e| format!("request.{name}: {e}"))
    }
    fn optional_text<'a>(name: &str, raw: Raw<'a>) -> Result<Option<Cow<'a, str>>, String> {
        optional_string_of(raw).map_err(|e| format!("request.{name}: {e}"))
    }
    fn required<'a>(raw: Option<Raw<'a>>, name: &str) -> Result<Raw<'a>, String> {
        raw.ok_or_else(|| format!("missing field `{name}`"))
    }
    /// A required member read by `fast` from its text, or by serde_json when `fast` cannot.
    fn typed<'a, T: Deserialize<'a>>(
        raw: Option<Raw<'a>>,
        name: &str,
        fast: fn(Raw<'a>) -> Option<T>,
    ) -> Result<T, String> {
        let raw = required(raw, name)?;
        fast(raw).map_or_else(|| field(name, raw), Ok)
    }
    /// `object`/`oldObject`: walked in place when it is an object, as before otherwise; the
    /// stored object is compared with `known`, the new one, where they repeat.
    fn object<'a>(
        walk: &mut ObjectWalk<'a>,
        name: &str,
        known: Option<&ObjectView<'a>>,
    ) -> Result<Option<ObjectView<'a>>, String> {
        let failed = |e: &dyn std::fmt::Display| format!("request.{name}: {e}");
        match walk.enter() {
            Some(mut nested) => {
                let view = ObjectView::walk_known(&mut nested, known).map_err(|e| failed(&e))?;
                walk.resume(&nested).map_err(|e| failed(&e))?;
                Ok(Some(view))
            }
            None => {
                let raw = walk.skip_value().map_err(|e| failed(&e))?;
                if raw.is_null() {
                    return Ok(None);
                }
                ObjectView::parse(raw).map(Some).map_err(|e| failed(&e))
            }
        }
    }
    let (mut uid, mut kind, mut sub_resource, mut name, mut namespace) =
        (None, None, None, None, None);
    let (mut operation, mut user_info, mut dry_run) = (None, None, None);
    let (mut object_, mut old_object) = (None, None);
    while let Some(key) = walk.next_key().map_err(|e| e.to_string())? {
        let duplicate = match key.as_ref() {
            "object" => object_.replace(object(walk, "object", None)?).is_some(),
            "oldObject" => {
                let known = object_.as_ref().and_then(Option::as_ref);
                old_object
                    .replace(object(walk, "oldObject", known)?)
                    .is_some()
            }
            other => {
                let slot = match other {
                    "uid" => &mut uid,
                    "kind" => &mut kind,
                    "subResource" => &mut sub_resource,
                    "name" => &mut name,
                    "namespace" => &mut namespace,
                    "operation" => &mut operation,
                    "userInfo" => &mut user_info,
                    "dryRun" => &mut dry_run,
                    _ => &mut None,
                };
                let value = walk.skip_value().map_err(|e| e.to_string())?;
                slot.replace(value).is_some()
            }
        };
        if duplicate {
            return Err(format!("duplicate field `{key}`"));
        }
    }
    Ok(ReviewRequest {
        uid: text("uid", required(uid, "uid")?)?,
        kind: typed(kind, "kind", request_fields::kind)?,
        sub_resource: sub_resource
            .map(|r| optional_text("subResource", r))
            .transpose()?
            .flatten(),
        name: name
            .map(|r| text("name", r))
            .transpose()?
            .unwrap_or_default(),
        namespace: namespace
            .map(|r| optional_text("namespace", r))
            .transpose()?
            .flatten(),
        operation: typed(operation, "operation", request_fields::operation)?,
        user_info: typed(user_info, "userInfo", request_fields::user_info)?,
        object: object_.flatten(),
        old_object: old_object.flatten(),
        dry_run: dry_run
            .map(|r| request_fields::flag(r).map_or_else(|| field("dryRun", r), Ok))
            .transpose()?
            .unwrap_or_default(),
    })
}

/// Why the fast path rejected `body`, found the slow way: as a `Value`, so that the uid can be
/// echoed and the offending field named.
fn explain_rejection(body: &[u8], fast_error: Option<String>) -> ReviewError {
    if body.iter().all(u8::is_ascii_whitespace) {
        return ReviewError::new(
            None,
            "request body is empty: expected an admission.k8s.io/v1 AdmissionReview",
        );
    }
    let root: Value = match serde_json::from_slice(body) {
        Ok(root) => root,
        Err(e) => {
            // A truncated body may still show its uid: echo it so the API server can match.
            return ReviewError::new(
                crate::uid_salvage::salvage_uid(body),
                format!(
                    "request body is not JSON ({e}): expected an admission.k8s.io/v1 AdmissionReview"
                ),
            );
        }
    };
    let Value::Object(mut root) = root else {
        return ReviewError::new(
            None,
            "request body is not a JSON object: expected an admission.k8s.io/v1 AdmissionReview",
        );
    };
    let uid = root
        .get("request")
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let kind = root.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = root.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    if kind != REVIEW_KIND || api_version != REVIEW_API_VERSION {
        return ReviewError::new(
            uid,
            format!(
                "expected kind AdmissionReview, apiVersion admission.k8s.io/v1; got kind {kind:?}, apiVersion {api_version:?}"
            ),
        );
    }
    let request = match root.remove("request") {
        Some(Value::Null) | None => {
            return ReviewError::new(uid, "AdmissionReview has no request");
        }
        Some(r) => r,
    };
    if uid.as_deref().is_none_or(str::is_empty) {
        return ReviewError::new(None, "AdmissionReview request.uid is missing or empty");
    }
    if let Err(e) = serde_path_to_error::deserialize::<_, RequestShape>(request) {
        let path = e.path().to_string();
        return ReviewError::new(
            uid,
            format!(
                "AdmissionReview request.{path} is invalid: {}",
                e.into_inner()
            ),
        );
    }
    // Only the one-pass reader objects: a repeated request field, which a `Value` silently
    // collapses to its last value (a classic parser-differential trick). The API server never
    // sends one; it is refused rather than guessed.
    ReviewError::new(
        uid,
        format!(
            "AdmissionReview request is invalid: {}",
            fast_error.as_deref().unwrap_or("cannot be read")
        ),
    )
}

#[cfg(test)]
mod tests;
