//! The HTTP layer: three POST endpoints that read an AdmissionReview, call a pure decision and
//! answer with an AdmissionReview.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http_body_util::BodyExt;

use crate::authorizer::{Authorization, Authorizer};
use crate::clearance::{
    ClearanceOutcome, ClearancePatch, ClearancePlan, Refusal, conclude_clearance,
    grant_annotations, plan_clearance,
};
use crate::deadline::within;

mod answer;

use crate::denial::{ClearanceDenial, DenialSink};
use crate::metrics::Metrics;
use crate::ownership::review_status_ownership;
use crate::response::AuditAnnotations;
use crate::review::{ReviewRequest, Verdict, parse_review};
use crate::settings::Settings;
use crate::spec_review::review_spec;
use answer::{Answer, answered, malformed, unreadable};
use wfe_api::clock::{Clock, SystemClock};

/// Path of the spec validating webhook.
pub const VALIDATE_PATH: &str = "/validate-workflowexecution";
/// Path of the clearance mutating webhook.
pub const MUTATE_STATUS_PATH: &str = "/mutate-workflowexecution-status";
/// Path of the status ownership validating webhook.
pub const VALIDATE_STATUS_PATH: &str = "/validate-workflowexecution-status";

/// Everything the handlers need. Axum clones the state twice per request (the route's
/// service and the `State` extractor), so it is one shared allocation: each clone touches one
/// reference count instead of one per part, which two server threads would pass back and forth.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    /// Decision settings and limits.
    pub settings: Arc<Settings>,
    /// Answers "may this user clear blocks".
    pub authorizer: Arc<dyn Authorizer>,
    /// Admission metrics.
    pub metrics: Metrics,
    /// Server time for `clearedAt`.
    pub clock: Arc<dyn Clock>,
    /// Receives refused clearances (never for dry runs).
    pub denial_sink: Option<Arc<dyn DenialSink>>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State with the system clock and no denial sink.
    pub fn new(settings: Settings, authorizer: Arc<dyn Authorizer>, metrics: Metrics) -> Self {
        AppState(Arc::new(Shared {
            settings: Arc::new(settings),
            authorizer,
            metrics,
            clock: Arc::new(SystemClock),
            denial_sink: None,
        }))
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        Arc::make_mut(&mut self.0).clock = clock;
        self
    }

    /// Sets the sink for refused clearances.
    #[must_use]
    pub fn with_denial_sink(mut self, sink: Arc<dyn DenialSink>) -> Self {
        Arc::make_mut(&mut self.0).denial_sink = Some(sink);
        self
    }
}

/// Operations the spec webhook is registered for.
pub const VALIDATE_OPERATIONS: &[&str] = &["CREATE", "UPDATE"];
/// Operations the status webhooks are registered for.
pub const STATUS_OPERATIONS: &[&str] = &["UPDATE"];
/// `operation` label of a request whose body could not be read or parsed.
pub(crate) const UNKNOWN_OPERATION: &str = "UNKNOWN";

/// One of the three webhooks; its label names it in metrics and logs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Webhook {
    Validate,
    MutateStatus,
    ValidateStatus,
}

impl Webhook {
    /// Every webhook, for metrics that exist from the start.
    pub(crate) const ALL: [Webhook; 3] = [
        Webhook::Validate,
        Webhook::MutateStatus,
        Webhook::ValidateStatus,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Webhook::Validate => "validate",
            Webhook::MutateStatus => "mutate-status",
            Webhook::ValidateStatus => "validate-status",
        }
    }

    /// The operations it is registered for (what the API server can send it).
    pub(crate) fn operations(self) -> &'static [&'static str] {
        match self {
            Webhook::Validate => VALIDATE_OPERATIONS,
            Webhook::MutateStatus | Webhook::ValidateStatus => STATUS_OPERATIONS,
        }
    }
}

/// The admission router (the API server appends `?timeout=5s`; the query is ignored).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            VALIDATE_PATH,
            post(|s: State<AppState>, r: Request| handle(s, Webhook::Validate, r)),
        )
        .route(
            MUTATE_STATUS_PATH,
            post(|s: State<AppState>, r: Request| handle(s, Webhook::MutateStatus, r)),
        )
        .route(
            VALIDATE_STATUS_PATH,
            post(|s: State<AppState>, r: Request| handle(s, Webhook::ValidateStatus, r)),
        )
        .with_state(state)
}

