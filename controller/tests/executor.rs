//! The executor against a mocked API server (tower-test), in the style of kube-rs
//! controller-rs's `ApiServerVerifier`: every request's method, path and body is asserted in
//! order and answered; an unexpected extra request hangs the reconcile and fails the test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
use tower_test::mock::{self, Handle};
use wfe_api::{AuditEventType, Phase, WorkflowExecution, keys, naming};
use wfe_audit::{AuditError, AuditTrail};
use wfe_controller::audit_due::{due_events, record_delivery, set_audit_condition};
use wfe_controller::cached::CachedWfe;
use wfe_controller::decision::{Step, World, decide};
use wfe_controller::executor::{Context, RUNNING_RESYNC, is_quiet, reconcile, reconcile_cached};
use wfe_controller::index::TargetIndex;
use wfe_controller::runner::cache_event;
use wfe_controller::tekton::{self, RunView};
use wfe_controller::{Metrics, Settings};

const TARGET: &str = "team-a/Deployment/payment-api";
const NOW: &str = "2026-03-01T12:00:00Z";
const WFE_STATUS_PATH: &str =
    "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/a/status";
const RUNS_PATH: &str = "/apis/tekton.dev/v1/namespaces/kubernaut-workflows/pipelineruns";
const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/team-a/events";

fn now() -> Timestamp {
    NOW.parse().unwrap()
}

fn ago(secs: i64) -> Timestamp {
    now()
        .checked_sub(jiff::SignedDuration::from_secs(secs))
        .unwrap()
}

fn run_name() -> String {
    naming::pipeline_run_name(TARGET)
}

/// In-memory audit trail that records what it was asked to deliver.
#[derive(Default)]
struct RecordingAudit {
    delivered: Mutex<Vec<(String, AuditEventType)>>,
    down: AtomicBool,
}

impl AuditTrail for RecordingAudit {
    fn deliver<'a>(
        &'a self,
        wfe: &'a WorkflowExecution,
        due: &'a [AuditEventType],
    ) -> BoxFuture<'a, Result<Vec<AuditEventType>, AuditError>> {
        Box::pin(async move {
            if self.down.load(Ordering::SeqCst) {
                return Err(AuditError::Unavailable {
                    sink: "memory",
                    message: "sink is down".into(),
                });
            }
            let mut d = self.delivered.lock().unwrap();
            for e in due {
                d.push((wfe.metadata.name.clone().unwrap(), *e));
            }
            Ok(due.to_vec())
        })
    }
}

impl RecordingAudit {
    fn events(&self) -> Vec<(String, AuditEventType)> {
        self.delivered.lock().unwrap().clone()
    }
}

fn wfe(name: &str) -> WorkflowExecution {
    let mut w = wfe_testing::wfe_on(name, TARGET);
    w.spec.parameters = [("REPLICAS".to_owned(), "3".to_owned())].into();
    w.metadata.finalizers = Some(vec![keys::FINALIZER.to_owned()]);
    w
}

/// A PipelineRun owned by `owner` as the controller builds it, with a UID and optional status.
fn run_of(owner: &WorkflowExecution, uid: &str, status: Option<Value>) -> DynamicObject {
    let mut run = tekton::build_pipeline_run(owner, &Settings::default()).unwrap();
    run.metadata.uid = Some(uid.into());
    run.metadata.resource_version = Some("10".into());
    if let Some(s) = status {
        run.data["status"] = s;
    }
    run
}

fn succeeded(status: &str, reason: &str, message: &str) -> Value {
    json!([{"type": "Succeeded", "status": status, "reason": reason, "message": message}])
}

/// The WFE as it would be persisted after the controller handled `run` at `at`, with every
/// audit event acknowledged: the starting point of the later-phase tests.
fn settled(w: &WorkflowExecution, run: &DynamicObject, at: Timestamp) -> WorkflowExecution {
    let view = RunView::from_object(run);
    let d = decide(
        w,
        &World {
            lock: Some(&view),
            others: &[],
            failed_task: None,
            now: at,
        },
        &Settings::default(),
    );
    let mut status = d.status;
    let policy = wfe_api::block::BlockPolicy::default();
    let due = due_events(&status, &policy);
    record_delivery(&mut status, &due, &policy, Some(1), at);
    let mut out = w.clone();
    out.status = Some(status);
    out
}

struct Harness {
    ctx: Arc<Context>,
    handle: Option<Handle<Request<Body>, Response<Body>>>,
    audit: Arc<RecordingAudit>,
    _runs: Writer<DynamicObject>,
}

fn harness(wfes: &[&WorkflowExecution], runs: &[&DynamicObject]) -> Harness {
    harness_with_trail(wfes, runs, None)
}

/// A harness whose audit trail is `trail` (a real one) instead of the recording fake.
fn harness_with_trail(
    wfes: &[&WorkflowExecution],
    runs: &[&DynamicObject],
    trail: Option<Arc<dyn AuditTrail>>,
) -> Harness {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let index = Arc::new(TargetIndex::new(&Settings::default()));
    for w in wfes {
        index.observe(&watcher::Event::Apply((*w).clone()));
    }
    let mut run_writer = Writer::<DynamicObject>::new(tekton::pipeline_run_resource());
    for r in runs {
        run_writer.apply_watcher_event(&watcher::Event::Apply((*r).clone()));
    }
    let audit = Arc::new(RecordingAudit::default());
    let registry = prometheus::Registry::new();
    let ctx = Context {
        client: client.clone(),
        settings: Settings::default(),
        metrics: Arc::new(Metrics::new(&registry).unwrap()),
        audit: trail.unwrap_or_else(|| audit.clone()),
        recorder: Recorder::new(
            client,
            Reporter {
                controller: keys::REPORTING_CONTROLLER.into(),
                instance: None,
            },
        ),
        runs: run_writer.as_reader(),
        index,
        synced: Arc::new(AtomicBool::new(true)),
        clock: Arc::new(now),
    };
    Harness {
        ctx: Arc::new(ctx),
        handle: Some(handle),
        audit,
        _runs: run_writer,
    }
}

type Responder = Box<dyn FnOnce(&str, Value) -> (u16, Value) + Send>;

/// One expected request and how to answer it.
struct Exchange {
    method: Method,
    path: String,
    respond: Responder,
}

fn expect(
    method: Method,
    path: impl Into<String>,
    respond: impl FnOnce(&str, Value) -> (u16, Value) + Send + 'static,
) -> Exchange {
    Exchange {
        method,
        path: path.into(),
        respond: Box::new(respond),
    }
}

fn api_error(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code}),
    )
}

/// Applies a status apply-patch to `w` like the API server would, bumping resourceVersion.
fn echo_status(w: &WorkflowExecution, body: &Value, rv: &str) -> (u16, Value) {
    let mut out = serde_json::to_value(w).unwrap();
    out["status"] = body["status"].clone();
    out["metadata"]["resourceVersion"] = json!(rv);
    (200, out)
}

fn expect_event(reason: &'static str, type_: &'static str) -> Exchange {
    expect(Method::POST, EVENTS_PATH, move |_, body| {
        assert_eq!(body["reason"], reason, "event: {body}");
        assert_eq!(body["type"], type_);
        assert_eq!(body["reportingController"], keys::REPORTING_CONTROLLER);
        assert_eq!(body["regarding"]["kind"], "WorkflowExecution");
        (201, body)
    })
}

