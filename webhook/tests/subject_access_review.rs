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

fn question(user: &str, uid: Option<&str>, groups: &[&str]) -> AuthorizationRequest {
    AuthorizationRequest {
        user: UserInfo {
            username: user.into(),
            uid: uid.map(str::to_owned),
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            extra: BTreeMap::from([(
                "authentication.kubernetes.io/credential-id".into(),
                vec!["JTI=abc".into()],
            )]),
        },
        namespace: "team-a".into(),
        name: "wfe-restart-payment-api".into(),
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
    let q = question(
        "alice",
        Some("uid-alice"),
        &["sre-team", "system:authenticated"],
    );
    let result = reviewer.authorize(&q).await;
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
        .authorize(&question(
            "bob",
            Some("uid-bob"),
            &["dev-team", "system:authenticated"],
        ))
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
            .authorize(&question("alice", None, &["sre-team"]))
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
    let result = reviewer.authorize(&question("alice", None, &[])).await;
    assert!(matches!(result, Authorization::Failed { .. }), "{result:?}");
    server.await.expect("mock server");
}
