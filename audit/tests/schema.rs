//! Every event the code can produce is accepted by the REAL DataStorage schema, and broken events
//! are rejected with the offending field named.

mod common;

use common::*;
use proptest::prelude::*;
use serde_json::{Value, json};
use wfe_api::{AuditEventType, FailureReason, WorkflowExecution};
use wfe_audit::event::{EventContext, build_event, to_json};
use wfe_audit::schema::{AuditSchema, EMBEDDED_OPENAPI, SchemaLoadError};

fn real_schema() -> AuditSchema {
    let text = std::fs::read_to_string(REAL_SCHEMA)
        .expect("shared/reference/datastorage/data-storage-v1.yaml is readable");
    AuditSchema::from_openapi(&text).expect("the real DataStorage schema loads")
}

fn ctx(cluster: Option<&str>) -> EventContext {
    EventContext {
        controller_identity: "system:serviceaccount:kubernaut-system:workflowexecution-controller"
            .into(),
        cluster_id: cluster.map(str::to_owned),
    }
}

/// Variations of optional spec/metadata/status fields on top of a WFE JSON.
fn variations(base: Value) -> Vec<Value> {
    let mut out = Vec::new();
    for rr_named in [true, false] {
        for digest in [false, true] {
            for params in [true, false] {
                for prr in [true, false] {
                    for namespaced in [true, false] {
                        let mut v = base.clone();
                        if !rr_named {
                            v["spec"]["remediationRequestRef"] = json!({"name": ""});
                        }
                        if digest {
                            v["spec"]["workflowRef"]["containerDigest"] =
                                json!(format!("sha256:{}", "ab".repeat(32)));
                        }
                        if !params {
                            v["spec"].as_object_mut().unwrap().remove("parameters");
                        }
                        if !prr {
                            v["status"]
                                .as_object_mut()
                                .unwrap()
                                .remove("pipelineRunRef");
                        }
                        if !namespaced {
                            v["metadata"].as_object_mut().unwrap().remove("namespace");
                        }
                        out.push(v);
                    }
                }
            }
        }
    }
    out
}

/// Every WFE state that makes an event buildable, with and without each optional field.
fn every_state() -> Vec<(WorkflowExecution, Vec<AuditEventType>)> {
    let mut states = Vec::new();
    for v in variations(base_json("wfe-a", "uid-a")) {
        states.push((wfe(v), vec![AuditEventType::WorkflowStarted]));
    }
    let mut done = base_json("wfe-b", "uid-b");
    done["status"]["completionTime"] = json!("2026-01-02T03:06:18Z");
    for with_duration in [true, false] {
        let mut d = done.clone();
        if with_duration {
            d["status"]["duration"] = json!("2m13s");
        }
        for v in variations(d) {
            states.push((
                wfe(v),
                vec![
                    AuditEventType::WorkflowStarted,
                    AuditEventType::WorkflowCompleted,
                ],
            ));
        }
    }
    for reason in FailureReason::ALL {
        for was_execution_failure in [true, false] {
            for task in [true, false] {
                let mut f = failed("wfe-c", "uid-c", reason.as_str(), was_execution_failure);
                if !task {
                    f["status"]["failureDetails"]
                        .as_object_mut()
                        .unwrap()
                        .remove("failedTaskName");
                    f["status"]["failureDetails"]["message"] = json!("");
                }
                states.push((
                    wfe(f.clone()),
                    vec![
                        AuditEventType::WorkflowStarted,
                        AuditEventType::WorkflowFailed,
                    ],
                ));
                for clearer in ["alice@example.com", "system:serviceaccount:ops:remediator"] {
                    states.push((
                        cleared(f.clone(), clearer),
                        vec![AuditEventType::WorkflowFailed, AuditEventType::BlockCleared],
                    ));
                }
            }
        }
    }
    // Pre-execution failure: no failureDetails timestamp other than completionTime, no start.
    let mut pre = failed("wfe-d", "uid-d", "ConfigurationError", false);
    pre["status"]
        .as_object_mut()
        .unwrap()
        .remove("failureDetails");
    pre["status"].as_object_mut().unwrap().remove("startTime");
    pre["status"]
        .as_object_mut()
        .unwrap()
        .remove("pipelineRunRef");
    states.push((wfe(pre), vec![AuditEventType::WorkflowFailed]));
    states
}

#[test]
fn embedded_schema_is_the_reference_file() {
    let real = std::fs::read_to_string(REAL_SCHEMA).expect("reference schema readable");
    assert_eq!(
        EMBEDDED_OPENAPI,
        Some(real.as_str()),
        "the build embeds the reference DataStorage schema"
    );
    AuditSchema::embedded().expect("embedded schema loads");
}