/// Asserts that a request is one of the calls declared in `API_CALLS` (what deploy RBAC grants).
fn assert_declared(method: &Method, path: &str, query: &str) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("unexpected path {path}"),
    };
    if rest.is_empty() {
        return; // discovery: a non-resource URL
    }
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] => rest,
        rest => rest,
    };
    let (resource, named) = match rest {
        [resource] => (resource.to_string(), false),
        [resource, _name] => (resource.to_string(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => panic!("unexpected path {path}"),
    };
    let verb = match (method.as_str(), named) {
        ("GET", _) if query.contains("watch=true") => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("DELETE", _) => "delete",
        (m, _) => panic!("unexpected method {m}"),
    };
    assert!(
        wfe_controller::API_CALLS
            .iter()
            .any(|c| c.verb == verb && c.group == group && c.resource == resource),
        "{verb} {group}/{resource} ({method} {path}) is not declared in API_CALLS"
    );
}

async fn serve(
    mut handle: Handle<Request<Body>, Response<Body>>,
    script: Vec<Exchange>,
) -> Handle<Request<Body>, Response<Body>> {
    for (i, exchange) in script.into_iter().enumerate() {
        let (request, send) = handle
            .next_request()
            .await
            .expect("client dropped before all expected requests");
        assert_eq!(
            (request.method(), request.uri().path()),
            (&exchange.method, exchange.path.as_str()),
            "request #{i}: {} {}",
            request.method(),
            request.uri()
        );
        let query = request.uri().query().unwrap_or_default().to_owned();
        assert_declared(request.method(), request.uri().path(), &query);
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
        if exchange.method == Method::PATCH && exchange.path.ends_with("/status") {
            assert_eq!(
                content_type.as_deref(),
                Some("application/apply-patch+yaml"),
                "status is server-side applied"
            );
            assert!(
                query.contains("force=true")
                    && query.contains("fieldManager=workflowexecution-controller"),
                "{query}"
            );
        }
        let (code, reply) = (exchange.respond)(&query, body);
        let response = Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(&reply).unwrap()))
            .unwrap();
        send.send_response(response);
    }
    handle
}

/// Runs one reconcile against the script; fails on a missing or an unexpected request.
async fn run_script(
    h: &mut Harness,
    w: &WorkflowExecution,
    script: Vec<Exchange>,
) -> Result<Action, wfe_controller::Error> {
    let ctx = h.ctx.clone();
    run_scripted(h, script, reconcile(Arc::new(w.clone()), ctx)).await
}

/// Runs one reconcile of a cache entry, as the controller does, against the script.
async fn run_cached_script(
    h: &mut Harness,
    cached: &Arc<CachedWfe>,
    script: Vec<Exchange>,
) -> Result<Action, wfe_controller::Error> {
    let ctx = h.ctx.clone();
    run_scripted(h, script, reconcile_cached(cached.clone(), ctx)).await
}

async fn run_scripted(
    h: &mut Harness,
    script: Vec<Exchange>,
    reconcile: impl std::future::Future<Output = Result<Action, wfe_controller::Error>>,
) -> Result<Action, wfe_controller::Error> {
    let handle = h.handle.take().expect("handle in use");
    let verifier = tokio::spawn(serve(handle, script));
    let result = tokio::time::timeout(Duration::from_secs(30), reconcile)
        .await
        .expect("reconcile hung: it made a request the script did not expect");
    let handle = tokio::time::timeout(Duration::from_secs(30), verifier)
        .await
        .expect("reconcile finished without making every expected request")
        .expect("a request did not match the script");
    h.handle = Some(handle);
    result
}

fn condition<'a>(body: &'a Value, type_: &str) -> &'a Value {
    body["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} in {body}"))
}

fn created_run_check(expected: DynamicObject) -> impl FnOnce(&str, Value) -> (u16, Value) + Send {
    move |query, body| {
        assert!(
            query.contains("fieldManager=workflowexecution-controller"),
            "{query}"
        );
        assert_eq!(
            body,
            serde_json::to_value(&expected).unwrap(),
            "the PipelineRun body"
        );
        let mut reply = body;
        reply["metadata"]["uid"] = json!("run-new");
        reply["metadata"]["resourceVersion"] = json!("11");
        (201, reply)
    }
}

fn running_patch(w: &WorkflowExecution) -> Exchange {
    let w = w.clone();
    expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
        assert_eq!(body["apiVersion"], "kubernaut.ai/v1alpha1");
        assert_eq!(
            body["metadata"]["resourceVersion"], "1",
            "optimistic concurrency on the observed version"
        );
        assert_eq!(body["status"]["phase"], "Running");
        assert_eq!(
            body["status"]["pipelineRunRef"],
            json!({"name": run_name(), "namespace": "kubernaut-workflows"})
        );
        let created = condition(&body, keys::CONDITION_PIPELINE_RUN_CREATED);
        assert_eq!(
            (
                created["status"].as_str(),
                created["observedGeneration"].as_i64()
            ),
            (Some("True"), Some(1))
        );
        assert_eq!(
            condition(&body, keys::CONDITION_AUDIT_RECORDED)["status"],
            "False"
        );
        echo_status(&w, &body, "2")
    })
}

fn audit_patch(w: &WorkflowExecution, rv_in: &'static str, expected: Value) -> Exchange {
    let w = w.clone();
    expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
        assert_eq!(body["metadata"]["resourceVersion"], rv_in);
        assert_eq!(body["status"]["auditedEvents"], expected);
        assert_eq!(
            condition(&body, keys::CONDITION_AUDIT_RECORDED)["status"],
            "True"
        );
        echo_status(&w, &body, "99")
    })
}

/// A Running WFE (as the cache holds it) and its PipelineRun, which has just succeeded.
fn running_with_succeeded_run(a: &WorkflowExecution) -> (WorkflowExecution, DynamicObject) {
    let started = run_of(a, "run-a", Some(json!({"startTime": ago(60).to_string()})));
    let done = run_of(
        a,
        "run-a",
        Some(json!({
            "startTime": ago(60).to_string(),
            "completionTime": ago(10).to_string(),
            "conditions": succeeded("True", "Succeeded", ""),
        })),
    );
    (running_wfe(&started), done)
}

fn counter(h: &Harness, f: impl Fn(&Metrics) -> u64) -> u64 {
    f(&h.ctx.metrics)
}

#[tokio::test]
async fn create_then_running_with_event_and_audit() {
    let a = wfe("a");
    let mut h = harness(&[&a], &[]);
    let script = vec![
        expect(
            Method::POST,
            RUNS_PATH,
            created_run_check(tekton::build_pipeline_run(&a, &Settings::default()).unwrap()),
        ),
        running_patch(&a),
        expect_event("PipelineRunCreated", "Normal"),
        audit_patch(&a, "2", json!(["workflowexecution.workflow.started"])),
    ];
    let action = run_script(&mut h, &a, script).await.unwrap();
    assert_eq!(action, Action::requeue(RUNNING_RESYNC));
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::WorkflowStarted)]
    );
    assert_eq!(counter(&h, |m| m.pipelinerun_creations.get()), 1);
}

#[tokio::test]
async fn already_exists_and_ours_carries_on() {
    let a = wfe("a");
    let mine = run_of(&a, "run-mine", None);
    let mut h = harness(&[&a], &[]);
    let script = vec![
        expect(Method::POST, RUNS_PATH, |_, _| {
            api_error(
                409,
                "AlreadyExists",
                "pipelineruns.tekton.dev \"wfe-x\" already exists",
            )
        }),
        expect(
            Method::GET,
            format!("{RUNS_PATH}/{}", run_name()),
            move |_, _| (200, serde_json::to_value(&mine).unwrap()),
        ),
        running_patch(&a),
        expect_event("PipelineRunCreated", "Normal"),
        audit_patch(&a, "2", json!(["workflowexecution.workflow.started"])),
    ];
    run_script(&mut h, &a, script).await.unwrap();
    assert_eq!(
        counter(&h, |m| m.pipelinerun_creations.get()),
        0,
        "nothing was created"
    );
}

