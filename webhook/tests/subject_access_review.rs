//! The SubjectAccessReview authorizer against a mocked API server.

use std::collections::BTreeMap;

use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use kube::client::Body;
use serde_json::{Value, json};
use wfe_webhook::{
    Authorization, AuthorizationRequest, Authorizer, SubjectAccessReviewer, UserInfo,
};

type Handle = tower_test::mock::Handle<Request<Body>, Response<Body>>;

fn fixture_json(name: &str) -> Value {
    let path = format!(
        "{}/../../shared/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
        .expect("json")
}

fn reviewer() -> (SubjectAccessReviewer, Handle) {
    let (service, handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    (
        SubjectAccessReviewer::new(kube::Client::new(service, "default")),
        handle,
    )
}

fn identity(user: &str, uid: Option<&str>, groups: &[&str]) -> UserInfo {
    UserInfo {
        username: user.into(),
        uid: uid.map(str::to_owned),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
        extra: BTreeMap::from([(
            "authentication.kubernetes.io/credential-id".into(),
            vec!["JTI=abc".into()],
        )]),
    }
}

fn question(user: &UserInfo) -> AuthorizationRequest<'_> {
    AuthorizationRequest {
        user,
        namespace: "team-a",
        name: "wfe-restart-payment-api",
    }
}

/// Plays the API server: checks the SubjectAccessReview sent and answers with `status`/`body`.
async fn api_server(mut handle: Handle, status: StatusCode, body: Value) -> Value {
    let (request, send) = handle.next_request().await.expect("one request");
    assert_eq!(request.method(), http::Method::POST);
    assert_eq!(
        request.uri().path(),
        "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    );
    let sent: Value = serde_json::from_slice(
        &request
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes(),
    )
    .expect("json");
    send.send_response(
        Response::builder()
            .status(status)
            .body(Body::from(serde_json::to_vec(&body).expect("json")))
            .expect("response"),
    );
    sent
}

#[tokio::test]
async fn alice_is_allowed_with_the_identity_and_attributes_of_the_request() {
    let (reviewer, handle) = reviewer();
    let answer = fixture_json("sar-alice-allowed.json")["responseRawWire"].clone();
    let server = tokio::spawn(api_server(handle, StatusCode::CREATED, answer));
    let alice = identity(
        "alice",
        Some("uid-alice"),
        &["sre-team", "system:authenticated"],
    );
    let result = reviewer.authorize(&question(&alice)).await;
    assert_eq!(
        result,
        Authorization::Allowed {
            reason: Some(
                "RBAC: allowed by RoleBinding \"workflowexecution-block-clearer/team-a\" of Role \"workflowexecution-block-clearer\" to Group \"sre-team\""
                    .into()
            )
        }
    );
    let sent = server.await.expect("mock server");
    assert_eq!(sent["kind"], "SubjectAccessReview");
    assert_eq!(sent["apiVersion"], "authorization.k8s.io/v1");
    assert_eq!(
        sent["spec"],
        json!({
            "user": "alice",
            "uid": "uid-alice",
            "groups": ["sre-team", "system:authenticated"],
            "extra": {"authentication.kubernetes.io/credential-id": ["JTI=abc"]},
            "resourceAttributes": {
                "namespace": "team-a",
                "verb": "update",
                "group": "kubernaut.ai",
                "resource": "workflowexecutions",
                "subresource": "blockclearance",
                "name": "wfe-restart-payment-api"
            }
        })
    );
}

#[tokio::test]
async fn bob_is_denied() {
    let (reviewer, handle) = reviewer();
    let answer = fixture_json("sar-bob-denied.json")["responseRawWire"].clone();
    assert_eq!(
        answer["status"],
        json!({"allowed": false}),
        "fixture: bob gets only allowed=false"
    );
    let server = tokio::spawn(api_server(handle, StatusCode::CREATED, answer));
    let result = reviewer
        .authorize(&question(&identity(
            "bob",
            Some("uid-bob"),
            &["dev-team", "system:authenticated"],
        )))
        .await;
    assert_eq!(result, Authorization::Denied { reason: None });
    server.await.expect("mock server");
}

#[tokio::test]
async fn api_errors_never_allow() {
    for (status, body) in [
        (
            StatusCode::FORBIDDEN,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Forbidden", "code": 403,
                   "message": "subjectaccessreviews.authorization.k8s.io is forbidden: User \"system:serviceaccount:kubernaut-system:workflowexecution-controller\" cannot create resource"}),
        ),
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "InternalError", "code": 500, "message": "etcd down"}),
        ),
        // A 201 without a status must not be read as an allow.
        (
            StatusCode::CREATED,
            json!({"kind": "SubjectAccessReview", "apiVersion": "authorization.k8s.io/v1", "spec": {}}),
        ),
    ] {
        let (reviewer, handle) = reviewer();
        let server = tokio::spawn(api_server(handle, status, body));
        let result = reviewer
            .authorize(&question(&identity("alice", None, &["sre-team"])))
            .await;
        match result {
            Authorization::Failed { error } => assert!(!error.is_empty()),
            other => panic!("{status}: expected a failure, got {other:?}"),
        }
        server.await.expect("mock server");
    }
}

