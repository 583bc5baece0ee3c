//! Events implied by a persisted transition, so they follow state and never retries.

use super::*;

/// Notices implied by going from `old` to `new` (so they follow persisted state, never retries).
pub fn transition_notices(
    wfe: &WorkflowExecution,
    old: Option<&WorkflowExecutionStatus>,
    new: &WorkflowExecutionStatus,
    policy: &BlockPolicy,
) -> Vec<Notice> {
    let mut out = Vec::new();
    let old_phase = old.and_then(|s| s.phase).unwrap_or(Phase::Pending);
    let new_phase = new.phase.unwrap_or(Phase::Pending);
    let target = &wfe.spec.target_resource;
    if old.is_none_or(|s| s.pipeline_run_ref.is_none())
        && let Some(r) = &new.pipeline_run_ref
    {
        out.push(Notice {
            kind: NoticeKind::PipelineRunCreated,
            note: format!(
                "created PipelineRun {}/{} for {target}",
                r.namespace, r.name
            ),
        });
    }
    if old_phase != new_phase {
        match new_phase {
            Phase::Completed => out.push(Notice {
                kind: NoticeKind::WorkflowCompleted,
                note: format!(
                    "workflow {} completed on {target}",
                    wfe.spec.workflow_ref.workflow_id
                ),
            }),
            Phase::Failed => out.push(Notice {
                kind: NoticeKind::WorkflowFailed,
                note: new
                    .failure_details
                    .as_deref()
                    .map_or_else(String::new, |f| {
                        format!(
                            "{}: {}",
                            f.reason.as_str(),
                            f.message.chars().take(900).collect::<String>()
                        )
                    }),
            }),
            Phase::Skipped => out.push(Notice {
                kind: NoticeKind::Skipped,
                note: new.skip_details.as_deref().map_or_else(String::new, |s| {
                    format!("{}: {}", s.reason.as_str(), s.message)
                }),
            }),
            _ => {}
        }
    }
    out.extend(block_notice(wfe, old, new, policy));
    out
}

/// The notice for a new block verdict: what happened comes from the block rules over the
/// persisted record; the TargetBlocked condition changing says the verdict is new (so a
/// restart or a retry never announces it twice).
pub(super) fn block_notice(
    wfe: &WorkflowExecution,
    old: Option<&WorkflowExecutionStatus>,
    new: &WorkflowExecutionStatus,
    policy: &BlockPolicy,
) -> Option<Notice> {
    let verdict = |s: &WorkflowExecutionStatus| {
        find(&s.conditions, keys::CONDITION_TARGET_BLOCKED)
            .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
    };
    if old.and_then(verdict) == verdict(new) {
        return None;
    }
    let target = &wfe.spec.target_resource;
    let facts = BlockFacts::from(new);
    facts.blocking_kind(policy)?;
    match facts.clearance(policy) {
        ClearanceVerdict::Valid(c) => Some(Notice {
            kind: NoticeKind::BlockCleared,
            note: format!("block on {target} cleared by {}", c.cleared_by),
        }),
        ClearanceVerdict::Rejected { record, problems } => Some(Notice {
            kind: NoticeKind::ForgedClearance,
            note: format!(
                "rejected a blockClearance naming {:?} on {target}; the block stays: {}",
                record.cleared_by,
                problems
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }),
        ClearanceVerdict::Absent => None,
    }
}
