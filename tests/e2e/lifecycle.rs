//! Every row of DESIGN §4.1: run, complete, fail, block, busy, cooldown, backoff, external
//! deletion of the PipelineRun, deletion of a running WFE.

use std::time::Duration;

use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, DeleteParams, ListParams};
use wfe_api::{FailureReason, Phase, SkipReason, WorkflowExecution, keys, naming};

use crate::cluster;
use crate::harness::{Ctx, e2e};
use crate::tekton;
use crate::wfe::{self, Behaviour};

/// Skips a timing scenario when the service's cooldown/backoff would make it take too long.
fn timings_too_long(ctx: &Ctx, test: &str) -> bool {
    if ctx.timings.short() {
        return false;
    }
    println!(
        "skipped: {test} needs cooldown and backoff.max of at most 60s (the service has {:?} and {:?}; deploy tests/e2e/config.yaml)",
        ctx.timings.cooldown, ctx.timings.backoff_max
    );
    true
}

/// Creates `{stem}-0`, `{stem}-1`, ... until one is not skipped as RecentlyRemediated (cooldown or
/// backoff not over yet) and returns it once it left Pending.
pub async fn create_when_allowed(
    ctx: &Ctx,
    stem: &str,
    target: &str,
    behaviour: Behaviour,
) -> WorkflowExecution {
    for attempt in 0..60 {
        let name = format!("{stem}-{attempt}");
        wfe::create(ctx, &wfe::new(ctx, &name, target, behaviour)).await;
        let w = wfe::wait(ctx, &name, "to leave Pending", |w| {
            w.phase() != Phase::Pending
        })
        .await;
        if skip_reason(&w) != Some(SkipReason::RecentlyRemediated) {
            return w;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("60 WFEs on {target} were all skipped as RecentlyRemediated");
}

/// The skip reason of a Skipped WFE.
pub fn skip_reason(w: &WorkflowExecution) -> Option<SkipReason> {
    w.status.as_ref()?.skip_details.as_deref().map(|d| d.reason)
}

/// Waits for an events.k8s.io event with `reason` about WFE `name`.
pub async fn wait_event(ctx: &Ctx, name: &str, reason: &str) -> Event {
    let events: Api<Event> = Api::namespaced(ctx.admin.clone(), &ctx.ns);
    cluster::wait_for(
        &format!("event {reason} on WFE {name}"),
        ctx.settings.timeout,
        || async {
            let list = events
                .list(&ListParams::default())
                .await
                .map_err(|e| e.to_string())?;
            let seen: Vec<String> = list
                .items
                .iter()
                .map(|e| {
                    format!(
                        "{}:{:?}",
                        e.reason.clone().unwrap_or_default(),
                        e.regarding.as_ref().and_then(|r| r.name.clone())
                    )
                })
                .collect();
            list.items
                .into_iter()
                .find(|e| {
                    e.reason.as_deref() == Some(reason)
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                })
                .ok_or_else(|| format!("events so far: {seen:?}"))
        },
    )
    .await
}

async fn wait_run_gone(ctx: &Ctx, run: &str) {
    let runs = tekton::runs(&ctx.admin, &ctx.timings.execution_namespace);
    cluster::wait_for(
        &format!("PipelineRun {run} to be deleted"),
        ctx.settings.timeout,
        || async {
            match runs.get(run).await {
                Err(e) if cluster::is_not_found(&e) => Ok(()),
                Err(e) => Err(e.to_string()),
                Ok(r) => Err(format!(
                    "still there (deletionTimestamp {:?})",
                    r.metadata.deletion_timestamp
                )),
            }
        },
    )
    .await;
}

#[test]
fn happy_path_creates_the_lock_pipeline_run_and_completes() {
    e2e("happy-path", |ctx| async move {
        let target = ctx.target("payment-api");
        let created = wfe::create(
            &ctx,
            &wfe::new(&ctx, "happy", &target, Behaviour::Succeed { seconds: 3 }),
        )
        .await;
        let running = wfe::wait(&ctx, "happy", "to start", |w| {
            matches!(w.phase(), Phase::Running | Phase::Completed)
        })
        .await;
        let run_name = naming::pipeline_run_name(&target);
        let status = running.status.clone().unwrap_or_default();
        let run_ref = status.pipeline_run_ref.clone().expect("pipelineRunRef");
        assert_eq!(
            (run_ref.name.as_str(), run_ref.namespace.as_str()),
            (run_name.as_str(), ctx.timings.execution_namespace.as_str())
        );
        assert!(
            status.start_time.is_some(),
            "startTime: {}",
            wfe::summary(&running)
        );
        assert!(
            wfe::condition(&running, keys::CONDITION_PIPELINE_RUN_CREATED)
                .is_some_and(|c| c.status == "True")
        );

        let run = tekton::runs(&ctx.admin, &ctx.timings.execution_namespace)
            .get(&run_name)
            .await
            .expect("the lock PipelineRun exists");
        let labels = run.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get(keys::LABEL_WORKFLOW_EXECUTION)
                .map(String::as_str),
            Some("happy")
        );
        assert_eq!(labels.get(keys::LABEL_SOURCE_NAMESPACE), Some(&ctx.ns));
        assert_eq!(
            labels.get(keys::LABEL_WORKFLOW_ID).map(String::as_str),
            Some("e2e-echo")
        );
        assert_eq!(
            labels.get(keys::LABEL_WORKFLOW_EXECUTION_UID),
            Some(&wfe::uid(&created))
        );
        let annotations = run.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(
            annotations.get(keys::ANNOTATION_TARGET_RESOURCE),
            Some(&target)
        );
        assert_eq!(
            annotations.get(keys::ANNOTATION_WORKFLOW_EXECUTION),
            Some(&format!("{}/happy", ctx.ns))
        );
        assert!(
            run.metadata
                .owner_references
                .as_ref()
                .is_none_or(Vec::is_empty),
            "the run lives in another namespace: no ownerReference"
        );
        let spec = &run.data["spec"];
        assert_eq!(spec["pipelineRef"]["resolver"], "bundles");
        assert_eq!(
            spec["taskRunTemplate"]["serviceAccountName"],
            "kubernaut-workflow-runner"
        );
        let params = spec["params"].as_array().expect("params");
        let last = params.last().expect("at least TARGET_RESOURCE");
        assert_eq!(
            (last["name"].as_str(), last["value"].as_str()),
            (Some(keys::PARAM_TARGET_RESOURCE), Some(target.as_str()))
        );
        let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
        assert_eq!(
            names,
            ["EXIT_CODE", "SLEEP_SECONDS", "TARGET_RESOURCE"],
            "WFE parameters sorted, then TARGET_RESOURCE"
        );

        let done = wfe::wait_phase(&ctx, "happy", Phase::Completed).await;
        let status = done.status.clone().unwrap_or_default();
        assert!(
            status.completion_time.is_some() && status.duration.is_some(),
            "{}",
            wfe::summary(&done)
        );
        assert!(status.failure_details.is_none() && status.skip_details.is_none());
        assert_eq!(
            status
                .pipeline_run_status
                .as_ref()
                .and_then(|s| s.status.as_deref()),
            Some("True")
        );
        assert!(
            status
                .pipeline_run_status
                .as_ref()
                .is_some_and(|s| s.total_tasks >= 1 && s.completed_tasks == s.total_tasks),
            "{}",
            wfe::summary(&done)
        );
        assert!(
            wfe::condition(&done, keys::CONDITION_PIPELINE_RUN_COMPLETE)
                .is_some_and(|c| c.status == "True")
        );
        assert!(
            wfe::condition(&done, keys::CONDITION_TARGET_BLOCKED)
                .is_none_or(|c| c.status == "False")
        );
        wait_event(&ctx, "happy", "PipelineRunCreated").await;
        wait_event(&ctx, "happy", "WorkflowCompleted").await;
    });
}

#[test]
fn cooldown_skips_recent_targets_and_releases_the_lock_on_time() {
    e2e("cooldown", |ctx| async move {
        if timings_too_long(&ctx, "cooldown") {
            return;
        }
        let target = ctx.target("checkout");
        let run_name = naming::pipeline_run_name(&target);
        wfe::create(
            &ctx,
            &wfe::new(&ctx, "first", &target, Behaviour::Succeed { seconds: 0 }),
        )
        .await;
        let first = wfe::wait_phase(&ctx, "first", Phase::Completed).await;
        let completed_at = first
            .status
            .as_ref()
            .and_then(|s| s.completion_time.clone())
            .expect("completionTime")
            .0;

        // Any workflow on the target, right after: skipped with the remaining cooldown.
        let mut other = wfe::new(&ctx, "too-soon", &target, Behaviour::Succeed { seconds: 0 });
        other.spec.workflow_ref.workflow_id = "another-workflow".into();
        wfe::create(&ctx, &other).await;
        let skipped = wfe::wait_terminal(&ctx, "too-soon").await;
        assert_eq!(
            skip_reason(&skipped),
            Some(SkipReason::RecentlyRemediated),
            "{}",
            wfe::summary(&skipped)
        );
        let recent = skipped
            .status
            .as_ref()
            .and_then(|s| s.skip_details.as_deref())
            .and_then(|d| d.recent_remediation.clone())
            .expect("recentRemediation");
        assert_eq!(recent.name, "first");
        assert_eq!(recent.outcome, Phase::Completed);
        assert!(!recent.cooldown_remaining.is_empty());
        wait_event(&ctx, "too-soon", "Skipped").await;

        // The lock is held until the cooldown ends, then released.
        let runs = tekton::runs(&ctx.admin, &ctx.timings.execution_namespace);
        let tolerance = Duration::from_secs(1);
        cluster::wait_for(
            &format!("PipelineRun {run_name} to be released"),
            ctx.settings.timeout + ctx.timings.cooldown,
            || async {
                match runs.get(&run_name).await {
                    Err(e) if cluster::is_not_found(&e) => Ok(()),
                    Err(e) => Err(e.to_string()),
                    Ok(_) => Err("still held".to_owned()),
                }
            },
        )
        .await;
        let released_at = jiff::Timestamp::now();
        let held = released_at.duration_since(completed_at);
        assert!(
            held.as_secs_f64() + tolerance.as_secs_f64() >= ctx.timings.cooldown.as_secs_f64(),
            "lock released after {held:?}, before the {:?} cooldown ended",
            ctx.timings.cooldown
        );
        wait_event(&ctx, "first", "LockReleased").await;

        // After the cooldown the target runs again.
        let next = create_when_allowed(
            &ctx,
            "after-cooldown",
            &target,
            Behaviour::Succeed { seconds: 0 },
        )
        .await;
        let name = next.metadata.name.clone().unwrap_or_default();
        assert_ne!(next.phase(), Phase::Skipped, "{}", wfe::summary(&next));
        wfe::wait_phase(&ctx, &name, Phase::Completed).await;
    });
}

#[test]
fn task_failure_records_details_and_blocks_the_target() {
    e2e("task-failure", |ctx| async move {
        let target = ctx.target("inventory");
        wfe::create(
            &ctx,
            &wfe::new(&ctx, "broken", &target, Behaviour::FailInTask { code: 3 }),
        )
        .await;
        let failed = wfe::wait_phase(&ctx, "broken", Phase::Failed).await;
        let details = failed
            .status
            .as_ref()
            .and_then(|s| s.failure_details.clone())
            .expect("failureDetails");
        assert_eq!(
            details.reason,
            FailureReason::TaskFailed,
            "{}",
            wfe::summary(&failed)
        );
        assert!(details.was_execution_failure);
        assert!(
            details
                .failed_task_name
                .as_deref()
                .is_some_and(|n| n.contains(tekton::TASK_NAME)),
            "{details:?}"
        );
        assert_eq!(details.exit_code, Some(3));
        assert!(
            details
                .natural_language_summary
                .as_deref()
                .is_some_and(|s| s.contains("inventory") && s.contains(&ctx.ns)),
            "{details:?}"
        );
        let blocked = wfe::wait(&ctx, "broken", "to block its target", |w| {
            wfe::condition(w, keys::CONDITION_TARGET_BLOCKED).is_some_and(|c| c.status == "True")
        })
        .await;
        let condition = wfe::condition(&blocked, keys::CONDITION_TARGET_BLOCKED)
            .cloned()
            .expect("TargetBlocked");
        assert_eq!(condition.reason, "PreviousExecutionFailed");
        assert!(
            condition.message.contains("kubectl patch")
                && condition.message.contains("--subresource=status")
                && condition.message.contains("broken"),
            "{}",
            condition.message
        );
        wait_event(&ctx, "broken", "WorkflowFailed").await;

        // The next WFE on the target is skipped, naming the WFE to clear; also after the cooldown.
        for name in ["blocked-1", "blocked-2"] {
            wfe::create(
                &ctx,
                &wfe::new(&ctx, name, &target, Behaviour::Succeed { seconds: 0 }),
            )
            .await;
            let skipped = wfe::wait_terminal(&ctx, name).await;
            assert_eq!(
                skip_reason(&skipped),
                Some(SkipReason::PreviousExecutionFailed),
                "{}",
                wfe::summary(&skipped)
            );
            let blocking = skipped
                .status
                .as_ref()
                .and_then(|s| s.skip_details.as_deref())
                .and_then(|d| d.blocking_workflow.clone())
                .expect("blockingWorkflow");
            assert_eq!(blocking.name, "broken");
            if ctx.timings.short() {
                tokio::time::sleep(ctx.timings.cooldown + Duration::from_secs(1)).await;
            }
        }
        // A Skipped WFE is never history: no PipelineRun for it, and the block still names "broken".
        let runs =
            tekton::runs_of_namespace(&ctx.admin, &ctx.timings.execution_namespace, &ctx.ns).await;
        assert!(runs.iter().all(|r| {
            r.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(keys::LABEL_WORKFLOW_EXECUTION))
                .is_some_and(|n| n == "broken")
        }));
    });
}

