use super::*;
use wfe_api::ExecutionConfig;

fn wfe() -> WorkflowExecution {
    let mut w = wfe_testing::wfe_on("restart-1", "team-a/Deployment/payment-api");
    w.spec.remediation_request_ref.name = "rr-1".into();
    w.spec.parameters = [
        ("ZETA".to_owned(), "z".to_owned()),
        ("ALPHA".to_owned(), "a".to_owned()),
    ]
    .into();
    w.metadata.uid = Some("uid-1".into());
    w.metadata.generation = None;
    w.metadata.resource_version = None;
    w
}

#[test]
fn pipeline_run_is_built_exactly_as_specified() {
    let run = build_pipeline_run(&wfe(), &Settings::default()).unwrap();
    let v = serde_json::to_value(&run).unwrap();
    assert_eq!(
        v,
        json!({
            "apiVersion": "tekton.dev/v1",
            "kind": "PipelineRun",
            "metadata": {
                "name": "wfe-0d96b913074f137c",
                "namespace": "kubernaut-workflows",
                "labels": {
                    "kubernaut.ai/workflow-execution": "restart-1",
                    "kubernaut.ai/source-namespace": "team-a",
                    "kubernaut.ai/workflow-id": "restart-deployment",
                    "kubernaut.ai/workflow-execution-uid": "uid-1",
                },
                "annotations": {
                    "kubernaut.ai/target-resource": "team-a/Deployment/payment-api",
                    "kubernaut.ai/workflow-execution": "team-a/restart-1",
                },
            },
            "spec": {
                "pipelineRef": {
                    "resolver": "bundles",
                    "params": [
                        {"name": "bundle", "value": "registry.example/workflows/restart:v1"},
                        {"name": "name", "value": "workflow"},
                        {"name": "kind", "value": "pipeline"},
                    ],
                },
                "params": [
                    {"name": "ALPHA", "value": "a"},
                    {"name": "ZETA", "value": "z"},
                    {"name": "TARGET_RESOURCE", "value": "team-a/Deployment/payment-api"},
                ],
                "taskRunTemplate": {"serviceAccountName": "kubernaut-workflow-runner"},
                "timeouts": {"pipeline": "1h0m0s"},
            }
        })
    );
}

#[test]
fn timeout_and_allowed_service_account_come_from_the_wfe() {
    let mut w = wfe();
    w.spec.execution_config = Some(ExecutionConfig {
        timeout: Some("15m".into()),
        service_account_name: Some("special".into()),
    });
    let settings = Settings {
        allowed_service_accounts: vec!["special".into()],
        ..Settings::default()
    };
    let v = build_pipeline_run(&w, &settings).unwrap().data;
    assert_eq!(v["spec"]["timeouts"]["pipeline"], "15m0s");
    assert_eq!(
        v["spec"]["taskRunTemplate"]["serviceAccountName"],
        "special"
    );
    // Not allow-listed: the runner account, never the requested one.
    let v = build_pipeline_run(&w, &Settings::default()).unwrap().data;
    assert_eq!(
        v["spec"]["taskRunTemplate"]["serviceAccountName"],
        "kubernaut-workflow-runner"
    );
}

#[test]
fn labels_stay_valid_for_long_names() {
    let mut w = wfe();
    w.metadata.name = Some("x".repeat(200));
    w.spec.workflow_ref.workflow_id = "Workflow/With:Odd Chars".into();
    let run = build_pipeline_run(&w, &Settings::default()).unwrap();
    for v in run.metadata.labels.unwrap().values() {
        assert!(naming::is_valid_label_value(v), "{v}");
    }
    let exact = &run.metadata.annotations.unwrap()[keys::ANNOTATION_WORKFLOW_EXECUTION];
    assert_eq!(exact, &format!("team-a/{}", "x".repeat(200)));
}

#[test]
fn missing_uid_is_a_clear_error() {
    let mut w = wfe();
    w.metadata.uid = None;
    assert_eq!(
        build_pipeline_run(&w, &Settings::default()),
        Err(BuildError::MissingMetadata("uid"))
    );
}

fn dynamic(v: Value) -> DynamicObject {
    serde_json::from_value(v).unwrap()
}

