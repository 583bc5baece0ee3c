//! Each row of the decision table (DESIGN §4.1), and the time windows at their edges.

use super::*;

#[test]
fn row_invalid_spec_fails_with_configuration_error_pre_execution() {
    let s = Settings::default();
    let mut w = wfe("a");
    w.spec.target_resource = "not a target".into();
    let d = decide_at(&w, None, &[], t0(), &s);
    assert_eq!(d.status.phase, Some(Phase::Failed));
    let f = d.status.failure_details.as_deref().unwrap();
    assert_eq!(f.reason, FailureReason::ConfigurationError);
    assert!(!f.was_execution_failure);
    assert!(f.message.contains("spec.targetResource"), "{}", f.message);
    assert_eq!(d.status.consecutive_failures, Some(1));
    assert_eq!(d.status.next_allowed_execution, Some(Time(at(60))));
    assert_eq!(d.step, Step::Nothing);
    assert_eq!(kinds(&d), vec![NoticeKind::WorkflowFailed]);
}

#[test]
fn row_blocked_target_skips_previous_execution_failed_naming_the_blocker() {
    let s = Settings::default();
    let blocker = failed("old", t0(), true, 0, &s);
    let d = decide_at(&wfe("new"), None, &[&blocker], at(3600 * 24), &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::PreviousExecutionFailed));
    let b = d
        .status
        .skip_details
        .as_ref()
        .unwrap()
        .blocking_workflow
        .as_ref()
        .unwrap();
    assert_eq!(b.name, "old");
    assert_eq!(b.failed_at, Some(Time(t0())));
    assert_eq!(b.reason, Some(FailureReason::TaskFailed));
    assert_eq!(kinds(&d), vec![NoticeKind::Skipped]);
}

#[test]
fn row_exhausted_retries_skips_with_blocking_workflow() {
    let s = Settings::default();
    let last = failed("fifth", t0(), false, 5, &s);
    let d = decide_at(&wfe("new"), None, &[&last], at(3600), &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::ExhaustedRetries));
    assert_eq!(
        d.status
            .skip_details
            .unwrap()
            .blocking_workflow
            .unwrap()
            .name,
        "fifth"
    );
}

#[test]
fn row_running_wfe_on_target_skips_resource_busy() {
    let s = Settings::default();
    let other = running("other");
    let d = decide_at(
        &wfe("new"),
        Some(&run_of(&other, None)),
        &[&other],
        t0(),
        &s,
    );
    assert_eq!(skip_reason(&d), Some(SkipReason::ResourceBusy));
    let c = d.status.skip_details.unwrap().conflicting_workflow.unwrap();
    assert_eq!(
        (c.name.as_str(), c.target_resource.as_str()),
        ("other", TARGET)
    );
}

#[test]
fn row_lock_held_by_another_live_wfe_skips_resource_busy() {
    let s = Settings::default();
    // The holder has created its run but not yet written Running.
    let holder = wfe("holder");
    let d = decide_at(
        &wfe("new"),
        Some(&run_of(&holder, None)),
        &[&holder],
        t0(),
        &s,
    );
    assert_eq!(skip_reason(&d), Some(SkipReason::ResourceBusy));
}

#[test]
fn row_unlabelled_lock_is_busy_and_never_taken_over() {
    let s = Settings::default();
    let mut foreign = run_of(&wfe("x"), Some(("True", "Succeeded", "")));
    foreign.owner = None;
    foreign.completion_time = Some(t0());
    let d = decide_at(&wfe("new"), Some(&foreign), &[], at(86400), &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::ResourceBusy));
}

#[test]
fn row_backoff_window_skips_recently_remediated_with_remaining_time() {
    let s = Settings::default();
    let prev = failed("prev", t0(), false, 2, &s); // 2 minute window
    let d = decide_at(&wfe("new"), None, &[&prev], at(30), &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::RecentlyRemediated));
    let r = d.status.skip_details.unwrap().recent_remediation.unwrap();
    assert_eq!(r.cooldown_remaining, "1m30s");
    assert_eq!(r.outcome, Phase::Failed);
}

#[test]
fn row_cooldown_skips_recently_remediated_for_any_workflow() {
    let s = Settings::default();
    let mut prev = completed("prev", t0());
    prev.spec.workflow_ref.workflow_id = "a-different-workflow".into();
    let d = decide_at(&wfe("new"), None, &[&prev], at(299), &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::RecentlyRemediated));
    assert_eq!(
        d.status
            .skip_details
            .unwrap()
            .recent_remediation
            .unwrap()
            .cooldown_remaining,
        "1s"
    );
}

