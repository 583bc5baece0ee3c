//! `blocked`, `why` and `history` against a mocked API server: each request's method, path,
//! query and body is asserted in order and answered; the error paths answer with what a real API
//! server sends.

use http::Method;
use serde_json::{Value, json};
use wfe_api::block::CLEAR_REASON_PLACEHOLDER;
use wfe_plugin::PluginError;

mod support;
use support::*;

// ---- blocked ----------------------------------------------------------------------------

#[tokio::test]
async fn blocked_lists_each_blocked_target_with_its_clear_command() {
    let items = vec![
        wfe("boom", failed_status(true, 0)),
        wfe("pre", failed_status(false, 1)),
        json!({"apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecution",
            "metadata": {"name": "broken", "namespace": "team-a"}, "spec": {"targetResource": 7}}),
    ];
    let out = run(&["blocked"], vec![expect(Method::GET, WFES, list(items))])
        .await
        .unwrap();
    assert!(out.stdout.contains("boom"), "{}", out.stdout);
    assert!(
        !out.stdout.contains("pre "),
        "a pre-execution failure below the limit does not block"
    );
    assert!(
        out.stdout.contains(&format!(
            "kubectl wfe clear boom -n team-a --reason \"{CLEAR_REASON_PLACEHOLDER}\""
        )),
        "{}",
        out.stdout
    );
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(out.warnings[0].contains("team-a/broken") && out.warnings[0].contains("spec"));
}

#[tokio::test]
async fn blocked_all_namespaces_as_json_and_nothing_blocked() {
    let out = run(
        &["blocked", "-A", "-o", "json"],
        vec![expect(
            Method::GET,
            ALL_WFES,
            list(vec![wfe("boom", failed_status(true, 0))]),
        )],
    )
    .await
    .unwrap();
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows[0]["blockingWorkflowExecution"], "boom");
    assert_eq!(rows[0]["kind"], "PreviousExecutionFailed");
    let out = run(
        &["blocked", "-n", "team-a"],
        vec![expect(Method::GET, WFES, list(vec![]))],
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, "No blocked targets in namespace team-a.\n");
    let out = run(
        &["blocked", "-o", "yaml"],
        vec![expect(Method::GET, WFES, list(vec![]))],
    )
    .await
    .unwrap();
    assert_eq!(out.stdout, "[]\n");
}

#[tokio::test]
async fn blocked_explains_a_missing_crd_and_an_unreachable_server() {
    let e = run(
        &["blocked"],
        vec![expect(
            Method::GET,
            WFES,
            status_error(
                404,
                "NotFound",
                "the server could not find the requested resource",
                None,
            ),
        )],
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PluginError::CrdMissing), "{e}");
    assert!(
        e.to_string()
            .contains("is the WorkflowExecution CRD installed"),
        "{e}"
    );
    let e = run(
        &["blocked"],
        vec![expect(Method::GET, WFES, Answer::ConnectionRefused)],
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PluginError::Unreachable(_)), "{e:?}");
    assert!(
        e.to_string()
            .contains("cannot reach the Kubernetes API server"),
        "{e}"
    );
}

// ---- why --------------------------------------------------------------------------------

#[tokio::test]
async fn why_of_a_skipped_wfe_fetches_its_blocker() {
    let skipped = json!({"phase": "Skipped", "reason": "PreviousExecutionFailed",
        "skipDetails": {"reason": "PreviousExecutionFailed", "message": "blocked", "skippedAt": "2026-03-01T12:05:00Z",
            "blockingWorkflow": {"name": "boom", "namespace": "team-a", "failedAt": "2026-03-01T12:00:42Z", "reason": "TaskFailed"}}});
    let out = run(
        &["why", "next"],
        vec![
            expect(
                Method::GET,
                format!("{WFES}/next"),
                Answer::Reply(200, wfe("next", skipped.clone())),
            ),
            expect(
                Method::GET,
                format!("{WFES}/boom"),
                Answer::Reply(200, wfe("boom", failed_status(true, 0))),
            ),
        ],
    )
    .await
    .unwrap();
    assert!(
        out.stdout.contains("kubectl wfe clear boom -n team-a"),
        "{}",
        out.stdout
    );
    // The blocker was deleted since: still explained, with a warning.
    let out = run(
        &["why", "next"],
        vec![
            expect(
                Method::GET,
                format!("{WFES}/next"),
                Answer::Reply(200, wfe("next", skipped)),
            ),
            expect(
                Method::GET,
                format!("{WFES}/boom"),
                status_error(
                    404,
                    "NotFound",
                    "workflowexecutions.kubernaut.ai \"boom\" not found",
                    Some("boom"),
                ),
            ),
        ],
    )
    .await
    .unwrap();
    assert!(out.stdout.contains("Skipped"), "{}", out.stdout);
    assert_eq!(
        out.warnings,
        ["WorkflowExecution team-a/boom no longer exists"]
    );
}

#[tokio::test]
async fn why_of_a_failed_wfe_says_it_blocks_and_of_a_missing_one_says_not_found() {
    let out = run(
        &["why", "boom"],
        vec![expect(
            Method::GET,
            format!("{WFES}/boom"),
            Answer::Reply(200, wfe("boom", failed_status(true, 0))),
        )],
    )
    .await
    .unwrap();
    assert!(
        out.stdout.contains("after running for 42s"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("It BLOCKS"), "{}", out.stdout);
    let e = run(
        &["why", "nope"],
        vec![expect(
            Method::GET,
            format!("{WFES}/nope"),
            status_error(
                404,
                "NotFound",
                "workflowexecutions.kubernaut.ai \"nope\" not found",
                Some("nope"),
            ),
        )],
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PluginError::NotFound { .. }), "{e:?}");
    let e = run(
        &["why", "x"],
        vec![expect(
            Method::GET,
            format!("{WFES}/x"),
            Answer::ConnectionRefused,
        )],
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PluginError::Unreachable(_)), "{e:?}");
}

// ---- history ----------------------------------------------------------------------------

#[tokio::test]
async fn history_lists_the_targets_remediations() {
    let mut elsewhere = wfe("other", json!({"phase": "Completed"}));
    elsewhere["spec"]["targetResource"] = json!("team-a/Deployment/ledger");
    let out = run(
        &["history", TARGET, "-o", "json"],
        vec![expect(
            Method::GET,
            WFES,
            list(vec![wfe("boom", failed_status(true, 0)), elsewhere]),
        )],
    )
    .await
    .unwrap();
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["name"], "boom");
    assert_eq!(rows[0]["outcome"], "Failed");
    assert_eq!(rows[0]["duration"], "42s");
    let e = run(
        &["history", TARGET, "-A"],
        vec![expect(
            Method::GET,
            ALL_WFES,
            status_error(
                404,
                "NotFound",
                "the server could not find the requested resource",
                None,
            ),
        )],
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PluginError::CrdMissing), "{e:?}");
    let e = run(
        &["history", TARGET],
        vec![expect(Method::GET, WFES, Answer::ConnectionRefused)],
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PluginError::Unreachable(_)), "{e:?}");
}
