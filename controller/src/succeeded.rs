//! The terminal `Succeeded` condition (Tekton's convention, DESIGN §3.2): derived from the phase
//! alone, so every status the decision core writes carries it and `kubectl wait
//! --for=condition=Succeeded` (or `=False`) returns for every outcome instead of hanging on a
//! Skipped or Failed WFE.

use jiff::Timestamp;
use wfe_api::{Phase, WorkflowExecutionStatus, keys};

use crate::conditions::set_condition_status;

/// Longest condition message copied from a failure or skip (the API allows 32 KiB; a wait
/// script only needs the gist, the full text stays in failureDetails/skipDetails).
const MAX_MESSAGE_CHARS: usize = 1024;

/// `(status, reason, message)` of the Succeeded condition for `status`'s phase.
pub fn succeeded_condition(status: &WorkflowExecutionStatus) -> (&'static str, String, String) {
    match status.phase.unwrap_or(Phase::Pending) {
        Phase::Pending => (
            "Unknown",
            "Pending".to_owned(),
            "waiting for the controller to start the workflow".to_owned(),
        ),
        Phase::Running => {
            let run = status
                .pipeline_run_ref
                .as_ref()
                .map(|r| format!("PipelineRun {}/{} is running", r.namespace, r.name))
                .unwrap_or_else(|| "the workflow is running".to_owned());
            ("Unknown", "Running".to_owned(), run)
        }
        Phase::Completed => {
            let took = status
                .duration
                .as_deref()
                .map(|d| format!(" in {d}"))
                .unwrap_or_default();
            (
                "True",
                "Completed".to_owned(),
                format!("the workflow completed{took}"),
            )
        }
        Phase::Failed => match &status.failure_details {
            Some(f) => (
                "False",
                f.reason.as_str().to_owned(),
                bounded(f.natural_language_summary.as_deref().unwrap_or(&f.message)),
            ),
            None => (
                "False",
                "Unknown".to_owned(),
                "the workflow failed".to_owned(),
            ),
        },
        Phase::Skipped => match &status.skip_details {
            Some(s) => ("False", s.reason.as_str().to_owned(), bounded(&s.message)),
            None => (
                "False",
                "Skipped".to_owned(),
                "the workflow was not executed".to_owned(),
            ),
        },
    }
}

/// Sets the Succeeded condition of `status` from its phase.
pub fn apply_succeeded_condition(
    status: &mut WorkflowExecutionStatus,
    generation: Option<i64>,
    now: Timestamp,
) {
    let (value, reason, message) = succeeded_condition(status);
    set_condition_status(
        &mut status.conditions,
        keys::CONDITION_SUCCEEDED,
        value,
        &reason,
        message,
        generation,
        now,
    );
}

fn bounded(text: &str) -> String {
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}