#[test]
fn exactly_at_cooldown_end_is_allowed() {
    let s = Settings::default();
    let prev = completed("prev", t0());
    let d = decide_at(&wfe("new"), None, &[&prev], at(300), &s);
    assert_eq!(d.step, Step::Start { expired_lock: None });
    assert_eq!(
        d.status.phase, None,
        "status is written only after the lock is acquired"
    );
}

#[test]
fn later_window_end_wins_when_cooldown_and_backoff_both_apply() {
    let s = Settings::default();
    let done = completed("done", t0());
    let failed4 = failed("f", at(200), false, 4, &s); // 8 minute backoff ends at 200+480 s
    let d = decide_at(&wfe("new"), None, &[&done, &failed4], at(400), &s);
    assert_eq!(
        d.status
            .skip_details
            .unwrap()
            .recent_remediation
            .unwrap()
            .cooldown_remaining,
        "4m40s"
    );
}

#[test]
fn cooldown_zero_disables_it() {
    let s = Settings {
        cooldown: Duration::ZERO,
        ..Settings::default()
    };
    let prev = completed("prev", t0());
    let d = decide_at(&wfe("new"), None, &[&prev], t0(), &s);
    assert!(matches!(d.step, Step::Start { .. }));
}

#[test]
fn row_all_clear_creates_then_running() {
    let s = Settings::default();
    let w = wfe("a");
    let d = decide_at(&w, None, &[], t0(), &s);
    assert_eq!(d.step, Step::Start { expired_lock: None });
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
    assert_eq!(after.status.phase, Some(Phase::Running));
    assert_eq!(
        after.status.pipeline_run_ref.as_ref().unwrap().name,
        "wfe-0d96b913074f137c"
    );
    let created = find(
        &after.status.conditions,
        keys::CONDITION_PIPELINE_RUN_CREATED,
    )
    .unwrap();
    assert_eq!(
        (created.status.as_str(), created.observed_generation),
        ("True", Some(1))
    );
    assert_eq!(kinds(&after), vec![NoticeKind::PipelineRunCreated]);
}

#[test]
fn row_running_succeeded_true_completes_and_holds_the_lock_until_cooldown() {
    let s = Settings::default();
    let w = running("a");
    let mut run = run_of(
        &w,
        Some((
            "True",
            "Succeeded",
            "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0",
        )),
    );
    run.completion_time = Some(at(100));
    let d = decide_at(&w, Some(&run), &[], at(101), &s);
    assert_eq!(d.status.phase, Some(Phase::Completed));
    assert_eq!(d.status.completion_time, Some(Time(at(100))));
    assert_eq!(d.status.duration.as_deref(), Some("1m40s"));
    assert_eq!(d.status.consecutive_failures, Some(0));
    assert_eq!(
        d.status
            .pipeline_run_status
            .as_ref()
            .unwrap()
            .completed_tasks,
        2
    );
    assert_eq!(kinds(&d), vec![NoticeKind::WorkflowCompleted]);
    assert_eq!(
        d.requeue_after,
        Some(Duration::from_secs(299)),
        "requeue exactly at cooldown end"
    );
}

#[test]
fn row_running_unknown_stays_running_with_progress() {
    let s = Settings::default();
    let w = running("a");
    let mut run = run_of(
        &w,
        Some((
            "Unknown",
            "Running",
            "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0",
        )),
    );
    run.task_runs = vec![
        crate::tekton::ChildTaskRun {
            name: "t1".into(),
            pipeline_task_name: Some("a".into()),
        },
        crate::tekton::ChildTaskRun {
            name: "t2".into(),
            pipeline_task_name: Some("b".into()),
        },
    ];
    let d = decide_at(&w, Some(&run), &[], at(10), &s);
    assert_eq!(d.status.phase, Some(Phase::Running));
    let p = d.status.pipeline_run_status.unwrap();
    assert_eq!(
        (p.completed_tasks, p.total_tasks, p.status.as_deref()),
        (1, 2, Some("Unknown"))
    );
    assert!(d.notices.is_empty());
}