#[test]
fn every_producible_event_matches_the_real_schema() {
    let schema = real_schema();
    let mut checked = std::collections::BTreeMap::<&str, usize>::new();
    for (wfe, types) in every_state() {
        for cluster in [None, Some("prod-eu-1")] {
            for ty in &types {
                let event = build_event(&wfe, *ty, &ctx(cluster)).unwrap_or_else(|e| panic!("{e}"));
                let json = to_json(&event);
                if let Err(violations) = schema.validate_event(&json) {
                    panic!("{violations}\n{json:#}");
                }
                *checked.entry(ty.as_str()).or_default() += 1;
            }
        }
    }
    for ty in ALL_TYPES {
        assert!(
            checked.get(ty.as_str()).copied().unwrap_or(0) > 0,
            "{} never produced",
            ty.as_str()
        );
    }
}

fn valid(ty: AuditEventType) -> Value {
    let wfe = match ty {
        AuditEventType::WorkflowStarted => running("wfe-x", "uid-x"),
        AuditEventType::WorkflowCompleted => completed("wfe-x", "uid-x"),
        AuditEventType::WorkflowFailed => wfe(failed("wfe-x", "uid-x", "TaskFailed", true)),
        AuditEventType::BlockCleared => {
            cleared(failed("wfe-x", "uid-x", "TaskFailed", true), "alice")
        }
        AuditEventType::WorkflowSkipped | AuditEventType::ClearanceForged => {
            panic!("{} is local-only: it never reaches the schema", ty.as_str())
        }
    };
    to_json(&build_event(&wfe, ty, &ctx(None)).expect("fixture builds"))
}

fn rejected_at(schema: &AuditSchema, event: &Value, path: &str) {
    let err = schema
        .validate_event(event)
        .expect_err("broken event must be rejected");
    assert!(
        err.0.iter().any(|v| v.path == path),
        "expected a violation at {path}, got: {err}"
    );
}

#[test]
fn broken_events_are_rejected_with_the_field_named() {
    let schema = real_schema();
    let started = valid(AuditEventType::WorkflowStarted);
    let failed = valid(AuditEventType::WorkflowFailed);
    let cleared = valid(AuditEventType::BlockCleared);
    let edit = |base: &Value, f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };

    rejected_at(
        &schema,
        &edit(&started, &|v| {
            v.as_object_mut().unwrap().remove("correlation_id");
        }),
        "correlation_id",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["correlation_id"] = json!("")),
        "correlation_id",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["correlation_id"] = json!("r".repeat(256))),
        "correlation_id",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["correlation_id"] = Value::Null),
        "correlation_id",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| {
            v["event_category"] = json!("workflowexecutions")
        }),
        "event_category",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["event_outcome"] = json!("ok")),
        "event_outcome",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["event_timestamp"] = json!("yesterday")),
        "event_timestamp",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| {
            v["event_timestamp"] = json!("2026-01-02T03:04:05")
        }),
        "event_timestamp",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["version"] = json!("")),
        "version",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["duration_ms"] = json!("12")),
        "duration_ms",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["duration_ms"] = json!(1.5)),
        "duration_ms",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["parent_event_id"] = json!("not-a-uuid")),
        "parent_event_id",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["event_data"]["phase"] = json!("Skipped")),
        "event_data.phase",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| {
            v["event_data"]
                .as_object_mut()
                .unwrap()
                .remove("workflow_id");
        }),
        "event_data.workflow_id",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["event_data"]["parameters"]["N"] = json!(3)),
        "event_data.parameters.N",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["event_data"]["started_at"] = json!("soon")),
        "event_data.started_at",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| {
            v["event_data"]
                .as_object_mut()
                .unwrap()
                .remove("event_type");
        }),
        "event_data.event_type",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| {
            v["event_data"]["event_type"] = json!("workflowexecution.workflow.completed")
        }),
        "event_data.event_type",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| {
            v["event_data"]["event_type"] = json!("workflowexecution.workflow.skipped")
        }),
        "event_data.event_type",
    );
    rejected_at(
        &schema,
        &edit(&started, &|v| v["event_data"] = json!("started")),
        "event_data.event_type",
    );
    rejected_at(
        &schema,
        &edit(&failed, &|v| {
            v["event_data"]["failure_reason"] = json!("PipelineRunTimeout")
        }),
        "event_data.failure_reason",
    );
    rejected_at(
        &schema,
        &edit(&failed, &|v| {
            v["event_data"]["error_details"]["component"] = json!("controller")
        }),
        "event_data.error_details.component",
    );
    rejected_at(
        &schema,
        &edit(&failed, &|v| {
            v["event_data"]["error_details"]
                .as_object_mut()
                .unwrap()
                .remove("retry_possible");
        }),
        "event_data.error_details.retry_possible",
    );
    rejected_at(
        &schema,
        &edit(&cleared, &|v| {
            v["event_data"]["new_state"] = json!("Blocked")
        }),
        "event_data.new_state",
    );
    rejected_at(
        &schema,
        &edit(&cleared, &|v| {
            v["event_data"]
                .as_object_mut()
                .unwrap()
                .remove("clear_reason");
        }),
        "event_data.clear_reason",
    );
    // A block.cleared payload under a workflow event type is checked against the workflow schema.
    rejected_at(
        &schema,
        &edit(&cleared, &|v| {
            v["event_type"] = json!("workflowexecution.workflow.started");
            v["event_data"]["event_type"] = json!("workflowexecution.workflow.started");
        }),
        "event_data.workflow_id",
    );
}

