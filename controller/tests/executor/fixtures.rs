//! What the executor tests are made of: WFEs and PipelineRuns as the controller persists them,
//! the recording audit trail, and the status bodies a script checks.

use super::*;

pub(crate) const TARGET: &str = "team-a/Deployment/payment-api";
pub(crate) const NOW: &str = "2026-03-01T12:00:00Z";
pub(crate) const WFE_STATUS_PATH: &str =
    "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/a/status";
pub(crate) const RUNS_PATH: &str =
    "/apis/tekton.dev/v1/namespaces/kubernaut-workflows/pipelineruns";
pub(crate) const EVENTS_PATH: &str = "/apis/events.k8s.io/v1/namespaces/team-a/events";

pub(crate) fn now() -> Timestamp {
    NOW.parse().unwrap()
}

pub(crate) fn ago(secs: i64) -> Timestamp {
    now()
        .checked_sub(jiff::SignedDuration::from_secs(secs))
        .unwrap()
}

pub(crate) fn run_name() -> String {
    naming::pipeline_run_name(TARGET)
}

/// In-memory audit trail that records what it was asked to deliver.
#[derive(Default)]
pub(crate) struct RecordingAudit {
    pub(crate) delivered: Mutex<Vec<(String, AuditEventType)>>,
    pub(crate) down: AtomicBool,
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
    pub(crate) fn events(&self) -> Vec<(String, AuditEventType)> {
        self.delivered.lock().unwrap().clone()
    }
}

pub(crate) fn wfe(name: &str) -> WorkflowExecution {
    let mut w = wfe_testing::wfe_on(name, TARGET);
    w.spec.parameters = [("REPLICAS".to_owned(), "3".to_owned())].into();
    w.metadata.finalizers = Some(vec![keys::FINALIZER.to_owned()]);
    w
}

/// A PipelineRun owned by `owner` as the controller builds it, with a UID and optional status.
pub(crate) fn run_of(owner: &WorkflowExecution, uid: &str, status: Option<Value>) -> DynamicObject {
    let mut run = tekton::build_pipeline_run(owner, &Settings::default()).unwrap();
    run.metadata.uid = Some(uid.into());
    run.metadata.resource_version = Some("10".into());
    if let Some(s) = status {
        run.data["status"] = s;
    }
    run
}

pub(crate) fn succeeded(status: &str, reason: &str, message: &str) -> Value {
    json!([{"type": "Succeeded", "status": status, "reason": reason, "message": message}])
}

/// The WFE as it would be persisted after the controller handled `run` at `at`, with every
/// audit event acknowledged: the starting point of the later-phase tests.
pub(crate) fn settled(
    w: &WorkflowExecution,
    run: &DynamicObject,
    at: Timestamp,
) -> WorkflowExecution {
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

pub(crate) fn condition<'a>(body: &'a Value, type_: &str) -> &'a Value {
    body["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} in {body}"))
}

pub(crate) fn created_run_check(
    expected: DynamicObject,
) -> impl FnOnce(&str, Value) -> (u16, Value) + Send {
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

pub(crate) fn running_patch(w: &WorkflowExecution) -> Exchange {
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

pub(crate) fn audit_patch(w: &WorkflowExecution, rv_in: &'static str, expected: Value) -> Exchange {
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

/// `a`'s PipelineRun `run-a`, started a minute ago and still running.
pub(crate) fn started_run(a: &WorkflowExecution) -> DynamicObject {
    run_of(a, "run-a", Some(json!({"startTime": ago(60).to_string()})))
}

/// A Running WFE (as the cache holds it) and its PipelineRun, which has just succeeded.
pub(crate) fn running_with_succeeded_run(
    a: &WorkflowExecution,
) -> (WorkflowExecution, DynamicObject) {
    let started = started_run(a);
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

pub(crate) fn counter(h: &Harness, f: impl Fn(&Metrics) -> u64) -> u64 {
    f(&h.ctx.metrics)
}

pub(crate) fn running_wfe(run: &DynamicObject) -> WorkflowExecution {
    settled(&wfe("a"), run, ago(60))
}

/// A WFE whose run succeeded 300 s ago (the default cooldown), as persisted, and that run.
pub(crate) fn completed_past_cooldown() -> (WorkflowExecution, DynamicObject) {
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

pub(crate) const WFE_PATH: &str =
    "/apis/kubernaut.ai/v1alpha1/namespaces/team-a/workflowexecutions/a";

/// The API server's answer to a status write of `w`, which keeps the webhook-owned clearance
/// the controller never sends.
pub(crate) fn echo_with_clearance(w: &WorkflowExecution, body: &Value, rv: &str) -> (u16, Value) {
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
pub(crate) fn expect_audited(types: &'static [&'static str]) -> Exchange {
    expect(Method::PATCH, WFE_STATUS_PATH, move |_, body| {
        assert_eq!(body["status"]["auditedEvents"], json!(types));
        echo_status(&wfe("a"), &body, "3")
    })
}

pub(crate) fn blocked_failed_wfe() -> (WorkflowExecution, DynamicObject) {
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
