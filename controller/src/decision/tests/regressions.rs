//! Regressions found in review and on real clusters, numbered as they were reported, and the
//! lock and failure-count rules they pinned.

use super::*;

#[test]
fn regression_1_lock_is_released_when_cooldown_ends_not_later() {
    let s = Settings::default();
    let w = completed("a", t0());
    let run = run_of(&w, Some(("True", "Succeeded", "")));
    let before = decide_at(&w, Some(&run), &[], at(120), &s);
    assert_eq!(before.step, Step::Nothing);
    assert_eq!(before.requeue_after, Some(Duration::from_secs(180)));
    let at_end = decide_at(
        &w,
        Some(&run),
        &[],
        at(120).checked_add(before.requeue_after.unwrap()).unwrap(),
        &s,
    );
    assert!(matches!(at_end.step, Step::ReleaseLock(_)));
}

#[test]
fn regression_2_a_wfe_waiting_on_a_time_window_always_has_a_requeue() {
    let s = Settings::default();
    for secs in [0, 1, 150, 299] {
        for w in [completed("a", t0()), failed("a", t0(), true, 0, &s)] {
            let run = run_of(&w, Some(("True", "Succeeded", "")));
            let d = decide_at(&w, Some(&run), &[], at(secs), &s);
            assert_eq!(
                d.requeue_after,
                Some(Duration::from_secs((300 - secs) as u64)),
                "at {secs}s"
            );
        }
    }
}

#[test]
fn regression_3_every_written_reason_is_a_crd_enum_value() {
    // The types make out-of-enum reasons unwritable; check the serialised form against the CRD.
    let crd = serde_json::to_value(wfe_api::crd()).unwrap();
    let props = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"];
    let enum_of = |v: &serde_json::Value| -> Vec<String> {
        v["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap().to_owned())
            .collect()
    };
    let failure_enum = enum_of(&props["failureDetails"]["properties"]["reason"]);
    let skip_enum = enum_of(&props["skipDetails"]["properties"]["reason"]);
    for r in FailureReason::ALL {
        assert!(
            failure_enum.contains(
                &serde_json::to_value(r)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            ),
            "{r:?}"
        );
    }
    for r in SkipReason::ALL {
        assert!(
            skip_enum.contains(
                &serde_json::to_value(r)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            ),
            "{r:?}"
        );
    }
    // And whatever message text goes in, the classifier only ever returns enum members.
    for text in [
        "",
        "oom",
        "quota exceeded",
        "weird ☃ text",
        "timed out",
        "exit code 3",
    ] {
        assert!(FailureReason::ALL.contains(&tekton::classify_text(text, false)));
    }
}

#[test]
fn regression_6_failure_count_carries_across_wfes_and_reaches_exhausted_retries() {
    let s = Settings::default();
    let mut history: Vec<WorkflowExecution> = Vec::new();
    let mut now = t0();
    let mut windows = Vec::new();
    for i in 0..5 {
        let mut w = wfe(&format!("w{i}"));
        w.spec.workflow_ref.container_image = "bad image ref!!".into(); // invalid: pre-execution failure
        let others: Vec<&WorkflowExecution> = history.iter().collect();
        let d = decide_at(&w, None, &others, now, &s);
        assert_eq!(d.status.phase, Some(Phase::Failed), "attempt {i}");
        assert_eq!(d.status.consecutive_failures, Some(i + 1));
        let next = d.status.next_allowed_execution.clone().unwrap().0;
        windows.push(duration_between(now, next).as_secs() / 60);
        w.status = Some(d.status);
        history.push(w);
        now = next; // the next WFE arrives exactly when the backoff ends
    }
    assert_eq!(windows, vec![1, 2, 4, 8, 10]);
    let last = history.last().unwrap();
    let blocked = find(
        &last.status.as_ref().unwrap().conditions,
        keys::CONDITION_TARGET_BLOCKED,
    )
    .unwrap();
    assert_eq!(blocked.reason, "ExhaustedRetries");
    let others: Vec<&WorkflowExecution> = history.iter().collect();
    let d = decide_at(
        &wfe("w5"),
        None,
        &others,
        now.checked_add(Duration::from_secs(3600)).unwrap(),
        &s,
    );
    assert_eq!(skip_reason(&d), Some(SkipReason::ExhaustedRetries));
}

/// A burst of failures within one second (`completionTime` has whole seconds), where the WFE
/// created first is the one that fails last: the run of failures still reaches the limit
/// (found by `tests/simulated_world.rs`).
#[test]
fn regression_8_failures_in_the_same_second_reach_the_limit() {
    let s = Settings::default();
    let mut history: Vec<WorkflowExecution> = Vec::new();
    for i in 0..5 {
        let mut w = wfe(&format!("w{i}"));
        w.metadata.creation_timestamp = Some(Time(at(-10 * i64::from(i))));
        w.spec.workflow_ref.container_image = "bad image ref!!".into();
        let others: Vec<&WorkflowExecution> = history.iter().collect();
        let d = decide_at(&w, None, &others, t0(), &s);
        assert_eq!(d.status.consecutive_failures, Some(i + 1), "attempt {i}");
        w.status = Some(d.status);
        history.push(w);
    }
    let others: Vec<&WorkflowExecution> = history.iter().collect();
    let d = decide_at(&wfe("next"), None, &others, at(3600), &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::ExhaustedRetries));
}

