//! Operator-facing text of the TargetBlocked condition: what blocks, and the exact next step.

use super::*;

pub(super) fn blocked_message(wfe: &WorkflowExecution, kind: BlockKind) -> String {
    let name = wfe.metadata.name.as_deref().unwrap_or("<name>");
    let ns = wfe.metadata.namespace.as_deref().unwrap_or("<namespace>");
    let why = match kind {
        BlockKind::PreviousExecutionFailed => {
            "This workflow failed after it started changing the target"
        }
        BlockKind::ExhaustedRetries => {
            "The target reached the maximum number of consecutive pre-execution failures"
        }
    };
    // The plugin command first (it encodes any reason safely), the raw patch as the fallback;
    // both carry the placeholder the reason rules refuse.
    format!(
        "{why}; no further remediation of {} will run until an authorised operator clears this block: \
         {} (without the kubectl-wfe plugin: {})",
        wfe.spec.target_resource,
        wfe_api::commands::plugin_clear_command(name, ns),
        wfe_api::commands::patch_clear_command(name, ns)
    )
}

pub(super) fn rejected_clearance_message(
    wfe: &WorkflowExecution,
    record: &BlockClearance,
    problems: &[RecordProblem],
) -> String {
    let name = wfe.metadata.name.as_deref().unwrap_or("<name>");
    let ns = wfe.metadata.namespace.as_deref().unwrap_or("<namespace>");
    let why: Vec<String> = problems.iter().map(ToString::to_string).collect();
    format!(
        "The blockClearance naming {:?} was rejected and does not release the block ({}); it was not \
         stamped by the admission webhook for an operator allowed to clear. It is kept as evidence \
         (write-once): investigate who wrote it (ForgedClearance event, audit trail). To release \
         {}, export this WorkflowExecution (kubectl get wfe {name} -n {ns} -o yaml) and delete it.",
        record.cleared_by,
        why.join("; "),
        wfe.spec.target_resource
    )
}
