//! `/validate-workflowexecution`: the spec rules of DESIGN §3.1 and spec immutability.

use kube::core::admission::Operation;
use serde_json::Value;
use wfe_api::{changed_spec_fields, parse_workflow_execution, validate_spec};

use crate::review::{ReviewRequest, Verdict};
use crate::settings::Settings;

/// Decides a create or update of the main resource.
pub fn review_spec(request: &ReviewRequest, settings: &Settings) -> Verdict {
    if let Err(denied) = request.check_kind() {
        return denied;
    }
    match request.operation {
        Operation::Create => review_create(request, settings),
        Operation::Update => review_update(request),
        // Not registered for these; nothing about a spec to judge.
        Operation::Delete | Operation::Connect => Verdict::allow(),
    }
}

fn review_create(request: &ReviewRequest, settings: &Settings) -> Verdict {
    let Some(object) = request.object.as_ref().filter(|o| o.is_object()) else {
        return Verdict::bad_request("CREATE review carries no object");
    };
    let wfe = match parse_workflow_execution(object.clone()) {
        Ok(wfe) => wfe,
        Err(v) => return Verdict::invalid(format!("WorkflowExecution {} is invalid: {v}", request.object_ref())),
    };
    match validate_spec(&wfe.spec, &settings.spec_policy) {
        Ok(()) => Verdict::allow(),
        Err(violations) => Verdict::invalid(format!(
            "WorkflowExecution {} is invalid ({} problem{}): {violations}",
            request.object_ref(),
            violations.0.len(),
            if violations.0.len() == 1 { "" } else { "s" }
        )),
    }
}

fn review_update(request: &ReviewRequest) -> Verdict {
    let (Some(new), Some(old)) = (request.object.as_ref(), request.old_object.as_ref()) else {
        return Verdict::bad_request("UPDATE review must carry object and oldObject");
    };
    let new_spec = new.get("spec").unwrap_or(&Value::Null);
    let old_spec = old.get("spec").unwrap_or(&Value::Null);
    // Compared as JSON first: a no-op update (e.g. status sent to the main resource and dropped)
    // and metadata-only updates must pass even if an old spec no longer meets today's rules.
    if new_spec == old_spec {
        return Verdict::allow();
    }
    let changed = match (parse_workflow_execution(new.clone()), parse_workflow_execution(old.clone())) {
        (Ok(n), Ok(o)) => changed_spec_fields(&o.spec, &n.spec).join(", "),
        _ => String::new(),
    };
    let changed = if changed.is_empty() { "spec".to_owned() } else { changed };
    Verdict::invalid(format!(
        "WorkflowExecution {}: spec is immutable after creation (changed: {changed}); create a new WorkflowExecution instead",
        request.object_ref()
    ))
}
