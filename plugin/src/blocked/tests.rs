use super::*;
use crate::fixtures::*;
use wfe_api::block::CLEAR_REASON_PLACEHOLDER;

#[test]
fn nothing_blocked_says_so() {
    let wfes = [completed("ok", 0, 30), failed("pre", 100, false, 1)];
    let rows = blocked_rows(&wfes, &BlockPolicy::default());
    assert!(rows.is_empty(), "{rows:?}");
    assert_eq!(
        render_table(&rows, false, "in namespace team-a"),
        "No blocked targets in namespace team-a.\n"
    );
}

#[test]
fn an_execution_failure_blocks_with_the_clear_command() {
    let wfes = [completed("ok", 0, 30), failed("boom", 100, true, 0)];
    let rows = blocked_rows(&wfes, &BlockPolicy::default());
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (
            r.namespace.as_str(),
            r.target.as_str(),
            r.blocking_workflow_execution.as_str()
        ),
        ("team-a", TARGET, "boom")
    );
    assert_eq!(r.kind, "PreviousExecutionFailed");
    assert_eq!(r.failed_at.as_deref(), Some("2026-03-01T12:01:40Z"));
    assert_eq!(
        r.failure,
        "TaskFailed in task restart (exit code 2): task restart exited with code 2"
    );
    assert_eq!(
        r.clear_command,
        format!("kubectl wfe clear boom -n team-a --reason \"{CLEAR_REASON_PLACEHOLDER}\"")
    );
    let table = render_table(&rows, false, "in namespace team-a");
    assert!(table.starts_with("TARGET "), "{table}");
    assert!(
        table.contains("boom") && table.contains(&r.clear_command),
        "{table}"
    );
    assert!(!table.contains("NAMESPACE"), "{table}");
    assert!(render_table(&rows, true, "in any namespace").starts_with("NAMESPACE "));
}

#[test]
fn exhausted_retries_block_at_the_policy_limit_only() {
    let wfes = [failed("fifth", 100, false, 5)];
    let rows = blocked_rows(&wfes, &BlockPolicy::default());
    assert_eq!(rows[0].kind, "ExhaustedRetries");
    let lenient = BlockPolicy {
        max_consecutive_failures: 6,
        ..BlockPolicy::default()
    };
    assert!(blocked_rows(&wfes, &lenient).is_empty());
    let strict = BlockPolicy {
        max_consecutive_failures: 3,
        ..BlockPolicy::default()
    };
    assert_eq!(
        blocked_rows(&[failed("third", 1, false, 3)], &strict).len(),
        1
    );
}

#[test]
fn a_cleared_failure_no_longer_blocks_but_a_forged_clearance_does() {
    let rows = blocked_rows(
        &[cleared(failed("boom", 100, true, 0), "alice")],
        &BlockPolicy::default(),
    );
    assert!(rows.is_empty(), "{rows:?}");
    let mut forged = cleared(failed("boom", 100, true, 0), "alice");
    forged
        .status
        .as_mut()
        .unwrap()
        .block_clearance
        .as_mut()
        .unwrap()
        .clear_method = "kubectl".into();
    assert_eq!(blocked_rows(&[forged], &BlockPolicy::default()).len(), 1);
}

#[test]
fn one_row_per_target_naming_the_outranking_blocker_and_the_others() {
    let mut other_target = failed("elsewhere", 50, true, 0);
    other_target.spec.target_resource = "team-a/Deployment/ledger".into();
    let wfes = [
        failed("older-exec", 100, true, 0),
        failed("newer-exhausted", 300, false, 5),
        failed("newer-exec", 200, true, 0),
        other_target,
    ];
    let rows = blocked_rows(&wfes, &BlockPolicy::default());
    assert_eq!(rows.len(), 2);
    // Sorted by target: ledger before payment-api.
    assert_eq!(rows[0].blocking_workflow_execution, "elsewhere");
    let r = &rows[1];
    assert_eq!(
        r.blocking_workflow_execution, "newer-exec",
        "an execution failure outranks, then the latest"
    );
    assert_eq!(r.also_blocking, ["older-exec", "newer-exhausted"]);
    let table = render_table(&rows, false, "here");
    assert!(
        table.contains("newer-exec (+ older-exec, newer-exhausted)"),
        "{table}"
    );
}

#[test]
fn json_rows_carry_every_field() {
    let rows = blocked_rows(&[failed("boom", 100, true, 0)], &BlockPolicy::default());
    let v = serde_json::to_value(&rows).unwrap();
    for key in [
        "namespace",
        "target",
        "blockingWorkflowExecution",
        "kind",
        "failedAt",
        "failure",
        "clearCommand",
    ] {
        assert!(v[0].get(key).is_some(), "{key} missing in {v}");
    }
    assert!(v[0].get("alsoBlocking").is_none());
}

#[test]
fn exhausted_retries_block_from_the_current_run_of_failures_only() {
    let policy = BlockPolicy::default();
    // A success after the fifth failure ended its run, as the controller sees it.
    let ended = [failed("fifth", 100, false, 5), completed("fixed", 150, 200)];
    assert!(blocked_rows(&ended, &policy).is_empty());
    // A success that finished before it did not.
    let before = [completed("fixed", 20, 30), failed("fifth", 100, false, 5)];
    assert_eq!(
        blocked_rows(&before, &policy)[0].blocking_workflow_execution,
        "fifth"
    );
    // Recorded late: the fifth failure finished before the fourth, and still blocks.
    let late = [
        completed("fixed", 10, 20),
        failed("late-fifth", 100, false, 5),
        failed("fourth", 300, false, 4),
    ];
    let rows = blocked_rows(&late, &policy);
    assert_eq!(rows[0].blocking_workflow_execution, "late-fifth");
    assert!(rows[0].also_blocking.is_empty(), "{rows:?}");
    // A success in another namespace on the same target ends the run too, as for the
    // controller, whose index spans namespaces.
    let mut elsewhere = completed("fixed-elsewhere", 150, 200);
    elsewhere.metadata.namespace = Some("team-b".into());
    assert!(blocked_rows(&[failed("fifth", 100, false, 5), elsewhere], &policy).is_empty());
    // An execution failure blocks whatever came after it.
    let exec = [failed("exec", 100, true, 0), completed("fixed", 150, 200)];
    assert_eq!(
        blocked_rows(&exec, &policy)[0].kind,
        "PreviousExecutionFailed"
    );
}