#[tokio::test]
async fn already_exists_and_theirs_is_skipped_resource_busy_without_deleting_it() {
    let a = wfe("a");
    let b = wfe("b"); // live (Pending): it created the run a moment ago
    let theirs = run_of(&b, "run-b", None);
    let mut h = harness(&[&a, &b], &[]);
    let (a2, a3) = (a.clone(), a.clone());
    let script = vec![
        expect(Method::POST, RUNS_PATH, |_, _| {
            api_error(409, "AlreadyExists", "already exists")
        }),
        expect(
            Method::GET,
            format!("{RUNS_PATH}/{}", run_name()),
            move |_, _| (200, serde_json::to_value(&theirs).unwrap()),
        ),
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            assert_eq!(body["status"]["phase"], "Skipped");
            assert_eq!(body["status"]["reason"], "ResourceBusy");
            assert_eq!(
                body["status"]["skipDetails"]["conflictingWorkflow"]["name"],
                "b"
            );
            // The skip record is due for the local audit sink, so not yet recorded.
            assert_eq!(
                condition(&body, keys::CONDITION_AUDIT_RECORDED)["status"],
                "False"
            );
            echo_status(&a2, &body, "2")
        }),
        expect_event("Skipped", "Normal"),
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            assert_eq!(
                body["status"]["auditedEvents"],
                json!(["workflowexecution.workflow.skipped"])
            );
            assert_eq!(
                condition(&body, keys::CONDITION_AUDIT_RECORDED)["status"],
                "True"
            );
            echo_status(&a3, &body, "3")
        }),
    ];
    let action = run_script(&mut h, &a, script).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::WorkflowSkipped)],
        "the skip is handed to the audit trail exactly once"
    );
    assert_eq!(
        counter(&h, |m| m.skips.with_label_values(&["ResourceBusy"]).get()),
        1
    );
}

#[tokio::test]
async fn already_exists_and_stale_is_deleted_with_uid_precondition_then_created() {
    let a = wfe("a");
    let b = wfe("b");
    let b_run = run_of(
        &b,
        "run-old",
        Some(json!({"conditions": succeeded("True", "Succeeded", "")})),
    );
    let b_done = settled(&b, &b_run, ago(600));
    let b_done = {
        let mut x = b_done;
        x.status.as_mut().unwrap().completion_time = Some(Time(ago(600)));
        x
    };
    let mut h = harness(&[&a, &b_done], &[]);
    let stale = b_run.clone();
    let script = vec![
        expect(Method::POST, RUNS_PATH, |_, _| {
            api_error(409, "AlreadyExists", "already exists")
        }),
        expect(
            Method::GET,
            format!("{RUNS_PATH}/{}", run_name()),
            move |_, _| (200, serde_json::to_value(&stale).unwrap()),
        ),
        expect(
            Method::DELETE,
            format!("{RUNS_PATH}/{}", run_name()),
            |_, body| {
                assert_eq!(
                    body["preconditions"],
                    json!({"uid": "run-old"}),
                    "never delete without the UID precondition"
                );
                (
                    200,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
                )
            },
        ),
        expect(
            Method::POST,
            RUNS_PATH,
            created_run_check(tekton::build_pipeline_run(&a, &Settings::default()).unwrap()),
        ),
        running_patch(&a),
        expect_event("PipelineRunCreated", "Normal"),
        audit_patch(&a, "2", json!(["workflowexecution.workflow.started"])),
    ];
    run_script(&mut h, &a, script).await.unwrap();
}

fn running_wfe(run: &DynamicObject) -> WorkflowExecution {
    settled(&wfe("a"), run, ago(60))
}

#[tokio::test]
async fn completion_is_written_announced_audited_and_requeued_at_cooldown_end() {
    let a = wfe("a");
    let started = run_of(&a, "run-a", Some(json!({"startTime": ago(60).to_string()})));
    let a_running = running_wfe(&started);
    assert_eq!(a_running.phase(), Phase::Running);
    let done = run_of(
        &a,
        "run-a",
        Some(json!({
            "startTime": ago(60).to_string(),
            "completionTime": ago(10).to_string(),
            "conditions": succeeded("True", "Succeeded", "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0"),
            "childReferences": [{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "tr-a", "pipelineTaskName": "restart"}],
        })),
    );
    let mut h = harness(&[&a_running], &[&done]);
    let w = a_running.clone();
    let script = vec![
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            assert_eq!(body["status"]["phase"], "Completed");
            assert_eq!(body["status"]["duration"], "50s");
            assert_eq!(body["status"]["pipelineRunStatus"]["completedTasks"], 1);
            assert_eq!(
                condition(&body, keys::CONDITION_PIPELINE_RUN_COMPLETE)["status"],
                "True"
            );
            echo_status(&w, &body, "2")
        }),
        expect_event("WorkflowCompleted", "Normal"),
        audit_patch(
            &a_running,
            "2",
            json!([
                "workflowexecution.workflow.started",
                "workflowexecution.workflow.completed"
            ]),
        ),
    ];
    let action = run_script(&mut h, &a_running, script).await.unwrap();
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(290)),
        "exactly when the cooldown ends"
    );
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::WorkflowCompleted)]
    );
    assert_eq!(
        counter(&h, |m| m.total.with_label_values(&["Completed"]).get()),
        1
    );
}

#[tokio::test]
async fn failure_looks_up_the_failed_task_run() {
    let a = wfe("a");
    let a_running = running_wfe(&run_of(
        &a,
        "run-a",
        Some(json!({"startTime": ago(60).to_string()})),
    ));
    let failed = run_of(
        &a,
        "run-a",
        Some(json!({
            "startTime": ago(60).to_string(),
            "completionTime": ago(1).to_string(),
            "conditions": succeeded("False", "Failed", "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 0"),
            "childReferences": [
                {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "tr-a", "pipelineTaskName": "drain"},
                {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "tr-b", "pipelineTaskName": "restart"},
            ],
        })),
    );
    let mut h = harness(&[&a_running], &[&failed]);
    let task_runs = "/apis/tekton.dev/v1/namespaces/kubernaut-workflows/taskruns";
    let w = a_running.clone();
    let script = vec![
        expect(Method::GET, format!("{task_runs}/tr-a"), |_, _| {
            (
                200,
                json!({"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "tr-a"},
                         "status": {"startTime": ago(60).to_string(), "conditions": succeeded("True", "Succeeded", "")}}),
            )
        }),
        expect(Method::GET, format!("{task_runs}/tr-b"), |_, _| {
            (
                200,
                json!({"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "tr-b"},
                         "status": {"startTime": ago(30).to_string(),
                                    "conditions": succeeded("False", "Failed", "\"step-restart\" exited with code 2"),
                                    "steps": [{"name": "prep", "terminated": {"exitCode": 0}},
                                              {"name": "restart", "terminated": {"exitCode": 2, "reason": "Error"}}]}}),
            )
        }),
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            let f = &body["status"]["failureDetails"];
            assert_eq!(body["status"]["phase"], "Failed");
            assert_eq!(f["reason"], "TaskFailed");
            assert_eq!(
                (
                    f["failedTaskName"].as_str(),
                    f["failedTaskIndex"].as_i64(),
                    f["exitCode"].as_i64()
                ),
                (Some("restart"), Some(1), Some(2))
            );
            assert_eq!(f["wasExecutionFailure"], true);
            let blocked = condition(&body, keys::CONDITION_TARGET_BLOCKED);
            assert_eq!(
                (blocked["status"].as_str(), blocked["reason"].as_str()),
                (Some("True"), Some("PreviousExecutionFailed"))
            );
            assert!(
                blocked["message"]
                    .as_str()
                    .unwrap()
                    .contains("kubectl patch wfe a -n team-a --subresource=status --type=merge")
            );
            echo_status(&w, &body, "2")
        }),
        expect_event("WorkflowFailed", "Warning"),
        audit_patch(
            &a_running,
            "2",
            json!([
                "workflowexecution.workflow.started",
                "workflowexecution.workflow.failed"
            ]),
        ),
    ];
    run_script(&mut h, &a_running, script).await.unwrap();
}

