//! Names the whole product agrees on: API group, labels, annotations, finalizer, identities.

/// API group of the WorkflowExecution resource.
pub const GROUP: &str = "kubernaut.ai";
/// API version of the WorkflowExecution resource.
pub const VERSION: &str = "v1alpha1";
/// Plural resource name, as used in RBAC and SubjectAccessReviews.
pub const PLURAL: &str = "workflowexecutions";
/// Virtual subresource whose `update` permission authorises clearing a block (DD-AUTH-001).
pub const BLOCK_CLEARANCE_SUBRESOURCE: &str = "blockclearance";

/// Finalizer that lets the controller cancel the PipelineRun and flush audit before deletion.
pub const FINALIZER: &str = "kubernaut.ai/workflowexecution-cleanup";

/// PipelineRun label: the owning WFE's name (made a valid label value).
pub const LABEL_WORKFLOW_EXECUTION: &str = "kubernaut.ai/workflow-execution";
/// PipelineRun label: the owning WFE's namespace.
pub const LABEL_SOURCE_NAMESPACE: &str = "kubernaut.ai/source-namespace";
/// PipelineRun label: the workflow id (made a valid label value).
pub const LABEL_WORKFLOW_ID: &str = "kubernaut.ai/workflow-id";
/// PipelineRun label: the owning WFE's UID; ownership checks compare this, so a WFE recreated
/// under the same name never inherits (or deletes) its predecessor's run.
pub const LABEL_WORKFLOW_EXECUTION_UID: &str = "kubernaut.ai/workflow-execution-uid";
/// PipelineRun annotation: the raw target resource string.
pub const ANNOTATION_TARGET_RESOURCE: &str = "kubernaut.ai/target-resource";
/// PipelineRun annotation: `namespace/name` of the owning WFE, exact even when the label had to
/// be shortened.
pub const ANNOTATION_WORKFLOW_EXECUTION: &str = "kubernaut.ai/workflow-execution";

/// Tekton parameter the controller always sets to the WFE's target; reserved in `spec.parameters`.
pub const PARAM_TARGET_RESOURCE: &str = "TARGET_RESOURCE";

/// Condition: the PipelineRun (the lock) was created.
pub const CONDITION_PIPELINE_RUN_CREATED: &str = "PipelineRunCreated";
/// Condition: the PipelineRun is running.
pub const CONDITION_PIPELINE_RUN_RUNNING: &str = "PipelineRunRunning";
/// Condition: the PipelineRun finished (True on success, False on failure).
pub const CONDITION_PIPELINE_RUN_COMPLETE: &str = "PipelineRunComplete";
/// Condition: this failed WFE blocks further remediation of its target.
pub const CONDITION_TARGET_BLOCKED: &str = "TargetBlocked";
/// Condition: every audit event this WFE's transitions produced was acknowledged by the sink.
pub const CONDITION_AUDIT_RECORDED: &str = "AuditRecorded";
/// Terminal condition (Tekton's convention): Unknown while Pending/Running, True on Completed,
/// False on Failed and Skipped, so `kubectl wait --for=condition=Succeeded[=False]` returns for
/// every outcome.
pub const CONDITION_SUCCEEDED: &str = "Succeeded";

/// `clearMethod` stamped by the mutating webhook.
pub const CLEAR_METHOD_WEBHOOK: &str = "KubernetesAdmissionWebhook";

/// Reporting controller name on Kubernetes events.
pub const REPORTING_CONTROLLER: &str = "workflowexecution-controller";
/// Field manager used for every write the controller makes.
pub const FIELD_MANAGER: &str = "workflowexecution-controller";
/// Username of the controller when nothing else names it (the ServiceAccount in `deploy/`).
pub const DEFAULT_CONTROLLER_USERNAME: &str =
    "system:serviceaccount:kubernaut-system:workflowexecution-controller";
