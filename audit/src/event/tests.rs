use super::*;
use serde_json::json;
use wfe_api::keys;

fn ctx() -> EventContext {
    EventContext {
        controller_identity: "wfe-controller".into(),
        cluster_id: Some("c1".into()),
    }
}

fn wfe(status: serde_json::Value) -> WorkflowExecution {
    serde_json::from_value(json!({
        "apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecution",
        "metadata": {"name": "wfe-1", "namespace": "ns", "uid": "uid-1"},
        "spec": {
            "remediationRequestRef": {"name": "rr-1"},
            "workflowRef": {"workflowId": "wf", "version": "v1", "containerImage": "reg/img:v1",
                            "containerDigest": format!("sha256:{}", "0".repeat(64))},
            "targetResource": "ns/Deployment/app",
            "parameters": {"A": "1"}
        },
        "status": status
    }))
    .unwrap()
}

fn failed_status() -> serde_json::Value {
    json!({"phase": "Failed", "startTime": "2026-01-01T00:00:00Z", "completionTime": "2026-01-01T00:01:30Z",
           "duration": "1m30s",
           "failureDetails": {"reason": "OOMKilled", "message": "oom", "failedAt": "2026-01-01T00:01:29Z",
                              "wasExecutionFailure": true, "executionTimeBeforeFailure": "1m29s"}})
}

#[test]
fn started_event_describes_the_start_not_the_current_phase() {
    let mut status = failed_status();
    status["pipelineRunRef"] = json!({"name": "wfe-abc", "namespace": "x"});
    let e = build_event(&wfe(status), AuditEventType::WorkflowStarted, &ctx()).unwrap();
    assert_eq!(e.event_timestamp, "2026-01-01T00:00:00Z");
    assert_eq!(e.event_outcome, EventOutcome::Success);
    assert_eq!(
        (e.actor_type.as_str(), e.actor_id.as_str()),
        ("service", "wfe-controller")
    );
    assert_eq!(e.resource_id, "wfe-1/uid-1");
    assert_eq!(e.correlation_id, "rr-1");
    assert_eq!(e.cluster_id.as_deref(), Some("c1"));
    assert_eq!(e.duration_ms, None);
    let EventData::Workflow(p) = e.event_data else {
        panic!("workflow payload expected")
    };
    assert_eq!(p.phase, "Running");
    assert_eq!(
        p.completed_at, None,
        "a started event must not change once the run finishes"
    );
    assert_eq!(p.failure_reason, None);
    assert_eq!(
        p.container_image,
        format!("reg/img:v1@sha256:{}", "0".repeat(64))
    );
    assert_eq!(p.pipelinerun_name.as_deref(), Some("wfe-abc"));
    let params = p.parameters.unwrap();
    assert_eq!(params.get("A"), Some("1"));
    assert_eq!(
        params.get(keys::PARAM_TARGET_RESOURCE),
        Some("ns/Deployment/app")
    );
}

#[test]
fn failed_event_carries_the_failure() {
    let e = build_event(
        &wfe(failed_status()),
        AuditEventType::WorkflowFailed,
        &ctx(),
    )
    .unwrap();
    assert_eq!(
        e.event_timestamp, "2026-01-01T00:01:29Z",
        "the failure instant, not completion"
    );
    assert_eq!(e.event_outcome, EventOutcome::Failure);
    assert_eq!(e.duration_ms, Some(90_000));
    assert_eq!(e.error_code.as_deref(), Some("OOMKilled"));
    let EventData::Workflow(p) = e.event_data else {
        panic!("workflow payload expected")
    };
    assert_eq!(p.phase, "Failed");
    assert_eq!(p.failure_reason.as_deref(), Some("OOMKilled"));
    let details = p.error_details.unwrap();
    assert_eq!(details.code, "ERR_WORKFLOW_OOM_KILLED");
    assert!(
        !details.retry_possible,
        "an execution failure blocks the target"
    );
}

#[test]
fn failed_without_details_uses_completion_time() {
    let status = json!({"phase": "Failed", "completionTime": "2026-01-01T00:02:00Z"});
    let e = build_event(&wfe(status), AuditEventType::WorkflowFailed, &ctx()).unwrap();
    assert_eq!(e.event_timestamp, "2026-01-01T00:02:00Z");
    assert_eq!(e.error_code, None);
}