#[test]
fn openapi_nullable_fields_accept_null_and_others_do_not() {
    let schema = real_schema();
    let mut event = valid(AuditEventType::WorkflowCompleted);
    for field in [
        "namespace",
        "cluster_id",
        "severity",
        "duration_ms",
        "error_code",
        "error_message",
        "parent_event_id",
        "retention_days",
        "is_sensitive",
    ] {
        event[field] = Value::Null;
    }
    schema
        .validate_event(&event)
        .expect("nullable fields may be null");
    event["actor_id"] = Value::Null;
    rejected_at(&schema, &event, "actor_id");
}

#[test]
fn loader_refuses_schemas_it_cannot_fully_enforce() {
    let doc = |request: &str| {
        format!("openapi: 3.0.3\ncomponents:\n  schemas:\n    AuditEventRequest:\n{request}")
    };
    let unsupported =
        doc("      type: object\n      properties:\n        a:\n          not: {type: string}\n");
    assert!(matches!(
        AuditSchema::from_openapi(&unsupported),
        Err(SchemaLoadError::UnsupportedKeyword { keyword, .. }) if keyword == "not"
    ));
    let dangling = doc(
        "      type: object\n      properties:\n        a:\n          $ref: '#/components/schemas/Missing'\n",
    );
    assert!(
        matches!(AuditSchema::from_openapi(&dangling), Err(SchemaLoadError::UnresolvedRef(r)) if r == "Missing")
    );
    let unknown_format = doc("      type: string\n      format: hostname\n");
    assert!(matches!(
        AuditSchema::from_openapi(&unknown_format),
        Err(SchemaLoadError::UnsupportedFormat { .. })
    ));
    assert!(matches!(
        AuditSchema::from_openapi("openapi: 3.0.3\n"),
        Err(SchemaLoadError::Structure(_))
    ));
    assert!(matches!(
        AuditSchema::from_openapi(": : :\n  - ["),
        Err(SchemaLoadError::Parse(_))
    ));
}

fn embedded() -> &'static AuditSchema {
    static SCHEMA: std::sync::OnceLock<AuditSchema> = std::sync::OnceLock::new();
    SCHEMA.get_or_init(|| AuditSchema::embedded().expect("embedded schema loads"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Free-text and name fields take any content the CRD admits without breaking the schema.
    #[test]
    fn events_with_arbitrary_text_still_match(
        rr in "[a-z0-9][a-z0-9.-]{0,252}",
        message in any::<String>(),
        reason in "\\PC{0,1000}",
        param in "\\PC{0,200}",
        clearer in prop_oneof![Just("system:serviceaccount:ns:sa".to_owned()), "[a-z@.:-]{1,64}"],
    ) {
        let schema = embedded();
        let mut v = failed("wfe-p", "uid-p", "Unknown", true);
        v["spec"]["remediationRequestRef"]["name"] = json!(rr);
        v["spec"]["parameters"] = json!({"TEXT": param});
        v["status"]["failureDetails"]["message"] = json!(message);
        let wfe = {
            let mut c = cleared(v, &clearer);
            c.status.as_mut().unwrap().block_clearance.as_deref_mut().unwrap().clear_reason = reason;
            c
        };
        for ty in [AuditEventType::WorkflowStarted, AuditEventType::WorkflowFailed, AuditEventType::BlockCleared] {
            let json = to_json(&build_event(&wfe, ty, &ctx(None)).unwrap());
            prop_assert!(schema.validate_event(&json).is_ok(), "{:?}", schema.validate_event(&json));
        }
    }
}
