//! What the other WFEs on a target say about it: blocks, failure counts, time windows
//! (DESIGN §4.2–4.3). Only Completed and Failed WFEs count; Skipped never does.

use std::time::Duration;

use jiff::Timestamp;
use wfe_api::{Phase, SkipReason, WorkflowExecution, keys};

use crate::settings::Settings;

/// When a terminal WFE finished: `completionTime`, else `failureDetails.failedAt`.
pub fn finished_at(wfe: &WorkflowExecution) -> Option<Timestamp> {
    let status = wfe.status.as_ref()?;
    status
        .completion_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| status.failure_details.as_ref().map(|f| f.failed_at.0))
}

/// Completed or Failed: the phases that count as history.
pub fn counts_as_history(wfe: &WorkflowExecution) -> bool {
    matches!(wfe.phase(), Phase::Completed | Phase::Failed)
}

/// Whether a webhook-stamped clearance bound to this WFE's failure is persisted.
pub fn is_cleared(wfe: &WorkflowExecution) -> bool {
    let Some(status) = wfe.status.as_ref() else {
        return false;
    };
    match (&status.block_clearance, &status.failure_details) {
        (Some(c), Some(f)) => {
            c.clear_method == keys::CLEAR_METHOD_WEBHOOK
                && c.cleared_failure_at.as_ref() == Some(&f.failed_at)
        }
        _ => false,
    }
}

/// Whether a PipelineRun was created for this WFE (so its end starts a cooldown).
pub fn had_run(wfe: &WorkflowExecution) -> bool {
    wfe.status
        .as_ref()
        .is_some_and(|s| s.pipeline_run_ref.is_some() || s.start_time.is_some())
}

/// The block this (failed) WFE puts on its target, if any and not cleared.
pub fn block_reason(wfe: &WorkflowExecution, settings: &Settings) -> Option<SkipReason> {
    if wfe.phase() != Phase::Failed || is_cleared(wfe) {
        return None;
    }
    blocking_kind(wfe, settings)
}

/// The kind of block a failed WFE's failure implies, ignoring clearance.
pub fn blocking_kind(wfe: &WorkflowExecution, settings: &Settings) -> Option<SkipReason> {
    let status = wfe.status.as_ref()?;
    let details = status.failure_details.as_ref()?;
    if details.was_execution_failure {
        return Some(SkipReason::PreviousExecutionFailed);
    }
    let count = u32::try_from(status.consecutive_failures.unwrap_or(0)).unwrap_or(0);
    (count >= settings.backoff.max_consecutive_failures).then_some(SkipReason::ExhaustedRetries)
}

/// The most recent Completed/Failed WFE among `others`.
pub fn latest_terminal<'a>(others: &[&'a WorkflowExecution]) -> Option<&'a WorkflowExecution> {
    others
        .iter()
        .copied()
        .filter(|w| counts_as_history(w))
        .max_by_key(|w| {
            (
                finished_at(w),
                w.metadata.creation_timestamp.as_ref().map(|t| t.0),
            )
        })
}

/// Pre-execution failures in a row on the target before a new terminal WFE.
pub fn previous_failure_count(others: &[&WorkflowExecution]) -> u32 {
    match latest_terminal(others) {
        Some(w) if w.phase() == Phase::Failed && !is_cleared(w) => w
            .status
            .as_ref()
            .and_then(|s| s.consecutive_failures)
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// The uncleared failed WFE blocking the target, most recent first, with the block's kind.
pub fn blocking_workflow<'a>(
    others: &[&'a WorkflowExecution],
    settings: &Settings,
) -> Option<(&'a WorkflowExecution, SkipReason)> {
    others
        .iter()
        .copied()
        .filter_map(|w| block_reason(w, settings).map(|r| (w, r)))
        // An execution failure outranks exhausted retries; then the most recent one.
        .max_by_key(|(w, r)| (*r == SkipReason::PreviousExecutionFailed, finished_at(w)))
}

/// A time window (cooldown or backoff) that still forbids running on the target.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenWindow<'a> {
    /// The WFE whose end (or failure) opened the window.
    pub wfe: &'a WorkflowExecution,
    /// When the window closes; running exactly then is allowed.
    pub ends_at: Timestamp,
}

/// End of the cooldown a terminal WFE started, if it ran a PipelineRun and cooldown is on.
pub fn cooldown_end(wfe: &WorkflowExecution, cooldown: Duration) -> Option<Timestamp> {
    if cooldown.is_zero() || !counts_as_history(wfe) || !had_run(wfe) {
        return None;
    }
    finished_at(wfe)?.checked_add(cooldown).ok()
}

/// End of the backoff window a pre-execution failure started, unless cleared.
pub fn backoff_end(wfe: &WorkflowExecution) -> Option<Timestamp> {
    if wfe.phase() != Phase::Failed || is_cleared(wfe) {
        return None;
    }
    let status = wfe.status.as_ref()?;
    if status
        .failure_details
        .as_ref()
        .is_none_or(|f| f.was_execution_failure)
    {
        return None;
    }
    status.next_allowed_execution.as_ref().map(|t| t.0)
}

/// The latest-ending window still open at `now` (the later end wins, DESIGN §4.2).
pub fn open_window<'a>(
    others: &[&'a WorkflowExecution],
    now: Timestamp,
    settings: &Settings,
) -> Option<OpenWindow<'a>> {
    others
        .iter()
        .copied()
        .flat_map(|w| {
            [cooldown_end(w, settings.cooldown), backoff_end(w)]
                .into_iter()
                .flatten()
                .map(move |ends_at| OpenWindow { wfe: w, ends_at })
        })
        .filter(|w| now < w.ends_at)
        .max_by_key(|w| w.ends_at)
}