#[test]
fn run_view_reads_owner_condition_and_children() {
    let mut obj = build_pipeline_run(&wfe(), &Settings::default()).unwrap();
    obj.metadata.uid = Some("run-uid".into());
    obj.data["status"] = json!({
        "startTime": "2026-01-01T00:00:00Z",
        "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running",
                        "message": "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0"}],
        "childReferences": [
            {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "tr-a", "pipelineTaskName": "drain"},
            {"apiVersion": "tekton.dev/v1", "kind": "TaskRun", "name": "tr-b", "pipelineTaskName": "restart"},
        ],
    });
    let view = RunView::from_object(&obj);
    assert_eq!(
        view.owner,
        Some(RunOwner {
            namespace: "team-a".into(),
            name: "restart-1".into(),
            uid: "uid-1".into()
        })
    );
    assert!(view.is_owned_by("uid-1"));
    assert!(!view.is_owned_by("uid-2"));
    assert_eq!(view.task_progress(), (1, 2));
    assert_eq!(
        view.task_runs[1].pipeline_task_name.as_deref(),
        Some("restart")
    );
    assert_eq!(
        view.start_time,
        Some("2026-01-01T00:00:00Z".parse().unwrap())
    );
}

#[test]
fn unlabelled_run_has_no_owner() {
    let view = RunView::from_object(&dynamic(json!({
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {"name": "wfe-x"}
    })));
    assert_eq!(view.owner, None);
    assert!(!view.is_owned_by(""));
}

#[test]
fn task_run_view_finds_first_non_zero_exit_code() {
    let tr = TaskRunView::from_object(&dynamic(json!({
        "apiVersion": "tekton.dev/v1", "kind": "TaskRun", "metadata": {"name": "tr-b"},
        "status": {
            "startTime": "2026-01-01T00:00:00Z",
            "conditions": [{"type": "Succeeded", "status": "False", "reason": "Failed",
                            "message": "\"step-restart\" exited with code 137"}],
            "steps": [
                {"name": "a", "terminated": {"exitCode": 0, "reason": "Completed"}},
                {"name": "b", "terminated": {"exitCode": 137, "reason": "OOMKilled"}},
                {"name": "c", "terminated": {"exitCode": 2, "reason": "Error"}},
            ],
        }
    })));
    assert!(tr.failed() && tr.started);
    assert_eq!(tr.exit_code, Some(137));
    assert_eq!(tr.step_reason.as_deref(), Some("OOMKilled"));
}

fn cond(reason: &str, message: &str) -> SucceededCondition {
    SucceededCondition {
        status: "False".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
    }
}

#[test]
fn classification_matches_whole_words() {
    let cases = [
        (
            "Failed",
            "Task exited with code 1",
            FailureReason::TaskFailed,
        ),
        (
            "Failed",
            "no room left for another replica",
            FailureReason::Unknown,
        ),
        (
            "Failed",
            "container was OOMKilled",
            FailureReason::OomKilled,
        ),
        (
            "Failed",
            "process ran out of memory",
            FailureReason::OomKilled,
        ),
        (
            "PipelineRunTimeout",
            "PipelineRun \"x\" failed to finish within \"1h0m0s\"",
            FailureReason::DeadlineExceeded,
        ),
        (
            "Failed",
            "deadline exceeded",
            FailureReason::DeadlineExceeded,
        ),
        (
            "Failed",
            "pods \"x\" is forbidden: User cannot create",
            FailureReason::Forbidden,
        ),
        (
            "Failed",
            "exceeded quota: compute-resources",
            FailureReason::ResourceExhausted,
        ),
        (
            "ExceededResourceQuota",
            "",
            FailureReason::ResourceExhausted,
        ),
        (
            "TaskRunImagePullFailed",
            "failed to pull image",
            FailureReason::ImagePullBackOff,
        ),
        (
            "Failed",
            "Back-off pulling image \"bad\": ErrImagePull",
            FailureReason::ImagePullBackOff,
        ),
        (
            "CouldntGetPipeline",
            "bundle could not be resolved",
            FailureReason::ConfigurationError,
        ),
        (
            "PipelineValidationFailed",
            "invalid parameter",
            FailureReason::ConfigurationError,
        ),
        ("Failed", "something odd happened", FailureReason::Unknown),
        // Substrings must not match: "bloom", "timeoutless", "forbiddenness" are different words.
        ("Failed", "bloom filter rebuilt", FailureReason::Unknown),
        ("Failed", "quotation marks missing", FailureReason::Unknown),
    ];
    for (reason, message, expected) in cases {
        assert_eq!(
            classify_failure(Some(&cond(reason, message)), None),
            expected,
            "{reason}: {message}"
        );
    }
}

