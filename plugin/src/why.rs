//! `kubectl wfe why NAME`: a short paragraph on why a WFE is in its phase and what to do next.
//! Pure: the WFE, the one other WFE it points at (blocker, lock holder or the remediation whose
//! window is open) as fetched, the time, and the block rules.

use jiff::Timestamp;
use wfe_api::block::{BlockFacts, BlockPolicy, ClearanceVerdict};
use wfe_api::{Phase, SkipDetails, SkipReason, WorkflowExecution, commands, duration};

use crate::blocked::failure_line;
use crate::render::{time, time_relative};

/// The WFE a Skipped WFE points at, if any: its name and namespace.
pub fn related(wfe: &WorkflowExecution) -> Option<(String, String)> {
    let skip = wfe.status.as_ref()?.skip_details.as_deref()?;
    let own_ns = wfe.metadata.namespace.clone().unwrap_or_default();
    if let Some(b) = &skip.blocking_workflow {
        return Some((b.name.clone(), b.namespace.clone().unwrap_or(own_ns)));
    }
    if let Some(c) = &skip.conflicting_workflow {
        return Some((c.name.clone(), own_ns));
    }
    skip.recent_remediation
        .as_ref()
        .map(|r| (r.name.clone(), own_ns))
}

/// The explanation.
pub fn explain(
    wfe: &WorkflowExecution,
    related: Option<&WorkflowExecution>,
    now: Timestamp,
    policy: &BlockPolicy,
) -> String {
    let name = wfe.metadata.name.clone().unwrap_or_default();
    let ns = wfe.metadata.namespace.clone().unwrap_or_default();
    let target = &wfe.spec.target_resource;
    let head = format!(
        "WorkflowExecution {ns}/{name} (workflow {} on {target})",
        wfe.spec.workflow_ref.workflow_id
    );
    let status = wfe.status.clone().unwrap_or_default();
    let text = match wfe.phase() {
        Phase::Pending => {
            let age = wfe
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| format!(", created {}", time_relative(t.0, now)))
                .unwrap_or_default();
            format!(
                "{head} is Pending{age}: the controller has not decided about it yet. It normally \
                 moves to Running or Skipped within seconds; if it stays Pending, check that the \
                 workflowexecution controller is running and holds its leader Lease."
            )
        }
        Phase::Running => {
            let since = status
                .start_time
                .as_ref()
                .map(|t| format!(" since {}", time_relative(t.0, now)))
                .unwrap_or_default();
            let run = status
                .pipeline_run_ref
                .as_ref()
                .map(|r| format!(" as PipelineRun {}/{}", r.namespace, r.name))
                .unwrap_or_default();
            let progress = status
                .pipeline_run_status
                .as_ref()
                .filter(|p| p.total_tasks > 0)
                .map(|p| format!(" ({} of {} tasks done)", p.completed_tasks, p.total_tasks))
                .unwrap_or_default();
            format!(
                "{head} is Running{run}{since}{progress}. Nothing to do; to wait for the outcome: \
                 kubectl wait --for=condition=Succeeded wfe/{name} -n {ns} (returns when it \
                 completes; use --for=condition=Succeeded=False to wait for a failure)."
            )
        }
        Phase::Completed => {
            let took = status
                .duration
                .as_deref()
                .and_then(|d| duration::parse(d).ok())
                .map(|d| format!(" in {}", duration::human(d)))
                .unwrap_or_default();
            let at = status
                .completion_time
                .as_ref()
                .map(|t| format!(" at {}", time(t.0)))
                .unwrap_or_default();
            format!("{head} Completed{took}{at}. Nothing to do.")
        }
        Phase::Failed => explain_failed(&head, wfe, &status, policy),
        Phase::Skipped => match &status.skip_details {
            Some(skip) => explain_skipped(&head, wfe, skip, related, now, policy),
            None => format!("{head} was Skipped, but records no skip details."),
        },
    };
    text + "\n"
}

fn explain_failed(
    head: &str,
    wfe: &WorkflowExecution,
    status: &wfe_api::WorkflowExecutionStatus,
    policy: &BlockPolicy,
) -> String {
    let name = wfe.metadata.name.clone().unwrap_or_default();
    let ns = wfe.metadata.namespace.clone().unwrap_or_default();
    let Some(f) = &status.failure_details else {
        return format!("{head} Failed, but records no failure details.");
    };
    let summary = f
        .natural_language_summary
        .clone()
        .unwrap_or_else(|| failure_line(f));
    let mut s = format!("{head} Failed at {}. {summary}", time(f.failed_at.0));
    let facts = BlockFacts::from(status);
    match (facts.blocking_kind(policy), facts.clearance(policy)) {
        (Some(_), ClearanceVerdict::Valid(c)) => s.push_str(&format!(
            " Its block on the target was cleared by {} at {} (\"{}\"); new remediations of the target proceed to the normal checks.",
            c.cleared_by,
            time(c.cleared_at.0),
            c.clear_reason
        )),
        (Some(kind), ClearanceVerdict::Rejected { problems, .. }) => s.push_str(&format!(
            " It BLOCKS further remediation of the target ({}). It carries a clearance record that is not accepted ({}), so the block stays; report this to your security contact.",
            kind.as_str(),
            problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        )),
        (Some(kind), ClearanceVerdict::Absent) => s.push_str(&format!(
            " It BLOCKS further remediation of the target ({}) until an authorised operator clears it. Next step: check the target is healthy, then run: {}",
            kind.as_str(),
            commands::plugin_clear_command(&name, &ns)
        )),
        (None, _) => {
            let next = status
                .next_allowed_execution
                .as_ref()
                .map(|t| format!(" the next remediation is allowed from {}", time(t.0)))
                .unwrap_or_else(|| " the next remediation is allowed".to_owned());
            s.push_str(&format!(
                " It does not block the target: it failed before changing anything and{next} (backoff; {} failures in a row, the target is blocked at {}).",
                status.consecutive_failures.unwrap_or(0),
                policy.max_consecutive_failures
            ));
        }
    }
    s
}

