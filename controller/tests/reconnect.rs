//! Recovery after an API-server outage (DESIGN §10): against a mocked API server that answers
//! 503 for a minute and then works, the controller's caches sync within the retry cap of the
//! server answering again. Time is tokio's paused clock, so nothing depends on machine speed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use http::{Request, Response};
use kube::Client;
use kube::client::Body;
use serde_json::json;
use tokio::time::Instant;
use tower_test::mock;
use wfe_api::{AuditEventType, WorkflowExecution};
use wfe_audit::{AuditError, AuditTrail};
use wfe_controller::reconnect::API_RETRY;
use wfe_controller::runner::LIST_PAGE_SIZE;
use wfe_controller::{Metrics, Settings};

/// Acknowledges everything (no WFE exists in this test).
struct NoAudit;

impl AuditTrail for NoAudit {
    fn deliver<'a>(
        &'a self,
        _wfe: &'a WorkflowExecution,
        due: &'a [AuditEventType],
    ) -> BoxFuture<'a, Result<Vec<AuditEventType>, AuditError>> {
        Box::pin(async move { Ok(due.to_vec()) })
    }
}

fn reply(code: u16, body: serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .body(Body::from(serde_json::to_vec(&body).unwrap()))
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn caches_sync_within_the_retry_cap_after_the_api_server_returns() {
    const OUTAGE: Duration = Duration::from_secs(60);
    let (service, mut handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let synced = Arc::new(AtomicBool::new(false));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let registry = prometheus::Registry::new();
    let start = Instant::now();
    let back_at = start + OUTAGE;
    let controller = tokio::spawn(wfe_controller::run(
        client,
        Settings::default(),
        Arc::new(Metrics::new(&registry).unwrap()),
        Arc::new(NoAudit),
        shutdown.clone(),
        synced.clone(),
    ));
    // 503 until `back_at`, then empty lists and quiet watches.
    let server = tokio::spawn(async move {
        let mut refused = 0usize;
        let mut attempts = Vec::new();
        let mut open_watches = Vec::new();
        while let Some((request, send)) = handle.next_request().await {
            attempts.push((
                request.uri().path().to_owned(),
                request.uri().query().unwrap_or_default().to_owned(),
                Instant::now(),
            ));
            if Instant::now() < back_at {
                refused += 1;
                send.send_response(reply(
                    503,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "ServiceUnavailable", "message": "apiserver is shutting down", "code": 503}),
                ));
            } else if request
                .uri()
                .query()
                .unwrap_or_default()
                .contains("watch=true")
            {
                open_watches.push(send);
            } else {
                send.send_response(reply(
                    200,
                    json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": []}),
                ));
            }
        }
        (refused, attempts)
    });
    // Polling on the paused clock: each sleep only advances virtual time.
    while !synced.load(Ordering::SeqCst) {
        assert!(start.elapsed() < OUTAGE * 3, "caches never synced");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let recovered_after = Instant::now().saturating_duration_since(back_at);
    assert!(
        recovered_after <= API_RETRY.max + Duration::from_millis(20),
        "synced {recovered_after:?} after the API server came back; the cap is {:?}",
        API_RETRY.max
    );
    shutdown.cancel();
    controller.await.unwrap().unwrap();
    let (refused, attempts) = server.await.unwrap();
    // Each watch kept retrying through the minute at most 2 s apart, never backing off towards
    // 30 s: that bound, not luck, is what makes recovery fast.
    for path in [
        "/apis/kubernaut.ai/v1alpha1/workflowexecutions",
        "/apis/tekton.dev/v1/namespaces/kubernaut-workflows/pipelineruns",
    ] {
        let times: Vec<Instant> = attempts
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, _, t)| *t)
            .collect();
        // Every list is paged at LIST_PAGE_SIZE: page size sets the RSS after a (re)list.
        let page = format!("limit={LIST_PAGE_SIZE}");
        let lists: Vec<&String> = attempts
            .iter()
            .filter(|(p, q, _)| p == path && !q.contains("watch=true"))
            .map(|(_, q, _)| q)
            .collect();
        assert!(!lists.is_empty(), "{path}: never listed");
        for query in lists {
            assert!(
                query.split('&').any(|kv| kv == page),
                "{path}: list without {page}: {query}"
            );
        }
        assert!(times.len() >= 30, "{path}: only {} requests", times.len());
        let longest_gap = times.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(
            longest_gap <= API_RETRY.max,
            "{path}: a retry waited {longest_gap:?}"
        );
    }
    assert!(refused >= 60, "only {refused} refused requests");
}
