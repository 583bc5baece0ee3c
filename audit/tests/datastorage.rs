//! The datastorage sink against a local HTTP server: outages lose and duplicate nothing, a
//! refused event is quarantined while the rest are delivered, the token is re-read on rotation.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::server::FakeDataStorage;
use common::*;
use prometheus::Registry;
use serde_json::Value;
use wfe_api::{AuditEventType, WorkflowExecution};
use wfe_audit::metrics::result;
use wfe_audit::{AuditError, AuditMetrics, AuditSettings, AuditTrail, AuditTrailImpl, SinkKind};

/// Generous hang guard; never a timing assertion.
const HANG_GUARD: Duration = Duration::from_secs(60);

fn settings(url: &str, dir: &tempfile::TempDir) -> AuditSettings {
    AuditSettings {
        sink: SinkKind::Datastorage,
        url: Some(url.to_owned()),
        path: Some(dir.path().join("local-audit.jsonl")),
        token_file: None,
        batch_size: 3,
        flush_interval: Duration::from_millis(20),
        request_timeout: Duration::from_secs(20),
        retry_initial_backoff: Duration::from_millis(1),
        retry_max_backoff: Duration::from_millis(5),
        max_attempts: 3,
        ..AuditSettings::default()
    }
}

fn trail(settings: &AuditSettings) -> (Arc<AuditTrailImpl>, AuditMetrics) {
    let metrics = AuditMetrics::register(&Registry::new()).expect("metrics register");
    let trail = AuditTrailImpl::new(settings, metrics.clone()).expect("trail builds");
    (Arc::new(trail), metrics)
}

/// What the controller does: deliver what is due, record what was acknowledged, retry the rest.
async fn deliver_until_settled(
    trail: Arc<AuditTrailImpl>,
    wfe: WorkflowExecution,
    all: Vec<AuditEventType>,
) -> usize {
    let mut audited = BTreeSet::new();
    let mut errors = 0;
    while audited.len() < all.len() {
        let due: Vec<_> = all
            .iter()
            .copied()
            .filter(|t| !audited.contains(t))
            .collect();
        match trail.deliver(&wfe, &due).await {
            Ok(acked) => audited.extend(acked),
            Err(AuditError::Unavailable { .. }) => errors += 1,
        }
        assert!(errors < 100, "delivery never succeeded");
    }
    errors
}

fn guard<F: std::future::Future>(f: F) -> tokio::time::Timeout<F> {
    tokio::time::timeout(HANG_GUARD, f)
}

#[tokio::test]
async fn outage_then_recovery_delivers_every_event_exactly_once_in_order() {
    let ds = Arc::new(FakeDataStorage::default());
    ds.unavailable_first.store(7, Ordering::SeqCst);
    let url = ds.start().await;
    let dir = tempfile::tempdir().unwrap();
    let (trail, metrics) = trail(&settings(&url, &dir));

    let mut tasks = Vec::new();
    for i in 0..5 {
        let wfe = completed(&format!("wfe-{i}"), &format!("uid-{i}"));
        let all = vec![
            AuditEventType::WorkflowStarted,
            AuditEventType::WorkflowCompleted,
        ];
        tasks.push(tokio::spawn(deliver_until_settled(
            Arc::clone(&trail),
            wfe,
            all,
        )));
    }
    let mut controller_retries = 0;
    for task in tasks {
        controller_retries += guard(task).await.expect("hang guard").expect("task");
    }

    let stored = ds.stored.lock().unwrap().clone();
    let ids = ds.stored_ids();
    assert_eq!(ids.len(), 10, "every event arrives");
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        10,
        "no event arrives twice"
    );
    let mut per_wfe: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in &stored {
        per_wfe
            .entry(e["resource_id"].as_str().unwrap().to_owned())
            .or_default()
            .push(e["event_type"].as_str().unwrap().to_owned());
    }
    for (wfe, types) in per_wfe {
        assert_eq!(
            types,
            [
                "workflowexecution.workflow.started",
                "workflowexecution.workflow.completed"
            ],
            "order for {wfe}"
        );
    }
    assert!(ds.request_count() > 7, "the 503s were retried");
    assert!(
        controller_retries > 0,
        "a budget-exhausted batch is reported as unavailable so the controller retries"
    );
    assert_eq!(metrics.get("datastorage", result::ACKNOWLEDGED), 10);
    assert!(metrics.get("datastorage", result::RETRIED) > 0);
    assert!(metrics.get("datastorage", result::UNAVAILABLE) > 0);
    assert_eq!(metrics.get("datastorage", result::QUARANTINED), 0);
    assert_eq!(metrics.pending(), 0);
    // Identical content on every attempt: what arrived equals what a fresh build produces.
    for e in &stored {
        assert!(e["event_id"].as_str().is_some_and(|id| id.len() == 36));
    }
}

