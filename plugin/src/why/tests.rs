use super::*;
use crate::fixtures::*;
use wfe_api::block::CLEAR_REASON_PLACEHOLDER;

fn why(w: &WorkflowExecution, related: Option<&WorkflowExecution>, now: i64) -> String {
    explain(w, related, at(now), &BlockPolicy::default())
}

#[test]
fn pending_says_the_controller_has_not_decided() {
    let text = why(&wfe("new", TARGET, 0), None, 30);
    assert!(
        text.contains("team-a/new") && text.contains("is Pending"),
        "{text}"
    );
    assert!(text.contains("(30s ago)"), "{text}");
    assert!(text.ends_with('\n'));
}

#[test]
fn running_says_how_long_and_which_pipeline_run() {
    let text = why(&running("r", 0), None, 250);
    for part in [
        "is Running as PipelineRun kubernaut-workflows/wfe-0d96b913074f137c",
        "(4m 10s ago)",
        "(1 of 3 tasks done)",
        "kubectl wait --for=condition=Succeeded wfe/r -n team-a",
    ] {
        assert!(text.contains(part), "{part:?} missing in {text}");
    }
}

#[test]
fn completed_says_how_long_it_took() {
    let text = why(&completed("c", 0, 250), None, 1000);
    assert!(
        text.contains("Completed in 4m 10s at 2026-03-01T12:04:10Z. Nothing to do."),
        "{text}"
    );
}

#[test]
fn failed_and_blocking_gives_the_summary_and_the_clear_command() {
    let text = why(&failed("boom", 100, true, 0), None, 200);
    assert!(
        text.contains("Failed at 2026-03-01T12:01:40Z. Workflow 'restart-deployment' failed"),
        "{text}"
    );
    assert!(
        text.contains("It BLOCKS further remediation of the target (PreviousExecutionFailed)"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "kubectl wfe clear boom -n team-a --reason \"{CLEAR_REASON_PLACEHOLDER}\""
        )),
        "{text}"
    );
}

#[test]
fn failed_and_cleared_names_the_clearer() {
    let text = why(&cleared(failed("boom", 100, true, 0), "alice"), None, 200);
    assert!(
        text.contains("was cleared by alice at 2026-03-01T12:02:40Z"),
        "{text}"
    );
    assert!(!text.contains("BLOCKS"), "{text}");
}

#[test]
fn failed_with_a_rejected_clearance_still_blocks() {
    let mut w = cleared(failed("boom", 100, true, 0), "alice");
    w.status
        .as_mut()
        .unwrap()
        .block_clearance
        .as_mut()
        .unwrap()
        .clear_method = "kubectl".into();
    let text = why(&w, None, 200);
    assert!(
        text.contains("It BLOCKS") && text.contains("not accepted"),
        "{text}"
    );
    assert!(text.contains("clearMethod"), "{text}");
}

#[test]
fn failed_before_execution_below_the_limit_explains_the_backoff() {
    let text = why(&failed("pre", 100, false, 2), None, 120);
    assert!(text.contains("does not block the target"), "{text}");
    assert!(text.contains("allowed from 2026-03-01T12:02:40Z"), "{text}");
    assert!(
        text.contains("2 failures in a row, the target is blocked at 5"),
        "{text}"
    );
    let exhausted = why(&failed("fifth", 100, false, 5), None, 120);
    assert!(
        exhausted.contains("It BLOCKS further remediation of the target (ExhaustedRetries)"),
        "{exhausted}"
    );
}

#[test]
fn skipped_by_a_block_names_the_blocker_and_the_next_step() {
    let w = skipped("next", 400, skip_blocked_by("boom", 400));
    let blocker = failed("boom", 0, true, 0);
    let text = why(&w, Some(&blocker), 500);
    for part in [
        "was Skipped at 2026-03-01T12:06:40Z (PreviousExecutionFailed)",
        "WorkflowExecution team-a/boom failed after it started changing the target",
        "kubectl wfe why boom -n team-a",
        "kubectl wfe clear boom -n team-a --reason",
        "never runs again",
    ] {
        assert!(text.contains(part), "{part:?} missing in {text}");
    }
    let text = why(&w, Some(&cleared(blocker, "alice")), 500);
    assert!(text.contains("has since been cleared by alice"), "{text}");
    assert!(!text.contains("kubectl wfe clear"), "{text}");
}

#[test]
fn skipped_as_busy_names_the_lock_holder_and_its_phase() {
    let w = skipped("next", 100, skip_busy("holder", 100));
    let text = why(&w, Some(&running("holder", 0)), 130);
    assert!(text.contains("(ResourceBusy)"), "{text}");
    assert!(
        text.contains("holder (started 2026-03-01T12:00:00Z (2m 10s ago)). It is now Running"),
        "{text}"
    );
    assert!(
        text.contains("kubectl wait --for=condition=Succeeded wfe/holder -n team-a"),
        "{text}"
    );
    let gone = why(&w, None, 130);
    assert!(
        gone.contains("No WorkflowExecution team-a/holder exists now"),
        "{gone}"
    );
    assert!(!gone.contains("kubectl wait"), "{gone}");
}

#[test]
fn skipped_in_a_window_says_when_it_ends() {
    let w = skipped("next", 100, skip_recent("done", 100, "4m10s"));
    let text = why(&w, None, 160);
    assert!(text.contains("by done (Completed)"), "{text}");
    assert!(
        text.contains("window ends at 2026-03-01T12:05:50Z (in 3m 10s)"),
        "{text}"
    );
    let later = why(&w, None, 1000);
    assert!(
        later.contains("that window ended at 2026-03-01T12:05:50Z"),
        "{later}"
    );
}

#[test]
fn related_points_at_the_blocker_holder_or_recent_remediation() {
    assert_eq!(
        related(&skipped("n", 1, skip_blocked_by("boom", 1))),
        Some(("boom".to_owned(), "team-a".to_owned()))
    );
    assert_eq!(related(&skipped("n", 1, skip_busy("h", 1))).unwrap().0, "h");
    assert_eq!(
        related(&skipped("n", 1, skip_recent("d", 1, "1m")))
            .unwrap()
            .0,
        "d"
    );
    assert_eq!(related(&running("r", 0)), None);
}