/// A WFE whose run succeeded 300 s ago (the default cooldown), as persisted, and that run.
fn completed_past_cooldown() -> (WorkflowExecution, DynamicObject) {
    let a = wfe("a");
    let done = run_of(
        &a,
        "run-a",
        Some(json!({
            "startTime": ago(400).to_string(),
            "completionTime": ago(300).to_string(),
            "conditions": succeeded("True", "Succeeded", ""),
        })),
    );
    (settled(&a, &done, ago(300)), done)
}

#[tokio::test]
async fn lock_is_released_exactly_at_cooldown_end_with_uid_precondition() {
    let (a_done, done) = completed_past_cooldown();
    assert_eq!(a_done.phase(), Phase::Completed);
    let mut h = harness(&[&a_done], &[&done]);
    let script = vec![
        expect(
            Method::DELETE,
            format!("{RUNS_PATH}/{}", run_name()),
            |_, body| {
                assert_eq!(body["preconditions"], json!({"uid": "run-a"}));
                (
                    200,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
                )
            },
        ),
        expect_event("LockReleased", "Normal"),
    ];
    let action = run_script(&mut h, &a_done, script).await.unwrap();
    assert_eq!(action, Action::await_change(), "nothing left to wait for");
}

const WFE_PATH: &str = "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/a";

#[tokio::test]
async fn a_settled_cache_entry_lets_go_of_its_object_and_is_read_fresh_when_reconciled_again() {
    let a = wfe("a");
    let done = run_of(
        &a,
        "run-a",
        Some(json!({
            "startTime": ago(400).to_string(),
            "completionTime": ago(300).to_string(),
            "conditions": succeeded("True", "Succeeded", ""),
        })),
    );
    // Finished, its lock already released: nothing left to do.
    let a_done = settled(&a, &done, ago(300));
    let mut h = harness(&[&a_done], &[]);
    let cached = Arc::new(CachedWfe::new(a_done.clone()));
    let action = run_cached_script(&mut h, &cached, vec![]).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert!(
        cached.body().is_none(),
        "settled: the entry keeps only the name"
    );
    // Reconciled again (a timer, a PipelineRun event): it holds no lock, so still nothing to do.
    let action = run_cached_script(&mut h, &cached, vec![]).await.unwrap();
    assert_eq!(action, Action::await_change());
    // It holds its lock after all: read fresh. Deleted in between: nothing to do; its deletion
    // event removes the entry.
    let mut h = harness(&[&a_done], &[&done]);
    let script = vec![expect(Method::GET, WFE_PATH, |_, _| {
        api_error(404, "NotFound", "workflowexecutions \"a\" not found")
    })];
    let action = run_cached_script(&mut h, &cached, script).await.unwrap();
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_quiet_wfe_is_cached_settled_and_reconciled_without_an_api_call_until_it_holds_its_lock()
{
    let s = Settings::default();
    let (a_done, done) = completed_past_cooldown();
    let (failed, _) = blocked_failed_wfe();
    assert!(is_quiet(&a_done, &s, now()));
    assert!(
        is_quiet(&failed, &s, now()),
        "a block awaiting its clearance"
    );
    // The watch path caches it without its object.
    let event = cache_event(watcher::Event::InitApply(a_done.clone()), |w| {
        is_quiet(w, &s, now())
    });
    let watcher::Event::InitApply(entry) = event else {
        panic!("the event kind is kept")
    };
    let entry = Arc::new(entry);
    assert!(entry.body().is_none());
    // Its reconcile (start-up pass, a re-list) makes no API call: the script is empty.
    let mut h = harness(&[&a_done], &[]);
    assert_eq!(
        run_cached_script(&mut h, &entry, vec![]).await.unwrap(),
        Action::await_change()
    );
    assert_eq!(
        counter(&h, |m| m.reconcile_duration.get_sample_count()),
        1,
        "counted as a reconcile like any other"
    );
    // The full reconcile agrees: nothing to write, announce, deliver or wait for.
    assert_eq!(
        run_script(&mut h, &a_done, vec![]).await.unwrap(),
        Action::await_change()
    );
    // Its own lock PipelineRun still exists (a restart inside the cooldown): read and reconciled.
    let mut h = harness(&[&a_done], &[&done]);
    let fresh = a_done.clone();
    let script = vec![
        expect(Method::GET, WFE_PATH, move |_, _| {
            (200, serde_json::to_value(&fresh).unwrap())
        }),
        expect(
            Method::DELETE,
            format!("{RUNS_PATH}/{}", run_name()),
            |_, _| {
                (
                    200,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
                )
            },
        ),
        expect_event("LockReleased", "Normal"),
    ];
    run_cached_script(&mut h, &entry, script).await.unwrap();
}

#[test]
fn a_wfe_with_something_left_to_do_is_not_quiet() {
    let s = Settings::default();
    let a = wfe("a");
    let (a_done, _) = completed_past_cooldown();
    assert!(is_quiet(&a_done, &s, now()));
    let mut unaudited = a_done.clone();
    unaudited.status.as_mut().unwrap().audited_events.clear();
    let mut no_finalizer = a_done.clone();
    no_finalizer.metadata.finalizers = None;
    let mut deleting = a_done.clone();
    deleting.metadata.deletion_timestamp = Some(Time(ago(1)));
    let mut no_completion_time = a_done.clone();
    no_completion_time.status.as_mut().unwrap().completion_time = None;
    let running = running_wfe(&run_of(
        &a,
        "run-a",
        Some(json!({"startTime": ago(60).to_string()})),
    ));
    assert_eq!(running.phase(), Phase::Running);
    // Its delivery failed: nothing acknowledged, and AuditRecorded says why. The decision keeps
    // that condition as it is, so it would write the very same status; only the events still
    // due say that a retry is owed.
    let mut audit_failed = unaudited.clone();
    let generation = audit_failed.metadata.generation;
    set_audit_condition(
        audit_failed.status.as_mut().unwrap(),
        &s.block,
        generation,
        ago(60),
        Some("sink down"),
    );
    let world = World {
        lock: None,
        others: &[],
        failed_task: None,
        now: now(),
    };
    let decision = decide(&audit_failed, &world, &s);
    assert_eq!(
        Some(&decision.status),
        audit_failed.status.as_ref(),
        "the decision would write nothing"
    );
    assert_eq!(decision.step, Step::Nothing, "nor touch a lock");
    assert!(decision.notices.is_empty(), "nor announce anything");
    assert_eq!(decision.requeue_after, None, "nor ask to come back");
    for (what, w) in [
        ("an audit event not acknowledged", &unaudited),
        ("an audit delivery that failed", &audit_failed),
        ("no finalizer yet", &no_finalizer),
        ("being deleted", &deleting),
        ("a status the decision would complete", &no_completion_time),
        ("running", &running),
        ("pending", &a),
    ] {
        assert!(!is_quiet(w, &s, now()), "{what}");
    }
    // Blocked under the settings it failed with, not under today's: the condition must change.
    let (failed, _) = blocked_failed_wfe();
    let mut raised = Settings::default();
    raised.block.max_consecutive_failures = 10;
    assert!(is_quiet(&failed, &s, now()));
    let mut exhausted = failed.clone();
    let status = exhausted.status.as_mut().unwrap();
    status
        .failure_details
        .as_mut()
        .unwrap()
        .was_execution_failure = false;
    status.consecutive_failures = Some(5);
    let status = decide(
        &exhausted,
        &World {
            lock: None,
            others: &[],
            failed_task: None,
            now: now(),
        },
        &s,
    )
    .status;
    exhausted.status = Some(status);
    assert!(is_quiet(&exhausted, &s, now()));
    assert!(!is_quiet(&exhausted, &raised, now()));
}

#[tokio::test]
async fn a_cache_entry_with_work_ahead_keeps_its_object() {
    let a = wfe("a");
    let done = run_of(
        &a,
        "run-a",
        Some(json!({
            "startTime": ago(60).to_string(),
            "completionTime": ago(10).to_string(),
            "conditions": succeeded("True", "Succeeded", ""),
        })),
    );
    // Finished ten seconds ago and still holding the lock: it must come back at cooldown end.
    let a_done = settled(&a, &done, ago(10));
    let mut h = harness(&[&a_done], &[&done]);
    let cached = Arc::new(CachedWfe::new(a_done.clone()));
    let action = run_cached_script(&mut h, &cached, vec![]).await.unwrap();
    assert_ne!(action, Action::await_change(), "requeued at cooldown end");
    assert_eq!(
        cached.body().as_deref(),
        Some(&a_done),
        "not settled: the object stays cached for the next reconcile"
    );
    // A failed reconcile keeps it too (a fresh WFE whose create fails).
    let mut h = harness(&[], &[]);
    let pending = Arc::new(CachedWfe::new(wfe("a")));
    let script = vec![expect(Method::POST, RUNS_PATH, |_, _| {
        api_error(500, "InternalError", "etcd is down")
    })];
    assert!(run_cached_script(&mut h, &pending, script).await.is_err());
    assert!(pending.body().is_some());
}

#[tokio::test]
async fn deletion_cancels_our_run_announces_and_removes_the_finalizer() {
    let a = wfe("a");
    let run = run_of(&a, "run-a", Some(json!({"startTime": ago(60).to_string()})));
    let mut a_deleting = running_wfe(&run);
    a_deleting.metadata.deletion_timestamp = Some(Time(ago(1)));
    let mut h = harness(&[&a_deleting], &[&run]);
    let w = a_deleting.clone();
    let script = vec![
        expect(
            Method::GET,
            format!("{RUNS_PATH}/{}", run_name()),
            move |_, _| (200, serde_json::to_value(&run).unwrap()),
        ),
        expect(
            Method::DELETE,
            format!("{RUNS_PATH}/{}", run_name()),
            |_, body| {
                assert_eq!(body["preconditions"], json!({"uid": "run-a"}));
                (
                    200,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
                )
            },
        ),
        expect_event("WorkflowExecutionDeleted", "Normal"),
        expect(
            Method::PATCH,
            "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/a",
            move |_, body| {
                assert_eq!(
                    body,
                    json!([{"op": "test", "path": "/metadata/finalizers/0", "value": keys::FINALIZER},
                       {"op": "remove", "path": "/metadata/finalizers/0"}])
                );
                (200, serde_json::to_value(&w).unwrap())
            },
        ),
    ];
    run_script(&mut h, &a_deleting, script).await.unwrap();
}

#[tokio::test]
async fn deletion_never_touches_a_run_owned_by_another_wfe() {
    let mut a = wfe("a");
    a.metadata.deletion_timestamp = Some(Time(ago(1)));
    let theirs = run_of(&wfe("b"), "run-b", None);
    let mut h = harness(&[&a], &[]);
    let w = a.clone();
    let script = vec![
        expect(
            Method::GET,
            format!("{RUNS_PATH}/{}", run_name()),
            move |_, _| (200, serde_json::to_value(&theirs).unwrap()),
        ),
        expect_event("WorkflowExecutionDeleted", "Normal"),
        expect(
            Method::PATCH,
            "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/a",
            move |_, _| (200, serde_json::to_value(&w).unwrap()),
        ),
    ];
    run_script(&mut h, &a, script).await.unwrap();
}

/// A deleted WFE whose removal patch finds it already gone, answered with `code`.
async fn finalizer_removal_answered_with(
    code: u16,
) -> (Harness, Result<Action, wfe_controller::Error>) {
    let mut a = wfe("a");
    a.metadata.deletion_timestamp = Some(Time(ago(1)));
    let mut h = harness(&[&a], &[]);
    let script = vec![
        expect(
            Method::GET,
            format!("{RUNS_PATH}/{}", run_name()),
            |_, _| api_error(404, "NotFound", "pipelineruns.tekton.dev not found"),
        ),
        expect_event("WorkflowExecutionDeleted", "Normal"),
        expect(
            Method::PATCH,
            "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/a",
            move |_, _| api_error(code, "Whatever", "finalizer removal answered"),
        ),
    ];
    let result = run_script(&mut h, &a, script).await;
    (h, result)
}

#[tokio::test]
async fn finalizer_removal_that_finds_the_object_gone_is_success() {
    let (h, result) = finalizer_removal_answered_with(404).await;
    let action = result.expect("an object that is already gone is not an error");
    assert_eq!(action, Action::await_change());
    let errors = |kind: &str| counter(&h, |m| m.reconcile_errors.with_label_values(&[kind]).get());
    assert_eq!(errors("finalizer"), 0);
    // Any other failure of the removal still is one, and is counted as such by the policy.
    let (h, result) = finalizer_removal_answered_with(500).await;
    let error = result.expect_err("a failed removal is an error");
    assert_eq!(error.kind(), "finalizer");
    let action = wfe_controller::executor::error_policy(
        Arc::new(CachedWfe::new(wfe("a"))),
        &error,
        h.ctx.clone(),
    );
    assert_eq!(action, Action::requeue(error.retry_after()));
    assert_eq!(
        counter(&h, |m| m
            .reconcile_errors
            .with_label_values(&["finalizer"])
            .get()),
        1
    );
}

#[tokio::test]
async fn new_wfe_gets_the_finalizer_first() {
    let mut a = wfe("a");
    a.metadata.finalizers = None;
    let mut h = harness(&[&a], &[]);
    let w = a.clone();
    let script = vec![expect(
        Method::PATCH,
        "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/a",
        move |_, body| {
            assert_eq!(
                body,
                json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                   {"op": "add", "path": "/metadata/finalizers", "value": [keys::FINALIZER]}])
            );
            (200, serde_json::to_value(&w).unwrap())
        },
    )];
    assert_eq!(
        run_script(&mut h, &a, script).await.unwrap(),
        Action::await_change()
    );
}

