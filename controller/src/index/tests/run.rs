//! The current run of failures through the index: handed over whole, older runs not.

use super::*;

/// A failure before execution on `TARGET`, `count` in a row, finished at `secs`.
fn failed_before_execution(name: &str, secs: i64, count: i32) -> WorkflowExecution {
    with_status(wfe_on(name, TARGET), |s| {
        s.phase = Some(Phase::Failed);
        s.completion_time = Some(Time(at(secs)));
        s.consecutive_failures = Some(count);
        s.failure_details = Some(Box::new(FailureDetails {
            reason: FailureReason::ConfigurationError,
            message: "invalid bundle".into(),
            failed_task_name: None,
            failed_task_index: None,
            exit_code: None,
            failed_at: Time(at(secs)),
            execution_time_before_failure: None,
            natural_language_summary: None,
            was_execution_failure: false,
        }));
    })
}

#[test]
fn the_current_run_of_failures_is_handed_over_whole_and_older_runs_are_not() {
    let settings = Settings::default();
    let index = TargetIndex::new(&settings);
    // Runs of three failures, each ended by a success, then the current run of three.
    for run in 0..300 {
        let base = run * 100;
        for k in 0..3 {
            let name = format!("fail-{run:03}-{k}");
            let w = failed_before_execution(&name, base + i64::from(k), k + 1);
            index.observe(&watcher::Event::Apply(w));
        }
        let ok = completed(&format!("ok-{run:03}"), TARGET, base + 50);
        index.observe(&watcher::Event::Apply(ok));
    }
    for k in 0..3 {
        let w = failed_before_execution(&format!("now-{k}"), 30_000 + i64::from(k), k + 1);
        index.observe(&watcher::Event::Apply(w));
    }
    let relevant = names(&index, TARGET);
    assert_eq!(
        relevant,
        vec!["now-0", "now-1", "now-2", "ok-298", "ok-299"],
        "the run since the last success, and the last two successes"
    );
    // Reconciling the last success itself: its own end is not the reset its decision sees, so
    // the run before it (since the success before) is handed over too.
    let subject = wfe_api::naming::label_value("uid-ok-299");
    let for_subject: Vec<String> = index
        .relevant(TARGET, Some(&subject), None)
        .into_iter()
        .map(|r| r.name().to_owned())
        .collect();
    for name in ["fail-299-0", "fail-299-1", "fail-299-2", "now-2", "ok-298"] {
        assert!(
            for_subject.contains(&name.to_owned()),
            "{name}: {for_subject:?}"
        );
    }
    assert!(
        !for_subject.contains(&"fail-298-2".to_owned()),
        "{for_subject:?}"
    );
}
