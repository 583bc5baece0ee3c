//! The TargetBlocked condition of a failed WFE, from the block rules over its status.

use super::*;

/// The TargetBlocked condition a failed WFE should carry, from the block rules over its status.
pub(super) fn apply_block_condition(
    status: &mut WorkflowExecutionStatus,
    wfe: &WorkflowExecution,
    settings: &Settings,
    now: Timestamp,
) {
    let facts = BlockFacts::from(&*status);
    let Some(kind) = facts.blocking_kind(&settings.block) else {
        // Blocked under the settings it failed with, not under today's (the failure limit was
        // raised): the condition must not go on showing a block no rule enforces.
        let shown = find(&status.conditions, keys::CONDITION_TARGET_BLOCKED);
        if shown.is_some_and(|c| c.status == "True") {
            let message = format!(
                "this failure no longer blocks {}: {} consecutive pre-execution failures is below backoff.maxConsecutiveFailures ({})",
                wfe.spec.target_resource,
                facts.consecutive_failures.unwrap_or(0),
                settings.block.max_consecutive_failures
            );
            set_condition(
                &mut status.conditions,
                keys::CONDITION_TARGET_BLOCKED,
                false,
                REASON_NO_LONGER_BLOCKING,
                message,
                generation(wfe),
                now,
            );
        }
        return;
    };
    let (blocked, reason, message) = match facts.clearance(&settings.block) {
        ClearanceVerdict::Valid(c) => (
            false,
            REASON_BLOCK_CLEARED,
            format!("block cleared by {}: {}", c.cleared_by, c.clear_reason),
        ),
        ClearanceVerdict::Rejected { record, problems } => (
            true,
            kind.as_str(),
            rejected_clearance_message(wfe, record, &problems),
        ),
        ClearanceVerdict::Absent => (true, kind.as_str(), blocked_message(wfe, kind)),
    };
    set_condition(
        &mut status.conditions,
        keys::CONDITION_TARGET_BLOCKED,
        blocked,
        reason,
        message,
        generation(wfe),
        now,
    );
}