#[tokio::test]
async fn regression_4_conflict_on_status_write_emits_nothing_and_retry_emits_once() {
    let a = wfe("a");
    let (a_running, done) = running_with_succeeded_run(&a);
    let mut h = harness(&[&a_running], &[&done]);
    let conflict = vec![expect(Method::PATCH, WFE_STATUS_PATH, |_, _| {
        api_error(
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version",
        )
    })];
    let err = run_script(&mut h, &a_running, conflict).await.unwrap_err();
    assert_eq!(err.kind(), "conflict");
    assert!(
        h.audit.events().is_empty(),
        "no audit for an unpersisted transition"
    );

    let w = a_running.clone();
    let retry = vec![
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            echo_status(&w, &body, "2")
        }),
        expect_event("WorkflowCompleted", "Normal"),
        audit_patch(
            &a_running,
            "2",
            json!([
                "workflowexecution.workflow.started",
                "workflowexecution.workflow.completed"
            ]),
        ),
    ];
    run_script(&mut h, &a_running, retry).await.unwrap();
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::WorkflowCompleted)],
        "exactly once"
    );
    assert_eq!(
        counter(&h, |m| m.total.with_label_values(&["Completed"]).get()),
        1
    );
}

#[tokio::test]
async fn regression_8_run_missing_from_cache_and_server_fails_deleted_externally() {
    let a = wfe("a");
    let a_running = running_wfe(&run_of(
        &a,
        "run-a",
        Some(json!({"startTime": ago(60).to_string()})),
    ));
    let mut h = harness(&[&a_running], &[]);
    let w = a_running.clone();
    let script = vec![
        expect(
            Method::GET,
            format!("{RUNS_PATH}/{}", run_name()),
            |_, _| api_error(404, "NotFound", "not found"),
        ),
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            assert_eq!(body["status"]["phase"], "Failed");
            assert_eq!(body["status"]["failureDetails"]["reason"], "Unknown");
            assert!(
                body["status"]["failureDetails"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("deleted externally")
            );
            echo_status(&w, &body, "2")
        }),
        expect_event("WorkflowFailed", "Warning"),
        audit_patch(
            &a_running,
            "2",
            json!([
                "workflowexecution.workflow.started",
                "workflowexecution.workflow.failed"
            ]),
        ),
    ];
    run_script(&mut h, &a_running, script).await.unwrap();
}

