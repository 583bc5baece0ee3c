//! The status of a WorkflowExecution (DESIGN §3.2, §3.3): written by the controller, except
//! the clearance fields, and the enums it is made of.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, MicroTime, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::bounds;

/// Observed state, written by the controller (and, for the clearance fields, by the webhook).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowExecutionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Lifecycle phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<Phase>,
    /// The skip or failure reason, mirrored here for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "bounds::phase_reason_schema")]
    pub reason: Option<PhaseReason>,
    /// When the PipelineRun was created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<Time>,
    /// When the execution reached a terminal phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_time: Option<Time>,
    /// Wall-clock run time from start to completion, e.g. `2m13s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    pub duration: Option<String>,
    /// The PipelineRun executing (and locking) this WFE's target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_run_ref: Option<PipelineRunRef>,
    /// Last observed state of the PipelineRun.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_run_status: Option<Box<PipelineRunStatus>>,
    /// Why the execution failed; set when phase is Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_details: Option<Box<FailureDetails>>,
    /// Why the execution was skipped; set when phase is Skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_details: Option<Box<SkipDetails>>,
    /// Pre-execution failures in a row on this target, including this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub consecutive_failures: Option<i32>,
    /// Earliest time the next WFE on this target may run (backoff after a pre-execution failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_allowed_execution: Option<Time>,
    /// Written by an operator to ask for this block to be cleared; the webhook turns it into
    /// `blockClearance`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_clearance_request: Option<Box<BlockClearanceRequest>>,
    /// Attributed record of who cleared this block, when and why. Written once, by the webhook.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_clearance: Option<Box<BlockClearance>>,
    /// Audit event types the audit sink has acknowledged for this WFE.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub audited_events: Vec<AuditEventType>,
    /// Standard conditions. `Succeeded` is the terminal one (Tekton's convention): Unknown while
    /// Pending or Running, True when Completed, False when Failed or Skipped with the failure or
    /// skip reason as its reason, so `kubectl wait --for=condition=Succeeded` (or
    /// `--for=condition=Succeeded=False`) returns for every outcome. `TargetBlocked` is True on a
    /// failed WFE that blocks its target (reason PreviousExecutionFailed or ExhaustedRetries; the
    /// message says how to clear it) and False with reason BlockCleared once cleared, or with
    /// reason NoLongerBlocking once a raised `backoff.maxConsecutiveFailures` no longer counts
    /// its failures as exhausting the retries.
    /// `PipelineRunCreated`, `PipelineRunRunning` and `PipelineRunComplete` follow the
    /// PipelineRun; `AuditRecorded` is True once the audit sink acknowledged every event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub conditions: Vec<Condition>,
}

/// Lifecycle phase of a WorkflowExecution.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum Phase {
    /// Accepted, not yet started.
    Pending,
    /// PipelineRun created and not finished.
    Running,
    /// PipelineRun succeeded.
    Completed,
    /// Failed before or during execution.
    Failed,
    /// Not executed because running it would have been unsafe. Terminal.
    Skipped,
}

impl Phase {
    /// Completed, Failed and Skipped never change again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Completed | Phase::Failed | Phase::Skipped)
    }

    /// The name as written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Completed => "Completed",
            Phase::Failed => "Failed",
            Phase::Skipped => "Skipped",
        }
    }
}

/// Why a workflow failed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum FailureReason {
    /// A task ran out of memory.
    #[serde(rename = "OOMKilled")]
    OomKilled,
    /// The pipeline or a task timed out.
    DeadlineExceeded,
    /// The runner lacked permission (RBAC).
    Forbidden,
    /// A quota or resource limit prevented execution.
    ResourceExhausted,
    /// The spec, bundle or pipeline definition is invalid.
    ConfigurationError,
    /// The bundle or a task image could not be pulled.
    ImagePullBackOff,
    /// A task exited unsuccessfully.
    TaskFailed,
    /// None of the above could be determined.
    Unknown,
}

impl FailureReason {
    /// Every failure reason, in API order.
    pub const ALL: [FailureReason; 8] = [
        FailureReason::OomKilled,
        FailureReason::DeadlineExceeded,
        FailureReason::Forbidden,
        FailureReason::ResourceExhausted,
        FailureReason::ConfigurationError,
        FailureReason::ImagePullBackOff,
        FailureReason::TaskFailed,
        FailureReason::Unknown,
    ];