#[tokio::test]
async fn a_dropped_connection_is_a_failure() {
    let (reviewer, mut handle) = reviewer();
    let server = tokio::spawn(async move {
        let (_request, send) = handle.next_request().await.expect("one request");
        send.send_error(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset",
        ));
    });
    let result = reviewer
        .authorize(&question(&identity("alice", None, &[])))
        .await;
    assert!(matches!(result, Authorization::Failed { .. }), "{result:?}");
    server.await.expect("mock server");
}

/// The router wired with the real SubjectAccessReviewer: what a user sees for each API answer.
async fn review_through_router(fixture: &str, status: StatusCode, answer: Value) -> (Value, Value) {
    use tower::ServiceExt;
    let (reviewer, handle) = reviewer();
    let registry = prometheus::Registry::new();
    let state = wfe_webhook::AppState::new(
        wfe_webhook::Settings::default(),
        std::sync::Arc::new(reviewer),
        wfe_webhook::Metrics::new(&registry).expect("metrics"),
    );
    let server = tokio::spawn(api_server(handle, status, answer));
    let path = format!(
        "{}/../../shared/fixtures/admission/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let request = Request::post("/mutate-workflowexecution-status?timeout=5s")
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            std::fs::read(path).expect("fixture"),
        ))
        .expect("request");
    let response = wfe_webhook::router(state)
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let sent = server.await.expect("mock server");
    (serde_json::from_slice(&body).expect("json"), sent)
}

#[tokio::test]
async fn router_with_subject_access_reviews_grants_alice_and_denies_bob() {
    let (review, sent) = review_through_router(
        "05-alice-status-clearance-request-mutate.json",
        StatusCode::CREATED,
        fixture_json("sar-alice-allowed.json")["responseRawWire"].clone(),
    )
    .await;
    assert_eq!(review["response"]["allowed"], true);
    assert_eq!(review["response"]["patchType"], "JSONPatch");
    assert_eq!(sent["spec"]["user"], "alice");
    assert_eq!(sent["spec"]["uid"], "uid-alice");

    let (review, sent) = review_through_router(
        "06-bob-status-clearance-request-mutate.json",
        StatusCode::CREATED,
        fixture_json("sar-bob-denied.json")["responseRawWire"].clone(),
    )
    .await;
    assert_eq!(review["response"]["allowed"], false);
    assert_eq!(sent["spec"]["user"], "bob");
    assert!(
        review["response"]["status"]["message"]
            .as_str()
            .expect("message")
            .contains("user \"bob\" is not authorized")
    );
}

#[tokio::test]
async fn router_denies_when_the_subject_access_review_fails() {
    let (review, _) = review_through_router(
        "05-alice-status-clearance-request-mutate.json",
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "InternalError", "code": 500, "message": "etcd down"}),
    )
    .await;
    assert_eq!(review["response"]["allowed"], false);
    let message = review["response"]["status"]["message"]
        .as_str()
        .expect("message");
    assert!(message.starts_with("block clearance denied: could not verify that user \"alice\" may clear blocks in namespace team-a ("), "{message}");
    assert!(message.ends_with("; retry later"), "{message}");
}
