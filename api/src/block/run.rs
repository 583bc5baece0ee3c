//! The run of pre-execution failures on a target (DESIGN §4.3): the uncleared failures since
//! the latest success or clearance. Its highest `consecutiveFailures` is the target's failure
//! count, and a member at the limit blocks the target (`ExhaustedRetries`). The controller
//! decides with it and `kubectl wfe blocked` reports with it.
//!
//! Why a run and not the newest failure: a failure can be recorded late. Its PipelineRun failed
//! before other WFEs' failures, but its status was written after theirs, so it carries the
//! run's highest count with an older `completionTime`.

use super::*;

/// When a terminal WFE finished: `completionTime`, else `failureDetails.failedAt`.
pub fn finished_at(status: &WorkflowExecutionStatus) -> Option<Timestamp> {
    status
        .completion_time
        .as_ref()
        .map(|t| t.0)
        .or_else(|| status.failure_details.as_deref().map(|f| f.failed_at.0))
}

/// Where one WFE stands in its target's run of failures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunMark {
    /// When it finished ([`finished_at`]).
    pub finished: Option<Timestamp>,
    /// When it ended the run before it: a Completed WFE when it finished; a validly cleared
    /// execution failure also when it finished; a validly cleared `ExhaustedRetries` failure
    /// when it was cleared, to the second (never before it failed).
    ///
    /// Clearing exhausted retries clears the run's block, so it ends every failure of the run
    /// recorded by then, even one recorded late and dated before it. Clearing an execution
    /// failure releases that failure only: failures after it (specs that became invalid, say)
    /// keep their run and their block, which needs a clearance of its own. The second is
    /// whole because finish times are (`metav1.Time`): a failure in the same second as a
    /// clearance stays in the run.
    pub reset_at: Option<Timestamp>,
    /// A failure no valid clearance released: a member of the run if it finished since the
    /// latest reset.
    pub uncleared_failure: bool,
}

impl RunMark {
    /// The mark of a WFE whose status is `status`, its clearance judged by `policy`.
    pub fn of(status: &WorkflowExecutionStatus, policy: &BlockPolicy) -> Self {
        let finished = finished_at(status);
        let facts = BlockFacts::from(status);
        let cleared = facts.is_cleared(policy);
        let (reset_at, uncleared_failure) = match status.phase {
            Some(Phase::Completed) => (finished, false),
            Some(Phase::Failed) if cleared => match facts.blocking_kind(policy) {
                Some(BlockKind::ExhaustedRetries) => {
                    let at = status
                        .block_clearance
                        .as_deref()
                        .and_then(|c| Timestamp::from_second(c.cleared_at.0.as_second()).ok());
                    (finished.max(at), false)
                }
                _ => (finished, false),
            },
            Some(Phase::Failed) => (None, true),
            _ => (None, false),
        };
        RunMark {
            finished,
            reset_at,
            uncleared_failure,
        }
    }

    /// Whether it belongs to the run that started at `since` (the latest reset; none: the
    /// target never had one). A failure in the same second as the reset belongs: whole-second
    /// times cannot say which came first, and the run is the cautious reading.
    pub fn in_run(&self, since: Option<Timestamp>) -> bool {
        self.uncleared_failure
            && since.is_none_or(|reset| self.finished.is_some_and(|f| f >= reset))
    }
}

