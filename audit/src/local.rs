//! Local-only audit records: things DataStorage has no event type for (clearance denials, skips),
//! and events it must not or would not take (schema-rejected, quarantined).

use serde_json::{Value, json};

use wfe_api::block::ClearanceDenial;
use wfe_api::{AuditEventType, WorkflowExecution};

use crate::event::{
    ACTOR_TYPE_SERVICE, AuditEvent, EVENT_CATEGORY, EventContext, RESOURCE_TYPE,
    clearer_actor_type, correlation_id, event_id,
};
use crate::lines::JsonLines;
use crate::settings::AuditSettings;

/// Record kind of a quarantined event (the sink answered 4xx).
pub const RECORD_QUARANTINED: &str = "audit.quarantined";
/// Record kind of an event that failed the DataStorage schema check.
pub const RECORD_REJECTED_SCHEMA: &str = "audit.rejected_schema";

/// Failure to write a local record.
#[derive(Debug, thiserror::Error)]
#[error("cannot write audit record to {target}: {source}")]
pub struct LocalRecordError {
    /// `stdout` or the file path.
    pub target: String,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Writes JSON records to the local audit sink: `audit.path` when set, else stdout.
#[derive(Clone, Debug)]
pub struct LocalRecorder {
    lines: JsonLines,
}

impl LocalRecorder {
    /// The local sink the settings describe (`audit.path` if set, else stdout).
    pub fn new(settings: &AuditSettings) -> Self {
        Self::from_lines(match &settings.path {
            Some(path) => JsonLines::file(path),
            None => JsonLines::stdout(),
        })
    }

    /// A recorder writing to `lines`.
    pub fn from_lines(lines: JsonLines) -> Self {
        LocalRecorder { lines }
    }

    /// Appends `record` as one JSON line (fsynced for files).
    pub async fn record(&self, record: &Value) -> Result<(), LocalRecordError> {
        self.lines
            .append(std::slice::from_ref(record))
            .await
            .map_err(|source| LocalRecordError {
                target: self.lines.describe(),
                source,
            })
    }