#[test]
fn block_cleared_is_attributed_to_the_clearer() {
    let mut status = failed_status();
    status["blockClearance"] = json!({"clearedBy": "system:serviceaccount:ops:bot", "clearedAt": "2026-01-01T01:00:00.000001Z",
        "clearReason": "fixed", "clearMethod": "KubernetesAdmissionWebhook", "admissionRequestUID": "r1"});
    let e = build_event(&wfe(status), AuditEventType::BlockCleared, &ctx()).unwrap();
    assert_eq!(
        (e.actor_type.as_str(), e.actor_id.as_str()),
        ("service_account", "system:serviceaccount:ops:bot")
    );
    assert_eq!(e.event_timestamp, "2026-01-01T01:00:00.000001Z");
    assert_eq!(e.event_action, "cleared");
    let EventData::BlockCleared(p) = e.event_data else {
        panic!("webhook payload expected")
    };
    assert_eq!(
        (p.previous_state.as_str(), p.new_state.as_str()),
        ("Blocked", "Running")
    );
    assert_eq!(p.clear_reason, "fixed");
    assert_eq!(p.workflow_name, "wfe-1");
}

#[test]
fn actor_type_distinguishes_service_accounts() {
    assert_eq!(
        clearer_actor_type("system:serviceaccount:a:b"),
        ACTOR_TYPE_SERVICE_ACCOUNT
    );
    assert_eq!(clearer_actor_type("alice@example.com"), ACTOR_TYPE_USER);
    assert_eq!(clearer_actor_type("system:admin"), ACTOR_TYPE_USER);
}

#[test]
fn correlation_falls_back_to_the_wfe_name() {
    let mut w = wfe(failed_status());
    w.spec.remediation_request_ref.name = " ".into();
    let e = build_event(&w, AuditEventType::WorkflowFailed, &ctx()).unwrap();
    assert_eq!(e.correlation_id, "wfe-1");
}

#[test]
fn building_twice_is_identical_and_ids_are_distinct_per_type_object_and_instant() {
    let w = wfe(failed_status());
    let a = build_event(&w, AuditEventType::WorkflowFailed, &ctx()).unwrap();
    let b = build_event(&w.clone(), AuditEventType::WorkflowFailed, &ctx()).unwrap();
    assert_eq!(a, b);
    let started = build_event(&w, AuditEventType::WorkflowStarted, &ctx()).unwrap();
    assert_ne!(a.event_id, started.event_id);
    let mut recreated = w.clone();
    recreated.metadata.uid = Some("uid-2".into());
    assert_ne!(
        a.event_id,
        build_event(&recreated, AuditEventType::WorkflowFailed, &ctx())
            .unwrap()
            .event_id
    );
    let t = Timestamp::from_second(1_700_000_000).unwrap();
    let later = Timestamp::from_second(1_700_000_001).unwrap();
    assert_ne!(
        event_id("u", AuditEventType::WorkflowFailed.as_str(), t),
        event_id("u", AuditEventType::WorkflowFailed.as_str(), later)
    );
    let id = event_id("u", AuditEventType::WorkflowFailed.as_str(), t);
    assert_eq!(id.len(), 36);
    assert_eq!(&id[14..15], "8", "UUID version 8");
    assert!(
        matches!(&id[19..20], "8" | "9" | "a" | "b"),
        "RFC 9562 variant"
    );
}

#[test]
fn missing_persisted_fields_are_named() {
    let pending = wfe(json!({"phase": "Pending"}));
    let err = |ty| build_event(&pending, ty, &ctx()).unwrap_err().to_string();
    assert!(err(AuditEventType::WorkflowStarted).contains("status.startTime"));
    assert!(err(AuditEventType::WorkflowCompleted).contains("status.completionTime"));
    assert!(err(AuditEventType::WorkflowFailed).contains("status.failureDetails.failedAt"));
    assert!(err(AuditEventType::BlockCleared).contains("status.blockClearance"));
    let mut no_uid = wfe(failed_status());
    no_uid.metadata.uid = None;
    let e = build_event(&no_uid, AuditEventType::WorkflowFailed, &ctx()).unwrap_err();
    assert_eq!(
        e,
        BuildError::MissingField {
            event_type: "workflowexecution.workflow.failed",
            field: "metadata.uid"
        }
    );
}

#[test]
fn error_codes_cover_every_reason() {
    let codes: std::collections::BTreeSet<String> =
        FailureReason::ALL.iter().map(|r| error_code(*r)).collect();
    assert_eq!(codes.len(), FailureReason::ALL.len());
    assert!(codes.iter().all(|c| c.starts_with("ERR_WORKFLOW_")
        && c.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_')));
}
