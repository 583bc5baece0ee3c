//! Shared test fixtures: WorkflowExecutions in the states that produce each audit event.
#![allow(dead_code)]

pub mod server;

use serde_json::{Value, json};
use wfe_api::{AuditEventType, WorkflowExecution};

/// Path of the real DataStorage OpenAPI document.
pub const REAL_SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/reference/datastorage/data-storage-v1.yaml"
);

/// A WFE as JSON, Running with a PipelineRun.
pub fn base_json(name: &str, uid: &str) -> Value {
    json!({
        "apiVersion": "kubernaut.ai/v1alpha1",
        "kind": "WorkflowExecution",
        "metadata": {"name": name, "namespace": "kubernaut-system", "uid": uid, "creationTimestamp": "2026-01-02T03:04:00Z"},
        "spec": {
            "remediationRequestRef": {"apiVersion": "kubernaut.ai/v1alpha1", "kind": "RemediationRequest", "name": "rr-2026-001", "namespace": "kubernaut-system"},
            "workflowRef": {"workflowId": "restart-deployment", "version": "v1.2.0", "containerImage": "ghcr.io/kubernaut/workflows/restart:v1.2.0"},
            "targetResource": "payments/Deployment/payment-api",
            "parameters": {"REPLICAS": "3"}
        },
        "status": {
            "phase": "Running",
            "startTime": "2026-01-02T03:04:05Z",
            "pipelineRunRef": {"name": "wfe-0123456789abcdef", "namespace": "kubernaut-workflows"}
        }
    })
}

/// Parses a WFE from JSON.
pub fn wfe(value: Value) -> WorkflowExecution {
    serde_json::from_value(value).expect("fixture is a valid WorkflowExecution")
}

/// A running WFE (started event due).
pub fn running(name: &str, uid: &str) -> WorkflowExecution {
    wfe(base_json(name, uid))
}

/// A completed WFE.
pub fn completed(name: &str, uid: &str) -> WorkflowExecution {
    let mut v = base_json(name, uid);
    v["status"]["phase"] = json!("Completed");
    v["status"]["completionTime"] = json!("2026-01-02T03:06:18Z");
    v["status"]["duration"] = json!("2m13s");
    wfe(v)
}

/// A WFE that failed during execution, then was cleared by `cleared_by`.
pub fn failed(name: &str, uid: &str, reason: &str, was_execution_failure: bool) -> Value {
    let mut v = base_json(name, uid);
    v["status"]["phase"] = json!("Failed");
    v["status"]["reason"] = json!(reason);
    v["status"]["completionTime"] = json!("2026-01-02T03:05:00Z");
    v["status"]["duration"] = json!("55s");
    v["status"]["failureDetails"] = json!({
        "reason": reason,
        "message": "task restart exited with code 1",
        "failedTaskName": "restart",
        "failedTaskIndex": 0,
        "exitCode": 1,
        "failedAt": "2026-01-02T03:05:00Z",
        "executionTimeBeforeFailure": "55s",
        "wasExecutionFailure": was_execution_failure
    });
    v
}

/// Adds a webhook-stamped clearance by `cleared_by` to a failed WFE.
pub fn cleared(mut v: Value, cleared_by: &str) -> WorkflowExecution {
    v["status"]["blockClearance"] = json!({
        "clearedBy": cleared_by,
        "clearedByUID": "u-42",
        "clearedByGroups": ["system:authenticated", "sre"],
        "clearedAt": "2026-01-02T04:00:00.123456Z",
        "clearReason": "Root cause fixed in the deployment manifest, verified by the on-call SRE team",
        "clearMethod": "KubernetesAdmissionWebhook",
        "admissionRequestUID": "0d1e2f",
        "clearedFailureAt": "2026-01-02T03:05:00Z"
    });
    wfe(v)
}

/// Every event type.
pub const ALL_TYPES: [AuditEventType; 4] = [
    AuditEventType::WorkflowStarted,
    AuditEventType::WorkflowCompleted,
    AuditEventType::WorkflowFailed,
    AuditEventType::BlockCleared,
];