    pub(crate) fn lines(&self) -> &JsonLines {
        &self.lines
    }
}

/// The local record of an event the sink rejected.
pub fn quarantined_record(sink: &str, reason: &str, event: &AuditEvent) -> Value {
    json!({"record": RECORD_QUARANTINED, "sink": sink, "reason": reason, "event": crate::event::to_json(event)})
}

/// The local record of an event that failed the schema check.
pub fn rejected_schema_record(violations: &[String], event: &AuditEvent) -> Value {
    json!({"record": RECORD_REJECTED_SCHEMA, "violations": violations, "event": crate::event::to_json(event)})
}

/// Record kind of a skipped WFE (DataStorage has no event type for skips).
pub const RECORD_SKIPPED: &str = "workflowexecution.workflow.skipped";
/// Record kind of a refused block-clearance attempt (DataStorage has no event type for it).
pub const RECORD_CLEARANCE_DENIED: &str = "workflowexecution.block.clearance_denied";

/// The local record of a skipped WFE, or `None` if the WFE has no `status.skipDetails`.
/// Deterministic (id and content derive from persisted state), like DataStorage events.
pub fn skip_record(wfe: &WorkflowExecution, ctx: &EventContext) -> Option<Value> {
    let details = wfe.status.as_ref()?.skip_details.as_deref()?;
    let name = wfe.metadata.name.as_deref().unwrap_or_default();
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    let at = details.skipped_at.0;
    Some(json!({
        "record": RECORD_SKIPPED,
        "event_id": event_id(uid, RECORD_SKIPPED, at),
        "event_timestamp": at.to_string(),
        "event_category": EVENT_CATEGORY,
        "actor_type": ACTOR_TYPE_SERVICE,
        "actor_id": ctx.controller_identity,
        "resource_type": RESOURCE_TYPE,
        "resource_id": format!("{name}/{uid}"),
        "namespace": wfe.metadata.namespace,
        "correlation_id": correlation_id(wfe, name),
        "workflow_id": wfe.spec.workflow_ref.workflow_id,
        "target_resource": wfe.spec.target_resource,
        "skip_details": serde_json::to_value(details).unwrap_or(Value::Null),
    }))
}

/// Record kind of a clearance the controller rejected (forged, or bound to another failure).
pub const RECORD_CLEARANCE_FORGED: &str = "workflowexecution.block.clearance_forged";

/// The local record of a rejected clearance on a failed WFE, or `None` without one. The
/// controller's verdict (the TargetBlocked message, which names every problem) is included so
/// an auditor reads why the block stayed.
pub fn forged_clearance_record(wfe: &WorkflowExecution, ctx: &EventContext) -> Option<Value> {
    let status = wfe.status.as_ref()?;
    let clearance = status.block_clearance.as_deref()?;
    let name = wfe.metadata.name.as_deref().unwrap_or_default();
    let uid = wfe.metadata.uid.as_deref().unwrap_or_default();
    // The id follows the record (deterministic across restarts). The time comes from the
    // controller's own TargetBlocked condition (since when the target is blocked), never from
    // the forger's `clearedAt`, which is kept as what the record claims.
    let claimed_at = clearance.cleared_at.0;
    let verdict = status
        .conditions
        .iter()
        .find(|c| c.type_ == wfe_api::keys::CONDITION_TARGET_BLOCKED);
    let detected_at = verdict.map_or(claimed_at, |c| c.last_transition_time.0);
    let verdict = verdict.map(|c| c.message.clone());
    Some(json!({
        "record": RECORD_CLEARANCE_FORGED,
        "event_id": event_id(uid, RECORD_CLEARANCE_FORGED, claimed_at),
        "event_timestamp": detected_at.to_string(),
        "claimed_cleared_at": claimed_at.to_string(),
        "event_category": EVENT_CATEGORY,
        "event_outcome": "failure",
        "actor_type": ACTOR_TYPE_SERVICE,
        "actor_id": ctx.controller_identity,
        "claimed_cleared_by": clearance.cleared_by,
        "resource_type": RESOURCE_TYPE,
        "resource_id": format!("{name}/{uid}"),
        "namespace": wfe.metadata.namespace,
        "correlation_id": correlation_id(wfe, name),
        "target_resource": wfe.spec.target_resource,
        "block_clearance": serde_json::to_value(clearance).unwrap_or(Value::Null),
        "failed_at": status.failure_details.as_deref().map(|f| f.failed_at.0.to_string()),
        "verdict": verdict,
    }))
}

/// The local record of a local-only event type (`None` for DataStorage types, or when the
/// status does not carry what the record describes yet).
pub fn local_event_record(
    wfe: &WorkflowExecution,
    event_type: AuditEventType,
    ctx: &EventContext,
) -> Option<Value> {
    match event_type {
        AuditEventType::WorkflowSkipped => skip_record(wfe, ctx),
        AuditEventType::ClearanceForged => forged_clearance_record(wfe, ctx),
        _ => None,
    }
}

/// The local record of a refused clearance attempt (the webhook's own denial record).
pub fn clearance_denied_record(denial: &ClearanceDenial) -> Value {
    json!({
        "record": RECORD_CLEARANCE_DENIED,
        "event_id": event_id(&denial.request_uid, RECORD_CLEARANCE_DENIED, denial.time),
        "event_timestamp": denial.time.to_string(),
        "event_category": EVENT_CATEGORY,
        "event_outcome": "failure",
        "actor_type": clearer_actor_type(&denial.user),
        "actor_id": denial.user,
        "actor_uid": denial.user_uid,
        "actor_groups": denial.groups,
        "resource_type": RESOURCE_TYPE,
        "resource_id": format!("{}/{}", denial.namespace, denial.name),
        "namespace": denial.namespace,
        "rule": denial.step,
        "reason": denial.message,
        "dry_run": denial.dry_run,
        "admission_request_uid": denial.request_uid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    #[test]
    fn skip_record_is_deterministic_and_carries_the_details() {
        let wfe: WorkflowExecution = serde_json::from_value(json!({
            "apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecution",
            "metadata": {"name": "wfe-s", "namespace": "ns", "uid": "uid-s"},
            "spec": {"remediationRequestRef": {"name": "rr-9"},
                     "workflowRef": {"workflowId": "wf", "version": "v1", "containerImage": "img"},
                     "targetResource": "ns/Deployment/app"},
            "status": {"phase": "Skipped", "skipDetails": {"reason": "ResourceBusy", "message": "busy",
                       "skippedAt": "2026-01-01T00:00:00Z",
                       "conflictingWorkflow": {"name": "wfe-other", "targetResource": "ns/Deployment/app"}}}
        }))
        .unwrap();
        let ctx = EventContext {
            controller_identity: "ctl".into(),
            cluster_id: None,
        };
        let record = skip_record(&wfe, &ctx).expect("skipped WFE has a record");
        assert_eq!(record, skip_record(&wfe, &ctx).unwrap());
        assert_eq!(record["record"], RECORD_SKIPPED);
        assert_eq!(record["correlation_id"], "rr-9");
        assert_eq!(record["skip_details"]["reason"], "ResourceBusy");
        assert_eq!(
            record["skip_details"]["conflictingWorkflow"]["name"],
            "wfe-other"
        );
        let mut running = wfe.clone();
        running.status.as_mut().unwrap().skip_details = None;
        assert_eq!(skip_record(&running, &ctx), None);
    }

    #[test]
    fn forged_clearance_record_keeps_the_record_and_the_verdict() {
        let wfe: WorkflowExecution = serde_json::from_value(json!({
            "apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecution",
            "metadata": {"name": "wfe-f", "namespace": "ns", "uid": "uid-f"},
            "spec": {"remediationRequestRef": {"name": "rr-1"},
                     "workflowRef": {"workflowId": "wf", "version": "v1", "containerImage": "img"},
                     "targetResource": "ns/Deployment/app"},
            "status": {"phase": "Failed",
                       "failureDetails": {"reason": "TaskFailed", "message": "m", "failedAt": "2026-01-01T00:00:00Z", "wasExecutionFailure": true},
                       "blockClearance": {"clearedBy": "alice", "clearedAt": "2026-01-01T01:00:00.000000Z",
                                          "clearReason": "r", "clearMethod": "KubernetesAdmissionWebhook", "admissionRequestUID": "x"},
                       "conditions": [{"type": "TargetBlocked", "status": "True", "reason": "PreviousExecutionFailed",
                                       "message": "The blockClearance naming \"alice\" was rejected", "lastTransitionTime": "2026-01-01T01:00:01Z"}]}
        }))
        .unwrap();
        let ctx = EventContext {
            controller_identity: "ctl".into(),
            cluster_id: None,
        };
        let record = local_event_record(&wfe, AuditEventType::ClearanceForged, &ctx).unwrap();
        assert_eq!(record, forged_clearance_record(&wfe, &ctx).unwrap());
        assert_eq!(record["record"], RECORD_CLEARANCE_FORGED);
        assert_eq!(record["claimed_cleared_by"], "alice");
        assert_eq!(
            record["event_timestamp"], "2026-01-01T01:00:01Z",
            "the controller's own time, not the record's clearedAt"
        );
        assert_eq!(record["claimed_cleared_at"], "2026-01-01T01:00:00Z");
        assert_eq!(record["block_clearance"]["admissionRequestUID"], "x");
        assert!(record["verdict"].as_str().unwrap().contains("was rejected"));
        assert_eq!(record["correlation_id"], "rr-1");
        assert_eq!(
            local_event_record(&wfe, AuditEventType::WorkflowFailed, &ctx),
            None,
            "DataStorage types have no local record"
        );
    }

    #[test]
    fn clearance_denial_names_the_identity() {
        let groups = vec!["system:authenticated".to_owned()];
        let denial = ClearanceDenial {
            user: "system:serviceaccount:ci:bot".into(),
            user_uid: Some("uid-bot".into()),
            groups: groups.clone(),
            extra: Default::default(),
            namespace: "ns".into(),
            name: "wfe-f".into(),
            request_uid: "req-1".into(),
            dry_run: false,
            step: wfe_api::block::ClearanceStep::Identity,
            message: "service accounts may not clear blocks".into(),
            time: Timestamp::from_second(1_700_000_000).unwrap(),
        };
        let record = clearance_denied_record(&denial);
        assert_eq!(record["record"], RECORD_CLEARANCE_DENIED);
        assert_eq!(record["actor_id"], "system:serviceaccount:ci:bot");
        assert_eq!(record["actor_type"], "service_account");
        assert_eq!(record["actor_groups"], json!(["system:authenticated"]));
        assert_eq!(record["resource_id"], "ns/wfe-f");
        assert_eq!(
            record["actor_uid"], "uid-bot",
            "the requester's uid is kept"
        );
        assert_eq!(record["rule"], "identity");
        assert_eq!(record["reason"], "service accounts may not clear blocks");
        assert_eq!(record["admission_request_uid"], "req-1");
    }
}
