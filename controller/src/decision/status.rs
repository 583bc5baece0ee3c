//! Small helpers every status builder shares.

use super::*;

pub(super) fn generation(wfe: &WorkflowExecution) -> Option<i64> {
    wfe.metadata.generation
}

pub(super) fn base_status(wfe: &WorkflowExecution) -> WorkflowExecutionStatus {
    let mut status = wfe.status.clone().unwrap_or_default();
    status.observed_generation = generation(wfe);
    status
}

pub(super) fn duration_between(from: Timestamp, to: Timestamp) -> Duration {
    Duration::try_from(to.duration_since(from)).unwrap_or_default()
}