#[tokio::test]
async fn audit_outage_is_recorded_and_retried_with_backoff() {
    let a = wfe("a");
    let (a_running, done) = running_with_succeeded_run(&a);
    let mut h = harness(&[&a_running], &[&done]);
    h.audit.down.store(true, Ordering::SeqCst);
    let w = a_running.clone();
    let persisted: Arc<Mutex<Option<Value>>> = Arc::default();
    let keep = persisted.clone();
    let w2 = a_running.clone();
    let script = vec![
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            echo_status(&w, &body, "2")
        }),
        expect_event("WorkflowCompleted", "Normal"),
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            let c = condition(&body, keys::CONDITION_AUDIT_RECORDED);
            assert_eq!(c["status"], "False");
            assert!(
                c["message"].as_str().unwrap().contains("sink is down"),
                "{c}"
            );
            assert_eq!(
                body["status"]["auditedEvents"],
                json!(["workflowexecution.workflow.started"])
            );
            let reply = echo_status(&w2, &body, "3");
            *keep.lock().unwrap() = Some(reply.1.clone());
            reply
        }),
    ];
    let action = run_script(&mut h, &a_running, script).await.unwrap();
    assert_eq!(
        action,
        Action::requeue(Duration::from_secs(5)),
        "pending audit retries soon"
    );

    h.audit.down.store(false, Ordering::SeqCst);
    let pending: WorkflowExecution =
        serde_json::from_value(persisted.lock().unwrap().clone().unwrap()).unwrap();
    let stored = serde_json::to_value(&pending).unwrap();
    let script = vec![
        expect(Method::GET, WFE_STATUS_PATH, move |_, _| (200, stored)),
        audit_patch(
            &pending,
            "3",
            json!([
                "workflowexecution.workflow.started",
                "workflowexecution.workflow.completed"
            ]),
        ),
    ];
    run_script(&mut h, &pending, script).await.unwrap();
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::WorkflowCompleted)]
    );
}

/// Seen against a real API server: the reconcile that follows our own status write can run on a
/// cache that has not yet seen the write recording the acknowledgement. It must read the stored
/// status and send nothing, instead of delivering the same event a second time.
#[tokio::test]
async fn a_lagging_cache_never_delivers_an_acknowledged_event_again() {
    let a = wfe("a");
    let (a_running, done) = running_with_succeeded_run(&a);
    let mut h = harness(&[&a_running], &[&done]);
    // First reconcile: Completed is written, the event delivered and acknowledged.
    let w = a_running.clone();
    let written: Arc<Mutex<Option<Value>>> = Arc::default();
    let keep = written.clone();
    let acked: Arc<Mutex<Option<Value>>> = Arc::default();
    let keep_acked = acked.clone();
    let w2 = a_running.clone();
    let script = vec![
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            let reply = echo_status(&w, &body, "2");
            *keep.lock().unwrap() = Some(reply.1.clone());
            reply
        }),
        expect_event("WorkflowCompleted", "Normal"),
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            let reply = echo_status(&w2, &body, "3");
            *keep_acked.lock().unwrap() = Some(reply.1.clone());
            reply
        }),
    ];
    run_script(&mut h, &a_running, script).await.unwrap();
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::WorkflowCompleted)]
    );

    // Second reconcile on the cache's copy at resourceVersion 2 (Completed, not yet recorded as
    // audited): the stored object at 3 says it was, so nothing is sent or written.
    let stale: WorkflowExecution =
        serde_json::from_value(written.lock().unwrap().clone().unwrap()).unwrap();
    let stored = acked.lock().unwrap().clone().unwrap();
    let script = vec![expect(Method::GET, WFE_STATUS_PATH, move |_, _| {
        (200, stored)
    })];
    run_script(&mut h, &stale, script).await.unwrap();
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::WorkflowCompleted)],
        "the completed event was delivered exactly once"
    );
}

/// The API server's answer to a status write of `w`, which keeps the webhook-owned clearance
/// the controller never sends.
fn echo_with_clearance(w: &WorkflowExecution, body: &Value, rv: &str) -> (u16, Value) {
    let mut reply = echo_status(w, body, rv);
    reply.1["status"]["blockClearance"] = serde_json::to_value(
        w.status
            .as_ref()
            .unwrap()
            .block_clearance
            .as_deref()
            .unwrap(),
    )
    .unwrap();
    reply
}

/// The status write that records these acknowledged audit event types.
fn expect_audited(types: &'static [&'static str]) -> Exchange {
    expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
        assert_eq!(body["status"]["auditedEvents"], json!(types));
        echo_status(&wfe("a"), &body, "3")
    })
}

fn blocked_failed_wfe() -> (WorkflowExecution, DynamicObject) {
    let a = wfe("a");
    let failed = run_of(
        &a,
        "run-a",
        Some(json!({
            "startTime": ago(3600).to_string(),
            "completionTime": ago(3000).to_string(),
            "conditions": succeeded("False", "Failed", "Task exited with code 1"),
            "childReferences": [{"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "tr-a", "pipelineTaskName": "restart"}],
        })),
    );
    (settled(&a, &failed, ago(3000)), failed)
}

#[tokio::test]
async fn persisted_clearance_releases_the_block_with_event_metric_and_audit() {
    let (mut a, _) = blocked_failed_wfe();
    let status = a.status.as_mut().unwrap();
    assert!(
        status
            .failure_details
            .as_ref()
            .unwrap()
            .was_execution_failure
    );
    let failed_at = status.failure_details.as_deref().unwrap().failed_at.clone();
    status.block_clearance = Some(Box::new(wfe_api::BlockClearance {
        cleared_by: "alice@example.com".into(),
        cleared_by_uid: None,
        cleared_by_groups: vec!["sre".into()],
        cleared_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(ago(5)),
        clear_reason: "rolled back by hand and verified healthy, safe to remediate again now"
            .into(),
        clear_method: keys::CLEAR_METHOD_WEBHOOK.into(),
        admission_request_uid: "adm-1".into(),
        cleared_failure_at: Some(failed_at),
    }));
    let mut h = harness(&[&a], &[]);
    let w = a.clone();
    let script = vec![
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            let c = condition(&body, keys::CONDITION_TARGET_BLOCKED);
            assert_eq!(
                (c["status"].as_str(), c["reason"].as_str()),
                (Some("False"), Some("BlockCleared"))
            );
            assert!(
                body["status"].get("blockClearance").is_none(),
                "the controller never applies webhook-owned fields"
            );
            assert_eq!(
                body["status"]["failureDetails"]["wasExecutionFailure"], true,
                "evidence is kept"
            );
            echo_with_clearance(&w, &body, "2")
        }),
        expect_event("BlockCleared", "Normal"),
        expect_audited(&[
            "workflowexecution.workflow.started",
            "workflowexecution.workflow.failed",
            "workflowexecution.block.cleared",
        ]),
    ];
    run_script(&mut h, &a, script).await.unwrap();
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::BlockCleared)]
    );
    assert_eq!(counter(&h, |m| m.block_clearances.get()), 1);
}