#[test]
fn twenty_concurrent_wfes_on_one_target_start_exactly_one_pipeline_run() {
    e2e("resource-busy", |ctx| async move {
        let target = ctx.target("busy");
        let names: Vec<String> = (0..20).map(|i| format!("concurrent-{i:02}")).collect();
        let creates = names.iter().map(|n| {
            let ctx = ctx.clone();
            let w = wfe::new(&ctx, n, &target, Behaviour::Succeed { seconds: 120 });
            async move { wfe::create(&ctx, &w).await }
        });
        futures::future::join_all(creates).await;
        let mut running = Vec::new();
        let mut skipped = Vec::new();
        for n in &names {
            let w = wfe::wait(&ctx, n, "to run or be skipped", |w| {
                matches!(
                    w.phase(),
                    Phase::Running | Phase::Skipped | Phase::Completed
                )
            })
            .await;
            if w.phase() == Phase::Skipped {
                skipped.push(w)
            } else {
                running.push(w)
            }
        }
        assert_eq!(
            running.len(),
            1,
            "exactly one WFE may run: {:?}",
            running
                .iter()
                .map(|w| w.metadata.name.clone())
                .collect::<Vec<_>>()
        );
        let winner = &running[0];
        let winner_name = winner.metadata.name.clone().unwrap_or_default();
        for s in &skipped {
            assert_eq!(
                skip_reason(s),
                Some(SkipReason::ResourceBusy),
                "{}",
                wfe::summary(s)
            );
            let conflict = s
                .status
                .as_ref()
                .and_then(|st| st.skip_details.as_deref())
                .and_then(|d| d.conflicting_workflow.clone())
                .expect("conflictingWorkflow");
            assert_eq!(conflict.name, winner_name);
            assert_eq!(conflict.target_resource, target);
        }
        let runs =
            tekton::runs_of_namespace(&ctx.admin, &ctx.timings.execution_namespace, &ctx.ns).await;
        assert_eq!(runs.len(), 1, "exactly one PipelineRun");
        assert_eq!(
            runs[0].metadata.name.as_deref(),
            Some(naming::pipeline_run_name(&target).as_str())
        );
        assert_eq!(
            runs[0]
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(keys::LABEL_WORKFLOW_EXECUTION_UID)),
            Some(&wfe::uid(winner))
        );
    });
}

