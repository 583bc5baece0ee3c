//! What a decision reads of the *other* WFEs on a target (DESIGN §4.2–4.3): a projection made
//! once per watch event, so the cache never keeps a whole object only for its neighbours' sake.
//!
//! Every field is one the history and lock rules read (`crate::history`, `decision::lock`, the
//! skip details); `index::tests::decides_as_over_the_whole_history` checks that deciding over
//! projections reaches the same result as over the objects they were made from.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use wfe_api::block::{BlockKind, RunMark};
use wfe_api::{FailureReason, Phase, WorkflowExecution};

use crate::history;
use crate::settings::Settings;

/// Namespace and name: the order the decision visits neighbours in. Shared, because the target
/// index files one WFE's name under several orders.
pub type Name = Arc<(Option<String>, String)>;

/// Another WFE on the same target, as the decision sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbour {
    /// Namespace and name.
    pub name: Name,
    /// The UID as the lock PipelineRun's owner label carries it (`naming::label_value`).
    pub owner_uid: Option<Arc<str>>,
    /// Its phase.
    pub phase: Phase,
    /// `spec.workflowRef.workflowId` (named in a `RecentlyRemediated` skip).
    pub workflow_id: Box<str>,
    /// `status.startTime` (named in a `ResourceBusy` skip).
    pub started: Option<Time>,
    /// When it finished (`wfe_api::block::finished_at`).
    pub finished: Option<Timestamp>,
    /// Whether a PipelineRun was created for it, so its end starts a cooldown.
    pub had_run: bool,
    /// Whether a clearance that passes the block rules releases its failure.
    pub cleared: bool,
    /// The block it puts on its target, if any and not validly cleared.
    pub block: Option<BlockKind>,
    /// `status.consecutiveFailures`.
    pub consecutive_failures: Option<i32>,
    /// `status.failureDetails`: when and why it failed.
    pub failure: Option<(Time, FailureReason)>,
    /// End of the backoff window its pre-execution failure started, unless cleared.
    pub backoff_end: Option<Timestamp>,
    /// When it ended the target's run of failures ([`RunMark::reset_at`]), if it did.
    pub reset_at: Option<Timestamp>,
}

impl Neighbour {
    /// The projection of `w`, judged by the block rules and backoff of `settings`.
    pub fn of(w: &WorkflowExecution, settings: &Settings) -> Self {
        let status = w.status.as_ref();
        let run = history::run_mark(w, settings);
        Neighbour {
            name: Arc::new((
                w.metadata.namespace.clone(),
                w.metadata.name.clone().unwrap_or_default(),
            )),
            owner_uid: w
                .metadata
                .uid
                .as_deref()
                .map(|uid| Arc::from(wfe_api::naming::label_value(uid))),
            phase: w.phase(),
            workflow_id: w.spec.workflow_ref.workflow_id.as_str().into(),
            started: status.and_then(|s| s.start_time.clone()),
            finished: run.finished,
            had_run: history::had_run(w),
            cleared: history::is_cleared(w, settings),
            block: history::block_reason(w, settings),
            consecutive_failures: status.and_then(|s| s.consecutive_failures),
            failure: status
                .and_then(|s| s.failure_details.as_deref())
                .map(|f| (f.failed_at.clone(), f.reason)),
            backoff_end: history::backoff_end(w, settings),
            reset_at: run.reset_at,
        }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name.1
    }

    /// Its namespace.
    pub fn namespace(&self) -> Option<&str> {
        self.name.0.as_deref()
    }

    /// Completed or Failed: the phases that count as history.
    pub fn counts_as_history(&self) -> bool {
        matches!(self.phase, Phase::Completed | Phase::Failed)
    }

    /// Pre-execution failures in a row its outcome carries: its `consecutiveFailures` if it
    /// is an uncleared failure, else none (a success or a clearance ends the run of failures).
    pub fn carried_failures(&self) -> u32 {
        match self.phase {
            Phase::Failed if !self.cleared => self
                .consecutive_failures
                .and_then(|c| u32::try_from(c).ok())
                .unwrap_or(0),
            _ => 0,
        }
    }

    /// Whether it belongs to the target's current run of failures, the one that started at
    /// `since` ([`RunMark::in_run`]).
    pub fn in_failure_run(&self, since: Option<Timestamp>) -> bool {
        RunMark {
            finished: self.finished,
            reset_at: self.reset_at,
            uncleared_failure: self.phase == Phase::Failed && !self.cleared,
        }
        .in_run(since)
    }

    /// End of the cooldown it started, if it ran a PipelineRun and cooldown is on.
    pub fn cooldown_end(&self, cooldown: Duration) -> Option<Timestamp> {
        if cooldown.is_zero() || !self.counts_as_history() || !self.had_run {
            return None;
        }
        self.finished?.checked_add(cooldown).ok()
    }

    /// Whether it is the WFE whose UID is `uid` in label form.
    pub fn has_owner_uid(&self, uid: &str) -> bool {
        self.owner_uid.as_deref() == Some(uid)
    }
}
