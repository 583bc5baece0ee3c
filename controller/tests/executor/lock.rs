//! Taking, keeping and releasing the lock: the PipelineRun create, its conflicts, completion,
//! failure and the release at cooldown end.

use super::*;

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

#[tokio::test]
async fn completion_is_written_announced_audited_and_requeued_at_cooldown_end() {
    let a = wfe("a");
    let started = started_run(&a);
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
    let a_running = running_wfe(&started_run(&a));
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