#[test]
fn failed_task_makes_an_otherwise_unknown_failure_task_failed_and_its_step_reason_counts() {
    let task = FailedTask {
        task_name: "restart".into(),
        index: 1,
        task_run: TaskRunView {
            name: "tr".into(),
            exit_code: Some(2),
            ..Default::default()
        },
    };
    assert_eq!(
        classify_failure(
            Some(&cond("Failed", "Tasks Completed: 2 (Failed: 1)")),
            Some(&task)
        ),
        FailureReason::TaskFailed
    );
    let oom = FailedTask {
        task_run: TaskRunView {
            step_reason: Some("OOMKilled".into()),
            ..task.task_run.clone()
        },
        ..task
    };
    assert_eq!(
        classify_failure(Some(&cond("Failed", "")), Some(&oom)),
        FailureReason::OomKilled
    );
}

#[test]
fn execution_failure_needs_a_started_task_and_an_executing_reason() {
    assert!(was_execution_failure(FailureReason::TaskFailed, true));
    assert!(was_execution_failure(FailureReason::OomKilled, true));
    assert!(!was_execution_failure(FailureReason::TaskFailed, false));
    for r in [
        FailureReason::ImagePullBackOff,
        FailureReason::ConfigurationError,
        FailureReason::ResourceExhausted,
    ] {
        assert!(!was_execution_failure(r, true), "{r:?}");
    }
}

#[test]
fn summary_says_what_where_why_how_long_and_what_to_do() {
    let task = FailedTask {
        task_name: "restart".into(),
        index: 1,
        task_run: TaskRunView {
            exit_code: Some(1),
            ..Default::default()
        },
    };
    let s = natural_language_summary(
        &wfe(),
        FailureReason::TaskFailed,
        "Task exited with code 1",
        Some(&task),
        Some(Duration::from_secs(42)),
    );
    for part in [
        "restart-deployment",
        "Deployment team-a/payment-api",
        "42s",
        "'restart'",
        "exit code 1",
        "Recommendation",
    ] {
        assert!(s.contains(part), "{part} missing in {s}");
    }
}

#[test]
fn summary_rounds_durations_for_people() {
    let s = natural_language_summary(
        &wfe(),
        FailureReason::TaskFailed,
        "Task exited with code 1",
        None,
        Some(Duration::from_nanos(1_174_255_767)),
    );
    assert!(s.contains("after running for 1.2s "), "{s}");
    let s = natural_language_summary(
        &wfe(),
        FailureReason::DeadlineExceeded,
        "PipelineRun timed out",
        None,
        Some(Duration::from_secs(250)),
    );
    assert!(s.contains("after running for 4m 10s "), "{s}");
}

#[test]
fn summary_of_an_externally_deleted_run_does_not_send_the_operator_to_it() {
    let message = format!("PipelineRun wfe-0123 {RUN_DELETED_EXTERNALLY}");
    let s = natural_language_summary(
        &wfe(),
        FailureReason::Unknown,
        &message,
        None,
        Some(Duration::from_secs(5)),
    );
    assert!(
        s.contains("deleted by someone other than the controller"),
        "{s}"
    );
    assert!(s.contains("no longer exist"), "{s}");
    assert!(!s.contains("inspect the PipelineRun"), "{s}");
    assert!(!s.contains("Tekton reported"), "{s}");
    // Any other unclassified failure still points at the run.
    let s = natural_language_summary(&wfe(), FailureReason::Unknown, "odd", None, None);
    assert!(s.contains("inspect the PipelineRun"), "{s}");
}