/// The attack of issue 11: the controller's token wrote a record in alice's name, with the
/// webhook's method and bound to the failure. The block stays; a Warning event, the metric and an
/// audit record report it.
#[tokio::test]
async fn a_clearance_written_by_the_controllers_identity_keeps_the_block_and_is_reported() {
    let (mut a, _) = blocked_failed_wfe();
    let status = a.status.as_mut().unwrap();
    let failed_at = status.failure_details.as_deref().unwrap().failed_at.clone();
    let controller = wfe_api::identity::UserInfo {
        username: keys::DEFAULT_CONTROLLER_USERNAME.into(),
        ..Default::default()
    };
    status.block_clearance = Some(Box::new(wfe_api::block::stamp_clearance(
        &controller,
        "rolled back by hand and verified healthy, safe to remediate again now".into(),
        ago(5),
        Some(failed_at),
        "adm-forged",
    )));
    let mut h = harness(&[&a], &[]);
    let w = a.clone();
    let script = vec![
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            let c = condition(&body, keys::CONDITION_TARGET_BLOCKED);
            assert_eq!(
                (c["status"].as_str(), c["reason"].as_str()),
                (Some("True"), Some("PreviousExecutionFailed")),
                "the block stays"
            );
            assert!(
                c["message"]
                    .as_str()
                    .unwrap()
                    .contains("the controller's identity"),
                "{c}"
            );
            echo_with_clearance(&w, &body, "2")
        }),
        expect_event("ForgedClearance", "Warning"),
        expect_audited(&[
            "workflowexecution.workflow.started",
            "workflowexecution.workflow.failed",
            "workflowexecution.block.clearance_forged",
        ]),
    ];
    run_script(&mut h, &a, script).await.unwrap();
    assert_eq!(
        h.audit.events(),
        vec![("a".to_owned(), AuditEventType::ClearanceForged)]
    );
    assert_eq!(counter(&h, |m| m.forged_clearances.get()), 1);
    assert_eq!(counter(&h, |m| m.block_clearances.get()), 0);
}

#[tokio::test]
async fn deletion_waits_for_pending_audit_then_gives_up_after_the_timeout() {
    let (mut a, _) = blocked_failed_wfe();
    a.status.as_mut().unwrap().audited_events = vec![AuditEventType::WorkflowStarted];
    a.metadata.deletion_timestamp = Some(Time(ago(10)));
    let mut h = harness(&[&a], &[]);
    h.audit.down.store(true, Ordering::SeqCst);
    let script = vec![expect(
        Method::GET,
        format!("{RUNS_PATH}/{}", run_name()),
        |_, _| api_error(404, "NotFound", "gone"),
    )];
    let err = run_script(&mut h, &a, script).await.unwrap_err();
    assert_eq!(
        err.kind(),
        "audit_pending",
        "the finalizer stays while audit is pending"
    );

    // Past audit_delete_timeout (5 min): log and let the deletion finish.
    a.metadata.deletion_timestamp = Some(Time(ago(301)));
    let w = a.clone();
    let script = vec![
        expect(
            Method::GET,
            format!("{RUNS_PATH}/{}", run_name()),
            |_, _| api_error(404, "NotFound", "gone"),
        ),
        expect_event("WorkflowExecutionDeleted", "Normal"),
        expect(
            Method::PATCH,
            "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/a",
            move |_, _| (200, serde_json::to_value(&w).unwrap()),
        ),
    ];
    run_script(&mut h, &a, script).await.unwrap();
}

#[tokio::test]
async fn check_tekton_reports_a_missing_crd_clearly() {
    for (code, reply, ok) in [
        (
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "tekton.dev/v1",
                     "resources": [{"name": "pipelineruns", "singularName": "pipelinerun", "namespaced": true, "kind": "PipelineRun", "verbs": ["get"]}]}),
            true,
        ),
        (
            200,
            json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "tekton.dev/v1", "resources": []}),
            false,
        ),
        (
            404,
            json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "message": "the server could not find the requested resource", "code": 404}),
            false,
        ),
    ] {
        let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let client = Client::new(service, "default");
        let verifier = tokio::spawn(serve(
            handle,
            vec![expect(Method::GET, "/apis/tekton.dev/v1", move |_, _| {
                (code, reply)
            })],
        ));
        let result = tokio::time::timeout(
            Duration::from_secs(30),
            wfe_controller::check_tekton(&client),
        )
        .await
        .unwrap();
        verifier.await.unwrap();
        match result {
            Ok(()) => assert!(ok),
            Err(e) => {
                assert!(!ok, "{e}");
                assert!(e.to_string().contains("install Tekton Pipelines"), "{e}");
            }
        }
    }
}

#[tokio::test]
async fn run_syncs_both_caches_and_stops_on_shutdown() {
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let registry = prometheus::Registry::new();
    let synced = Arc::new(AtomicBool::new(false));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let controller = tokio::spawn(wfe_controller::run(
        client,
        Settings::default(),
        Arc::new(Metrics::new(&registry).unwrap()),
        Arc::new(RecordingAudit::default()),
        shutdown.clone(),
        synced.clone(),
    ));
    // Answer the two initial LISTs; keep the WATCHes open without events.
    let server = tokio::spawn(async move {
        let mut lists = Vec::new();
        let mut open_watches = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            let path = request.uri().path().to_owned();
            let query = request.uri().query().unwrap_or_default().to_owned();
            assert_declared(request.method(), &path, &query);
            if query.contains("watch=true") {
                open_watches.push(send);
                continue;
            }
            lists.push(path.clone());
            let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": []});
            send.send_response(
                Response::builder()
                    .body(Body::from(serde_json::to_vec(&list).unwrap()))
                    .unwrap(),
            );
        }
        lists
    });
    tokio::time::timeout(Duration::from_secs(30), async {
        while !synced.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("caches never reported synced");
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), controller)
        .await
        .expect("run did not stop on shutdown")
        .unwrap()
        .unwrap();
    assert!(!synced.load(Ordering::SeqCst), "not ready once stopped");
    let lists = tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("client not dropped")
        .unwrap();
    assert!(
        lists.contains(&"/apis/kubernaut.ai/v1alpha1/workflowexecutions".to_owned()),
        "{lists:?}"
    );
    assert!(
        lists.contains(
            &"/apis/tekton.dev/v1/namespaces/kubernaut-workflows/pipelineruns".to_owned()
        ),
        "{lists:?}"
    );
}

/// End to end through `run()`: a PipelineRun status change arriving on the watch triggers the
/// owner's reconcile (no predicate filters it, no polling needed), which completes the WFE.
#[tokio::test]
async fn pipeline_run_status_change_on_the_watch_triggers_the_reconcile() {
    let a = wfe("a");
    let started_at = Timestamp::now()
        .checked_sub(jiff::SignedDuration::from_secs(30))
        .unwrap();
    let running_run = run_of(
        &a,
        "run-a",
        Some(json!({"startTime": started_at.to_string()})),
    );
    let mut a_running = settled(&a, &running_run, started_at);
    // Make the first reconcile write something, so the test knows when it is done.
    a_running.status.as_mut().unwrap().pipeline_run_status = None;
    let mut finished_run = running_run.clone();
    finished_run.data["status"]["conditions"] = succeeded(
        "True",
        "Succeeded",
        "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0",
    );
    finished_run.data["status"]["completionTime"] = json!(Timestamp::now().to_string());
    finished_run.metadata.resource_version = Some("11".into());

    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let registry = prometheus::Registry::new();
    let synced = Arc::new(AtomicBool::new(false));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let audit = Arc::new(RecordingAudit::default());
    let controller = tokio::spawn(wfe_controller::run(
        client,
        Settings::default(),
        Arc::new(Metrics::new(&registry).unwrap()),
        audit.clone(),
        shutdown.clone(),
        synced.clone(),
    ));
    let (completed_tx, completed_rx) = tokio::sync::oneshot::channel::<Value>();
    let server = tokio::spawn(async move {
        let mut completed_tx = Some(completed_tx);
        let mut open_watches = Vec::new();
        let mut run_watches = 0;
        let mut first_run_watch = None;
        while let Some((request, send)) = handle.next_request().await {
            let method = request.method().clone();
            let path = request.uri().path().to_owned();
            let query = request.uri().query().unwrap_or_default().to_owned();
            assert_declared(&method, &path, &query);
            let bytes = request.into_body().collect_bytes().await.unwrap();
            let body: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap()
            };
            let reply = |code: u16, v: &Value| {
                Response::builder()
                    .status(code)
                    .body(Body::from(serde_json::to_vec(v).unwrap()))
                    .unwrap()
            };
            let watching = query.contains("watch=true");
            match (method.as_str(), path.as_str()) {
                ("GET", "/apis/kubernaut.ai/v1alpha1/workflowexecutions") if watching => open_watches.push(send),
                ("GET", "/apis/kubernaut.ai/v1alpha1/workflowexecutions") => send.send_response(reply(
                    200,
                    &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": [a_running]}),
                )),
                ("GET", RUNS_PATH) if watching => {
                    run_watches += 1;
                    if run_watches == 1 {
                        first_run_watch = Some(send);
                    } else {
                        open_watches.push(send);
                    }
                }
                ("GET", RUNS_PATH) => send.send_response(reply(
                    200,
                    &json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "10"}, "items": [running_run]}),
                )),
                ("PATCH", WFE_STATUS_PATH) => {
                    let (code, v) = echo_status(&a_running, &body, "2");
                    if body["status"]["phase"] == "Completed"
                        && let Some(tx) = completed_tx.take()
                    {
                        let _ = tx.send(body.clone());
                    }
                    send.send_response(reply(code, &v));
                    // The initial reconcile is done (the WFE stays Running and is not requeued
                    // for 10 minutes): only now does Tekton report the run finished, as one
                    // MODIFIED event carrying only a status change; then that watch ends.
                    if body["status"]["phase"] == "Running"
                        && let Some(watch) = first_run_watch.take()
                    {
                        let event = json!({"type": "MODIFIED", "object": finished_run});
                        let mut line = serde_json::to_vec(&event).unwrap();
                        line.push(b'\n');
                        watch.send_response(Response::builder().body(Body::from(line)).unwrap());
                    }
                }
                ("POST", EVENTS_PATH) => send.send_response(reply(201, &body)),
                (m, p) => panic!("unexpected request {m} {p}?{query}"),
            }
        }
    });
    let patch = tokio::time::timeout(Duration::from_secs(30), completed_rx)
        .await
        .expect("the PipelineRun status change never led to a status write")
        .unwrap();
    assert_eq!(patch["status"]["pipelineRunStatus"]["completedTasks"], 1);
    assert!(synced.load(Ordering::SeqCst));
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), controller)
        .await
        .expect("run did not stop")
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("client not dropped")
        .unwrap();
}