#[test]
fn pre_execution_failures_back_off_then_exhaust_retries() {
    e2e("backoff", |ctx| async move {
        if timings_too_long(&ctx, "backoff") {
            return;
        }
        let target = ctx.target("flaky");
        let max = ctx.timings.max_consecutive_failures;
        let mut last_failed = String::new();
        for n in 1..=max {
            let w = create_when_allowed(
                &ctx,
                &format!("bad-{n}"),
                &target,
                Behaviour::FailBeforeStart,
            )
            .await;
            let name = w.metadata.name.clone().unwrap_or_default();
            let w = wfe::wait_terminal(&ctx, &name).await;
            assert_eq!(w.phase(), Phase::Failed, "{}", wfe::summary(&w));
            let status = w.status.clone().unwrap_or_default();
            let details = status.failure_details.clone().expect("failureDetails");
            assert!(
                !details.was_execution_failure,
                "an unresolvable bundle never started: {details:?}"
            );
            assert_eq!(
                status.consecutive_failures,
                Some(n as i32),
                "failures count per target: {}",
                wfe::summary(&w)
            );
            assert!(
                status.next_allowed_execution.is_some(),
                "{}",
                wfe::summary(&w)
            );
            last_failed = name;
        }
        // Backoff over, but the target reached maxConsecutiveFailures.
        let exhausted = create_when_allowed(
            &ctx,
            "after-max",
            &target,
            Behaviour::Succeed { seconds: 0 },
        )
        .await;
        let exhausted =
            wfe::wait_terminal(&ctx, &exhausted.metadata.name.clone().unwrap_or_default()).await;
        assert_eq!(
            skip_reason(&exhausted),
            Some(SkipReason::ExhaustedRetries),
            "{}",
            wfe::summary(&exhausted)
        );
        let blocking = exhausted
            .status
            .as_ref()
            .and_then(|s| s.skip_details.as_deref())
            .and_then(|d| d.blocking_workflow.clone())
            .expect("blockingWorkflow");
        assert_eq!(blocking.name, last_failed);
        let blocked = wfe::wait(
            &ctx,
            &last_failed,
            "to carry TargetBlocked=True ExhaustedRetries",
            |w| {
                wfe::condition(w, keys::CONDITION_TARGET_BLOCKED)
                    .is_some_and(|c| c.status == "True" && c.reason == "ExhaustedRetries")
            },
        )
        .await;
        assert!(
            blocked
                .status
                .as_ref()
                .is_some_and(|s| s.block_clearance.is_none())
        );

        // Clearing the most recent failure lets the target run again, counting from zero.
        crate::clearance::clear(&ctx, &last_failed).await;
        wfe::wait(&ctx, &last_failed, "to report BlockCleared", |w| {
            wfe::condition(w, keys::CONDITION_TARGET_BLOCKED)
                .is_some_and(|c| c.status == "False" && c.reason == "BlockCleared")
        })
        .await;
        let next = create_when_allowed(
            &ctx,
            "after-clear",
            &target,
            Behaviour::Succeed { seconds: 0 },
        )
        .await;
        let next_name = next.metadata.name.clone().unwrap_or_default();
        assert_ne!(next.phase(), Phase::Skipped, "{}", wfe::summary(&next));
        wfe::wait_phase(&ctx, &next_name, Phase::Completed).await;
    });
}