/// A failure recorded late: its PipelineRun failed before execution at +900 s, but its WFE was
/// reconciled only after two invalid WFEs had failed at +1100 s and +1300 s. It carries the
/// run's highest count (5) yet finished before them. The run of failures, not the latest
/// finish time, says the target has exhausted its retries; a success before the late failure
/// does not end the run, and only a clearance does (found by `tests/simulated_world.rs`).
#[test]
fn regression_9_a_failure_recorded_late_still_exhausts_the_retries() {
    let s = Settings::default();
    let earlier = completed("earlier", at(-600));
    let w1 = failed("w1", t0(), false, 1, &s);
    let w2 = failed("w2", at(300), false, 2, &s);
    let w5 = failed("w5", at(1100), false, 3, &s);
    let w11 = failed("w11", at(1300), false, 4, &s);
    let late = failed("late", at(900), false, 5, &s);
    let history = [&earlier, &w1, &w2, &w5, &w11, &late];
    let much_later = at(1300 + 3600);
    let d = decide_at(&wfe("next"), None, &history, much_later, &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::ExhaustedRetries));
    let blocker = d.status.skip_details.as_deref().unwrap();
    assert_eq!(
        blocker.blocking_workflow.as_ref().map(|b| b.name.as_str()),
        Some("late")
    );
    // An invalid WFE fails with one more than the run's highest count, not its latest.
    let mut invalid = wfe("invalid");
    invalid.spec.workflow_ref.container_image = "bad image ref!!".into();
    let d = decide_at(&invalid, None, &history, much_later, &s);
    assert_eq!(d.status.consecutive_failures, Some(6));
    // Clearing the late failure ends the run, whenever its members finished.
    let late = cleared_at(late, 1400);
    let history = [&earlier, &w1, &w2, &w5, &w11, &late];
    let d = decide_at(&wfe("next"), None, &history, much_later, &s);
    assert!(
        matches!(d.step, Step::Start { .. }),
        "{:?}",
        d.status.skip_details
    );
    let d = decide_at(&invalid, None, &history, much_later, &s);
    assert_eq!(d.status.consecutive_failures, Some(1));
}

/// Each block needs its own clearance (found in review): after an execution failure, specs
/// that became invalid go on failing (validation comes before the block check) until one
/// reaches the retry limit. Clearing the execution failure releases it alone; the exhausted
/// run after it still blocks until that is cleared too, and then the count starts again.
#[test]
fn regression_10_clearing_an_execution_failure_leaves_a_later_exhausted_run_blocked() {
    let s = Settings::default();
    let execution = cleared_at(failed("execution", t0(), true, 0, &s), 700);
    let invalid: Vec<WorkflowExecution> = (1..=5)
        .map(|i| {
            failed(
                &format!("invalid-{i}"),
                at(100 * i64::from(i)),
                false,
                i,
                &s,
            )
        })
        .collect();
    let mut history: Vec<&WorkflowExecution> = invalid.iter().collect();
    history.push(&execution);
    let later = at(700 + 3600);
    let d = decide_at(&wfe("next"), None, &history, later, &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::ExhaustedRetries));
    let blocker = d.status.skip_details.as_deref().unwrap();
    assert_eq!(
        blocker.blocking_workflow.as_ref().map(|b| b.name.as_str()),
        Some("invalid-5")
    );
    let fifth = cleared_at(invalid[4].clone(), 800);
    let mut history: Vec<&WorkflowExecution> = invalid[..4].iter().collect();
    history.extend([&execution, &fifth]);
    let d = decide_at(&wfe("next"), None, &history, later, &s);
    assert!(
        matches!(d.step, Step::Start { .. }),
        "{:?}",
        d.status.skip_details
    );
    let mut bad = wfe("bad");
    bad.spec.workflow_ref.container_image = "bad image ref!!".into();
    let d = decide_at(&bad, None, &history, later, &s);
    assert_eq!(d.status.consecutive_failures, Some(1));
}

