//! The slim cache: settled entries, quiet WFEs and what keeps an object cached.

use super::*;

#[tokio::test]
async fn a_settled_cache_entry_lets_go_of_its_object_and_is_read_fresh_when_reconciled_again() {
    // Finished, its lock already released: nothing left to do.
    let (a_done, done) = completed_past_cooldown();
    let mut h = harness(&[&a_done], &[]);
    let cached = Arc::new(CachedWfe::new(a_done.clone()));
    let action = run_cached_script(&mut h, &cached, vec![]).await.unwrap();
    assert_eq!(action, Action::await_change());
    assert!(
        cached.body().is_none(),
        "settled: the entry keeps only the name"
    );
    // Reconciled again (a timer, a PipelineRun event): it holds no lock, so still nothing to do.
    let action = run_cached_script(&mut h, &cached, vec![]).await.unwrap();
    assert_eq!(action, Action::await_change());
    // It holds its lock after all: read fresh. Deleted in between: nothing to do; its deletion
    // event removes the entry.
    let mut h = harness(&[&a_done], &[&done]);
    let script = vec![expect(Method::GET, WFE_PATH, |_, _| {
        api_error(404, "NotFound", "workflowexecutions \"a\" not found")
    })];
    let action = run_cached_script(&mut h, &cached, script).await.unwrap();
    assert_eq!(action, Action::await_change());
}

#[tokio::test]
async fn a_quiet_wfe_is_cached_settled_and_reconciled_without_an_api_call_until_it_holds_its_lock()
{
    let s = Settings::default();
    let (a_done, done) = completed_past_cooldown();
    let (failed, _) = blocked_failed_wfe();
    assert!(is_quiet(&a_done, &s, now()));
    assert!(
        is_quiet(&failed, &s, now()),
        "a block awaiting its clearance"
    );
    // The watch path caches it without its object.
    let event = cache_event(watcher::Event::InitApply(a_done.clone()), |w| {
        is_quiet(w, &s, now())
    });
    let watcher::Event::InitApply(entry) = event else {
        panic!("the event kind is kept")
    };
    let entry = Arc::new(entry);
    assert!(entry.body().is_none());
    // Its reconcile (start-up pass, a re-list) makes no API call: the script is empty.
    let mut h = harness(&[&a_done], &[]);
    assert_eq!(
        run_cached_script(&mut h, &entry, vec![]).await.unwrap(),
        Action::await_change()
    );
    assert_eq!(
        counter(&h, |m| m.reconcile_duration.get_sample_count()),
        1,
        "counted as a reconcile like any other"
    );
    // The full reconcile agrees: nothing to write, announce, deliver or wait for.
    assert_eq!(
        run_script(&mut h, &a_done, vec![]).await.unwrap(),
        Action::await_change()
    );
    // Its own lock PipelineRun still exists (a restart inside the cooldown): read and reconciled.
    let mut h = harness(&[&a_done], &[&done]);
    let fresh = a_done.clone();
    let script = vec![
        expect(Method::GET, WFE_PATH, move |_, _| {
            (200, serde_json::to_value(&fresh).unwrap())
        }),
        expect(
            Method::DELETE,
            format!("{RUNS_PATH}/{}", run_name()),
            |_, _| {
                (
                    200,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success", "code": 200}),
                )
            },
        ),
        expect_event("LockReleased", "Normal"),
    ];
    run_cached_script(&mut h, &entry, script).await.unwrap();
}

