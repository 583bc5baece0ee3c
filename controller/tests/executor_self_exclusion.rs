//! A WFE is never its own neighbour (DESIGN §4.2–4.3: history is the *other* WFEs on the target),
//! even when the target index holds a newer copy of it than the object being reconciled: the
//! index follows the watch, and the reconcile may run on a copy from before its own last write.
//! Through the executor's real path (`reconcile` → `apply` → `Context::neighbours` →
//! `TargetIndex::relevant`), against a mocked API server that expects exactly one request.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Method, Request, Response};
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::Client;
use kube::api::DynamicObject;
use kube::client::Body;
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::{Value, json};
use tower_test::mock;
use wfe_api::{
    AuditEventType, FailureDetails, FailureReason, Phase, WorkflowExecution, keys, naming,
};
use wfe_audit::{AuditError, AuditTrail};
use wfe_controller::executor::{Context, reconcile};
use wfe_controller::index::TargetIndex;
use wfe_controller::tekton;
use wfe_controller::{Metrics, Settings};
use wfe_testing::with_status;

const TARGET: &str = "team-a/Deployment/payment-api";
const WFE_STATUS_PATH: &str =
    "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/a/status";
const RUNS_PATH: &str = "/apis/tekton.dev/v1/namespaces/kubernaut-workflows/pipelineruns";

fn now() -> Timestamp {
    "2026-03-01T12:00:00Z".parse().unwrap()
}

fn ago(secs: i64) -> Timestamp {
    now()
        .checked_sub(jiff::SignedDuration::from_secs(secs))
        .unwrap()
}

/// Acknowledges everything; no reconcile here gets as far as delivering.
struct NoAudit;

impl AuditTrail for NoAudit {
    fn deliver<'a>(
        &'a self,
        _wfe: &'a WorkflowExecution,
        due: &'a [AuditEventType],
    ) -> BoxFuture<'a, Result<Vec<AuditEventType>, AuditError>> {
        Box::pin(async move { Ok(due.to_vec()) })
    }
}

fn wfe(name: &str) -> WorkflowExecution {
    let mut w = wfe_testing::wfe_on(name, TARGET);
    w.metadata.finalizers = Some(vec![keys::FINALIZER.to_owned()]);
    w
}

/// `w` as persisted after failing before execution at `at`, the `count`th failure in a row on
/// its target, with the backoff window that failure opened.
fn failed_before_execution(
    w: &WorkflowExecution,
    reason: FailureReason,
    at: Timestamp,
    count: u32,
) -> WorkflowExecution {
    let window = Settings::default().backoff.window(count);
    let mut w = with_status(w.clone(), |s| {
        s.phase = Some(Phase::Failed);
        s.completion_time = Some(Time(at));
        s.consecutive_failures = Some(i32::try_from(count).unwrap());
        s.next_allowed_execution = Some(Time(at.checked_add(window).unwrap()));
        s.failure_details = Some(Box::new(FailureDetails {
            reason,
            message: "refused".into(),
            failed_task_name: None,
            failed_task_index: None,
            exit_code: None,
            failed_at: Time(at),
            execution_time_before_failure: None,
            natural_language_summary: None,
            was_execution_failure: false,
        }));
    });
    w.metadata.resource_version = Some("2".into());
    w
}

/// A context whose target index holds `indexed`, and the handle of its mocked API server.
fn context(
    indexed: &[&WorkflowExecution],
) -> (Arc<Context>, mock::Handle<Request<Body>, Response<Body>>) {
    let settings = Settings::default();
    let index = TargetIndex::new(&settings);
    for i in indexed {
        index.observe(&watcher::Event::Apply((*i).clone()));
    }
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let runs = Writer::<DynamicObject>::new(tekton::pipeline_run_resource());
    let registry = prometheus::Registry::new();
    let ctx = Arc::new(Context {
        client: client.clone(),
        settings,
        metrics: Arc::new(Metrics::new(&registry).unwrap()),
        audit: Arc::new(NoAudit),
        recorder: Recorder::new(
            client,
            Reporter {
                controller: keys::REPORTING_CONTROLLER.into(),
                instance: None,
            },
        ),
        runs: runs.as_reader(),
        index: Arc::new(index),
        synced: Arc::new(AtomicBool::new(true)),
        clock: Arc::new(now),
    });
    (ctx, handle)
}