/// DESIGN §4.3: exhausted retries block on the target's most recent outcome only; an old
/// failure at the limit (e.g. after lowering maxConsecutiveFailures) blocks nothing once a
/// newer WFE completed.
#[test]
fn exhausted_retries_are_judged_on_the_latest_outcome_only() {
    let s = Settings::default();
    let old = failed("old", t0(), false, 7, &s);
    let later = completed("later", at(600));
    let d = decide_at(&wfe("next"), None, &[&old, &later], at(600 + 3600), &s);
    assert!(
        matches!(d.step, Step::Start { .. }),
        "{:?}",
        d.status.skip_details
    );
    let d = decide_at(&wfe("next"), None, &[&old], at(3600), &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::ExhaustedRetries));
}

/// Raising `backoff.maxConsecutiveFailures` after a target was blocked for exhausted retries:
/// the failure's own reconcile (every WFE is reconciled at start-up) turns its TargetBlocked
/// False instead of showing a block no rule enforces any more; lowering it again re-blocks, and
/// a failure that never showed a block gets no condition.
#[test]
fn a_raised_failure_limit_lifts_the_shown_block() {
    let strict = Settings::default();
    let limit = strict.block.max_consecutive_failures;
    let mut w = failed("w", t0(), false, limit as i32, &strict);
    let d = decide_at(&w, None, &[], at(60), &strict);
    let c = find(&d.status.conditions, keys::CONDITION_TARGET_BLOCKED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "ExhaustedRetries")
    );
    w.status = Some(d.status);

    let mut lenient = Settings::default();
    lenient.block.max_consecutive_failures = limit + 2;
    let d = decide_at(&w, None, &[], at(120), &lenient);
    let c = find(&d.status.conditions, keys::CONDITION_TARGET_BLOCKED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", REASON_NO_LONGER_BLOCKING)
    );
    assert!(
        c.message.contains(&format!(
            "below backoff.maxConsecutiveFailures ({})",
            limit + 2
        )),
        "{}",
        c.message
    );
    assert!(
        d.notices
            .iter()
            .all(|n| !matches!(n.kind, NoticeKind::BlockCleared)),
        "not a clearance"
    );
    w.status = Some(d.status);

    let d = decide_at(&w, None, &[], at(180), &strict);
    let c = find(&d.status.conditions, keys::CONDITION_TARGET_BLOCKED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("True", "ExhaustedRetries")
    );

    let below = failed("below", t0(), false, 1, &strict);
    let d = decide_at(&below, None, &[], at(60), &strict);
    assert!(find(&d.status.conditions, keys::CONDITION_TARGET_BLOCKED).is_none());
}

#[test]
fn success_resets_the_failure_count() {
    let s = Settings::default();
    let f = failed("f", t0(), false, 3, &s);
    let ok = completed("ok", at(3600));
    let mut bad = wfe("bad");
    bad.spec.workflow_ref.container_image = String::new();
    let d = decide_at(&bad, None, &[&f, &ok], at(7200), &s);
    assert_eq!(d.status.consecutive_failures, Some(1));
}