    /// The name as written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::OomKilled => "OOMKilled",
            FailureReason::DeadlineExceeded => "DeadlineExceeded",
            FailureReason::Forbidden => "Forbidden",
            FailureReason::ResourceExhausted => "ResourceExhausted",
            FailureReason::ConfigurationError => "ConfigurationError",
            FailureReason::ImagePullBackOff => "ImagePullBackOff",
            FailureReason::TaskFailed => "TaskFailed",
            FailureReason::Unknown => "Unknown",
        }
    }
}

/// Why a workflow was not executed.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum SkipReason {
    /// Another workflow is running on the target (resource lock).
    ResourceBusy,
    /// The target was remediated too recently (cooldown or backoff window).
    RecentlyRemediated,
    /// Too many pre-execution failures in a row on the target.
    ExhaustedRetries,
    /// A previous workflow failed mid-execution on the target and has not been cleared.
    PreviousExecutionFailed,
}

impl SkipReason {
    /// Every skip reason, in API order.
    pub const ALL: [SkipReason; 4] = [
        SkipReason::ResourceBusy,
        SkipReason::RecentlyRemediated,
        SkipReason::ExhaustedRetries,
        SkipReason::PreviousExecutionFailed,
    ];

    /// The name as written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::ResourceBusy => "ResourceBusy",
            SkipReason::RecentlyRemediated => "RecentlyRemediated",
            SkipReason::ExhaustedRetries => "ExhaustedRetries",
            SkipReason::PreviousExecutionFailed => "PreviousExecutionFailed",
        }
    }
}

/// A skip or failure reason, for the `Reason` printer column.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(untagged)]
pub enum PhaseReason {
    /// Failure reason of a Failed WFE.
    Failure(FailureReason),
    /// Skip reason of a Skipped WFE.
    Skip(SkipReason),
}

impl PhaseReason {
    /// The name as written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseReason::Failure(r) => r.as_str(),
            PhaseReason::Skip(r) => r.as_str(),
        }
    }
}

/// Where the PipelineRun lives.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct PipelineRunRef {
    /// PipelineRun name (`wfe-` + hash of the target).
    #[schemars(length(max = 253))]
    pub name: String,
    /// Execution namespace.
    #[schemars(length(max = 63))]
    pub namespace: String,
}

/// Mirror of the PipelineRun's `Succeeded` condition and task progress.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PipelineRunStatus {
    /// `True`, `False` or `Unknown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Tekton's reason, e.g. `Running`, `Succeeded`, `Failed`, `PipelineRunTimeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Tekton's message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Child TaskRuns that finished successfully.
    #[serde(default)]
    pub completed_tasks: i32,
    /// Child TaskRuns known so far.
    #[serde(default)]
    pub total_tasks: i32,
}

/// Details of a failure.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureDetails {
    /// Classified failure reason.
    pub reason: FailureReason,
    /// Human-readable failure message.
    #[serde(default)]
    pub message: String,
    /// Name of the failed task (pipeline task name), if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task_name: Option<String>,
    /// Zero-based index of the failed task among the run's tasks, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task_index: Option<i32>,
    /// First non-zero exit code of the failed task's steps, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// When the failure was observed; a block clearance is bound to this instant.
    pub failed_at: Time,
    /// How long the workflow ran before failing, e.g. `42s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_time_before_failure: Option<String>,
    /// Plain-English explanation for operators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub natural_language_summary: Option<String>,
    /// True if the workflow started running and may have changed the target; such a failure
    /// blocks the target until an operator clears it.
    pub was_execution_failure: bool,
}

/// Details of a skip.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SkipDetails {
    /// Why execution was skipped.
    pub reason: SkipReason,
    /// Human-readable explanation.
    #[serde(default)]
    pub message: String,
    /// When the skip was decided.
    pub skipped_at: Time,
    /// For ResourceBusy: the WFE holding the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflicting_workflow: Option<ConflictingWorkflow>,
    /// For RecentlyRemediated: the remediation that started the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_remediation: Option<RecentRemediation>,
    /// For PreviousExecutionFailed and ExhaustedRetries: the failed WFE to clear.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocking_workflow: Option<BlockingWorkflow>,
}

