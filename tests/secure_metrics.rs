//! Secure metrics: a scrape needs a bearer token that passes TokenReview and a
//! SubjectAccessReview for `get /metrics`; the API server is mocked with tower-test.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use workflowexecution::metrics::router;
use workflowexecution::metrics_auth::{KubeScrapeAuthorizer, ScrapeAuthorizer};

type Handle = tower_test::mock::Handle<Request<kube::client::Body>, Response<kube::client::Body>>;

fn setup() -> (axum::Router, Handle) {
    let (service, handle) =
        tower_test::mock::pair::<Request<kube::client::Body>, Response<kube::client::Body>>();
    let client = kube::Client::new(service, "default");
    let registry = prometheus::Registry::new();
    let counter = prometheus::IntCounter::new("workflowexecution_test_total", "test").unwrap();
    registry.register(Box::new(counter.clone())).unwrap();
    counter.inc();
    let auth: Arc<dyn ScrapeAuthorizer> =
        Arc::new(KubeScrapeAuthorizer::new(client, Duration::from_secs(60)));
    (router(registry, Some(auth)), handle)
}

async fn scrape(app: &axum::Router, token: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::get("/metrics");
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Answers the next API request after checking its path and the field that matters.
async fn answer(handle: &mut Handle, path: &str, check: impl FnOnce(&Value), reply: Value) {
    let (req, send) = tokio::time::timeout(Duration::from_secs(10), handle.next_request())
        .await
        .expect("the API server was not called")
        .expect("service dropped");
    assert_eq!(req.method(), http::Method::POST);
    assert_eq!(req.uri().path(), path);
    let body = req.into_body().collect().await.unwrap().to_bytes();
    check(&serde_json::from_slice(&body).unwrap());
    send.send_response(
        Response::builder()
            .body(kube::client::Body::from(
                serde_json::to_vec(&reply).unwrap(),
            ))
            .unwrap(),
    );
}

fn token_review(authenticated: bool) -> Value {
    let mut status = json!({"authenticated": authenticated});
    if authenticated {
        status["user"] = json!({"username": "system:serviceaccount:monitoring:prometheus", "groups": ["system:serviceaccounts"]});
    }
    json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {}, "status": status})
}

fn sar(allowed: bool) -> Value {
    json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {}, "status": {"allowed": allowed}})
}

const TOKEN_REVIEWS: &str = "/apis/authentication.k8s.io/v1/tokenreviews";
const SARS: &str = "/apis/authorization.k8s.io/v1/subjectaccessreviews";

#[tokio::test]
async fn missing_token_is_rejected_without_api_calls() {
    let (app, _handle) = setup();
    assert_eq!(scrape(&app, None).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(scrape(&app, Some("")).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn invalid_token_is_rejected() {
    let (app, mut handle) = setup();
    let server = tokio::spawn(async move {
        answer(
            &mut handle,
            TOKEN_REVIEWS,
            |b| assert_eq!(b["spec"]["token"], "forged"),
            token_review(false),
        )
        .await;
    });
    let (status, body) = scrape(&app, Some("forged")).await;
    server.await.unwrap();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, "invalid bearer token\n");
}

#[tokio::test]
async fn unauthorised_user_is_forbidden() {
    let (app, mut handle) = setup();
    let server = tokio::spawn(async move {
        answer(&mut handle, TOKEN_REVIEWS, |_| {}, token_review(true)).await;
        answer(&mut handle, SARS, |_| {}, sar(false)).await;
    });
    let (status, body) = scrape(&app, Some("valid-but-no-rbac")).await;
    server.await.unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("system:serviceaccount:monitoring:prometheus may not get /metrics"));
}

#[tokio::test]
async fn authorised_token_gets_metrics_and_the_decision_is_cached() {
    let (app, mut handle) = setup();
    let server = tokio::spawn(async move {
        answer(
            &mut handle,
            TOKEN_REVIEWS,
            |b| assert_eq!(b["spec"]["token"], "good"),
            token_review(true),
        )
        .await;
        answer(
            &mut handle,
            SARS,
            |b| {
                assert_eq!(
                    b["spec"]["user"],
                    "system:serviceaccount:monitoring:prometheus"
                );
                assert_eq!(
                    b["spec"]["nonResourceAttributes"],
                    json!({"path": "/metrics", "verb": "get"})
                );
            },
            sar(true),
        )
        .await;
        handle
    });
    let (status, body) = scrape(&app, Some("good")).await;
    let _handle = server.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("workflowexecution_test_total 1"), "{body}");
    // Nothing answers the mock any more: a second scrape must be served from the cache.
    let (status, _) = tokio::time::timeout(Duration::from_secs(10), scrape(&app, Some("good")))
        .await
        .expect("cached");
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn api_errors_refuse_the_scrape() {
    let (app, mut handle) = setup();
    let server = tokio::spawn(async move {
        let (_req, send) = handle.next_request().await.unwrap();
        send.send_response(
            Response::builder()
                .status(500)
                .body(kube::client::Body::from(br#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"etcd down","reason":"InternalError","code":500}"#.to_vec()))
                .unwrap(),
        );
    });
    let (status, _) = scrape(&app, Some("whatever")).await;
    server.await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}