#[tokio::test]
async fn a_refused_event_is_quarantined_and_the_rest_delivered() {
    let ds = Arc::new(FakeDataStorage::default());
    *ds.poison.lock().unwrap() = Some(Box::new(|e: &Value| {
        e["correlation_id"] == "rr-poison"
            && e["event_type"] == "workflowexecution.workflow.completed"
    }));
    let url = ds.start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&url, &dir);
    s.batch_size = 10;
    let (trail, metrics) = trail(&s);

    let mut poisoned = completed("wfe-p", "uid-p");
    poisoned.spec.remediation_request_ref.name = "rr-poison".into();
    let both = [
        AuditEventType::WorkflowStarted,
        AuditEventType::WorkflowCompleted,
    ];
    let healthy = completed("wfe-h", "uid-h");
    let (a, b) = guard(async {
        tokio::join!(
            trail.deliver(&poisoned, &both),
            trail.deliver(&healthy, &both)
        )
    })
    .await
    .expect("hang guard");
    assert_eq!(
        a.expect("quarantine settles the event"),
        both,
        "quarantined counts as handled so the WFE is not stuck"
    );
    assert_eq!(b.expect("healthy delivered"), both);

    let stored = ds.stored.lock().unwrap().clone();
    let stored_types: Vec<(String, String)> = stored
        .iter()
        .map(|e| {
            (
                e["correlation_id"].as_str().unwrap().to_owned(),
                e["event_type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        stored.len(),
        3,
        "everything but the offender is delivered: {stored_types:?}"
    );
    assert!(!stored_types.contains(&(
        "rr-poison".into(),
        "workflowexecution.workflow.completed".into()
    )));
    assert!(stored_types.contains(&(
        "rr-poison".into(),
        "workflowexecution.workflow.started".into()
    )));
    assert!(
        ds.requests
            .lock()
            .unwrap()
            .iter()
            .any(|(_, events)| events.len() > 1),
        "the offender was first sent in a batch"
    );
    assert_eq!(metrics.get("datastorage", result::QUARANTINED), 1);
    assert_eq!(metrics.get("datastorage", result::ACKNOWLEDGED), 3);

    // Never silently dropped: the offender is in the local sink with the server's reason.
    let local =
        std::fs::read_to_string(s.path.as_ref().unwrap()).expect("local audit file written");
    let records: Vec<Value> = local
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["record"], "audit.quarantined");
    assert_eq!(records[0]["event"]["correlation_id"], "rr-poison");
    assert!(
        records[0]["reason"].as_str().unwrap().contains("400"),
        "{}",
        records[0]["reason"]
    );
}

#[tokio::test]
async fn bearer_token_is_reread_when_the_file_rotates() {
    let ds = Arc::new(FakeDataStorage::default());
    let url = ds.start().await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "token-a\n").unwrap();
    let mut s = settings(&url, &dir);
    s.token_file = Some(token.clone());
    let (trail, _) = trail(&s);

    let started = [AuditEventType::WorkflowStarted];
    guard(trail.deliver(&running("wfe-1", "uid-1"), &started))
        .await
        .unwrap()
        .unwrap();
    // Kubernetes rotates projected tokens by an atomic swap: write elsewhere, rename over.
    let next = dir.path().join("token.next");
    std::fs::write(&next, "token-b").unwrap();
    std::fs::rename(&next, &token).unwrap();
    guard(trail.deliver(&running("wfe-2", "uid-2"), &started))
        .await
        .unwrap()
        .unwrap();

    let auth: Vec<Option<String>> = ds
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|(a, _)| a.clone())
        .collect();
    assert_eq!(
        auth,
        [
            Some("Bearer token-a".to_owned()),
            Some("Bearer token-b".to_owned())
        ]
    );
}

#[tokio::test]
async fn unauthorized_is_retried_not_quarantined() {
    let ds = Arc::new(FakeDataStorage::default());
    ds.unauthorized_first.store(1, Ordering::SeqCst);
    let url = ds.start().await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t").unwrap();
    let mut s = settings(&url, &dir);
    s.token_file = Some(token);
    let (trail, metrics) = trail(&s);
    let acked = guard(trail.deliver(
        &running("wfe-1", "uid-1"),
        &[AuditEventType::WorkflowStarted],
    ))
    .await
    .unwrap()
    .unwrap();
    assert_eq!(acked, [AuditEventType::WorkflowStarted]);
    assert_eq!(ds.request_count(), 2);
    assert_eq!(metrics.get("datastorage", result::QUARANTINED), 0);
    assert_eq!(metrics.get("datastorage", result::RETRIED), 1);
}

#[tokio::test]
async fn missing_token_file_is_an_outage_not_a_drop() {
    let ds = Arc::new(FakeDataStorage::default());
    let url = ds.start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&url, &dir);
    s.token_file = Some(dir.path().join("absent"));
    let (trail, metrics) = trail(&s);
    let err = guard(trail.deliver(
        &running("wfe-1", "uid-1"),
        &[AuditEventType::WorkflowStarted],
    ))
    .await
    .unwrap()
    .unwrap_err();
    assert!(err.to_string().contains("absent"), "{err}");
    assert_eq!(ds.request_count(), 0);
    assert_eq!(metrics.get("datastorage", result::UNAVAILABLE), 1);
}