/// The WFE holding the resource lock.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConflictingWorkflow {
    /// Name of the WFE (in the same namespace unless the PipelineRun says otherwise).
    pub name: String,
    /// Its workflow id, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<String>,
    /// When it started, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// The contested target.
    pub target_resource: String,
}

/// The remediation whose cooldown or backoff window is still open.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RecentRemediation {
    /// Name of that WFE.
    pub name: String,
    /// Its workflow id.
    pub workflow_id: String,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// Its outcome (`Completed` or `Failed`).
    pub outcome: Phase,
    /// Time left in the window, e.g. `3m20s`.
    pub cooldown_remaining: String,
}

/// The failed WFE that blocks the target.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockingWorkflow {
    /// Name of the failed WFE to clear (same namespace as its target's WFEs).
    pub name: String,
    /// Namespace of the failed WFE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// When it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<Time>,
    /// Its failure reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
}

/// An operator's request to clear the block; the only status field an operator writes.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockClearanceRequest {
    /// Why it is safe to remediate the target again: at least 10 words and 20 characters.
    #[serde(default)]
    #[schemars(length(max = 1000))]
    pub clear_reason: String,
}

/// Who cleared a block, when and why; stamped by the admission webhook from the authenticated
/// request, never by the requester.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockClearance {
    /// Username of the authenticated clearer (`request.userInfo.username`).
    #[schemars(length(max = 512))]
    pub cleared_by: String,
    /// UID of the authenticated clearer, when the authenticator provides one.
    #[serde(
        default,
        rename = "clearedByUID",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(length(max = 256))]
    pub cleared_by_uid: Option<String>,
    /// Groups of the authenticated clearer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(max = 256)))]
    pub cleared_by_groups: Vec<String>,
    /// Server time of the clearance, RFC 3339 with microseconds.
    #[serde(serialize_with = "crate::timestamp::serialize_micro")]
    pub cleared_at: MicroTime,
    /// The operator's justification.
    #[schemars(length(max = 1000))]
    pub clear_reason: String,
    /// Always `KubernetesAdmissionWebhook`.
    #[schemars(length(max = 64))]
    pub clear_method: String,
    /// UID of the admission request that stamped this record (links to the API audit log).
    #[serde(rename = "admissionRequestUID")]
    #[schemars(length(max = 64))]
    pub admission_request_uid: String,
    /// The `failureDetails.failedAt` this clearance applies to.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::timestamp::serialize_time_opt"
    )]
    pub cleared_failure_at: Option<Time>,
}

/// Audit event types; the controller records which ones the sink acknowledged.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum AuditEventType {
    /// The PipelineRun was created.
    #[serde(rename = "workflowexecution.workflow.started")]
    WorkflowStarted,
    /// The workflow completed successfully.
    #[serde(rename = "workflowexecution.workflow.completed")]
    WorkflowCompleted,
    /// The workflow failed.
    #[serde(rename = "workflowexecution.workflow.failed")]
    WorkflowFailed,
    /// An operator's block clearance took effect.
    #[serde(rename = "workflowexecution.block.cleared")]
    BlockCleared,
    /// The WFE was skipped (local audit sink only: DataStorage has no such event type).
    #[serde(rename = "workflowexecution.workflow.skipped")]
    WorkflowSkipped,
    /// A clearance on this WFE failed the block rules and did not release the block (local
    /// audit sink only).
    #[serde(rename = "workflowexecution.block.clearance_forged")]
    ClearanceForged,
}

impl AuditEventType {
    /// The event type string as DataStorage expects it.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEventType::WorkflowStarted => "workflowexecution.workflow.started",
            AuditEventType::WorkflowCompleted => "workflowexecution.workflow.completed",
            AuditEventType::WorkflowFailed => "workflowexecution.workflow.failed",
            AuditEventType::BlockCleared => "workflowexecution.block.cleared",
            AuditEventType::WorkflowSkipped => "workflowexecution.workflow.skipped",
            AuditEventType::ClearanceForged => "workflowexecution.block.clearance_forged",
        }
    }

    /// Whether the event goes to the local audit sink only (the DataStorage schema has no such
    /// event type).
    pub fn is_local_only(self) -> bool {
        matches!(
            self,
            AuditEventType::WorkflowSkipped | AuditEventType::ClearanceForged
        )
    }
}
