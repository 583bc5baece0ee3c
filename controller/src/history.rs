//! What the other WFEs on a target say about it: blocks, failure counts, time windows
//! (DESIGN §4.2–4.3). Only Completed and Failed WFEs count; Skipped never does.

use jiff::Timestamp;
use wfe_api::block::{self, BlockFacts, BlockKind, RunMark};
use wfe_api::{Phase, WorkflowExecution};

use crate::neighbour::Neighbour;
use crate::settings::Settings;

/// Completed or Failed: the phases that count as history.
pub fn counts_as_history(wfe: &WorkflowExecution) -> bool {
    matches!(wfe.phase(), Phase::Completed | Phase::Failed)
}

/// The block facts of a WFE's status (none for a WFE without status).
fn facts(wfe: &WorkflowExecution) -> BlockFacts<'_> {
    wfe.status
        .as_ref()
        .map(BlockFacts::from)
        .unwrap_or_default()
}

/// Whether a clearance that passes the block rules releases this WFE's failure.
pub fn is_cleared(wfe: &WorkflowExecution, settings: &Settings) -> bool {
    facts(wfe).is_cleared(&settings.block)
}

/// Whether a PipelineRun was created for this WFE (so its end starts a cooldown).
pub fn had_run(wfe: &WorkflowExecution) -> bool {
    wfe.status
        .as_ref()
        .is_some_and(|s| s.pipeline_run_ref.is_some() || s.start_time.is_some())
}

/// The block this (failed) WFE puts on its target, if any and not validly cleared.
pub fn block_reason(wfe: &WorkflowExecution, settings: &Settings) -> Option<BlockKind> {
    facts(wfe).active_block(&settings.block)
}

/// Where `wfe` stands in its target's run of failures ([`RunMark`]).
pub fn run_mark(wfe: &WorkflowExecution, settings: &Settings) -> RunMark {
    wfe.status
        .as_ref()
        .map(|s| RunMark::of(s, &settings.block))
        .unwrap_or_default()
}

/// The latest reset among `others`: where the target's current run of failures starts.
pub fn last_reset(others: &[&Neighbour]) -> Option<Timestamp> {
    block::last_reset(others.iter().map(|w| w.reset_at))
}

/// The target's current run of failures: the uncleared failures since the last reset, whatever
/// order they were recorded in ([`Neighbour::in_failure_run`]).
fn failure_run<'a>(others: &[&'a Neighbour]) -> impl Iterator<Item = &'a Neighbour> {
    let since = last_reset(others);
    others
        .iter()
        .copied()
        .filter(move |w| w.in_failure_run(since))
}

/// Pre-execution failures in a row on the target before a new terminal WFE: the highest count
/// in the current run. Each failure counts one more than the run held when it was recorded, so
/// the highest is the truest even when a failure is recorded late, after others that finished
/// later (its run's completion time is older than theirs, its count higher).
pub fn previous_failure_count(others: &[&Neighbour]) -> u32 {
    failure_run(others)
        .map(Neighbour::carried_failures)
        .max()
        .unwrap_or(0)
}

/// The uncleared failed WFE blocking the target, most recent first, with the block's kind.
pub fn blocking_workflow<'a>(others: &[&'a Neighbour]) -> Option<(&'a Neighbour, BlockKind)> {
    // Exhausted retries belong to the current run of failures (DESIGN §4.3): an old failure
    // whose count reached the limit blocks nothing once a success or a clearance came after it.
    let since = last_reset(others);
    others
        .iter()
        .copied()
        .filter_map(|w| w.block.map(|r| (w, r)))
        .filter(|(w, r)| *r == BlockKind::PreviousExecutionFailed || w.in_failure_run(since))
        // An execution failure outranks exhausted retries (the kinds' order); then the most recent.
        .max_by_key(|(w, r)| (*r, w.finished))
}

/// A time window (cooldown or backoff) that still forbids running on the target.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenWindow<'a> {
    /// The WFE whose end (or failure) opened the window.
    pub wfe: &'a Neighbour,
    /// When the window closes; running exactly then is allowed.
    pub ends_at: Timestamp,
}

/// End of the backoff window a pre-execution failure started, unless cleared.
pub fn backoff_end(wfe: &WorkflowExecution, settings: &Settings) -> Option<Timestamp> {
    if wfe.phase() != Phase::Failed || is_cleared(wfe, settings) {
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
    others: &[&'a Neighbour],
    now: Timestamp,
    settings: &Settings,
) -> Option<OpenWindow<'a>> {
    others
        .iter()
        .copied()
        .flat_map(|w| {
            [w.cooldown_end(settings.cooldown), w.backoff_end]
                .into_iter()
                .flatten()
                .map(move |ends_at| OpenWindow { wfe: w, ends_at })
        })
        .filter(|w| now < w.ends_at)
        .max_by_key(|w| w.ends_at)
}
