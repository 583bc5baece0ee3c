//! stdout and file sinks, the local recorder, and the trail's handling of events that cannot or
//! must not reach the sink.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::*;
use prometheus::Registry;
use serde_json::{Value, json};
use wfe_api::AuditEventType;
use wfe_audit::metrics::result;
use wfe_audit::{
    AuditMetrics, AuditSchema, AuditSettings, AuditTrail, AuditTrailImpl, JsonLines, LocalRecorder,
    SinkKind,
};

fn metrics() -> AuditMetrics {
    AuditMetrics::register(&Registry::new()).expect("metrics register")
}

fn read_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn file_sink_appends_json_lines_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    std::fs::write(&path, "{\"pre\":\"existing\"}\n").unwrap();
    let s = AuditSettings {
        sink: SinkKind::File,
        path: Some(path.clone()),
        ..Default::default()
    };
    let schema = AuditSchema::embedded().unwrap();

    let m = metrics();
    let trail = AuditTrailImpl::new(&s, m.clone()).unwrap();
    let both = [
        AuditEventType::WorkflowStarted,
        AuditEventType::WorkflowCompleted,
    ];
    assert_eq!(
        trail
            .deliver(&completed("wfe-1", "uid-1"), &both)
            .await
            .unwrap(),
        both
    );
    drop(trail);

    // A new process (restart) appends to the same file.
    let trail = AuditTrailImpl::new(&s, metrics()).unwrap();
    let failed_wfe = cleared(failed("wfe-2", "uid-2", "TaskFailed", true), "alice");
    let due = [AuditEventType::BlockCleared, AuditEventType::WorkflowFailed];
    let acked = trail.deliver(&failed_wfe, &due).await.unwrap();
    assert_eq!(
        acked,
        [AuditEventType::WorkflowFailed, AuditEventType::BlockCleared]
    );

    let lines = read_lines(&path);
    assert_eq!(
        lines[0],
        json!({"pre": "existing"}),
        "existing content is kept"
    );
    let events = &lines[1..];
    let types: Vec<&str> = events
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        [
            "workflowexecution.workflow.started",
            "workflowexecution.workflow.completed",
            "workflowexecution.workflow.failed",
            "workflowexecution.block.cleared"
        ],
        "lifecycle order, whatever order `due` had"
    );
    for e in events {
        schema
            .validate_event(e)
            .expect("file lines are DataStorage events");
    }
    assert_eq!(m.get("file", result::ACKNOWLEDGED), 2);
}

#[tokio::test]
async fn file_sink_failure_is_unavailable_not_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let s = AuditSettings {
        sink: SinkKind::File,
        path: Some(dir.path().join("missing-dir/audit.jsonl")),
        ..Default::default()
    };
    let m = metrics();
    let trail = AuditTrailImpl::new(&s, m.clone()).unwrap();
    let err = trail
        .deliver(
            &running("wfe-1", "uid-1"),
            &[AuditEventType::WorkflowStarted],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing-dir"), "{err}");
    assert_eq!(m.get("file", result::UNAVAILABLE), 1);
    assert_eq!(m.get("file", result::ACKNOWLEDGED), 0);
}

#[tokio::test]
async fn stdout_sink_writes_one_event_per_line() {
    let out = Buffer::default();
    let local = LocalRecorder::from_lines(JsonLines::writer(Box::new(out.clone())));
    let m = metrics();
    let trail = AuditTrailImpl::with_local(&AuditSettings::default(), m.clone(), local).unwrap();
    let acked = trail
        .deliver(
            &running("wfe-1", "uid-1"),
            &[AuditEventType::WorkflowStarted],
        )
        .await
        .unwrap();
    assert_eq!(acked, [AuditEventType::WorkflowStarted]);
    let lines = out.lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["event_type"], "workflowexecution.workflow.started");
    assert_eq!(lines[0]["actor_id"], "workflowexecution-controller");
    assert_eq!(m.get("stdout", result::ACKNOWLEDGED), 1);
}