#[test]
fn row_running_succeeded_false_fails_classified_with_task_details_and_blocks() {
    let s = Settings::default();
    let w = running("a");
    let mut run = run_of(
        &w,
        Some((
            "False",
            "Failed",
            "Tasks Completed: 1 (Failed: 1, Cancelled 0), Skipped: 0",
        )),
    );
    run.completion_time = Some(at(42));
    run.task_runs = vec![crate::tekton::ChildTaskRun {
        name: "tr-1".into(),
        pipeline_task_name: Some("restart".into()),
    }];
    let task = FailedTask {
        task_name: "restart".into(),
        index: 0,
        task_run: TaskRunView {
            name: "tr-1".into(),
            started: true,
            exit_code: Some(1),
            ..Default::default()
        },
    };
    let d = decide(
        &w,
        &World {
            lock: Some(&run),
            others: &[],
            failed_task: Some(&task),
            now: at(43),
        },
        &s,
    );
    assert_eq!(d.status.phase, Some(Phase::Failed));
    assert_eq!(
        d.status.reason,
        Some(PhaseReason::Failure(FailureReason::TaskFailed))
    );
    let f = d.status.failure_details.as_deref().unwrap();
    assert_eq!(
        (
            f.failed_task_name.as_deref(),
            f.failed_task_index,
            f.exit_code
        ),
        (Some("restart"), Some(0), Some(1))
    );
    assert!(f.was_execution_failure);
    assert_eq!(f.failed_at, Time(at(42)));
    assert_eq!(f.execution_time_before_failure.as_deref(), Some("42s"));
    let blocked = find(&d.status.conditions, keys::CONDITION_TARGET_BLOCKED).unwrap();
    assert_eq!(
        (blocked.status.as_str(), blocked.reason.as_str()),
        ("True", "PreviousExecutionFailed")
    );
    let command = format!(
        "kubectl patch wfe a -n team-a --subresource=status --type=merge -p '{{\"status\":{{\"blockClearanceRequest\":{{\"clearReason\":\"{}\"}}}}}}'",
        wfe_api::block::CLEAR_REASON_PLACEHOLDER
    );
    assert!(blocked.message.contains(&command), "{}", blocked.message);
    // The plugin command leads; the raw patch is the fallback.
    let plugin = format!(
        "kubectl wfe clear a -n team-a --reason \"{}\"",
        wfe_api::block::CLEAR_REASON_PLACEHOLDER
    );
    let (plugin_at, patch_at) = (
        blocked.message.find(&plugin),
        blocked.message.find(&command),
    );
    assert!(
        plugin_at.is_some() && plugin_at < patch_at,
        "{}",
        blocked.message
    );
    // Pasted unchanged, the command is refused by the reason rules instead of clearing.
    assert_eq!(
        wfe_api::block::check_reason(
            wfe_api::block::CLEAR_REASON_PLACEHOLDER,
            &Default::default()
        ),
        Err(wfe_api::block::ReasonProblem::Placeholder)
    );
    assert_eq!(kinds(&d), vec![NoticeKind::WorkflowFailed]);
    assert!(needs_failed_task(&w, Some(&run)));
}

#[test]
fn row_regression_8_externally_deleted_run_fails_unknown_saying_so() {
    let s = Settings::default();
    let w = running("a");
    let d = decide_at(&w, None, &[], at(5), &s);
    assert_eq!(d.status.phase, Some(Phase::Failed));
    let f = d.status.failure_details.as_deref().unwrap();
    assert_eq!(f.reason, FailureReason::Unknown);
    assert!(f.message.contains("deleted externally"), "{}", f.message);
    let summary = f.natural_language_summary.as_deref().unwrap_or_default();
    assert!(
        summary.contains("no longer exist") && !summary.contains("inspect the PipelineRun"),
        "{summary}"
    );
    assert!(!f.was_execution_failure, "no task had started");
    // A run of the same name owned by someone else means ours was deleted too.
    let other = wfe("b");
    let d = decide_at(&w, Some(&run_of(&other, None)), &[&other], at(5), &s);
    assert!(
        d.status
            .failure_details
            .unwrap()
            .message
            .contains("deleted externally")
    );
}

#[test]
fn row_terminal_releases_lock_when_cooldown_elapsed() {
    let s = Settings::default();
    let w = completed("a", t0());
    let run = run_of(&w, Some(("True", "Succeeded", "")));
    let d = decide_at(&w, Some(&run), &[], at(300), &s);
    assert_eq!(
        d.step,
        Step::ReleaseLock(RunDeletion {
            name: run.name.clone(),
            uid: "run-of-uid-a".into()
        })
    );
    assert_eq!(kinds(&d), vec![NoticeKind::LockReleased]);
}
