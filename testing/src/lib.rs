//! WorkflowExecutions for tests, benches and examples: one builder instead of a copy per file.

use wfe_api::{
    RemediationRequestRef, WorkflowExecution, WorkflowExecutionSpec, WorkflowExecutionStatus,
    WorkflowRef,
};

/// Namespace of every built WFE.
pub const NAMESPACE: &str = "team-a";
/// Workflow id of every built WFE.
pub const WORKFLOW_ID: &str = "restart-deployment";
/// Bundle image of every built WFE.
pub const IMAGE: &str = "registry.example/workflows/restart:v1";

/// A valid WFE `name` in namespace `team-a` on `target`: remediation `rr-<name>`, uid
/// `uid-<name>`, generation 1, resourceVersion 1, no status.
pub fn wfe_on(name: &str, target: &str) -> WorkflowExecution {
    let mut w = WorkflowExecution::new(
        name,
        WorkflowExecutionSpec {
            remediation_request_ref: RemediationRequestRef {
                name: format!("rr-{name}"),
                ..Default::default()
            },
            workflow_ref: WorkflowRef {
                workflow_id: WORKFLOW_ID.into(),
                version: "v1".into(),
                container_image: IMAGE.into(),
                container_digest: None,
            },
            target_resource: target.into(),
            parameters: Default::default(),
            confidence: None,
            rationale: None,
            execution_config: None,
        },
    );
    w.metadata.namespace = Some(NAMESPACE.into());
    w.metadata.uid = Some(format!("uid-{name}"));
    w.metadata.generation = Some(1);
    w.metadata.resource_version = Some("1".into());
    w
}

/// `w` with its status (created if missing) changed by `f`.
pub fn with_status(
    mut w: WorkflowExecution,
    f: impl FnOnce(&mut WorkflowExecutionStatus),
) -> WorkflowExecution {
    let mut status = w.status.take().unwrap_or_default();
    f(&mut status);
    w.status = Some(status);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_a_valid_wfe_with_predictable_identity() {
        let w = wfe_on("a", "team-a/Deployment/x");
        assert_eq!(w.metadata.uid.as_deref(), Some("uid-a"));
        assert_eq!(w.spec.remediation_request_ref.name, "rr-a");
        assert!(wfe_api::validate_spec(&w.spec, &Default::default()).is_ok());
        let w = with_status(w, |s| s.consecutive_failures = Some(2));
        assert_eq!(w.status.unwrap().consecutive_failures, Some(2));
    }
}