// The async functions hold only what crosses an await (the body read, the authorizer); the
// work between them lives in plain functions kept out of line, so that the state machines the
// runtime polls stay small and the code a review runs stays close together.
async fn handle(State(state): State<AppState>, webhook: Webhook, request: Request) -> Response {
    let started = Instant::now();
    let limit = state.settings.max_body_bytes;
    let body = within(
        state.settings.body_read_timeout,
        read_body(request.into_body(), limit, state.settings.body_read_timeout),
    )
    .await
    .unwrap_or_else(|| {
        Err(BodyError::Read(
            "timed out reading the request body".to_owned(),
        ))
    });
    let answer = match body {
        Ok(bytes) => review(&state, webhook, &bytes).await,
        Err(e) => unreadable(webhook, e, limit),
    };
    state.metrics.observe(
        webhook,
        answer.operation,
        answer.allowed,
        started.elapsed().as_secs_f64(),
    );
    answer.into_response()
}

async fn review(state: &AppState, webhook: Webhook, body: &[u8]) -> Answer {
    let req = match parse_review(body) {
        Ok(req) => req,
        Err(e) => return malformed(webhook, &e),
    };
    let verdict = match webhook {
        Webhook::Validate => spec(&req, &state.settings),
        Webhook::ValidateStatus => ownership(&req, &state.settings),
        Webhook::MutateStatus => clearance(state, &req).await,
    };
    answered(webhook, &req, &verdict)
}

/// [`review_spec`], kept out of the handler: a status review never runs it.
#[inline(never)]
fn spec(req: &ReviewRequest<'_>, settings: &Settings) -> Verdict {
    review_spec(req, settings)
}

/// [`review_status_ownership`], kept out of the handler: a spec review never runs it.
#[inline(never)]
fn ownership(req: &ReviewRequest<'_>, settings: &Settings) -> Verdict {
    review_status_ownership(req, settings)
}

async fn clearance(state: &AppState, req: &ReviewRequest<'_>) -> Verdict {
    let settings = &state.settings;
    let plan = plan(req, settings);
    let answer = match &plan {
        ClearancePlan::Authorize(question) => {
            let timeout = settings.authorization_timeout;
            Some(
                within(timeout, state.authorizer.authorize(question))
                    .await
                    .unwrap_or_else(|| Authorization::Failed {
                        error: format!(
                            "SubjectAccessReview timed out after {}s",
                            timeout.as_secs_f64()
                        ),
                    }),
            )
        }
        _ => None,
    };
    settle_clearance(state, req, plan, answer.as_ref())
}

/// [`plan_clearance`], kept out of the clearance's state machine: nothing in it waits.
#[inline(never)]
fn plan<'r>(req: &'r ReviewRequest<'_>, settings: &'r Settings) -> ClearancePlan<'r> {
    plan_clearance(req, settings)
}

/// The clearance's verdict once the authorizer, if asked, has answered.
#[inline(never)]
fn settle_clearance(
    state: &AppState,
    req: &ReviewRequest<'_>,
    plan: ClearancePlan<'_>,
    answer: Option<&Authorization>,
) -> Verdict {
    let now = state.clock.now();
    match conclude_clearance(req, &state.settings, plan, answer, now) {
        ClearanceOutcome::Pass => Verdict::allow(),
        ClearanceOutcome::Refused(refusal) => refused(state, req, refusal, now),
        ClearanceOutcome::Cleared(stamp) => {
            let patch = ClearancePatch(&stamp).encode();
            tracing::info!(uid = %req.uid, object = %req.object_ref(), cleared_by = %stamp.cleared_by,
                cleared_by_uid = stamp.cleared_by_uid.unwrap_or(""), groups = ?stamp.cleared_by_groups,
                dry_run = req.dry_run, "block clearance granted");
            Verdict::Allow {
                patch: Some(patch),
                audit_annotations: grant_annotations(&stamp),
            }
        }
    }
}

#[cold]
#[inline(never)]
fn refused(
    state: &AppState,
    req: &ReviewRequest<'_>,
    refusal: Refusal,
    now: jiff::Timestamp,
) -> Verdict {
    record_denial(state, req, &refusal, now);
    let annotations = [
        ("clearance-denied-user", req.user_info.username.clone()),
        ("clearance-denied-step", format!("{:?}", refusal.step)),
    ];
    Verdict::Deny {
        code: 403,
        message: refusal.message,
        audit_annotations: AuditAnnotations::from_pairs(annotations),
    }
}