/// Reconciles `w` with `indexed` in the target index against an API server that expects one
/// request, `method` on `path`, and answers it `code`; returns that request's body.
async fn reconcile_expecting_one(
    w: &WorkflowExecution,
    indexed: &[&WorkflowExecution],
    (method, path): (Method, &'static str),
    code: u16,
) -> Value {
    let (ctx, mut handle) = context(indexed);
    // The newer copy of `w` is among the neighbours the index offers: what must be left out.
    assert!(
        ctx.index
            .relevant(TARGET, None, None)
            .iter()
            .any(|n| n.name() == w.metadata.name.as_deref().unwrap()),
        "the index offers the reconciled WFE's own copy"
    );
    let server = tokio::spawn(async move {
        let (request, send) = handle.next_request().await.expect("no request");
        assert_eq!(
            (request.method(), request.uri().path()),
            (&method, path),
            "the one request expected"
        );
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "Refused", "message": "refused by the test", "code": code});
        send.send_response(
            Response::builder()
                .status(code)
                .body(Body::from(serde_json::to_vec(&status).unwrap()))
                .unwrap(),
        );
        // Kept open: a second request would hang the reconcile rather than fail it quickly.
        (serde_json::from_slice(&bytes).unwrap(), handle)
    });
    let result = tokio::time::timeout(Duration::from_secs(30), reconcile(Arc::new(w.clone()), ctx))
        .await
        .expect("reconcile hung: it made a request after the expected one");
    assert!(result.is_err(), "the refused request ends the reconcile");
    let (body, _handle) = server.await.expect("the request did not match");
    body
}

/// The status write from a copy taken before the WFE's own failure was recorded carries the
/// failure count of the WFEs before it, not one more than its own.
#[tokio::test]
async fn a_stale_copy_never_counts_its_own_newer_failure() {
    // A spec the decision refuses: it fails before execution on every reconcile.
    let mut a = wfe("a");
    a.spec.workflow_ref.container_image = String::new();
    let b = failed_before_execution(&wfe("b"), FailureReason::Forbidden, ago(3600), 2);
    // What the index already holds of `a`: its third failure in a row, the latest on the target.
    let a_failed = failed_before_execution(&a, FailureReason::ConfigurationError, ago(5), 3);
    let body =
        reconcile_expecting_one(&a, &[&b, &a_failed], (Method::PATCH, WFE_STATUS_PATH), 409).await;
    assert_eq!(body["status"]["phase"], "Failed");
    assert_eq!(
        body["status"]["consecutiveFailures"], 3,
        "b's two failures and this one: {body}"
    );
    let window = Settings::default().backoff.window(3);
    assert_eq!(
        body["status"]["nextAllowedExecution"],
        json!(Time(now().checked_add(window).unwrap()))
    );
}

/// A Pending copy of a WFE the watch has since seen fail (its own create refused 5 s ago) starts
/// no PipelineRun: the decision on the stale copy would start one, but a remediation would then
/// run for a WFE that is over. The reconcile makes no request and waits for the newer copy.
#[tokio::test]
async fn a_stale_pending_copy_of_a_wfe_that_moved_on_starts_no_run() {
    let a = wfe("a");
    let b = failed_before_execution(&wfe("b"), FailureReason::Forbidden, ago(3600), 2);
    let a_failed = failed_before_execution(&a, FailureReason::Forbidden, ago(5), 3);
    let (ctx, mut handle) = context(&[&b, &a_failed]);
    let requests = tokio::spawn(async move {
        handle
            .next_request()
            .await
            .map(|(r, _)| format!("{} {}", r.method(), r.uri().path()))
    });
    let result = tokio::time::timeout(Duration::from_secs(30), reconcile(Arc::new(a), ctx))
        .await
        .expect("reconcile hung: it made a request");
    assert_eq!(result.expect("no error"), Action::await_change());
    requests.abort();
    assert!(
        requests.await.is_err_and(|e| e.is_cancelled()),
        "no request was made"
    );
}

/// A WFE of the same name that the watch saw fail long ago (deleted since, and the name created
/// again) is not this one: its phase does not hold this Pending copy back, and the run is
/// created.
#[tokio::test]
async fn another_wfe_of_the_same_name_does_not_hold_a_copy_back() {
    let a = wfe("a");
    let b = failed_before_execution(&wfe("b"), FailureReason::Forbidden, ago(3600), 2);
    let mut earlier_a = failed_before_execution(&a, FailureReason::Forbidden, ago(7200), 1);
    earlier_a.metadata.uid = Some("uid-earlier-a".into());
    let body = reconcile_expecting_one(&a, &[&b, &earlier_a], (Method::POST, RUNS_PATH), 500).await;
    assert_eq!(body["metadata"]["name"], naming::pipeline_run_name(TARGET));
    assert_eq!(
        body["metadata"]["labels"][keys::LABEL_WORKFLOW_EXECUTION_UID],
        naming::label_value("uid-a"),
        "{body}"
    );
}
