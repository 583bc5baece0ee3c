//! Builders shared by the unit tests.

use wfe_api::{RemediationRequestRef, WorkflowExecution, WorkflowExecutionSpec, WorkflowRef};

/// A valid WFE named `name` in namespace `team-a` on `target`, with uid `uid-<name>`.
pub fn wfe_on(name: &str, target: &str) -> WorkflowExecution {
    let mut w = WorkflowExecution::new(
        name,
        WorkflowExecutionSpec {
            remediation_request_ref: RemediationRequestRef {
                name: format!("rr-{name}"),
                ..Default::default()
            },
            workflow_ref: WorkflowRef {
                workflow_id: "restart-deployment".into(),
                version: "v1".into(),
                container_image: "registry.example/workflows/restart:v1".into(),
                container_digest: None,
            },
            target_resource: target.into(),
            parameters: Default::default(),
            confidence: None,
            rationale: None,
            execution_config: None,
        },
    );
    w.metadata.namespace = Some("team-a".into());
    w.metadata.uid = Some(format!("uid-{name}"));
    w.metadata.generation = Some(1);
    w.metadata.resource_version = Some("1".into());
    w
}
