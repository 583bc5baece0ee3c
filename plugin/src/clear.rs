//! `kubectl wfe clear NAME --reason TEXT`: the documented status merge patch, checked locally
//! with the same rules the webhook applies so the operator hears about a bad reason (or a WFE
//! that cannot be cleared) before a round trip.

use serde_json::{Value, json};
use wfe_api::block::{self, BlockFacts, BlockPolicy, NotClearable};
use wfe_api::{BlockClearance, WorkflowExecution};

use crate::error::PluginError;
use crate::render::time;

/// The status merge patch that asks for a clearance. serde_json encodes the reason, so quotes,
/// apostrophes, backslashes, newlines and any unicode arrive exactly as typed.
pub fn clearance_patch(reason: &str) -> Value {
    json!({"status": {"blockClearanceRequest": {"clearReason": reason}}})
}

/// The reason rules of `wfe_api::block`, before anything is sent.
pub fn check_reason(reason: &str, policy: &BlockPolicy) -> Result<(), PluginError> {
    block::check_reason(reason, &policy.clearance)
        .map_err(|problem| PluginError::Refused(problem.to_string()))
}

/// Whether the stored WFE can be cleared at all. A WFE below the plugin's failure limit is left
/// for the webhook to judge: the service may be configured with a lower limit than the plugin
/// knows.
pub fn check_clearable(wfe: &WorkflowExecution, policy: &BlockPolicy) -> Result<(), PluginError> {
    let status = wfe.status.clone().unwrap_or_default();
    let id = format!(
        "{}/{}",
        wfe.metadata.namespace.as_deref().unwrap_or_default(),
        wfe.metadata.name.as_deref().unwrap_or_default()
    );
    match BlockFacts::from(&status).clearable(policy) {
        Ok(_) | Err(NotClearable::NotBlocking { .. }) => Ok(()),
        Err(e) => Err(PluginError::Refused(e.message(&id))),
    }
}

/// What the API server answered: the stamped record, or why there is none.
pub fn stamped(answer: &WorkflowExecution) -> Result<&BlockClearance, PluginError> {
    let status = answer.status.as_ref();
    match status.and_then(|s| s.block_clearance.as_deref()) {
        Some(record) => Ok(record),
        None if status.is_some_and(|s| s.block_clearance_request.is_some()) => {
            Err(PluginError::NotStamped(
                "the API server stored the clearance request but no webhook turned it into a \
                 blockClearance: the mutating admission webhook (/mutate-workflowexecution-status) \
                 is not registered or not called; the block is NOT cleared"
                    .to_owned(),
            ))
        }
        None => Err(PluginError::NotStamped(
            "the API server answered without a blockClearance; the block is NOT cleared".to_owned(),
        )),
    }
}

/// The stamped record for people.
pub fn render_record(wfe: &WorkflowExecution, record: &BlockClearance, dry_run: bool) -> String {
    let name = wfe.metadata.name.as_deref().unwrap_or_default();
    let ns = wfe.metadata.namespace.as_deref().unwrap_or_default();
    let mut out = if dry_run {
        format!(
            "Dry run: the webhook WOULD clear the block of {ns}/{name} on {} with this record (nothing was saved):\n",
            wfe.spec.target_resource
        )
    } else {
        format!(
            "Block of {ns}/{name} on {} cleared:\n",
            wfe.spec.target_resource
        )
    };
    let mut field = |k: &str, v: String| out.push_str(&format!("  {k:<22}{v}\n"));
    field("clearedBy:", record.cleared_by.clone());
    if let Some(uid) = &record.cleared_by_uid {
        field("clearedByUID:", uid.clone());
    }
    if !record.cleared_by_groups.is_empty() {
        field("clearedByGroups:", record.cleared_by_groups.join(", "));
    }
    field("clearedAt:", wfe_api::timestamp::micro(&record.cleared_at));
    field("clearMethod:", record.clear_method.clone());
    field("admissionRequestUID:", record.admission_request_uid.clone());
    if let Some(t) = &record.cleared_failure_at {
        field("clearedFailureAt:", time(t.0));
    }
    field(
        "clearReason:",
        // Continuation lines of a multi-line reason line up under its first line.
        record.clear_reason.replace('\n', &format!("\n{:24}", "")),
    );
    if !dry_run {
        out.push_str(
            "The controller now releases the block (TargetBlocked=False, reason BlockCleared); the next WorkflowExecution on the target proceeds to the normal checks.\n",
        );
    }
    out
}

#[cfg(test)]
mod tests;
