//! Leader election against an in-memory Lease API: only one instance runs the controller at a
//! time, and another takes over when the holder releases the lease or stops renewing it.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Request, Response};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use workflowexecution::leader::{LeaseSettings, lease_manager, run_while_leading};

/// A Lease store with just enough API semantics for leader election: GET, create, server-side
/// apply that conflicts when another field manager owns `holderIdentity`, and strategic merge.
#[derive(Default)]
struct LeaseServer {
    lease: Option<Value>,
    holder_owner: Option<String>,
    resource_version: u64,
    /// While true every request gets 503, as from an API server that is restarting.
    down: bool,
    /// When each request arrived, and whether it was answered normally.
    calls: Vec<(tokio::time::Instant, bool)>,
}

fn status(code: u16, reason: &str, message: &str) -> Response<kube::client::Body> {
    let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code});
    Response::builder()
        .status(code)
        .body(kube::client::Body::from(body.to_string().into_bytes()))
        .unwrap()
}

fn ok(code: u16, v: &Value) -> Response<kube::client::Body> {
    Response::builder()
        .status(code)
        .body(kube::client::Body::from(v.to_string().into_bytes()))
        .unwrap()
}

fn merge_spec(lease: &mut Value, patch: &Value) {
    if let Some(fields) = patch.get("spec").and_then(Value::as_object) {
        let spec = lease["spec"].as_object_mut().unwrap();
        for (k, v) in fields {
            if v.is_null() {
                spec.remove(k)
            } else {
                spec.insert(k.clone(), v.clone())
            };
        }
    }
}

impl LeaseServer {
    fn handle(
        &mut self,
        method: &http::Method,
        path: &str,
        query: &str,
        content_type: &str,
        body: &[u8],
    ) -> Response<kube::client::Body> {
        let manager = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("fieldManager="))
            .unwrap_or("")
            .to_owned();
        match *method {
            http::Method::GET if path.ends_with("/leases/election") => match &self.lease {
                Some(l) => ok(200, l),
                None => status(404, "NotFound", "leases \"election\" not found"),
            },
            http::Method::POST => {
                if self.lease.is_some() {
                    return status(409, "AlreadyExists", "exists");
                }
                let mut l: Value = serde_json::from_slice(body).unwrap();
                self.resource_version += 1;
                l["metadata"]["namespace"] = json!("kubernaut-system");
                l["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
                l["spec"] = json!({});
                self.lease = Some(l.clone());
                ok(201, &l)
            }
            http::Method::PATCH => {
                let Some(lease) = self.lease.as_mut() else {
                    return status(404, "NotFound", "no lease");
                };
                // Apply bodies arrive as JSON (valid YAML), strategic merges as JSON.
                let patch: Value = serde_json::from_slice(body).unwrap();
                let new_holder = patch.pointer("/spec/holderIdentity");
                if content_type.contains("apply-patch") {
                    let current = lease.pointer("/spec/holderIdentity").cloned();
                    if current.is_some()
                        && self.holder_owner.as_deref() != Some(manager.as_str())
                        && current.as_ref() != new_holder
                    {
                        return status(
                            409,
                            "Conflict",
                            "Apply failed with 1 conflict: conflict with another manager: .spec.holderIdentity",
                        );
                    }
                }
                match new_holder {
                    Some(Value::Null) => self.holder_owner = None,
                    Some(_) => self.holder_owner = Some(manager),
                    None => {}
                }
                merge_spec(lease, &patch);
                self.resource_version += 1;
                lease["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
                ok(200, lease)
            }
            _ => status(405, "MethodNotAllowed", "unsupported"),
        }
    }

    fn holder(&self) -> Option<String> {
        self.lease
            .as_ref()?
            .pointer("/spec/holderIdentity")?
            .as_str()
            .map(str::to_owned)
    }
}

fn client(server: Arc<Mutex<LeaseServer>>) -> kube::Client {
    let svc = tower::service_fn(move |req: Request<kube::client::Body>| {
        let server = server.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = body
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let ct = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let mut server = server.lock().unwrap();
            let down = server.down;
            server.calls.push((tokio::time::Instant::now(), !down));
            if down {
                return Ok(status(503, "ServiceUnavailable", "apiserver is restarting"));
            }
            let res = server.handle(
                &parts.method,
                parts.uri.path(),
                parts.uri.query().unwrap_or(""),
                &ct,
                &body,
            );
            Ok::<_, Infallible>(res)
        }
    });
    kube::Client::new(svc, "default")
}

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        name: "election".into(),
        namespace: "kubernaut-system".into(),
        identity: identity.into(),
        duration: Duration::from_secs(2),
    }
}

/// Counts how many instances run the controller at once, and the most ever seen.
#[derive(Default)]
struct Occupancy {
    now: AtomicUsize,
    max: AtomicUsize,
    starts: AtomicUsize,
}

fn spawn_instance(
    server: Arc<Mutex<LeaseServer>>,
    identity: &'static str,
    occupancy: Arc<Occupancy>,
) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let handle = tokio::spawn(async move {
        let manager = lease_manager(client(server), &settings(identity))
            .await
            .unwrap();
        run_while_leading(
            manager,
            token,
            |_| {},
            move |stop: CancellationToken| {
                let occ = occupancy.clone();
                async move {
                    let n = occ.now.fetch_add(1, Ordering::SeqCst) + 1;
                    occ.max.fetch_max(n, Ordering::SeqCst);
                    occ.starts.fetch_add(1, Ordering::SeqCst);
                    stop.cancelled().await;
                    occ.now.fetch_sub(1, Ordering::SeqCst);
                    Ok(())
                }
            },
        )
        .await
        .unwrap();
    });
    (shutdown, handle)
}

