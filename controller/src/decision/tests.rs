use super::*;
use crate::tekton::{RunOwner, SucceededCondition, TaskRunView};
use wfe_api::{AuditEventType, BlockClearance};

const TARGET: &str = "team-a/Deployment/payment-api";

fn t(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn t0() -> Timestamp {
    t("2026-03-01T12:00:00Z")
}

fn at(secs: i64) -> Timestamp {
    t0().checked_add(jiff::SignedDuration::from_secs(secs))
        .unwrap()
}

pub(crate) fn wfe(name: &str) -> WorkflowExecution {
    let mut w = wfe_testing::wfe_on(name, TARGET);
    w.metadata.resource_version = None;
    w
}

fn with_status(
    mut w: WorkflowExecution,
    f: impl FnOnce(&mut WorkflowExecutionStatus),
) -> WorkflowExecution {
    let mut s = w.status.take().unwrap_or_default();
    f(&mut s);
    w.status = Some(s);
    w
}

fn completed(name: &str, finished: Timestamp) -> WorkflowExecution {
    with_status(wfe(name), |s| {
        s.phase = Some(Phase::Completed);
        s.start_time = Some(Time(finished));
        s.completion_time = Some(Time(finished));
        s.pipeline_run_ref = Some(PipelineRunRef {
            name: wfe_api::naming::pipeline_run_name(TARGET),
            namespace: "kubernaut-workflows".into(),
        });
        s.consecutive_failures = Some(0);
    })
}

fn failed(
    name: &str,
    finished: Timestamp,
    execution: bool,
    count: i32,
    settings: &Settings,
) -> WorkflowExecution {
    with_status(wfe(name), |s| {
        s.phase = Some(Phase::Failed);
        s.completion_time = Some(Time(finished));
        if execution {
            s.pipeline_run_ref = Some(PipelineRunRef {
                name: wfe_api::naming::pipeline_run_name(TARGET),
                namespace: "kubernaut-workflows".into(),
            });
            s.start_time = Some(Time(finished));
        } else {
            s.next_allowed_execution = Some(Time(
                finished
                    .checked_add(settings.backoff.window(count as u32))
                    .unwrap(),
            ));
        }
        s.consecutive_failures = Some(count);
        s.failure_details = Some(Box::new(FailureDetails {
            reason: if execution {
                FailureReason::TaskFailed
            } else {
                FailureReason::ConfigurationError
            },
            message: "boom".into(),
            failed_task_name: None,
            failed_task_index: None,
            exit_code: None,
            failed_at: Time(finished),
            execution_time_before_failure: None,
            natural_language_summary: None,
            was_execution_failure: execution,
        }));
    })
}

fn cleared(w: WorkflowExecution) -> WorkflowExecution {
    with_status(w, |s| {
        let failed_at = s.failure_details.as_deref().unwrap().failed_at.clone();
        s.block_clearance = Some(Box::new(BlockClearance {
            cleared_by: "alice".into(),
            cleared_by_uid: None,
            cleared_by_groups: vec![],
            cleared_at: k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(failed_at.0),
            clear_reason:
                "the deployment was rolled back by hand and verified healthy by the on call".into(),
            clear_method: keys::CLEAR_METHOD_WEBHOOK.into(),
            admission_request_uid: "adm-1".into(),
            cleared_failure_at: Some(failed_at),
        }));
    })
}

fn running(name: &str) -> WorkflowExecution {
    with_status(wfe(name), |s| {
        s.phase = Some(Phase::Running);
        s.start_time = Some(Time(t0()));
        s.pipeline_run_ref = Some(PipelineRunRef {
            name: wfe_api::naming::pipeline_run_name(TARGET),
            namespace: "kubernaut-workflows".into(),
        });
    })
}

pub(crate) fn run_of(owner: &WorkflowExecution, succeeded: Option<(&str, &str, &str)>) -> RunView {
    RunView {
        name: wfe_api::naming::pipeline_run_name(&owner.spec.target_resource),
        uid: Some(format!("run-of-{}", owner.metadata.uid.as_deref().unwrap())),
        owner: Some(RunOwner {
            namespace: owner.metadata.namespace.clone().unwrap(),
            name: owner.metadata.name.clone().unwrap(),
            uid: owner.metadata.uid.clone().unwrap(),
        }),
        succeeded: succeeded.map(|(status, reason, message)| SucceededCondition {
            status: status.into(),
            reason: Some(reason.into()),
            message: Some(message.into()),
        }),
        task_runs: vec![],
        start_time: Some(t0()),
        completion_time: None,
        deleting: false,
    }
}

fn decide_at(
    w: &WorkflowExecution,
    lock: Option<&RunView>,
    others: &[&WorkflowExecution],
    now: Timestamp,
    s: &Settings,
) -> Decision {
    let neighbours = project(others, s);
    decide(
        w,
        &World {
            lock,
            others: &neighbours.iter().collect::<Vec<_>>(),
            failed_task: None,
            now,
        },
        s,
    )
}

/// What the target index hands the decision for `others`.
fn project(others: &[&WorkflowExecution], s: &Settings) -> Vec<Neighbour> {
    others.iter().map(|w| Neighbour::of(w, s)).collect()
}

fn skip_reason(d: &Decision) -> Option<SkipReason> {
    assert_eq!(d.status.phase, Some(Phase::Skipped));
    d.status.skip_details.as_deref().map(|s| s.reason)
}

fn kinds(d: &Decision) -> Vec<NoticeKind> {
    d.notices.iter().map(|n| n.kind).collect()
}

// ---- §4.1 rows -------------------------------------------------------------------------

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

#[test]
fn clearance_releases_the_block_once_with_event_and_next_wfe_proceeds() {
    let s = Settings::default();
    let blocked = with_status(failed("old", t0(), true, 0, &s), |st| {
        st.conditions = vec![];
    });
    let d = decide_at(&blocked, None, &[], at(10), &s);
    assert_eq!(
        find(&d.status.conditions, keys::CONDITION_TARGET_BLOCKED)
            .unwrap()
            .status,
        "True"
    );
    let blocked = with_status(blocked, |st| *st = d.status.clone());
    let cleared_wfe = cleared(blocked);
    let d = decide_at(&cleared_wfe, None, &[], at(20), &s);
    let c = find(&d.status.conditions, keys::CONDITION_TARGET_BLOCKED).unwrap();
    assert_eq!(
        (c.status.as_str(), c.reason.as_str()),
        ("False", "BlockCleared")
    );
    assert_eq!(kinds(&d), vec![NoticeKind::BlockCleared]);
    assert!(
        d.status
            .failure_details
            .as_ref()
            .unwrap()
            .was_execution_failure,
        "evidence is kept"
    );
    // Persisted: no second event.
    let persisted = with_status(cleared_wfe, |st| *st = d.status.clone());
    assert!(
        decide_at(&persisted, None, &[], at(30), &s)
            .notices
            .is_empty()
    );
    // The next WFE on the target proceeds (past the cooldown).
    let d = decide_at(&wfe("next"), None, &[&persisted], at(600), &s);
    assert!(matches!(d.step, Step::Start { .. }));
}

#[test]
fn clearance_for_another_failure_instant_does_not_release() {
    let s = Settings::default();
    let w = with_status(cleared(failed("old", t0(), true, 0, &s)), |st| {
        st.block_clearance
            .as_deref_mut()
            .unwrap()
            .cleared_failure_at = Some(Time(at(-5)));
    });
    let d = decide_at(&wfe("next"), None, &[&w], at(3600), &s);
    assert_eq!(skip_reason(&d), Some(SkipReason::PreviousExecutionFailed));
}

/// A record the controller's token (or anyone but the webhook) wrote: every way to forge one.
#[test]
fn a_forged_clearance_never_releases_the_block_and_is_reported_once() {
    let s = Settings::default();
    let blocked = failed("old", t0(), true, 0, &s);
    let d = decide_at(&blocked, None, &[], at(10), &s);
    let blocked = with_status(blocked, |st| *st = d.status.clone());
    type Forge = fn(&mut BlockClearance);
    let forgeries: [(&str, Forge); 4] = [
        ("the controller's identity", |c| {
            c.cleared_by = keys::DEFAULT_CONTROLLER_USERNAME.into()
        }),
        ("the runner's identity", |c| {
            c.cleared_by = wfe_api::block::DEFAULT_RUNNER_USERNAME.into()
        }),
        ("a hand-written method", |c| {
            c.clear_method = "kubectl".into()
        }),
        ("anonymous", |c| c.cleared_by = "system:anonymous".into()),
    ];
    for (what, forge) in forgeries {
        let forged = with_status(cleared(blocked.clone()), |st| {
            forge(st.block_clearance.as_deref_mut().unwrap())
        });
        let d = decide_at(&forged, None, &[], at(20), &s);
        let c = find(&d.status.conditions, keys::CONDITION_TARGET_BLOCKED).unwrap();
        assert_eq!(
            (c.status.as_str(), c.reason.as_str()),
            ("True", "PreviousExecutionFailed"),
            "{what}: the block stays"
        );
        assert!(c.message.contains("was rejected"), "{what}: {}", c.message);
        assert_eq!(kinds(&d), vec![NoticeKind::ForgedClearance], "{what}");
        assert!(NoticeKind::ForgedClearance.is_warning());
        // Persisted: reported once, not on every reconcile.
        let persisted = with_status(forged.clone(), |st| *st = d.status.clone());
        assert!(
            decide_at(&persisted, None, &[], at(30), &s)
                .notices
                .is_empty(),
            "{what}"
        );
        // The next WFE on the target is still skipped, naming the forged one as the blocker.
        let next = decide_at(&wfe("next"), None, &[&persisted], at(3600), &s);
        assert_eq!(
            skip_reason(&next),
            Some(SkipReason::PreviousExecutionFailed),
            "{what}"
        );
        assert!(
            !d.status
                .audited_events
                .contains(&AuditEventType::BlockCleared)
                && crate::audit_due::due_events(&d.status, &s.block)
                    .contains(&AuditEventType::ClearanceForged),
            "{what}: a forgery record is due, never block.cleared"
        );
    }
}

#[test]
fn clearance_after_exhausted_retries_resets_the_count() {
    let s = Settings::default();
    let w = cleared(failed("fifth", t0(), false, 5, &s));
    let mut bad = wfe("bad");
    bad.spec.workflow_ref.container_image = String::new();
    let d = decide_at(&bad, None, &[&w], at(10), &s);
    assert_eq!(d.status.consecutive_failures, Some(1));
}

#[test]
fn audit_condition_tracks_pending_events() {
    let s = Settings::default();
    let w = running("a");
    let run = run_of(&w, Some(("True", "Succeeded", "")));
    let d = decide_at(&w, Some(&run), &[], at(1), &s);
    let c = find(&d.status.conditions, keys::CONDITION_AUDIT_RECORDED).unwrap();
    assert_eq!(c.status, "False");
    assert!(
        c.message.contains("workflowexecution.workflow.completed"),
        "{}",
        c.message
    );
}

#[test]
fn regression_5_a_run_belonging_to_another_wfe_is_never_deleted() {
    let s = Settings::default();
    // A terminal WFE past its cooldown whose lock name is held by someone else's run.
    let me = completed("me", t0());
    let other = running("other");
    let theirs = run_of(&other, None);
    let d = decide_at(&me, Some(&theirs), &[&other], at(3600), &s);
    assert_eq!(d.step, Step::Nothing, "not ours: never released");
    // A new WFE facing a live holder's run is busy and does not take it over.
    let holder = wfe("holder");
    let d = decide_at(
        &wfe("new"),
        Some(&run_of(&holder, None)),
        &[&holder],
        at(3600),
        &s,
    );
    assert_eq!(d.step, Step::Nothing);
    // Nor a finished holder inside its cooldown, nor an unlabelled run.
    let recent = completed("recent", at(3500));
    let d = decide_at(
        &wfe("new"),
        Some(&run_of(&recent, Some(("True", "Succeeded", "")))),
        &[&recent],
        at(3600),
        &s,
    );
    assert_eq!(d.step, Step::Nothing);
    let mut foreign = run_of(&holder, Some(("True", "Succeeded", "")));
    foreign.owner = None;
    assert!(matches!(
        lock_state(&foreign, "uid-new", &[], at(999_999), &s),
        LockState::Held { .. }
    ));
    // A WFE recreated under the same name (new UID) does not own its predecessor's run.
    let mut reborn = running("other");
    reborn.metadata.uid = Some("uid-other-2".into());
    let d = decide_at(&reborn, Some(&theirs), &[], at(10), &s);
    assert_eq!(d.step, Step::Nothing);
    assert_eq!(d.status.phase, Some(Phase::Failed), "its own run is gone");
}

// ---- the terminal Succeeded condition (DESIGN §3.2) -------------------------------------

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

// What a skip says about the WFE it names (`conflictingWorkflow`, `recentRemediation`), and a
// lock held by a Skipped WFE: in their own file, to keep this one from growing further.
mod skip_details;
