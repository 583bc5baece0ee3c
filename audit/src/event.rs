//! The DataStorage `AuditEventRequest` model and the pure functions that derive events from a
//! persisted WorkflowExecution.
//!
//! Every field of an event is a function of persisted state (spec, metadata and the status fields
//! written when the transition happened), never of "now", so building the same event twice —
//! after a conflict retry, a restart or a failed delivery — yields byte-identical JSON with the
//! same deterministic `event_id`.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wfe_api::{AuditEventType, FailureReason, Parameters, WorkflowExecution, keys};

/// `version` of the AuditEventRequest schema these events follow.
pub const EVENT_VERSION: &str = "1.0";
/// `event_category` of every event this service emits.
pub const EVENT_CATEGORY: &str = "workflowexecution";
/// `resource_type` of every event this service emits.
pub const RESOURCE_TYPE: &str = "WorkflowExecution";
/// `actor_type` for events the controller itself emits.
pub const ACTOR_TYPE_SERVICE: &str = "service";
/// `actor_type` for a human (or other non-service-account) clearer.
pub const ACTOR_TYPE_USER: &str = "user";
/// `actor_type` for a Kubernetes service account clearer.
pub const ACTOR_TYPE_SERVICE_ACCOUNT: &str = "service_account";
/// Username prefix Kubernetes gives service accounts.
const SERVICE_ACCOUNT_PREFIX: &str = "system:serviceaccount:";

/// One audit event, serialised exactly as DataStorage's `AuditEventRequest` plus `event_id`.
///
/// `event_id` is not a declared property of `AuditEventRequest`, but the schema allows additional
/// properties; it carries the deterministic id so a redelivered event is recognisable downstream
/// and in local JSON-lines sinks.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct AuditEvent {
    /// Deterministic UUID derived from the WFE UID, the event type and the instant described.
    pub event_id: String,
    /// Schema version (`1.0`).
    pub version: String,
    /// Event type, e.g. `workflowexecution.workflow.started`.
    pub event_type: AuditEventType,
    /// When the described transition happened (RFC 3339).
    pub event_timestamp: String,
    /// Always `workflowexecution`.
    pub event_category: String,
    /// Last segment of the type: `started`, `completed`, `failed`, `cleared`.
    pub event_action: String,
    /// `success`, `failure` or `pending`.
    pub event_outcome: EventOutcome,
    /// `service`, `user` or `service_account`.
    pub actor_type: String,
    /// Controller identity, or the authenticated clearer for `block.cleared`.
    pub actor_id: String,
    /// Always `WorkflowExecution`.
    pub resource_type: String,
    /// `<name>/<uid>` of the WFE: the name for humans, the UID to tell apart recreated objects.
    pub resource_id: String,
    /// `spec.remediationRequestRef.name`, else the WFE name.
    pub correlation_id: String,
    /// Namespace of the WFE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Configured cluster identifier, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Run time in milliseconds for terminal events, when start and end are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    /// Failure reason for `workflow.failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Failure message for `workflow.failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Typed payload, discriminated by its own `event_type`.
    pub event_data: EventData,
}

/// `event_outcome` values.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum EventOutcome {
    /// The described action succeeded.
    Success,
    /// The described action failed.
    Failure,
    /// The outcome is not known yet.
    Pending,
}

/// The `event_data` payloads this service produces.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(untagged)]
pub enum EventData {
    /// `WorkflowExecutionAuditPayload` (started, completed, failed).
    Workflow(Box<WorkflowPayload>),
    /// `WorkflowExecutionWebhookAuditPayload` (block.cleared).
    BlockCleared(BlockClearedPayload),
}

/// DataStorage `WorkflowExecutionAuditPayload`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct WorkflowPayload {
    /// Same as the parent `event_type` (the schema's discriminator).
    pub event_type: AuditEventType,
    /// `spec.workflowRef.workflowId`.
    pub workflow_id: String,
    /// `spec.workflowRef.version`.
    pub workflow_version: String,
    /// `spec.targetResource`.
    pub target_resource: String,
    /// The phase this event describes (Running, Completed or Failed), not the current one.
    pub phase: String,
    /// `spec.workflowRef.containerImage` (with `@digest` when a digest is pinned).
    pub container_image: String,
    /// Name of the WorkflowExecution.
    pub execution_name: String,
    /// `status.startTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// `status.completionTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// `status.duration` (Go duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// `status.failureDetails.reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    /// `status.failureDetails.message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// `status.failureDetails.failedTaskName`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_task_name: Option<String>,
    /// Structured error for `workflow.failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_details: Option<ErrorDetails>,
    /// `status.pipelineRunRef.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipelinerun_name: Option<String>,
    /// Parameters given to the PipelineRun: `spec.parameters` plus `TARGET_RESOURCE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Parameters>,
}