async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..300 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_holder_reconciles_and_a_release_hands_over() {
    let server = Arc::new(Mutex::new(LeaseServer::default()));
    let occ = Arc::new(Occupancy::default());
    let (stop_a, task_a) = spawn_instance(server.clone(), "replica-a", occ.clone());
    wait_for("replica-a to lead", || {
        server.lock().unwrap().holder().as_deref() == Some("replica-a")
    })
    .await;
    wait_for("replica-a to start the controller", || {
        occ.now.load(Ordering::SeqCst) == 1
    })
    .await;

    let (stop_b, task_b) = spawn_instance(server.clone(), "replica-b", occ.clone());
    // Give replica-b several lease periods to (wrongly) start as well.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        server.lock().unwrap().holder().as_deref(),
        Some("replica-a"),
        "the holder keeps renewing"
    );
    assert_eq!(
        occ.max.load(Ordering::SeqCst),
        1,
        "two controllers ran at once"
    );

    // Graceful shutdown of the holder releases the lease; replica-b takes over.
    stop_a.cancel();
    task_a.await.unwrap();
    wait_for("replica-b to take over", || {
        server.lock().unwrap().holder().as_deref() == Some("replica-b")
    })
    .await;
    wait_for("replica-b's controller", || {
        occ.starts.load(Ordering::SeqCst) == 2
    })
    .await;
    assert_eq!(occ.max.load(Ordering::SeqCst), 1);

    stop_b.cancel();
    task_b.await.unwrap();
    assert_eq!(
        occ.now.load(Ordering::SeqCst),
        0,
        "controllers stop on shutdown"
    );
    assert_eq!(
        server.lock().unwrap().holder(),
        None,
        "the lease is released on shutdown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_holder_that_stops_renewing_is_replaced_after_the_lease_expires() {
    let server = Arc::new(Mutex::new(LeaseServer::default()));
    {
        // A replica that crashed while leading: it holds the lease but will never renew it.
        let mut s = server.lock().unwrap();
        let now = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
            .to_string();
        s.lease = Some(json!({
            "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": "election", "namespace": "kubernaut-system", "resourceVersion": "1"},
            "spec": {"holderIdentity": "crashed-replica", "leaseDurationSeconds": 2, "acquireTime": now, "renewTime": now}
        }));
        s.holder_owner = Some("workflowexecution-leader-crashed-replica".into());
        s.resource_version = 1;
    }
    let occ = Arc::new(Occupancy::default());
    let (stop, task) = spawn_instance(server.clone(), "replica-b", occ.clone());
    wait_for("replica-b to take over the expired lease", || {
        server.lock().unwrap().holder().as_deref() == Some("replica-b")
    })
    .await;
    wait_for("replica-b's controller", || {
        occ.now.load(Ordering::SeqCst) == 1
    })
    .await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        server.lock().unwrap().holder(),
        None,
        "released on shutdown"
    );
}

/// The longest time between two Lease calls while the API server was down, and the time from
/// its return to the first call it answered.
fn outage_gaps(
    calls: &[(tokio::time::Instant, bool)],
    down_at: tokio::time::Instant,
    up_at: tokio::time::Instant,
) -> (Duration, Duration) {
    let during: Vec<_> = calls
        .iter()
        .filter(|(t, _)| *t >= down_at && *t < up_at)
        .map(|(t, _)| *t)
        .collect();
    let longest = during
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let back = calls
        .iter()
        .find(|(t, answered)| *t >= up_at && *answered)
        .map(|(t, _)| *t - up_at)
        .expect("a Lease call after the API server returned");
    (longest, back)
}

#[tokio::test(start_paused = true)]
async fn lease_calls_keep_retrying_within_seconds_through_an_api_outage() {
    let server = Arc::new(Mutex::new(LeaseServer::default()));
    let occ = Arc::new(Occupancy::default());
    let (stop, task) = spawn_instance(server.clone(), "replica-a", occ.clone());
    wait_for("replica-a to lead", || {
        server.lock().unwrap().holder().as_deref() == Some("replica-a")
    })
    .await;
    let down_at = tokio::time::Instant::now();
    server.lock().unwrap().down = true;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let up_at = tokio::time::Instant::now();
    server.lock().unwrap().down = false;
    wait_for("a Lease call after the outage", || {
        server
            .lock()
            .unwrap()
            .calls
            .iter()
            .any(|(t, answered)| *t >= up_at && *answered)
    })
    .await;
    let (longest, back) = outage_gaps(&server.lock().unwrap().calls, down_at, up_at);
    // The library's own loop doubles to 30 s (this test then sees gaps of 20 s); ours retries
    // within API_RETRY's 2 s cap, plus the holder's wait until its renewal time (at most the
    // 1 s grace of this 2 s lease) and timer rounding (1 ms per sleep).
    let bound = wfe_controller::reconnect::API_RETRY.max + Duration::from_millis(1050);
    assert!(
        longest <= bound,
        "a retry during the outage waited {longest:?}"
    );
    assert!(
        back <= bound,
        "first answered call {back:?} after the API server returned"
    );
    stop.cancel();
    task.await.unwrap();
}
