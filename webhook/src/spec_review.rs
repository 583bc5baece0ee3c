//! `/validate-workflowexecution`: the spec rules of DESIGN §3.1 and spec immutability.

use kube::core::admission::Operation;
use wfe_api::{Violations, changed_spec_fields, validate_spec};

use crate::json_view::same;
use crate::review::{ObjectView, ReviewRequest, Verdict};
use crate::settings::Settings;
use crate::spec_read::read_spec;

/// Decides a create or update of the main resource.
pub fn review_spec(request: &ReviewRequest<'_>, settings: &Settings) -> Verdict {
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

fn review_create(request: &ReviewRequest<'_>, settings: &Settings) -> Verdict {
    // The API server validated the metadata and dropped any status before a validating webhook
    // sees a create, so only the spec is read; an object with a status, or a spec the reader
    // declines, is decoded whole as before, for the exact refusal.
    let read = request
        .object
        .as_ref()
        .filter(|object| object.status().is_none())
        .and_then(ObjectView::spec)
        .and_then(read_spec);
    if let Some(spec) = read {
        return spec_verdict(request, validate_spec(spec, &settings.spec_policy));
    }
    let Some(parsed) = request
        .object
        .as_ref()
        .and_then(ObjectView::workflow_execution)
    else {
        return Verdict::bad_request("CREATE review carries no object");
    };
    let wfe = match parsed {
        Ok(wfe) => wfe,
        Err(v) => {
            return Verdict::invalid(format!(
                "WorkflowExecution {} is invalid: {v}",
                request.object_ref()
            ));
        }
    };
    spec_verdict(request, validate_spec(&wfe.spec, &settings.spec_policy))
}

/// The answer to a create whose spec was checked.
fn spec_verdict(request: &ReviewRequest<'_>, checked: Result<(), Violations>) -> Verdict {
    match checked {
        Ok(()) => Verdict::allow(),
        Err(violations) => Verdict::invalid(format!(
            "WorkflowExecution {} is invalid ({} problem{}): {violations}",
            request.object_ref(),
            violations.0.len(),
            if violations.0.len() == 1 { "" } else { "s" }
        )),
    }
}

fn review_update(request: &ReviewRequest<'_>) -> Verdict {
    let (Some(new), Some(old)) = (request.object.as_ref(), request.old_object.as_ref()) else {
        return Verdict::bad_request("UPDATE review must carry object and oldObject");
    };
    // Compared as JSON first: a no-op update (e.g. status sent to the main resource and dropped)
    // and metadata-only updates must pass even if an old spec no longer meets today's rules.
    if same(new.spec(), old.spec()) {
        return Verdict::allow();
    }
    let changed = match (new.workflow_execution(), old.workflow_execution()) {
        (Some(Ok(n)), Some(Ok(o))) => changed_spec_fields(&o.spec, &n.spec).join(", "),
        _ => String::new(),
    };
    let changed = if changed.is_empty() {
        "spec".to_owned()
    } else {
        changed
    };
    Verdict::invalid(format!(
        "WorkflowExecution {}: spec is immutable after creation (changed: {changed}); create a new WorkflowExecution instead",
        request.object_ref()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_fixtures::{edited, review};
    use serde_json::json;

    #[test]
    fn real_creates_and_no_op_update_are_allowed() {
        let settings = Settings::default();
        for f in [
            "01-admin-create.json",
            "02-admin-create-dryrun.json",
            "15-alice-main-resource-patch-with-status-dropped.json",
        ] {
            let v = review_spec(&review(f), &settings);
            assert!(v.is_allowed(), "{f}: {v:?}");
        }
    }

    #[test]
    fn spec_changes_are_denied_naming_the_fields() {
        let settings = Settings::default();
        let v = review_spec(&review("03-admin-update-spec-parameters.json"), &settings);
        assert_eq!(
            v.message(),
            Some(
                "WorkflowExecution team-a/wfe-restart-payment-api: spec is immutable after creation (changed: spec.parameters); create a new WorkflowExecution instead"
            )
        );
        let v = review_spec(
            &review("13-alice-patch-spec-targetresource.json"),
            &settings,
        );
        assert!(
            v.message()
                .is_some_and(|m| m.contains("(changed: spec.targetResource)")),
            "{v:?}"
        );
    }

    #[test]
    fn every_violation_is_listed_with_its_path() {
        let req = edited("01-admin-create.json", |r| {
            let spec = &mut r["object"]["spec"];
            spec["workflowRef"]["workflowId"] = json!("");
            spec["workflowRef"]["containerDigest"] = json!("sha256:XYZ");
            spec["targetResource"] = json!("not a target");
            spec["parameters"] = json!({"lower": "x", "TARGET_RESOURCE": "y"});
            spec["confidence"] = json!(1.5);
            spec["remediationRequestRef"]["name"] = json!("");
        });
        let v = review_spec(&req, &Settings::default());
        let Verdict::Deny { code, message, .. } = v else {
            panic!("must be denied")
        };
        assert_eq!(code, 422);
        for path in [
            "spec.remediationRequestRef.name",
            "spec.workflowRef.workflowId",
            "spec.workflowRef.containerDigest",
            "spec.targetResource",
            "spec.parameters",
            "TARGET_RESOURCE",
            "spec.confidence",
        ] {
            assert!(message.contains(path), "{path} missing in {message}");
        }
        assert!(
            message.starts_with("WorkflowExecution team-a/wfe-restart-payment-api is invalid ("),
            "{message}"
        );
    }

    #[test]
    fn undecodable_objects_and_other_kinds_are_denied_not_panicking() {
        let req = edited("01-admin-create.json", |r| {
            r["object"]["spec"]["workflowRef"] = json!("oops");
        });
        let m = review_spec(&req, &Settings::default())
            .message()
            .unwrap_or_default()
            .to_owned();
        assert!(m.contains("spec.workflowRef"), "{m}");
        // A create carrying a status (which the API server drops first) is decoded whole.
        let with_status = edited("01-admin-create.json", |r| {
            r["object"]["status"] = json!({"phase": 5});
        });
        let m = review_spec(&with_status, &Settings::default())
            .message()
            .unwrap_or_default()
            .to_owned();
        assert!(m.contains("is invalid: status.phase"), "{m}");
        let mut other = review("01-admin-create.json");
        other.kind.kind = "Pod".into();
        assert!(matches!(
            review_spec(&other, &Settings::default()),
            Verdict::Deny { code: 400, .. }
        ));
        let mut missing = review("01-admin-create.json");
        missing.object = None;
        assert!(!review_spec(&missing, &Settings::default()).is_allowed());
    }
}