#[test]
fn pipeline_run_deleted_by_someone_else_fails_the_wfe() {
    e2e("external-deletion", |ctx| async move {
        let target = ctx.target("orphan");
        wfe::create(
            &ctx,
            &wfe::new(&ctx, "victim", &target, Behaviour::Succeed { seconds: 600 }),
        )
        .await;
        wfe::wait_phase(&ctx, "victim", Phase::Running).await;
        let run_name = naming::pipeline_run_name(&target);
        tekton::runs(&ctx.admin, &ctx.timings.execution_namespace)
            .delete(&run_name, &DeleteParams::background())
            .await
            .expect("delete the PipelineRun as someone else");
        let failed = wfe::wait_phase(&ctx, "victim", Phase::Failed).await;
        let details = failed
            .status
            .as_ref()
            .and_then(|s| s.failure_details.clone())
            .expect("failureDetails");
        assert_eq!(details.reason, FailureReason::Unknown, "{details:?}");
        assert!(
            details.message.to_lowercase().contains("deleted"),
            "the message must say the run was deleted: {}",
            details.message
        );
    });
}

#[test]
fn deleting_a_running_wfe_cancels_its_pipeline_run() {
    e2e("delete-running", |ctx| async move {
        let target = ctx.target("cancel-me");
        wfe::create(
            &ctx,
            &wfe::new(&ctx, "doomed", &target, Behaviour::Succeed { seconds: 600 }),
        )
        .await;
        let running = wfe::wait_phase(&ctx, "doomed", Phase::Running).await;
        assert!(
            running
                .metadata
                .finalizers
                .as_ref()
                .is_some_and(|f| f.iter().any(|f| f == keys::FINALIZER)),
            "finalizer present while running"
        );
        wfe::api(&ctx)
            .delete("doomed", &DeleteParams::default())
            .await
            .expect("delete the WFE");
        wait_run_gone(&ctx, &naming::pipeline_run_name(&target)).await;
        let api = wfe::api(&ctx);
        cluster::wait_for(
            "WFE doomed to be gone (finalizer removed)",
            ctx.settings.timeout,
            || async {
                match api.get("doomed").await {
                    Err(e) if cluster::is_not_found(&e) => Ok(()),
                    Err(e) => Err(e.to_string()),
                    Ok(w) => Err(format!(
                        "still there, finalizers {:?}",
                        w.metadata.finalizers
                    )),
                }
            },
        )
        .await;
        wait_event(&ctx, "doomed", "WorkflowExecutionDeleted").await;
    });
}