#[tokio::test]
async fn unreachable_server_reports_unavailable_after_the_retry_budget() {
    // A port that was just free: connections are refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let dir = tempfile::tempdir().unwrap();
    let (trail, metrics) = trail(&settings(&url, &dir));
    let both = [
        AuditEventType::WorkflowStarted,
        AuditEventType::WorkflowCompleted,
    ];
    let err = guard(trail.deliver(&completed("wfe-1", "uid-1"), &both))
        .await
        .unwrap()
        .unwrap_err();
    let AuditError::Unavailable { sink, message } = err;
    assert_eq!(sink, "datastorage");
    assert!(message.contains("after 3 attempt(s)"), "{message}");
    assert_eq!(
        metrics.get("datastorage", result::RETRIED),
        4,
        "2 events x 2 retries"
    );
    assert_eq!(metrics.get("datastorage", result::UNAVAILABLE), 2);
    assert_eq!(metrics.pending(), 0);
}

#[tokio::test]
async fn pending_gauge_counts_events_in_flight() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let ds = Arc::new(FakeDataStorage {
        gate: Some(Arc::clone(&gate)),
        ..Default::default()
    });
    let url = ds.start().await;
    let dir = tempfile::tempdir().unwrap();
    let (trail, metrics) = trail(&settings(&url, &dir));
    let wfe = completed("wfe-1", "uid-1");
    let both = [
        AuditEventType::WorkflowStarted,
        AuditEventType::WorkflowCompleted,
    ];
    let delivery = tokio::spawn({
        let trail = Arc::clone(&trail);
        async move { trail.deliver(&wfe, &both).await }
    });
    guard(async {
        while ds.request_count() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("request reaches the server");
    assert_eq!(metrics.pending(), 2);
    gate.notify_one();
    let acked = guard(delivery).await.unwrap().unwrap().unwrap();
    assert_eq!(acked, both);
    assert_eq!(metrics.pending(), 0);
}

#[tokio::test]
async fn redelivery_after_a_restart_sends_identical_events() {
    let ds = Arc::new(FakeDataStorage::default());
    let url = ds.start().await;
    let dir = tempfile::tempdir().unwrap();
    let wfe = completed("wfe-1", "uid-1");
    let started = [AuditEventType::WorkflowStarted];
    for _ in 0..2 {
        // A new trail per round stands in for a restarted controller whose status write was lost.
        let (trail, _) = trail(&settings(&url, &dir));
        guard(trail.deliver(&wfe, &started)).await.unwrap().unwrap();
    }
    let stored = ds.stored.lock().unwrap().clone();
    assert_eq!(stored.len(), 2);
    assert_eq!(
        stored[0], stored[1],
        "same event id and content, so DataStorage/auditors can recognise the retry"
    );
}

#[tokio::test]
async fn a_cancelled_delivery_does_not_leave_the_pending_gauge_high() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let ds = Arc::new(FakeDataStorage {
        gate: Some(Arc::clone(&gate)),
        ..Default::default()
    });
    let url = ds.start().await;
    let dir = tempfile::tempdir().unwrap();
    let (trail, metrics) = trail(&settings(&url, &dir));
    let delivery = tokio::spawn({
        let trail = Arc::clone(&trail);
        async move {
            trail
                .deliver(
                    &running("wfe-1", "uid-1"),
                    &[AuditEventType::WorkflowStarted],
                )
                .await
        }
    });
    guard(async {
        while ds.request_count() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("request reaches the server");
    assert_eq!(metrics.pending(), 1);
    delivery.abort();
    assert!(delivery.await.unwrap_err().is_cancelled());
    assert_eq!(metrics.pending(), 0);
    gate.notify_one();
}

#[tokio::test]
async fn concurrent_deliveries_share_requests_bounded_by_batch_size() {
    let ds = Arc::new(FakeDataStorage::default());
    let url = ds.start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(&url, &dir);
    s.batch_size = 3;
    // Far longer than the hang guard: only a full batch can trigger these sends.
    s.flush_interval = Duration::from_secs(3600);
    let (trail, _) = trail(&s);
    let both = [
        AuditEventType::WorkflowStarted,
        AuditEventType::WorkflowCompleted,
    ];
    let w1 = completed("wfe-1", "uid-1");
    let w2 = completed("wfe-2", "uid-2");
    let (a, b) =
        guard(async { tokio::join!(trail.deliver(&w1, &both), trail.deliver(&w2, &both)) })
            .await
            .expect("a full batch is sent without waiting for the interval");
    assert_eq!(a.unwrap(), both);
    assert_eq!(b.unwrap(), both);
    let sizes: Vec<usize> = ds
        .requests
        .lock()
        .unwrap()
        .iter()
        .map(|(_, e)| e.len())
        .collect();
    assert_eq!(
        sizes,
        [3, 1],
        "4 events queued together are sent as batches of at most 3"
    );
}
