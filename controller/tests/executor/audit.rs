//! Audit delivery through reconciles: conflicts, outages, a lagging cache and restarts never
//! send an acknowledged event twice.

use super::*;

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
    let a_running = running_wfe(&started_run(&a));
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
