//! The `WorkflowExecution` custom resource (`workflowexecutions.kubernaut.ai/v1alpha1`).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bounds;
use crate::parameters::Parameters;
use crate::status::{Phase, WorkflowExecutionStatus};

/// Desired remediation: which workflow to run against which target. Immutable after creation.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "kubernaut.ai",
    version = "v1alpha1",
    kind = "WorkflowExecution",
    namespaced,
    shortname = "wfe",
    category = "kubernaut",
    status = "WorkflowExecutionStatus",
    derive = "PartialEq",
    doc = "A decision by the Kubernaut orchestrator to run one remediation workflow against one Kubernetes resource, executed safely as a Tekton PipelineRun.",
    printcolumn = r#"{"name":"Phase","type":"string","jsonPath":".status.phase","description":"Lifecycle phase"}"#,
    printcolumn = r#"{"name":"Target","type":"string","jsonPath":".spec.targetResource","description":"Resource being remediated"}"#,
    printcolumn = r#"{"name":"Workflow","type":"string","jsonPath":".spec.workflowRef.workflowId","description":"Workflow id"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.reason","description":"Skip or failure reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#,
    printcolumn = r#"{"name":"PipelineRun","type":"string","priority":1,"jsonPath":".status.pipelineRunRef.name","description":"The PipelineRun executing (and locking) the target"}"#,
    printcolumn = r#"{"name":"Blocked","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"TargetBlocked\")].status","description":"TargetBlocked condition: True while this failed WFE blocks its target"}"#,
    printcolumn = r#"{"name":"Started","type":"date","priority":1,"jsonPath":".status.startTime","description":"When the PipelineRun was created"}"#,
    printcolumn = r#"{"name":"Duration","type":"string","priority":1,"jsonPath":".status.duration","description":"Run time from start to completion"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "self == oldSelf", "message": "spec is immutable: create a new WorkflowExecution instead"}
]))]
pub struct WorkflowExecutionSpec {
    /// The RemediationRequest this execution belongs to; its name is the audit correlation id.
    pub remediation_request_ref: RemediationRequestRef,
    /// The workflow to run: a Tekton bundle holding a Pipeline named `workflow`.
    pub workflow_ref: WorkflowRef,
    /// Resource to remediate: `namespace/Kind/name` for namespaced resources or `Kind/name` for
    /// cluster-scoped ones. At most one workflow runs per target at a time.
    #[schemars(length(min = 1, max = 512))]
    pub target_resource: String,
    /// Workflow parameters passed to the PipelineRun. Keys are UPPER_SNAKE_CASE;
    /// `TARGET_RESOURCE` is reserved and set by the controller.
    #[serde(default, skip_serializing_if = "Parameters::is_empty")]
    #[schemars(schema_with = "bounds::parameters_schema")]
    pub parameters: Parameters,
    /// Orchestrator confidence in this remediation, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub confidence: Option<f64>,
    /// Why the orchestrator chose this remediation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub rationale: Option<String>,
    /// Optional execution settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_config: Option<ExecutionConfig>,
}

/// Reference to the RemediationRequest (an ObjectReference with bounded fields).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemediationRequestRef {
    /// API version of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub api_version: Option<String>,
    /// Kind of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub kind: Option<String>,
    /// Name of the referent; required.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 63))]
    pub namespace: Option<String>,
    /// UID of the referent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub uid: Option<String>,
}

/// The workflow to execute.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRef {
    /// Workflow catalogue id, e.g. `restart-deployment`.
    #[schemars(length(min = 1, max = 253))]
    pub workflow_id: String,
    /// Workflow version, e.g. `v1.2.0`.
    #[schemars(length(min = 1, max = 63))]
    pub version: String,
    /// OCI reference of the Tekton bundle that holds a Pipeline named `workflow`.
    #[schemars(length(min = 1, max = 512))]
    pub container_image: String,
    /// Optional digest of the bundle: `sha256:` followed by 64 lowercase hex characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sha256:[a-f0-9]{64}$"), length(max = 71))]
    pub container_digest: Option<String>,
}

/// Per-execution settings.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionConfig {
    /// Pipeline timeout as a duration (e.g. `15m`); becomes `spec.timeouts.pipeline`.
    /// Defaults to, and may not exceed, the service's configured limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub timeout: Option<String>,
    /// Service account for the workflow's tasks; must be allow-listed in the service config.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub service_account_name: Option<String>,
}

impl WorkflowExecution {
    /// The phase, treating a missing status as Pending.
    pub fn phase(&self) -> Phase {
        self.status
            .as_ref()
            .and_then(|s| s.phase)
            .unwrap_or(Phase::Pending)
    }
}