#[tokio::test]
async fn state_not_yet_persisted_leaves_the_event_due() {
    let out = Buffer::default();
    let local = LocalRecorder::from_lines(JsonLines::writer(Box::new(out.clone())));
    let m = metrics();
    let trail = AuditTrailImpl::with_local(&AuditSettings::default(), m.clone(), local).unwrap();
    // Running, but no completionTime yet: the completed event cannot be built.
    let acked = trail
        .deliver(
            &running("wfe-1", "uid-1"),
            &[AuditEventType::WorkflowCompleted],
        )
        .await
        .unwrap();
    assert!(acked.is_empty());
    assert!(out.lines().is_empty());
    assert_eq!(m.get("stdout", result::INCOMPLETE), 1);
}

#[tokio::test]
async fn schema_rejected_events_go_to_the_local_sink_only() {
    // A stricter schema (a required field the events never carry) makes every event invalid.
    let strict = wfe_audit::schema::EMBEDDED_OPENAPI
        .expect("schema embedded")
        .replacen(
            "      required:\n        - version\n        - event_type\n",
            "      required:\n        - severity\n        - version\n        - event_type\n",
            1,
        );
    assert_ne!(
        Some(strict.as_str()),
        wfe_audit::schema::EMBEDDED_OPENAPI,
        "the edit applied"
    );
    let dir = tempfile::tempdir().unwrap();
    let schema_file = dir.path().join("strict.yaml");
    std::fs::write(&schema_file, strict).unwrap();
    let out = Buffer::default();
    let local = LocalRecorder::from_lines(JsonLines::writer(Box::new(out.clone())));
    let m = metrics();
    let s = AuditSettings {
        schema_file: Some(schema_file),
        ..Default::default()
    };
    let trail = AuditTrailImpl::with_local(&s, m.clone(), local).unwrap();

    let acked = trail
        .deliver(
            &running("wfe-1", "uid-1"),
            &[AuditEventType::WorkflowStarted],
        )
        .await
        .unwrap();
    assert_eq!(
        acked,
        [AuditEventType::WorkflowStarted],
        "settled: a retry cannot fix it"
    );
    let lines = out.lines();
    assert_eq!(lines.len(), 1, "only the local record, no event line");
    assert_eq!(lines[0]["record"], "audit.rejected_schema");
    assert!(
        lines[0]["violations"][0]
            .as_str()
            .unwrap()
            .starts_with("severity"),
        "{}",
        lines[0]
    );
    assert_eq!(m.get("stdout", result::REJECTED_SCHEMA), 1);
    assert_eq!(m.get("stdout", result::ACKNOWLEDGED), 0);
}

#[tokio::test]
async fn local_recorder_appends_records_for_the_webhook() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("local.jsonl");
    let s = AuditSettings {
        sink: SinkKind::Datastorage,
        url: Some("http://ds".into()),
        path: Some(path.clone()),
        ..Default::default()
    };
    let recorder = LocalRecorder::new(&s);
    let denial = json!({"record": "workflowexecution.block.clearance_denied", "user": "mallory", "reason": "not in allowedGroups"});
    recorder.record(&denial).await.unwrap();
    LocalRecorder::new(&s)
        .record(&json!({"record": "second"}))
        .await
        .unwrap();
    assert_eq!(read_lines(&path), [denial, json!({"record": "second"})]);

    let broken = LocalRecorder::new(&AuditSettings {
        path: Some(dir.path().join("no/such/dir.jsonl")),
        ..Default::default()
    });
    let err = broken.record(&json!({})).await.unwrap_err();
    assert!(err.to_string().contains("no/such/dir.jsonl"), "{err}");
}

