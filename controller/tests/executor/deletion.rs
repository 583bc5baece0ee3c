//! Deletion and the finalizer: runs cancelled or left alone, removal that finds the object
//! gone, audit still pending.

use super::*;

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
        expect(Method::PATCH, WFE_PATH, move |_, body| {
            assert_eq!(
                body,
                json!([{"op": "test", "path": "/metadata/finalizers/0", "value": keys::FINALIZER},
                       {"op": "remove", "path": "/metadata/finalizers/0"}])
            );
            (200, serde_json::to_value(&w).unwrap())
        }),
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
        expect(Method::PATCH, WFE_PATH, move |_, _| {
            (200, serde_json::to_value(&w).unwrap())
        }),
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
        expect(Method::PATCH, WFE_PATH, move |_, _| {
            api_error(code, "Whatever", "finalizer removal answered")
        }),
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
    let script = vec![expect(Method::PATCH, WFE_PATH, move |_, body| {
        assert_eq!(
            body,
            json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
                   {"op": "add", "path": "/metadata/finalizers", "value": [keys::FINALIZER]}])
        );
        (200, serde_json::to_value(&w).unwrap())
    })];
    assert_eq!(
        run_script(&mut h, &a, script).await.unwrap(),
        Action::await_change()
    );
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
        expect(Method::PATCH, WFE_PATH, move |_, _| {
            (200, serde_json::to_value(&w).unwrap())
        }),
    ];
    run_script(&mut h, &a, script).await.unwrap();
}