/// The latest reset among `resets` ([`RunMark::reset_at`]): where the current run starts.
pub fn last_reset(resets: impl IntoIterator<Item = Option<Timestamp>>) -> Option<Timestamp> {
    resets.into_iter().flatten().max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FailureDetails;

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    fn status(phase: Phase, finished: i64) -> WorkflowExecutionStatus {
        WorkflowExecutionStatus {
            phase: Some(phase),
            completion_time: Some(Time(at(finished))),
            ..Default::default()
        }
    }

    /// Failed before execution at `failed`, `count` in a row, cleared at `cleared` if given.
    fn failed(failed: i64, count: i32, cleared: Option<i64>) -> WorkflowExecutionStatus {
        let mut s = status(Phase::Failed, failed);
        s.consecutive_failures = Some(count);
        s.failure_details = Some(Box::new(FailureDetails {
            reason: crate::FailureReason::ConfigurationError,
            message: "invalid bundle".into(),
            failed_task_name: None,
            failed_task_index: None,
            exit_code: None,
            failed_at: Time(at(failed)),
            execution_time_before_failure: None,
            natural_language_summary: None,
            was_execution_failure: false,
        }));
        s.block_clearance = cleared.map(|c| {
            Box::new(BlockClearance {
                cleared_by: "alice".into(),
                cleared_at: MicroTime(at(c)),
                clear_reason: "rolled back by hand and verified healthy by the on-call".into(),
                clear_method: keys::CLEAR_METHOD_WEBHOOK.into(),
                admission_request_uid: "adm-1".into(),
                cleared_failure_at: Some(Time(at(failed))),
                cleared_by_uid: None,
                cleared_by_groups: vec![],
            })
        });
        s
    }

    #[test]
    fn successes_and_clearances_reset_uncleared_failures_do_not() {
        let policy = BlockPolicy::default();
        let mark = |s: &WorkflowExecutionStatus| RunMark::of(s, &policy);
        assert_eq!(mark(&status(Phase::Completed, 10)).reset_at, Some(at(10)));
        assert!(!mark(&status(Phase::Completed, 10)).uncleared_failure);
        // Cleared when the operator cleared it, never before it failed.
        let cleared = mark(&failed(10, 5, Some(40)));
        assert_eq!(
            (cleared.reset_at, cleared.uncleared_failure),
            (Some(at(40)), false)
        );
        assert_eq!(mark(&failed(10, 5, Some(5))).reset_at, Some(at(10)));
        let mut within_a_second = failed(10, 5, Some(40));
        within_a_second.block_clearance.as_mut().unwrap().cleared_at = MicroTime(
            at(40)
                .checked_add(jiff::SignedDuration::from_millis(700))
                .unwrap(),
        );
        assert_eq!(mark(&within_a_second).reset_at, Some(at(40)));
        // An execution failure, cleared: when it failed, whenever it was cleared.
        let mut execution = failed(10, 0, Some(40));
        execution
            .failure_details
            .as_mut()
            .unwrap()
            .was_execution_failure = true;
        let execution = mark(&execution);
        assert_eq!(
            (execution.reset_at, execution.uncleared_failure),
            (Some(at(10)), false)
        );
        // A record on a failure that does not block releases nothing and resets nothing.
        let below = mark(&failed(10, 2, Some(40)));
        assert_eq!((below.reset_at, below.uncleared_failure), (None, true));
        let uncleared = mark(&failed(10, 5, None));
        assert_eq!(
            (uncleared.reset_at, uncleared.uncleared_failure),
            (None, true)
        );
        for phase in [Phase::Skipped, Phase::Running, Phase::Pending] {
            assert_eq!(
                mark(&status(phase, 10)),
                RunMark {
                    finished: Some(at(10)),
                    ..Default::default()
                }
            );
        }
        // Without a completionTime a failure finished when it failed.
        let mut no_completion = failed(10, 1, None);
        no_completion.completion_time = None;
        assert_eq!(mark(&no_completion).finished, Some(at(10)));
    }

    #[test]
    fn the_run_starts_at_the_latest_reset_same_second_included() {
        let failure = RunMark::of(&failed(10, 3, None), &BlockPolicy::default());
        assert!(failure.in_run(None));
        assert!(failure.in_run(Some(at(9))));
        assert!(failure.in_run(Some(at(10))));
        assert!(!failure.in_run(Some(at(11))));
        // A failure in the same second as a clearance, however far into it, stays in the run.
        let mut cleared = failed(5, 5, Some(10));
        cleared.block_clearance.as_mut().unwrap().cleared_at = MicroTime(
            at(10)
                .checked_add(jiff::SignedDuration::from_millis(900))
                .unwrap(),
        );
        let reset = RunMark::of(&cleared, &BlockPolicy::default()).reset_at;
        assert!(failure.in_run(reset));
        let success = RunMark::of(&status(Phase::Completed, 5), &BlockPolicy::default());
        assert!(!success.in_run(None));
        assert_eq!(
            last_reset([None, Some(at(3)), Some(at(7)), None]),
            Some(at(7))
        );
        assert_eq!(last_reset([None, None]), None);
    }
}
