//! The scripted API server (tower-test, the controller tests' `ApiServerVerifier` pattern) and
//! the WFE objects the command tests answer with.

#![allow(dead_code)] // each test file uses part of it

use clap::Parser;
use http::{Method, Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::{Value, json};
use tower_test::mock::{self, Handle};
use wfe_plugin::cli::Cli;
use wfe_plugin::{PluginError, Printed, execute, policy};

pub const WFES: &str = "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions";
pub const ALL_WFES: &str = "/apis/kubernaut.ai/v1alpha1/workflowexecutions";
pub const TARGET: &str = "team-a/Deployment/payment-api";
pub const REASON: &str = "The pod's memory limit was raised; on-call verified the \"payment\" deployment is healthy again\nticket OPS-1 — résolu ✓";

/// How one expected request is answered: the answer, or a transport error.
pub enum Answer {
    Reply(u16, Value),
    ConnectionRefused,
}

/// Assertions on one request's query, content type and body.
pub type Check = Box<dyn FnOnce(&str, Option<&str>, &Value) + Send>;

pub struct Exchange {
    pub method: Method,
    pub path: String,
    pub check: Check,
    pub answer: Answer,
}

pub fn expect(method: Method, path: impl Into<String>, answer: Answer) -> Exchange {
    Exchange {
        method,
        path: path.into(),
        check: Box::new(|_, _, _| {}),
        answer,
    }
}

pub fn status_error(code: u16, reason: &str, message: &str, name: Option<&str>) -> Answer {
    let mut body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    if let Some(n) = name {
        body["details"] = json!({"name": n, "group": "kubernaut.ai", "kind": "workflowexecutions"});
    }
    Answer::Reply(code, body)
}

pub fn wfe(name: &str, status: Value) -> Value {
    json!({
        "apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecution",
        "metadata": {"name": name, "namespace": "team-a", "uid": format!("uid-{name}"),
            "creationTimestamp": "2026-03-01T11:59:00Z", "resourceVersion": "7"},
        "spec": {"remediationRequestRef": {"name": format!("rr-{name}")},
            "workflowRef": {"workflowId": "restart-deployment", "version": "v1",
                "containerImage": "registry.example/workflows/restart:v1"},
            "targetResource": TARGET},
        "status": status,
    })
}

pub fn failed_status(execution: bool, count: i32) -> Value {
    json!({"phase": "Failed", "reason": "TaskFailed", "consecutiveFailures": count,
        "startTime": "2026-03-01T12:00:00Z", "completionTime": "2026-03-01T12:00:42Z", "duration": "42s",
        "failureDetails": {"reason": "TaskFailed", "message": "task restart exited with code 2",
            "failedTaskName": "restart", "exitCode": 2, "failedAt": "2026-03-01T12:00:42Z",
            "naturalLanguageSummary": "Workflow 'restart-deployment' failed on Deployment team-a/payment-api after running for 42s.",
            "wasExecutionFailure": execution}})
}

pub fn list(items: Vec<Value>) -> Answer {
    Answer::Reply(
        200,
        json!({"apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecutionList",
            "metadata": {"resourceVersion": "9"}, "items": items}),
    )
}

pub async fn serve(mut handle: Handle<Request<Body>, Response<Body>>, script: Vec<Exchange>) {
    for (i, exchange) in script.into_iter().enumerate() {
        let (request, send) = handle
            .next_request()
            .await
            .expect("the plugin stopped before all expected requests");
        assert_eq!(
            (request.method(), request.uri().path()),
            (&exchange.method, exchange.path.as_str()),
            "request #{i}: {} {}",
            request.method(),
            request.uri()
        );
        let query = request.uri().query().unwrap_or_default().to_owned();
        let content_type = request
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        (exchange.check)(&query, content_type.as_deref(), &body);
        match exchange.answer {
            Answer::Reply(code, reply) => send.send_response(
                Response::builder()
                    .status(code)
                    .body(Body::from(serde_json::to_vec(&reply).unwrap()))
                    .unwrap(),
            ),
            Answer::ConnectionRefused => send.send_error(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "connection refused",
            )),
        }
    }
}

/// Runs `kubectl wfe ARGS` against the scripted API server; every scripted request must happen.
pub async fn run(args: &[&str], script: Vec<Exchange>) -> Result<Printed, PluginError> {
    let cli = Cli::try_parse_from(std::iter::once("kubectl-wfe").chain(args.iter().copied()))
        .expect("valid command line");
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "team-a");
    let server = tokio::spawn(serve(handle, script));
    let namespace = cli
        .global
        .namespace
        .clone()
        .unwrap_or_else(|| "team-a".into());
    let now = "2026-03-01T12:10:00Z".parse().unwrap();
    let outcome = execute(&cli.command, client, &namespace, &policy(&cli.global), now).await;
    server
        .await
        .expect("the scripted API server saw what it expected");
    outcome
}
