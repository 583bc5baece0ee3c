//! The handler's own time limits, through the router as the server calls it: a body that stops
//! arriving and an authorizer that never answers end in a clear answer at the configured limit,
//! and waits shorter than the limit change nothing.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use futures::StreamExt;
use hyper::body::Bytes;
use prometheus::Registry;
use serde_json::Value;
use tower::ServiceExt;
use wfe_webhook::{AppState, FixedClock, MUTATE_STATUS_PATH, Metrics, Settings, VALIDATE_PATH};

use common::{MockAuthorizer, NOW, fixture, message_of, status_and_json};

fn router(authorizer: MockAuthorizer) -> axum::Router {
    let metrics = Metrics::new(&Registry::new()).expect("metrics");
    let state = AppState::new(Settings::default(), Arc::new(authorizer), metrics)
        .with_clock(Arc::new(FixedClock(NOW.parse().expect("ts"))));
    wfe_webhook::router(state)
}

async fn post(router: axum::Router, path: &str, body: Body) -> (u16, Value) {
    let request = http::Request::post(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("request");
    // A limit that never fires must fail the test, not hang it.
    let response = tokio::time::timeout(Duration::from_secs(60), router.oneshot(request))
        .await
        .expect("answered within a minute")
        .expect("infallible");
    status_and_json(response).await
}

/// The first `head` bytes of `body`, then the rest after `pause`, or never if `pause` is none.
fn in_two_parts(body: Vec<u8>, head: usize, pause: Option<Duration>) -> Body {
    let rest = Bytes::from(body[head..].to_vec());
    let first = futures::stream::iter([Ok::<_, Infallible>(Bytes::from(body[..head].to_vec()))]);
    let second = futures::stream::once(async move {
        match pause {
            Some(pause) => tokio::time::sleep(pause).await,
            None => std::future::pending().await,
        }
        Ok(rest)
    });
    Body::from_stream(first.chain(second))
}

#[tokio::test(start_paused = true)]
async fn a_body_that_stops_arriving_is_answered_at_the_body_read_timeout() {
    let limit = Settings::default().body_read_timeout;
    let body = fixture("01-admin-create.json");
    let started = tokio::time::Instant::now();
    let stalled = in_two_parts(body.clone(), 100, None);
    let (status, review) = post(router(MockAuthorizer::default()), VALIDATE_PATH, stalled).await;
    assert_eq!(status, 400);
    let message = message_of(&review);
    assert!(
        message.contains("timed out reading the request body"),
        "{message}"
    );
    assert_eq!(started.elapsed(), limit, "cut off at the limit, not before");

    // A pause shorter than the limit is only a pause.
    let slow = in_two_parts(body, 100, Some(limit - Duration::from_secs(1)));
    let (status, review) = post(router(MockAuthorizer::default()), VALIDATE_PATH, slow).await;
    assert_eq!(status, 200, "{review}");
    assert_eq!(review["response"]["allowed"], true, "{review}");
}

#[tokio::test(start_paused = true)]
async fn an_authorizer_that_never_answers_refuses_the_clearance_at_its_timeout() {
    let limit = Settings::default().authorization_timeout;
    let silent = MockAuthorizer {
        allowed: ["alice".to_owned()].into(),
        gate: Some(Arc::new(tokio::sync::Notify::new())),
        ..MockAuthorizer::default()
    };
    let body = Body::from(fixture("05-alice-status-clearance-request-mutate.json"));
    let started = tokio::time::Instant::now();
    let (status, review) = post(router(silent), MUTATE_STATUS_PATH, body).await;
    assert_eq!(status, 200);
    assert_eq!(review["response"]["allowed"], false, "{review}");
    let message = message_of(&review);
    assert!(
        message.contains(&format!(
            "SubjectAccessReview timed out after {}s",
            limit.as_secs_f64()
        )),
        "{message}"
    );
    assert_eq!(started.elapsed(), limit);
}