/// DataStorage `ErrorDetails`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ErrorDetails {
    /// Human-readable error description.
    pub message: String,
    /// `ERR_WORKFLOW_<REASON>`.
    pub code: String,
    /// Always `workflowexecution`.
    pub component: String,
    /// False for execution failures (they block the target until cleared), true otherwise.
    pub retry_possible: bool,
}

/// DataStorage `WorkflowExecutionWebhookAuditPayload`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct BlockClearedPayload {
    /// Always `workflowexecution.block.cleared`.
    pub event_type: AuditEventType,
    /// Name of the WorkflowExecution.
    pub workflow_name: String,
    /// The operator's justification.
    pub clear_reason: String,
    /// Server time of the clearance.
    pub cleared_at: String,
    /// Always `Blocked` (schema enum).
    pub previous_state: String,
    /// Always `Running` (schema enum): the target may run workflows again.
    pub new_state: String,
}

/// Why an event cannot be built from the WFE as persisted (yet).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// A field the event is derived from is not set.
    #[error("cannot build {event_type} audit event: {field} is not set")]
    MissingField {
        /// The event that was being built.
        event_type: &'static str,
        /// JSON path of the missing field.
        field: &'static str,
    },
    /// The type is recorded in the local sink only; DataStorage has no schema for it.
    #[error("{event_type} is a local-only audit record, not a DataStorage event")]
    LocalOnly {
        /// The event type.
        event_type: &'static str,
    },
}

/// Who the controller is and where it runs; constant for the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContext {
    /// `actor_id` of controller-emitted events.
    pub controller_identity: String,
    /// `cluster_id`, if configured.
    pub cluster_id: Option<String>,
}

/// Builds the event of type `event_type` that the persisted `wfe` describes.
pub fn build_event(
    wfe: &WorkflowExecution,
    event_type: AuditEventType,
    ctx: &EventContext,
) -> Result<AuditEvent, BuildError> {
    let missing = missing_field(event_type);
    let name = wfe.metadata.name.clone().ok_or(missing("metadata.name"))?;
    let uid = wfe.metadata.uid.clone().ok_or(missing("metadata.uid"))?;
    let (instant, outcome, data) = match event_type {
        AuditEventType::WorkflowSkipped | AuditEventType::ClearanceForged => {
            return Err(BuildError::LocalOnly {
                event_type: event_type.as_str(),
            });
        }
        AuditEventType::BlockCleared => return block_cleared_event(wfe, &name, &uid, ctx),
        AuditEventType::WorkflowStarted => started_payload(wfe, &name)?,
        AuditEventType::WorkflowCompleted => completed_payload(wfe, &name)?,
        AuditEventType::WorkflowFailed => failed_payload(wfe, &name)?,
    };
    let status = wfe.status.as_ref();
    let start = status.and_then(|s| s.start_time.as_ref()).map(|t| t.0);
    let completion = status.and_then(|s| s.completion_time.as_ref()).map(|t| t.0);
    let terminal = matches!(
        event_type,
        AuditEventType::WorkflowCompleted | AuditEventType::WorkflowFailed
    );
    let duration_ms = match (terminal, start, completion) {
        (true, Some(s), Some(c)) => {
            Some(c.duration_since(s).as_millis() as i64).filter(|ms| *ms >= 0)
        }
        _ => None,
    };
    let (error_code, error_message) = match &data.failure_reason {
        Some(reason) => (Some(reason.clone()), data.failure_message.clone()),
        None => (None, None),
    };
    Ok(AuditEvent {
        event_id: event_id(&uid, event_type.as_str(), instant),
        version: EVENT_VERSION.to_owned(),
        event_type,
        event_timestamp: instant.to_string(),
        event_category: EVENT_CATEGORY.to_owned(),
        event_action: action(event_type).to_owned(),
        event_outcome: outcome,
        actor_type: ACTOR_TYPE_SERVICE.to_owned(),
        actor_id: ctx.controller_identity.clone(),
        resource_type: RESOURCE_TYPE.to_owned(),
        resource_id: format!("{name}/{uid}"),
        correlation_id: correlation_id(wfe, &name),
        namespace: wfe.metadata.namespace.clone(),
        cluster_id: ctx.cluster_id.clone(),
        duration_ms,
        error_code,
        error_message,
        event_data: EventData::Workflow(Box::new(data)),
    })
}