#[test]
fn regression_7_new_wfe_arriving_as_old_lock_expires_takes_it_over_and_runs() {
    let s = Settings::default();
    let old = completed("old", t0());
    let old_run = run_of(&old, Some(("True", "Succeeded", "")));
    let new = wfe("new");
    // The cache still shows the old lock at the exact expiry instant.
    let d = decide_at(&new, Some(&old_run), &[&old], at(300), &s);
    let expected = RunDeletion {
        name: old_run.name.clone(),
        uid: "run-of-uid-old".into(),
    };
    assert_eq!(
        d.step,
        Step::Start {
            expired_lock: Some(expected.clone())
        }
    );
    // The cache had not seen the old lock yet: the create conflicts, and the decision is the same.
    let world = World {
        lock: None,
        others: &[&Neighbour::of(&old, &s)],
        failed_task: None,
        now: at(300),
    };
    let after = decide_after_create(&new, CreateOutcome::AlreadyExists(&old_run), &world, &s);
    assert_eq!(
        after.step,
        Step::Start {
            expired_lock: Some(expected)
        }
    );
    assert_eq!(after.status.phase, None, "not Skipped, not Failed");
}

#[test]
fn already_exists_ours_carries_on_and_theirs_is_busy() {
    let s = Settings::default();
    let me = wfe("me");
    let mine = run_of(&me, None);
    let world = World {
        lock: None,
        others: &[],
        failed_task: None,
        now: t0(),
    };
    let d = decide_after_create(&me, CreateOutcome::AlreadyExists(&mine), &world, &s);
    assert_eq!(d.status.phase, Some(Phase::Running));
    let other = wfe("other");
    let theirs = run_of(&other, None);
    let world = World {
        lock: None,
        others: &[&Neighbour::of(&other, &s)],
        failed_task: None,
        now: t0(),
    };
    let d = decide_after_create(&me, CreateOutcome::AlreadyExists(&theirs), &world, &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::ResourceBusy));
    assert_eq!(d.step, Step::Nothing);
}

#[test]
fn lock_of_a_vanished_owner_is_taken_over_only_once_finished_and_cooled_down() {
    let s = Settings::default();
    let ghost = wfe("ghost");
    let mut run = run_of(&ghost, None);
    assert!(matches!(
        lock_state(&run, "uid-me", &[], t0(), &s),
        LockState::Held { live: true, .. }
    ));
    run.succeeded = Some(SucceededCondition {
        status: "True".into(),
        reason: None,
        message: None,
    });
    run.completion_time = Some(t0());
    assert!(matches!(
        lock_state(&run, "uid-me", &[], at(299), &s),
        LockState::Held { live: true, .. }
    ));
    assert!(matches!(
        lock_state(&run, "uid-me", &[], at(300), &s),
        LockState::Expired(_)
    ));
}

#[test]
fn create_rejection_is_a_pre_execution_failure() {
    let s = Settings::default();
    let w = wfe("a");
    let world = World {
        lock: None,
        others: &[],
        failed_task: None,
        now: t0(),
    };
    let d = decide_after_create(
        &w,
        CreateOutcome::Rejected {
            code: 403,
            message: "forbidden",
        },
        &world,
        &s,
    );
    let f = d.status.failure_details.as_deref().unwrap();
    assert_eq!(
        (f.reason, f.was_execution_failure),
        (FailureReason::Forbidden, false)
    );
    let d = decide_after_create(
        &w,
        CreateOutcome::Rejected {
            code: 422,
            message: "spec.params: bad",
        },
        &world,
        &s,
    );
    assert_eq!(
        d.status.failure_details.unwrap().reason,
        FailureReason::ConfigurationError
    );
    let d = decide_after_create(
        &w,
        CreateOutcome::Rejected {
            code: 403,
            message: "exceeded quota: pipelines",
        },
        &world,
        &s,
    );
    assert_eq!(
        d.status.failure_details.unwrap().reason,
        FailureReason::Forbidden
    );
}

#[test]
fn terminal_without_completion_time_gets_one() {
    let s = Settings::default();
    let w = with_status(completed("a", t0()), |st| st.completion_time = None);
    let d = decide_at(&w, None, &[], at(7), &s);
    assert_eq!(d.status.completion_time, Some(Time(at(7))));
    assert!(d.notices.is_empty());
}

#[test]
fn skipped_never_counts_as_history() {
    let s = Settings::default();
    let skipped = with_status(wfe("s"), |st| {
        st.phase = Some(Phase::Skipped);
        st.completion_time = Some(Time(t0()));
        st.consecutive_failures = Some(99);
    });
    let d = decide_at(&wfe("new"), None, &[&skipped], t0(), &s);
    assert!(matches!(d.step, Step::Start { .. }));
}