/// After a restart (a new process with an empty memory, state only from the API server), only
/// the events the stored status does not record as acknowledged are sent.
#[tokio::test]
async fn after_a_restart_only_unacknowledged_events_are_sent() {
    let a = wfe("a");
    let (a_running, done) = running_with_succeeded_run(&a);
    // The first process wrote Completed and crashed before delivering its event.
    let mut first = harness(&[&a_running], &[&done]);
    first.audit.down.store(true, Ordering::SeqCst);
    let w = a_running.clone();
    let stored: Arc<Mutex<Option<Value>>> = Arc::default();
    let keep = stored.clone();
    let w2 = a_running.clone();
    let script = vec![
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            echo_status(&w, &body, "2")
        }),
        expect_event("WorkflowCompleted", "Normal"),
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            let reply = echo_status(&w2, &body, "3");
            *keep.lock().unwrap() = Some(reply.1.clone());
            reply
        }),
    ];
    run_script(&mut first, &a_running, script).await.unwrap();
    assert!(first.audit.events().is_empty(), "nothing was acknowledged");

    // The restarted process sees started acknowledged and completed not: it sends completed only.
    let stored_wfe: WorkflowExecution =
        serde_json::from_value(stored.lock().unwrap().clone().unwrap()).unwrap();
    assert_eq!(
        stored_wfe.status.as_ref().unwrap().audited_events,
        vec![AuditEventType::WorkflowStarted]
    );
    let mut restarted = harness(&[&stored_wfe], &[&done]);
    let body = serde_json::to_value(&stored_wfe).unwrap();
    let script = vec![
        expect(Method::GET, WFE_STATUS_PATH, move |_, _| (200, body)),
        audit_patch(
            &stored_wfe,
            "3",
            json!([
                "workflowexecution.workflow.started",
                "workflowexecution.workflow.completed"
            ]),
        ),
    ];
    run_script(&mut restarted, &stored_wfe, script)
        .await
        .unwrap();
    assert_eq!(
        restarted.audit.events(),
        vec![("a".to_owned(), AuditEventType::WorkflowCompleted)]
    );
}

/// A real file audit trail, as a fresh process builds it.
fn file_trail(path: &std::path::Path) -> Arc<dyn AuditTrail> {
    let settings = wfe_audit::AuditSettings {
        sink: wfe_audit::SinkKind::File,
        path: Some(path.to_owned()),
        ..Default::default()
    };
    let metrics = wfe_audit::AuditMetrics::register(&prometheus::Registry::new()).unwrap();
    Arc::new(wfe_audit::AuditTrailImpl::new(&settings, metrics).unwrap())
}

fn skip_records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|r| r["record"] == AuditEventType::WorkflowSkipped.as_str())
        .collect()
}

#[tokio::test]
async fn a_skip_reaches_the_file_sink_once_and_a_restart_repeats_at_most_its_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let a = wfe("a");
    let b = wfe("b");
    let theirs = run_of(&b, "run-b", None);
    let mut h = harness_with_trail(&[&a, &b], &[], Some(file_trail(&path)));
    let persisted = Arc::new(Mutex::new(None::<WorkflowExecution>));
    let (a2, a3, keep) = (a.clone(), a.clone(), persisted.clone());
    let script = vec![
        expect(Method::POST, RUNS_PATH, |_, _| {
            api_error(409, "AlreadyExists", "already exists")
        }),
        expect(
            Method::GET,
            format!("{RUNS_PATH}/{}", run_name()),
            move |_, _| (200, serde_json::to_value(&theirs).unwrap()),
        ),
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            assert_eq!(body["status"]["phase"], "Skipped");
            echo_status(&a2, &body, "2")
        }),
        expect_event("Skipped", "Normal"),
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            let out = echo_status(&a3, &body, "3");
            *keep.lock().unwrap() = Some(serde_json::from_value(out.1.clone()).unwrap());
            out
        }),
    ];
    run_script(&mut h, &a, script).await.unwrap();
    let first = skip_records(&path);
    assert_eq!(first.len(), 1, "one record per skip: {first:?}");
    assert_eq!(first[0]["skip_details"]["reason"], "ResourceBusy");
    assert_eq!(first[0]["skip_details"]["conflictingWorkflow"]["name"], "b");
    let id = first[0]["event_id"].clone();

    // A restarted process sees the acknowledgement in status.auditedEvents: nothing is written.
    let skipped = persisted.lock().unwrap().clone().expect("persisted skip");
    let mut h = harness_with_trail(&[&skipped, &b], &[], Some(file_trail(&path)));
    run_script(&mut h, &skipped, vec![]).await.unwrap();
    assert_eq!(
        skip_records(&path).len(),
        1,
        "no second record after a restart"
    );

    // A process that died between writing the record and persisting the acknowledgement: its
    // successor writes it again under the same deterministic id, so readers can dedupe.
    let mut unacked = skipped.clone();
    unacked.status.as_mut().unwrap().audited_events.clear();
    let (a4, a5) = (unacked.clone(), unacked.clone());
    let mut h = harness_with_trail(&[&unacked, &b], &[], Some(file_trail(&path)));
    let script = vec![
        // The decision notices the record is due again (AuditRecorded=False), then delivers.
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            assert_eq!(
                condition(&body, keys::CONDITION_AUDIT_RECORDED)["status"],
                "False"
            );
            echo_status(&a5, &body, "4")
        }),
        expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
            assert_eq!(
                body["status"]["auditedEvents"],
                json!(["workflowexecution.workflow.skipped"])
            );
            echo_status(&a4, &body, "5")
        }),
    ];
    run_script(&mut h, &unacked, script).await.unwrap();
    let all = skip_records(&path);
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["event_id"], id, "the same id after a restart");
}
