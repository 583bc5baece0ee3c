//! The terminal `Succeeded` condition (DESIGN §3.2).

use super::*;

fn succeeded_of(d: &Decision) -> (String, String, String) {
    let c = find(&d.status.conditions, keys::CONDITION_SUCCEEDED)
        .unwrap_or_else(|| panic!("no Succeeded condition in {:?}", d.status.conditions));
    assert_eq!(c.observed_generation, Some(1));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

#[test]
fn succeeded_is_unknown_while_pending_and_running() {
    let s = Settings::default();
    let w = wfe("a");
    let d = decide_at(&w, None, &[], t0(), &s);
    assert_eq!(d.step, Step::Start { expired_lock: None });
    let (status, reason, _) = succeeded_of(&d);
    assert_eq!((status.as_str(), reason.as_str()), ("Unknown", "Pending"));
    let run = run_of(&w, None);
    let after = decide_after_create(
        &w,
        CreateOutcome::Created(&run),
        &World {
            lock: Some(&run),
            others: &[],
            failed_task: None,
            now: t0(),
        },
        &s,
    );
    let (status, reason, message) = succeeded_of(&after);
    assert_eq!((status.as_str(), reason.as_str()), ("Unknown", "Running"));
    assert!(message.contains("wfe-0d96b913074f137c"), "{message}");
}

#[test]
fn succeeded_is_true_on_completed_and_keeps_its_transition_time() {
    let s = Settings::default();
    let w = running("a");
    let mut run = run_of(&w, Some(("True", "Succeeded", "done")));
    run.completion_time = Some(at(100));
    let d = decide_at(&w, Some(&run), &[], at(101), &s);
    let (status, reason, message) = succeeded_of(&d);
    assert_eq!((status.as_str(), reason.as_str()), ("True", "Completed"));
    assert!(message.contains("1m40s"), "{message}");
    // A later reconcile of the Completed WFE does not move lastTransitionTime.
    let mut persisted = w.clone();
    persisted.status = Some(d.status.clone());
    let later = decide_at(&persisted, Some(&run), &[], at(200), &s);
    let time = |d: &Decision| {
        find(&d.status.conditions, keys::CONDITION_SUCCEEDED)
            .unwrap()
            .last_transition_time
            .clone()
    };
    assert_eq!(time(&later), time(&d));
    assert_eq!(time(&d), Time(at(101)));
}

#[test]
fn succeeded_is_false_on_failed_with_the_failure_reason() {
    let s = Settings::default();
    let w = running("a");
    let mut run = run_of(
        &w,
        Some(("False", "Failed", "Tasks Completed: 1 (Failed: 1)")),
    );
    run.completion_time = Some(at(30));
    let d = decide_at(&w, Some(&run), &[], at(31), &s);
    assert_eq!(d.status.phase, Some(Phase::Failed));
    let (status, reason, message) = succeeded_of(&d);
    let failure = d.status.failure_details.as_deref().unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", failure.reason.as_str())
    );
    assert_eq!(
        Some(message.as_str()),
        failure.natural_language_summary.as_deref()
    );
    // Pre-execution failure (invalid spec) too.
    let mut bad = wfe("b");
    bad.spec.target_resource = "not a target".into();
    let (status, reason, _) = succeeded_of(&decide_at(&bad, None, &[], t0(), &s));
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ConfigurationError")
    );
}

#[test]
fn succeeded_is_false_on_every_skip_with_the_skip_reason() {
    let s = Settings::default();
    let blocker = failed("old", t0(), true, 0, &s);
    let exhausted = failed("fifth", t0(), false, 5, &s);
    let busy = running("other");
    let busy_run = run_of(&busy, None);
    let recent = completed("recent", t0());
    let cases: [(
        &[&WorkflowExecution],
        Option<&RunView>,
        Timestamp,
        SkipReason,
    ); 4] = [
        (
            &[&blocker],
            None,
            at(86_400),
            SkipReason::PreviousExecutionFailed,
        ),
        (&[&exhausted], None, at(3600), SkipReason::ExhaustedRetries),
        (&[&busy], Some(&busy_run), t0(), SkipReason::ResourceBusy),
        (&[&recent], None, at(10), SkipReason::RecentlyRemediated),
    ];
    for (others, lock, now, expected) in cases {
        let d = decide_at(&wfe("new"), lock, others, now, &s);
        assert_eq!(skip_reason(&d), Some(expected));
        let (status, reason, message) = succeeded_of(&d);
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("False", expected.as_str())
        );
        assert_eq!(message, d.status.skip_details.as_deref().unwrap().message);
    }
}

#[test]
fn terminal_wfes_written_before_the_condition_existed_get_it() {
    let s = Settings::default();
    let old = completed("a", t0());
    assert!(
        find(
            &old.status.as_ref().unwrap().conditions,
            keys::CONDITION_SUCCEEDED
        )
        .is_none()
    );
    let d = decide_at(&old, None, &[], at(1000), &s);
    assert_eq!(succeeded_of(&d).0, "True");
}
