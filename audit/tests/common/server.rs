//! A local DataStorage stand-in: `POST /api/v1/audit/events/batch` on 127.0.0.1:0, with
//! scriptable failures. It stores a batch only when it answers 201 (all-or-nothing, like the
//! real endpoint).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::sync::Notify;

/// Predicate selecting events the server refuses.
pub type Poison = Box<dyn Fn(&Value) -> bool + Send>;

/// Behaviour and observations of the fake DataStorage.
#[derive(Default)]
pub struct FakeDataStorage {
    /// Answer 503 to this many requests first.
    pub unavailable_first: AtomicUsize,
    /// Answer 401 to this many requests first (after the 503s).
    pub unauthorized_first: AtomicUsize,
    /// Refuse (400) any batch containing an event for which this returns true.
    pub poison: Mutex<Option<Poison>>,
    /// When set, the first request waits for `gate.notify_one()` before answering.
    pub gate: Option<Arc<Notify>>,
    /// Every request: (Authorization header, events).
    pub requests: Mutex<Vec<(Option<String>, Vec<Value>)>>,
    /// Events stored (answered 201), in arrival order.
    pub stored: Mutex<Vec<Value>>,
}

impl FakeDataStorage {
    /// Starts serving; returns the base URL.
    pub async fn start(self: &Arc<Self>) -> String {
        let app = axum::Router::new()
            .route("/api/v1/audit/events/batch", post(batch))
            .with_state(Arc::clone(self));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            axum::serve(listener, app)
                .await
                .expect("fake DataStorage serves");
        });
        format!("http://{addr}")
    }

    /// Starts serving HTTPS with `cert_pem`/`key_pem`; returns the base URL.
    pub async fn start_tls(self: &Arc<Self>, cert_pem: &str, key_pem: &str) -> String {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs: Vec<_> = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("cert PEM");
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("key PEM");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server cert");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let app = axum::Router::new()
            .route("/api/v1/audit/events/batch", post(batch))
            .with_state(Arc::clone(self));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    // A client that refuses our certificate aborts the handshake; nothing to serve.
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let builder = hyper_util::server::conn::auto::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    );
                    let _ = builder
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        format!("https://{addr}")
    }

    /// Event ids stored, in arrival order.
    pub fn stored_ids(&self) -> Vec<String> {
        self.stored
            .lock()
            .unwrap()
            .iter()
            .map(|e| e["event_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Number of requests received.
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

fn problem(status: StatusCode, title: &str) -> Response {
    let body = json!({"type": "https://kubernaut.ai/problems/test", "title": title, "status": status.as_u16()});
    (
        status,
        [("content-type", "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn take_one(counter: &AtomicUsize) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

async fn batch(
    State(ds): State<Arc<FakeDataStorage>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let events = body.as_array().cloned().unwrap_or_default();
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let first = {
        let mut requests = ds.requests.lock().unwrap();
        requests.push((auth, events.clone()));
        requests.len() == 1
    };
    if first && let Some(gate) = &ds.gate {
        gate.notified().await;
    }
    if take_one(&ds.unavailable_first) {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable");
    }
    if take_one(&ds.unauthorized_first) {
        return problem(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if let Some(poison) = ds.poison.lock().unwrap().as_ref()
        && events.iter().any(poison)
    {
        return problem(StatusCode::BAD_REQUEST, "Validation Error");
    }
    let ids: Vec<Value> = events.iter().map(|e| e["event_id"].clone()).collect();
    ds.stored.lock().unwrap().extend(events);
    (
        StatusCode::CREATED,
        Json(json!({"event_ids": ids, "message": "created"})),
    )
        .into_response()
}
