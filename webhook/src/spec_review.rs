//! `/validate-workflowexecution`: the spec rules of DESIGN §3.1 and spec immutability.

use kube::core::admission::Operation;
use wfe_api::{Violations, WorkflowExecutionSpec, changed_spec_fields, validate_spec};

use crate::decode::decode;
use crate::json_view::same;
use crate::review::{ObjectView, ReviewRequest, Verdict};
use crate::scan::Raw;
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
    // Only the spec is judged: the API server validated the metadata and dropped any status
    // before a validating webhook sees a create. The spec is read straight from the request,
    // or, in a shape the reader declines, decoded with serde for the exact refusal.
    if let Some(raw) = request.object.as_ref().and_then(ObjectView::spec) {
        let policy = &settings.spec_policy;
        let checked = match read_spec(raw) {
            Some(view) => validate_spec(view, policy),
            None => match decode_spec(raw) {
                Ok(spec) => validate_spec(&spec, policy),
                Err(problem) => {
                    return Verdict::invalid(format!(
                        "WorkflowExecution {} is invalid: {problem}",
                        request.object_ref()
                    ));
                }
            },
        };
        return spec_verdict(request, checked);
    }
    // No spec (or null, or not an object): the whole object names what is wrong.
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

/// The spec decoded by serde, with the path of the first bad field below `spec`, as a decode
/// of the whole object names it.
fn decode_spec(raw: Raw<'_>) -> Result<WorkflowExecutionSpec, String> {
    match decode::<WorkflowExecutionSpec>(raw) {
        Ok(spec) => Ok(spec),
        Err(e) if e.path == "." => Err(format!("spec: {}", e.message)),
        Err(e) => Err(format!("spec.{}: {}", e.path, e.message)),
    }
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
        // The refusal names the field as a decode of the whole object names it.
        let whole = req.object.as_ref().and_then(ObjectView::workflow_execution);
        let Some(Err(violation)) = whole else {
            panic!("the whole object does not decode")
        };
        assert_eq!(
            m,
            format!("WorkflowExecution team-a/wfe-restart-payment-api is invalid: {violation}")
        );
        assert!(
            m.contains("is invalid: spec.workflowRef: invalid type"),
            "{m}"
        );
    }

    #[test]
    fn a_create_is_judged_on_its_spec_alone() {
        // Metadata and status are the API server's on a create (validated, and dropped); only
        // the spec decides, whether the spec reader takes it or serde decodes it.
        for extra_spec_member in [false, true] {
            let req = edited("01-admin-create.json", |r| {
                r["object"]["status"] = json!({"phase": 5});
                r["object"]["metadata"]["name"] = json!(5);
                if extra_spec_member {
                    r["object"]["spec"]["notInTheSchema"] = json!(1);
                }
            });
            let v = review_spec(&req, &Settings::default());
            assert!(v.is_allowed(), "extra member {extra_spec_member}: {v:?}");
        }
        for extra_spec_member in [false, true] {
            let req = edited("01-admin-create.json", |r| {
                r["object"]["metadata"]["name"] = json!(5);
                r["object"]["spec"]["targetResource"] = json!("not a target");
                if extra_spec_member {
                    r["object"]["spec"]["notInTheSchema"] = json!(1);
                }
            });
            let m = review_spec(&req, &Settings::default())
                .message()
                .unwrap_or_default()
                .to_owned();
            assert!(m.contains("(1 problem): spec.targetResource"), "{m}");
        }
    }

    #[test]
    fn other_kinds_and_missing_objects_are_denied() {
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
