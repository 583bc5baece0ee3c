//! Block clearance (DESIGN §3.3): a valid one releases the block once, a forged one never; the
//! audit condition; a run of another WFE is never deleted.

use super::*;

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