fn missing_field(event_type: AuditEventType) -> impl Fn(&'static str) -> BuildError {
    move |field| BuildError::MissingField {
        event_type: event_type.as_str(),
        field,
    }
}

type WorkflowFacts = (Timestamp, EventOutcome, WorkflowPayload);

fn started_payload(wfe: &WorkflowExecution, name: &str) -> Result<WorkflowFacts, BuildError> {
    let event_type = AuditEventType::WorkflowStarted;
    let started = wfe
        .status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| t.0)
        .ok_or(missing_field(event_type)("status.startTime"))?;
    let payload = workflow_payload(wfe, event_type, "Running", name);
    Ok((started, EventOutcome::Success, payload))
}

fn completed_payload(wfe: &WorkflowExecution, name: &str) -> Result<WorkflowFacts, BuildError> {
    let event_type = AuditEventType::WorkflowCompleted;
    let status = wfe.status.as_ref();
    let completed = status
        .and_then(|s| s.completion_time.as_ref())
        .map(|t| t.0)
        .ok_or(missing_field(event_type)("status.completionTime"))?;
    let mut payload = workflow_payload(wfe, event_type, "Completed", name);
    payload.completed_at = Some(completed.to_string());
    payload.duration = status.and_then(|s| s.duration.clone());
    Ok((completed, EventOutcome::Success, payload))
}

fn failed_payload(wfe: &WorkflowExecution, name: &str) -> Result<WorkflowFacts, BuildError> {
    let event_type = AuditEventType::WorkflowFailed;
    let status = wfe.status.as_ref();
    let completion = status.and_then(|s| s.completion_time.as_ref()).map(|t| t.0);
    let details = status.and_then(|s| s.failure_details.as_deref());
    let failed = details
        .map(|d| d.failed_at.0)
        .or(completion)
        .ok_or(missing_field(event_type)("status.failureDetails.failedAt"))?;
    let mut payload = workflow_payload(wfe, event_type, "Failed", name);
    payload.completed_at = completion.map(|t| t.to_string());
    payload.duration = status
        .and_then(|s| s.duration.clone())
        .or_else(|| details.and_then(|d| d.execution_time_before_failure.clone()));
    if let Some(d) = details {
        payload.failure_reason = Some(d.reason.as_str().to_owned());
        payload.failure_message = Some(d.message.clone());
        payload.failed_task_name = d.failed_task_name.clone();
        payload.error_details = Some(ErrorDetails {
            message: d.message.clone(),
            code: error_code(d.reason),
            component: EVENT_CATEGORY.to_owned(),
            retry_possible: !d.was_execution_failure,
        });
    }
    Ok((failed, EventOutcome::Failure, payload))
}

/// `workflowexecution.block.cleared`: the clearer is the actor, the clearance time the instant.
fn block_cleared_event(
    wfe: &WorkflowExecution,
    name: &str,
    uid: &str,
    ctx: &EventContext,
) -> Result<AuditEvent, BuildError> {
    let event_type = AuditEventType::BlockCleared;
    let clearance = wfe
        .status
        .as_ref()
        .and_then(|s| s.block_clearance.as_deref())
        .ok_or(missing_field(event_type)("status.blockClearance"))?;
    let cleared_at = clearance.cleared_at.0;
    let payload = BlockClearedPayload {
        event_type,
        workflow_name: name.to_owned(),
        clear_reason: clearance.clear_reason.clone(),
        cleared_at: cleared_at.to_string(),
        previous_state: "Blocked".to_owned(),
        new_state: "Running".to_owned(),
    };
    Ok(AuditEvent {
        event_id: event_id(uid, event_type.as_str(), cleared_at),
        version: EVENT_VERSION.to_owned(),
        event_type,
        event_timestamp: cleared_at.to_string(),
        event_category: EVENT_CATEGORY.to_owned(),
        event_action: action(event_type).to_owned(),
        event_outcome: EventOutcome::Success,
        actor_type: clearer_actor_type(&clearance.cleared_by).to_owned(),
        actor_id: clearance.cleared_by.clone(),
        resource_type: RESOURCE_TYPE.to_owned(),
        resource_id: format!("{name}/{uid}"),
        correlation_id: correlation_id(wfe, name),
        namespace: wfe.metadata.namespace.clone(),
        cluster_id: ctx.cluster_id.clone(),
        duration_ms: None,
        error_code: None,
        error_message: None,
        event_data: EventData::BlockCleared(payload),
    })
}