#[test]
fn a_wfe_with_something_left_to_do_is_not_quiet() {
    let s = Settings::default();
    let a = wfe("a");
    let (a_done, _) = completed_past_cooldown();
    assert!(is_quiet(&a_done, &s, now()));
    let mut unaudited = a_done.clone();
    unaudited.status.as_mut().unwrap().audited_events.clear();
    let mut no_finalizer = a_done.clone();
    no_finalizer.metadata.finalizers = None;
    let mut deleting = a_done.clone();
    deleting.metadata.deletion_timestamp = Some(Time(ago(1)));
    let mut no_completion_time = a_done.clone();
    no_completion_time.status.as_mut().unwrap().completion_time = None;
    let running = running_wfe(&started_run(&a));
    assert_eq!(running.phase(), Phase::Running);
    // Its delivery failed: nothing acknowledged, and AuditRecorded says why. The decision keeps
    // that condition as it is, so it would write the very same status; only the events still
    // due say that a retry is owed.
    let mut audit_failed = unaudited.clone();
    let generation = audit_failed.metadata.generation;
    set_audit_condition(
        audit_failed.status.as_mut().unwrap(),
        &s.block,
        generation,
        ago(60),
        Some("sink down"),
    );
    let world = World {
        lock: None,
        others: &[],
        failed_task: None,
        now: now(),
    };
    let decision = decide(&audit_failed, &world, &s);
    assert_eq!(
        Some(&decision.status),
        audit_failed.status.as_ref(),
        "the decision would write nothing"
    );
    assert_eq!(decision.step, Step::Nothing, "nor touch a lock");
    assert!(decision.notices.is_empty(), "nor announce anything");
    assert_eq!(decision.requeue_after, None, "nor ask to come back");
    for (what, w) in [
        ("an audit event not acknowledged", &unaudited),
        ("an audit delivery that failed", &audit_failed),
        ("no finalizer yet", &no_finalizer),
        ("being deleted", &deleting),
        ("a status the decision would complete", &no_completion_time),
        ("running", &running),
        ("pending", &a),
    ] {
        assert!(!is_quiet(w, &s, now()), "{what}");
    }
    // Blocked under the settings it failed with, not under today's: the condition must change.
    let (failed, _) = blocked_failed_wfe();
    let mut raised = Settings::default();
    raised.block.max_consecutive_failures = 10;
    assert!(is_quiet(&failed, &s, now()));
    let mut exhausted = failed.clone();
    let status = exhausted.status.as_mut().unwrap();
    status
        .failure_details
        .as_mut()
        .unwrap()
        .was_execution_failure = false;
    status.consecutive_failures = Some(5);
    let status = decide(
        &exhausted,
        &World {
            lock: None,
            others: &[],
            failed_task: None,
            now: now(),
        },
        &s,
    )
    .status;
    exhausted.status = Some(status);
    assert!(is_quiet(&exhausted, &s, now()));
    assert!(!is_quiet(&exhausted, &raised, now()));
}

#[tokio::test]
async fn a_cache_entry_with_work_ahead_keeps_its_object() {
    let a = wfe("a");
    let done = run_of(
        &a,
        "run-a",
        Some(json!({
            "startTime": ago(60).to_string(),
            "completionTime": ago(10).to_string(),
            "conditions": succeeded("True", "Succeeded", ""),
        })),
    );
    // Finished ten seconds ago and still holding the lock: it must come back at cooldown end.
    let a_done = settled(&a, &done, ago(10));
    let mut h = harness(&[&a_done], &[&done]);
    let cached = Arc::new(CachedWfe::new(a_done.clone()));
    let action = run_cached_script(&mut h, &cached, vec![]).await.unwrap();
    assert_ne!(action, Action::await_change(), "requeued at cooldown end");
    assert_eq!(
        cached.body().as_deref(),
        Some(&a_done),
        "not settled: the object stays cached for the next reconcile"
    );
    // A failed reconcile keeps it too (a fresh WFE whose create fails).
    let mut h = harness(&[], &[]);
    let pending = Arc::new(CachedWfe::new(wfe("a")));
    let script = vec![expect(Method::POST, RUNS_PATH, |_, _| {
        api_error(500, "InternalError", "etcd is down")
    })];
    assert!(run_cached_script(&mut h, &pending, script).await.is_err());
    assert!(pending.body().is_some());
}