fn record_denial(
    state: &AppState,
    req: &ReviewRequest<'_>,
    refusal: &Refusal,
    now: jiff::Timestamp,
) {
    let user = &req.user_info;
    let denial = ClearanceDenial {
        user: user.username.clone(),
        user_uid: user.uid.clone(),
        groups: user.groups.clone(),
        extra: user.extra.clone(),
        namespace: req.namespace.as_deref().unwrap_or_default().to_owned(),
        name: req.name.clone().into_owned(),
        request_uid: req.uid.clone().into_owned(),
        dry_run: req.dry_run,
        step: refusal.step,
        message: refusal.message.clone(),
        time: now,
    };
    tracing::warn!(user = %denial.user, user_uid = denial.user_uid.as_deref().unwrap_or(""), groups = ?denial.groups,
        namespace = %denial.namespace, name = %denial.name, request_uid = %denial.request_uid, dry_run = denial.dry_run,
        step = ?denial.step, message = %denial.message, "block clearance denied");
    // A dry run must have no side effects; the log line above is the only trace.
    if !req.dry_run
        && let Some(sink) = &state.denial_sink
    {
        sink.record(&denial);
    }
}

enum BodyError {
    TooLarge,
    Read(String),
}

/// Reads the body up to `limit` bytes. An oversized body is not dropped at once: it is handed
/// to [`drain`] so that the 413 reaches the client before its upload is cut off.
async fn read_body(
    mut body: Body,
    limit: usize,
    drain_within: std::time::Duration,
) -> Result<axum::body::Bytes, BodyError> {
    use axum::body::HttpBody as _;
    if body.size_hint().lower() > limit as u64 {
        drain(body, drain_within);
        return Err(BodyError::TooLarge);
    }
    // A body that arrives as one frame is kept as it is, not copied; one that arrives in
    // several (a 7.8 KB review often does) is copied into a buffer sized for what it announced.
    let announced = usize::try_from(body.size_hint().lower()).map_or(limit, |n| n.min(limit));
    let mut first: Option<axum::body::Bytes> = None;
    let mut collected = Vec::new();
    let mut length = 0;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(e.to_string()))?;
        if let Ok(data) = frame.into_data() {
            length += data.len();
            if length > limit {
                drain(body, drain_within);
                return Err(BodyError::TooLarge);
            }
            match first.take() {
                None if collected.is_empty() => first = Some(data),
                earlier => {
                    if collected.capacity() == 0 {
                        collected.reserve(reservation(announced, length));
                    }
                    collected.extend_from_slice(earlier.as_deref().unwrap_or_default());
                    collected.extend_from_slice(&data);
                }
            }
        }
    }
    Ok(first.unwrap_or_else(|| collected.into()))
}

/// What to reserve for a body that announced `announced` bytes once `received` have come: the
/// announced size, but never more than four times what has arrived, so that a client announcing
/// a large body and sending a few bytes cannot make the server hold the whole limit.
fn reservation(announced: usize, received: usize) -> usize {
    announced.min(received.saturating_mul(4)).max(received)
}

/// Most bytes of an oversized body read and discarded after the 413.
const DRAIN_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Reads and discards the rest of an oversized body, for at most [`DRAIN_MAX_BYTES`] and
/// `within`. Over HTTP/2, dropping the body while the client is still uploading resets the
/// stream (RST_STREAM), and clients such as curl then report the reset instead of the 413 that
/// was already sent; over HTTP/1.1 it lets the connection be reused. A client that sends more is
/// cut off: the bound keeps an abusive upload from holding the connection forever.
fn drain(mut body: Body, within: std::time::Duration) {
    use axum::body::HttpBody as _;
    if body.size_hint().lower() > DRAIN_MAX_BYTES {
        return;
    }
    tokio::spawn(async move {
        let mut seen: u64 = 0;
        let _ = tokio::time::timeout(within, async {
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, |d| d.len() as u64);
                if seen > DRAIN_MAX_BYTES {
                    break;
                }
            }
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use super::reservation;

    #[test]
    fn a_body_split_in_frames_gets_its_announced_size_but_never_far_ahead_of_what_came() {
        // A review in two frames: one buffer of its size, no regrowth.
        assert_eq!(reservation(7_800, 7_800), 7_800);
        assert_eq!(reservation(7_800, 4_096), 7_800);
        // A client announcing the limit and sending two bytes gets eight, not 6 MiB.
        assert_eq!(reservation(6 * 1024 * 1024, 2), 8);
        // Chunked bodies announce nothing: what came is what is reserved.
        assert_eq!(reservation(0, 5_000), 5_000);
        assert_eq!(reservation(usize::MAX, usize::MAX), usize::MAX);
    }
}