/// The payload fields every workflow event shares; started/completed/failed add their own.
fn workflow_payload(
    wfe: &WorkflowExecution,
    event_type: AuditEventType,
    phase: &str,
    name: &str,
) -> WorkflowPayload {
    let spec = &wfe.spec;
    let status = wfe.status.as_ref();
    let image = match &spec.workflow_ref.container_digest {
        Some(digest) if !spec.workflow_ref.container_image.contains('@') => {
            format!("{}@{digest}", spec.workflow_ref.container_image)
        }
        _ => spec.workflow_ref.container_image.clone(),
    };
    let mut parameters = spec.parameters.clone();
    parameters.insert(
        keys::PARAM_TARGET_RESOURCE.to_owned(),
        spec.target_resource.clone(),
    );
    WorkflowPayload {
        event_type,
        workflow_id: spec.workflow_ref.workflow_id.clone(),
        workflow_version: spec.workflow_ref.version.clone(),
        target_resource: spec.target_resource.clone(),
        phase: phase.to_owned(),
        container_image: image,
        execution_name: name.to_owned(),
        started_at: status
            .and_then(|s| s.start_time.as_ref())
            .map(|t| t.0.to_string()),
        completed_at: None,
        duration: None,
        failure_reason: None,
        failure_message: None,
        failed_task_name: None,
        error_details: None,
        pipelinerun_name: status
            .and_then(|s| s.pipeline_run_ref.as_ref())
            .map(|r| r.name.clone()),
        parameters: Some(parameters),
    }
}

/// `spec.remediationRequestRef.name`, else the WFE name.
pub fn correlation_id(wfe: &WorkflowExecution, name: &str) -> String {
    let rr = wfe.spec.remediation_request_ref.name.trim();
    if rr.is_empty() {
        name.to_owned()
    } else {
        rr.to_owned()
    }
}

/// `service_account` for `system:serviceaccount:*` usernames, else `user`.
pub fn clearer_actor_type(username: &str) -> &'static str {
    if username.starts_with(SERVICE_ACCOUNT_PREFIX) {
        ACTOR_TYPE_SERVICE_ACCOUNT
    } else {
        ACTOR_TYPE_USER
    }
}

/// `event_action`: the last segment of the event type.
pub fn action(event_type: AuditEventType) -> &'static str {
    match event_type {
        AuditEventType::WorkflowStarted => "started",
        AuditEventType::WorkflowCompleted => "completed",
        AuditEventType::WorkflowFailed => "failed",
        AuditEventType::BlockCleared => "cleared",
        AuditEventType::WorkflowSkipped => "skipped",
        AuditEventType::ClearanceForged => "clearance_forged",
    }
}

/// `ERR_WORKFLOW_<REASON>` in the `ERR_[CATEGORY]_[SPECIFIC]` convention of `ErrorDetails.code`.
pub fn error_code(reason: FailureReason) -> String {
    let specific = match reason {
        FailureReason::OomKilled => "OOM_KILLED",
        FailureReason::DeadlineExceeded => "DEADLINE_EXCEEDED",
        FailureReason::Forbidden => "FORBIDDEN",
        FailureReason::ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailureReason::ConfigurationError => "CONFIGURATION_ERROR",
        FailureReason::ImagePullBackOff => "IMAGE_PULL_BACK_OFF",
        FailureReason::TaskFailed => "TASK_FAILED",
        FailureReason::Unknown => "UNKNOWN",
    };
    format!("ERR_WORKFLOW_{specific}")
}

/// Deterministic event id: an RFC 9562 version-8 UUID from SHA-256 of (WFE UID, event type,
/// described instant). The same transition of the same object always gets the same id; a
/// recreated WFE (new UID) or a second failure (new instant) gets a new one.
pub fn event_id(uid: &str, event_type: &str, instant: Timestamp) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"kubernaut.ai/workflowexecution-audit/v1\0");
    hasher.update(uid.as_bytes());
    hasher.update(b"\0");
    hasher.update(event_type.as_bytes());
    hasher.update(b"\0");
    hasher.update(instant.as_nanosecond().to_string().as_bytes());
    let digest = hasher.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80; // version 8 (custom)
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 9562 variant
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Serialises an event as the JSON DataStorage receives (and local sinks write).
pub fn to_json(event: &AuditEvent) -> serde_json::Value {
    // Serialising plain structs of strings, numbers and maps cannot fail.
    serde_json::to_value(event).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests;