#[tokio::test]
async fn setup_errors_name_the_setting() {
    let err = AuditTrailImpl::new(
        &AuditSettings {
            sink: SinkKind::Datastorage,
            ..Default::default()
        },
        metrics(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("audit.url"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, "not a certificate").unwrap();
    let s = AuditSettings {
        sink: SinkKind::Datastorage,
        url: Some("https://ds".into()),
        ca_file: Some(ca),
        ..Default::default()
    };
    let err = AuditTrailImpl::new(&s, metrics()).err().unwrap();
    assert!(err.to_string().contains("audit.caFile"), "{err}");
    let s = AuditSettings {
        schema_file: Some(dir.path().join("nope.yaml")),
        ..Default::default()
    };
    assert!(
        AuditTrailImpl::new(&s, metrics())
            .err()
            .unwrap()
            .to_string()
            .contains("nope.yaml")
    );
    let registry = Registry::new();
    AuditMetrics::register(&registry).unwrap();
    assert!(
        AuditMetrics::register(&registry).is_err(),
        "double registration is reported, not ignored"
    );
}

/// The controller asks again when recording an acknowledgement in the WFE status failed (a
/// status conflict right after delivery): the event is settled without a second line.
#[tokio::test]
async fn an_event_asked_for_again_after_a_lost_acknowledgement_is_not_sent_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let s = AuditSettings {
        sink: SinkKind::File,
        path: Some(path.clone()),
        token_file: None,
        ..Default::default()
    };
    let trail = AuditTrailImpl::new(&s, metrics()).unwrap();
    let w = completed("wfe-a", "0b4c8f7e-2a7d-4a8e-9f3e-1c2d3e4f5a6b");
    let due = [
        AuditEventType::WorkflowStarted,
        AuditEventType::WorkflowCompleted,
    ];
    assert_eq!(trail.deliver(&w, &due).await.unwrap(), due.to_vec());
    assert_eq!(
        trail.deliver(&w, &due).await.unwrap(),
        due.to_vec(),
        "settled again"
    );
    let lines = read_lines(&path);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["event_type"], "workflowexecution.workflow.started");
    assert_eq!(
        lines[1]["event_type"],
        "workflowexecution.workflow.completed"
    );
}

/// The result series a freshly built trail exports, before any event, as `sink/result` pairs.
fn series_at_start(settings: &AuditSettings) -> Vec<String> {
    let registry = Registry::new();
    let metrics = AuditMetrics::register(&registry).unwrap();
    let _trail = AuditTrailImpl::new(settings, metrics).unwrap();
    let families = registry.gather();
    let family = families
        .iter()
        .find(|f| f.name() == "workflowexecution_audit_events_total")
        .expect("audit_events_total exported before any event");
    let mut series: Vec<String> = family
        .get_metric()
        .iter()
        .map(|m| {
            assert_eq!(m.get_counter().get_value(), 0.0);
            let label = |n: &str| {
                m.get_label()
                    .iter()
                    .find(|l| l.name() == n)
                    .map(|l| l.value().to_owned())
                    .unwrap()
            };
            format!("{}/{}", label("sink"), label("result"))
        })
        .collect();
    series.sort();
    series
}

#[tokio::test]
async fn the_configured_sink_exports_its_possible_results_at_zero_from_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = AuditSettings {
        sink: SinkKind::File,
        path: Some(dir.path().join("audit.jsonl")),
        ..Default::default()
    };
    assert_eq!(
        series_at_start(&file),
        [
            "file/acknowledged",
            "file/incomplete",
            "file/rejected_schema",
            "file/unavailable",
            "local/acknowledged",
            "local/unavailable",
        ]
    );
    let remote = AuditSettings {
        sink: SinkKind::Datastorage,
        url: Some("http://127.0.0.1:9".into()),
        path: Some(dir.path().join("local.jsonl")),
        token_file: None,
        ..Default::default()
    };
    let mut expected: Vec<String> = [
        result::ACKNOWLEDGED,
        result::INCOMPLETE,
        result::QUARANTINED,
        result::REJECTED_SCHEMA,
        result::RETRIED,
        result::UNAVAILABLE,
    ]
    .iter()
    .map(|r| format!("datastorage/{r}"))
    .chain([
        "local/acknowledged".to_owned(),
        "local/unavailable".to_owned(),
    ])
    .collect();
    expected.sort();
    assert_eq!(series_at_start(&remote), expected);
}
