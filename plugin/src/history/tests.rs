use super::*;
use crate::fixtures::*;

#[test]
fn history_lists_the_targets_remediations_oldest_first() {
    let mut elsewhere = completed("other-target", 5, 1);
    elsewhere.spec.target_resource = "team-a/Deployment/ledger".into();
    let wfes = [
        skipped("third", 400, skip_blocked_by("second", 400)),
        cleared(failed("second", 200, true, 0), "alice"),
        completed("first", 0, 250),
        elsewhere,
    ];
    let rows = history_rows(&wfes, TARGET);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["first", "second", "third"]);
    let first = &rows[0];
    assert_eq!(
        (
            first.outcome.as_str(),
            first.duration.as_deref(),
            first.reason.as_deref()
        ),
        ("Completed", Some("4m 10s"), None)
    );
    assert_eq!(first.started.as_deref(), Some("2026-03-01T12:00:00Z"));
    let second = &rows[1];
    assert_eq!(
        (second.outcome.as_str(), second.reason.as_deref()),
        ("Failed", Some("TaskFailed"))
    );
    let c = second.cleared.as_ref().unwrap();
    assert_eq!(
        (c.by.as_str(), c.at.as_str()),
        ("alice", "2026-03-01T12:04:20Z")
    );
    let third = &rows[2];
    assert_eq!(
        (
            third.outcome.as_str(),
            third.reason.as_deref(),
            third.started.as_deref()
        ),
        (
            "Skipped",
            Some("PreviousExecutionFailed"),
            Some("2026-03-01T12:06:40Z")
        ),
        "a Skipped WFE never started: its creation time stands in"
    );
    let table = render_table(&rows, TARGET, "in namespace team-a");
    assert!(table.starts_with("WFE "), "{table}");
    assert!(
        table.contains("by alice at 2026-03-01T12:04:20Z"),
        "{table}"
    );
    assert!(!table.contains("NAMESPACE"), "{table}");
}

#[test]
fn history_of_an_unknown_target_says_so() {
    let rows = history_rows(&[completed("a", 0, 1)], "team-a/Deployment/nope");
    assert!(rows.is_empty());
    assert_eq!(
        render_table(&rows, "team-a/Deployment/nope", "in namespace team-a"),
        "No WorkflowExecutions on team-a/Deployment/nope in namespace team-a.\n"
    );
}

#[test]
fn history_across_namespaces_shows_the_namespace_and_odd_durations_as_written() {
    let mut b = completed("b", 10, 1);
    b.metadata.namespace = Some("team-b".into());
    b.status.as_mut().unwrap().duration = Some("about a minute".into());
    let rows = history_rows(&[completed("a", 0, 1), b], TARGET);
    assert_eq!(rows[1].duration.as_deref(), Some("about a minute"));
    let table = render_table(&rows, TARGET, "in any namespace");
    assert!(table.starts_with("NAMESPACE "), "{table}");
    let v = serde_json::to_value(&rows).unwrap();
    assert_eq!(v[1]["namespace"], "team-b");
    assert!(v[0]["cleared"].is_null());
}
