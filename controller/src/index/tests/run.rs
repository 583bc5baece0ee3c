//! The current run of failures through the index: its highest counts and newest exhausted
//! failure are handed over, nothing of older runs.

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
fn of_the_current_run_only_the_highest_counts_and_newest_exhausted_are_handed_over() {
    let settings = Settings::default();
    let index = TargetIndex::new(&settings);
    // Runs of three failures, each ended by a success, then the current run: counts 1 to 7
    // (the fifth on is at the limit), the sixth written late with the oldest finish time.
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
    for count in 1..=7 {
        let finished = if count == 6 {
            30_000
        } else {
            30_000 + i64::from(count)
        };
        let w = failed_before_execution(&format!("now-{count}"), finished, count);
        index.observe(&watcher::Event::Apply(w));
    }
    let relevant = names(&index, TARGET);
    assert_eq!(
        relevant,
        // The two highest counts (7, 6), the two newest at the limit (7, 5) and the two latest
        // successes: nothing of the older runs, and no more of this one.
        vec!["now-5", "now-6", "now-7", "ok-298", "ok-299"],
    );
    // The decision over those reaches the count of the whole run.
    let others: Vec<Arc<Neighbour>> = index.relevant(TARGET, None, None);
    let others: Vec<&Neighbour> = others.iter().map(AsRef::as_ref).collect();
    assert_eq!(crate::history::previous_failure_count(&others), 7);

    // Reconciling the last success itself: its own end is not the reset its decision sees, so
    // the run before it (since the success before) is walked too.
    let subject = wfe_api::naming::label_value("uid-ok-299");
    let for_subject: Vec<String> = index
        .relevant(TARGET, Some(&subject), None)
        .into_iter()
        .map(|r| r.name().to_owned())
        .collect();
    assert_eq!(
        for_subject,
        vec!["now-5", "now-6", "now-7", "ok-298", "ok-299"]
    );
    let only_old: Vec<String> = {
        let index = TargetIndex::new(&settings);
        for w in ["fail-a", "fail-b", "fail-c"]
            .iter()
            .zip(1..)
            .map(|(n, c)| failed_before_execution(n, 100 * i64::from(c), c))
        {
            index.observe(&watcher::Event::Apply(w));
        }
        index.observe(&watcher::Event::Apply(completed("ok", TARGET, 1000)));
        let subject = wfe_api::naming::label_value("uid-ok");
        index
            .relevant(TARGET, Some(&subject), None)
            .into_iter()
            .map(|r| r.name().to_owned())
            .collect()
    };
    assert_eq!(only_old, vec!["fail-b", "fail-c", "ok"]);
}