/// Said of every Skipped WFE: it is terminal.
const SKIPPED_IS_FINAL: &str = "A Skipped WorkflowExecution never runs again: once the cause is gone, the orchestrator (or you) must create a new one.";

fn explain_skipped(
    head: &str,
    wfe: &WorkflowExecution,
    skip: &SkipDetails,
    related: Option<&WorkflowExecution>,
    now: Timestamp,
    policy: &BlockPolicy,
) -> String {
    let ns = wfe.metadata.namespace.clone().unwrap_or_default();
    let because = match skip.reason {
        SkipReason::PreviousExecutionFailed | SkipReason::ExhaustedRetries => {
            blocked_because(skip, &ns, related, policy)
        }
        SkipReason::ResourceBusy => busy_because(skip, &ns, related, now),
        SkipReason::RecentlyRemediated => window_because(skip, now),
    };
    format!(
        "{head} was Skipped at {} ({}): {because} {SKIPPED_IS_FINAL}",
        time(skip.skipped_at.0),
        skip.reason.as_str()
    )
}

fn blocked_because(
    skip: &SkipDetails,
    ns: &str,
    blocker_now: Option<&WorkflowExecution>,
    policy: &BlockPolicy,
) -> String {
    let b = skip.blocking_workflow.as_ref();
    let blocker = b.map_or_else(
        || "an uncleared failed WorkflowExecution".to_owned(),
        |b| b.name.clone(),
    );
    let blocker_ns = b
        .and_then(|b| b.namespace.clone())
        .unwrap_or_else(|| ns.to_owned());
    let failed = b
        .and_then(|b| b.failed_at.as_ref())
        .map(|t| format!(", failed at {}", time(t.0)))
        .unwrap_or_default();
    let kind = match skip.reason {
        SkipReason::PreviousExecutionFailed => "failed after it started changing the target",
        _ => "is the last of too many failures in a row before execution",
    };
    let next = match blocker_now.and_then(|r| r.status.as_ref()) {
        Some(s) if BlockFacts::from(s).is_cleared(policy) => {
            let by = s
                .block_clearance
                .as_ref()
                .map(|c| c.cleared_by.clone())
                .unwrap_or_default();
            format!("That block has since been cleared by {by}.")
        }
        _ => format!(
            "Next step: see why it failed (kubectl wfe why {blocker} -n {blocker_ns}), make sure the target is healthy, then clear it: {}",
            commands::plugin_clear_command(&blocker, &blocker_ns)
        ),
    };
    format!(
        "the target is blocked: WorkflowExecution {blocker_ns}/{blocker} {kind}{failed} and had not been cleared. {next}"
    )
}

fn busy_because(
    skip: &SkipDetails,
    ns: &str,
    holder_now: Option<&WorkflowExecution>,
    now: Timestamp,
) -> String {
    let c = skip.conflicting_workflow.as_ref();
    let holder = c.map_or_else(
        || "another WorkflowExecution".to_owned(),
        |c| c.name.clone(),
    );
    let started = c
        .and_then(|c| c.started_at.as_ref())
        .map(|t| format!(" (started {})", time_relative(t.0, now)))
        .unwrap_or_default();
    let next = match holder_now {
        Some(h) => format!(
            "It is now {}. Next step: wait for it (kubectl wait --for=condition=Succeeded wfe/{holder} -n {ns}) and for the cooldown after it.",
            h.phase().as_str()
        ),
        // The controller names the lock PipelineRun when the holding WFE is unknown or gone.
        None => format!(
            "No WorkflowExecution {ns}/{holder} exists now: {holder} may be the lock PipelineRun in the execution namespace (see the runbook, \"Investigating resource locks\")."
        ),
    };
    format!("another remediation held the target's lock: {holder}{started}. {next}")
}

fn window_because(skip: &SkipDetails, now: Timestamp) -> String {
    let r = skip.recent_remediation.as_ref();
    let by = r.map_or_else(
        || "another remediation".to_owned(),
        |r| format!("{} ({})", r.name, r.outcome.as_str()),
    );
    let ends = r
        .and_then(|r| duration::parse(&r.cooldown_remaining).ok())
        .and_then(|d| skip.skipped_at.0.checked_add(d).ok());
    let window = match ends {
        Some(end) if end > now => format!(
            "; the cooldown/backoff window ends at {}",
            time_relative(end, now)
        ),
        Some(end) => format!("; that window ended at {}", time(end)),
        None => String::new(),
    };
    format!(
        "the target was remediated too recently, by {by}{window}. Next step: create a new WorkflowExecution once the window is over."
    )
}

#[cfg(test)]
mod tests;
