//! What a request is answered with: the AdmissionReview, its HTTP status and what the metrics
//! record. Kept apart from the handler so the polled state machine holds none of it.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{BodyError, UNKNOWN_OPERATION, Webhook};
use crate::review::{
    ReviewError, ReviewRequest, Verdict, encode_review, error_uid, error_verdict, too_large_verdict,
};

/// What a request is answered with, and what its metrics record.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) review: Vec<u8>,
    pub(super) operation: &'static str,
    pub(super) allowed: bool,
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        (
            self.status,
            // A static value: a `&str` here would be copied into a new allocation per answer.
            [(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            )],
            self.review,
        )
            .into_response()
    }
}

#[cold]
#[inline(never)]
pub(super) fn unreadable(webhook: Webhook, error: BodyError, limit: usize) -> Answer {
    let (status, review) = match error {
        BodyError::TooLarge => {
            tracing::warn!(
                webhook = webhook.label(),
                limit,
                "admission request body too large"
            );
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                encode_review("", &too_large_verdict(limit)),
            )
        }
        BodyError::Read(e) => {
            tracing::warn!(webhook = webhook.label(), error = %e, "cannot read admission request body");
            let err = ReviewError {
                uid: None,
                message: format!("cannot read request body: {e}"),
            };
            (
                StatusCode::BAD_REQUEST,
                encode_review(error_uid(&err), &error_verdict(&err)),
            )
        }
    };
    Answer {
        status,
        review,
        operation: UNKNOWN_OPERATION,
        allowed: false,
    }
}

#[cold]
#[inline(never)]
pub(super) fn malformed(webhook: Webhook, e: &ReviewError) -> Answer {
    tracing::warn!(webhook = webhook.label(), uid = e.uid.as_deref().unwrap_or(""), error = %e.message, "malformed AdmissionReview");
    Answer {
        status: StatusCode::BAD_REQUEST,
        review: encode_review(error_uid(e), &error_verdict(e)),
        operation: UNKNOWN_OPERATION,
        allowed: false,
    }
}

#[inline(never)]
pub(super) fn answered(webhook: Webhook, req: &ReviewRequest<'_>, verdict: &Verdict) -> Answer {
    if let Some(message) = verdict.message() {
        tracing::info!(webhook = webhook.label(), uid = %req.uid, user = %req.user_info.username,
            object = %req.object_ref(), dry_run = req.dry_run, message, "admission denied");
    } else {
        tracing::debug!(webhook = webhook.label(), uid = %req.uid, user = %req.user_info.username,
            object = %req.object_ref(), "admission allowed");
    }
    Answer {
        status: StatusCode::OK,
        review: encode_review(&req.uid, verdict),
        operation: operation_label(req),
        allowed: verdict.is_allowed(),
    }
}

fn operation_label(req: &ReviewRequest<'_>) -> &'static str {
    use kube::core::admission::Operation;
    match req.operation {
        Operation::Create => "CREATE",
        Operation::Update => "UPDATE",
        Operation::Delete => "DELETE",
        Operation::Connect => "CONNECT",
    }
}
