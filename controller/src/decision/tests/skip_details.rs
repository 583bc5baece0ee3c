//! The WFE a skip names, field by field, as read from its projection: `conflictingWorkflow` in
//! every `ResourceBusy` skip, `recentRemediation` in every `RecentlyRemediated` one, and the
//! lock held by a Skipped WFE (`lock_state`'s `|| phase == Skipped`).

use super::*;

/// A neighbour on another workflow than the WFE decided on, so the skip must name its own.
const OTHER_WORKFLOW: &str = "scale-down";

fn on_other_workflow(mut w: WorkflowExecution) -> WorkflowExecution {
    w.spec.workflow_ref.workflow_id = OTHER_WORKFLOW.into();
    w
}

fn conflicting(d: &Decision) -> ConflictingWorkflow {
    assert_eq!(skip_reason(d), Some(SkipReason::ResourceBusy));
    let details = d.status.skip_details.as_deref().unwrap();
    assert!(details.recent_remediation.is_none() && details.blocking_workflow.is_none());
    details.conflicting_workflow.clone().unwrap()
}

fn recent(d: &Decision) -> RecentRemediation {
    assert_eq!(skip_reason(d), Some(SkipReason::RecentlyRemediated));
    let details = d.status.skip_details.as_deref().unwrap();
    assert!(details.conflicting_workflow.is_none() && details.blocking_workflow.is_none());
    details.recent_remediation.clone().unwrap()
}

#[test]
fn resource_busy_names_the_running_wfe_its_workflow_and_start() {
    let s = Settings::default();
    let other = with_status(on_other_workflow(running("other")), |st| {
        st.start_time = Some(Time(at(-60)));
    });
    let d = decide_at(
        &wfe("new"),
        Some(&run_of(&other, None)),
        &[&other],
        t0(),
        &s,
    );
    assert_eq!(
        conflicting(&d),
        ConflictingWorkflow {
            name: "other".into(),
            workflow_id: Some(OTHER_WORKFLOW.into()),
            started_at: Some(Time(at(-60))),
            target_resource: TARGET.into(),
        }
    );
}

#[test]
fn resource_busy_names_the_lock_holder_or_else_the_lock() {
    let s = Settings::default();
    // The holder created its run and has not yet written Running: no start time to name.
    let holder = on_other_workflow(wfe("holder"));
    let d = decide_at(
        &wfe("new"),
        Some(&run_of(&holder, None)),
        &[&holder],
        t0(),
        &s,
    );
    assert_eq!(
        conflicting(&d),
        ConflictingWorkflow {
            name: "holder".into(),
            workflow_id: Some(OTHER_WORKFLOW.into()),
            started_at: None,
            target_resource: TARGET.into(),
        }
    );
    // A run nobody on the target owns: only the lock itself can be named.
    let mut foreign = run_of(&wfe("x"), None);
    foreign.owner = None;
    let d = decide_at(&wfe("new"), Some(&foreign), &[], t0(), &s);
    assert_eq!(
        conflicting(&d),
        ConflictingWorkflow {
            name: wfe_api::naming::pipeline_run_name(TARGET),
            workflow_id: None,
            started_at: None,
            target_resource: TARGET.into(),
        }
    );
}

#[test]
fn a_create_that_finds_another_wfes_run_names_that_wfe() {
    let s = Settings::default();
    let other = with_status(on_other_workflow(running("other")), |st| {
        st.start_time = Some(Time(at(-30)));
    });
    let theirs = run_of(&other, None);
    let neighbour = Neighbour::of(&other, &s);
    let world = World {
        lock: None,
        others: &[&neighbour],
        failed_task: None,
        now: t0(),
    };
    let d = decide_after_create(
        &wfe("new"),
        CreateOutcome::AlreadyExists(&theirs),
        &world,
        &s,
    );
    assert_eq!(
        conflicting(&d),
        ConflictingWorkflow {
            name: "other".into(),
            workflow_id: Some(OTHER_WORKFLOW.into()),
            started_at: Some(Time(at(-30))),
            target_resource: TARGET.into(),
        }
    );
}

#[test]
fn recently_remediated_names_the_wfe_its_workflow_and_when_it_finished() {
    let s = Settings::default();
    let prev = on_other_workflow(completed("prev", t0()));
    let d = decide_at(&wfe("new"), None, &[&prev], at(100), &s);
    assert_eq!(
        recent(&d),
        RecentRemediation {
            name: "prev".into(),
            workflow_id: OTHER_WORKFLOW.into(),
            completed_at: Some(Time(t0())),
            outcome: Phase::Completed,
            cooldown_remaining: "3m20s".into(),
        }
    );
}

#[test]
fn recently_remediated_after_a_failure_finished_at_completion_else_at_the_failure() {
    let s = Settings::default();
    // A pre-execution failure at t0 (a 2 minute backoff window), completed 5 s later.
    let prev = with_status(
        on_other_workflow(failed("prev", t0(), false, 2, &s)),
        |st| {
            st.completion_time = Some(Time(at(5)));
        },
    );
    let expected = RecentRemediation {
        name: "prev".into(),
        workflow_id: OTHER_WORKFLOW.into(),
        completed_at: Some(Time(at(5))),
        outcome: Phase::Failed,
        cooldown_remaining: "1m30s".into(),
    };
    let d = decide_at(&wfe("new"), None, &[&prev], at(30), &s);
    assert_eq!(recent(&d), expected);
    // Written without a completionTime: it finished when it failed.
    let prev = with_status(prev, |st| st.completion_time = None);
    let d = decide_at(&wfe("new"), None, &[&prev], at(30), &s);
    assert_eq!(
        recent(&d),
        RecentRemediation {
            completed_at: Some(Time(t0())),
            ..expected
        }
    );
}

/// A WFE that was Skipped at `t0` yet owns the lock PipelineRun (its create succeeded, the
/// status that recorded it did not).
fn skipped_holder() -> WorkflowExecution {
    with_status(on_other_workflow(wfe("holder")), |st| {
        st.phase = Some(Phase::Skipped);
        st.completion_time = Some(Time(t0()));
    })
}

#[test]
fn a_lock_held_by_a_skipped_wfe_is_finished_and_expires_after_the_cooldown() {
    let s = Settings::default();
    let holder = skipped_holder();
    let run = run_of(&holder, None);
    let neighbour = Neighbour::of(&holder, &s);
    // Not live: a Skipped WFE runs nothing, whatever its run says.
    assert_eq!(
        lock_state(&run, "uid-new", &[&neighbour], at(100), &s),
        LockState::Held {
            owner: Some(&neighbour),
            live: false
        }
    );
    // Inside the cooldown the new WFE is busy, naming the holder (it started nothing).
    let d = decide_at(&wfe("new"), Some(&run), &[&holder], at(100), &s);
    assert_eq!(
        conflicting(&d),
        ConflictingWorkflow {
            name: "holder".into(),
            workflow_id: Some(OTHER_WORKFLOW.into()),
            started_at: None,
            target_resource: TARGET.into(),
        }
    );
    // Once the cooldown from its end is over the lock is taken over, never held for ever.
    let d = decide_at(&wfe("new"), Some(&run), &[&holder], at(300), &s);
    assert_eq!(
        d.step,
        Step::Start {
            expired_lock: Some(RunDeletion {
                name: run.name.clone(),
                uid: "run-of-uid-holder".into(),
            })
        }
    );
    assert_eq!(d.status.phase, None, "not Skipped");
}
