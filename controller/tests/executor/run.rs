//! The whole controller through `run()`: the Tekton check, cache sync and shutdown, and a
//! PipelineRun status change on the watch.

use super::*;

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
