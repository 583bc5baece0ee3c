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
