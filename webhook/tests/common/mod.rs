//! A real webhook server on a loopback port and an HTTPS client for it.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use prometheus::Registry;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;
use wfe_certs::{CertMetrics, CertStore, GenerateOptions, GeneratedCerts};
use wfe_webhook::{
    AppState, Authorization, AuthorizationRequest, Authorizer, ClearanceDenial, DenialSink,
    FixedClock, Metrics, Settings,
};

pub const NOW: &str = "2026-11-22T02:12:00.654321Z";

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../shared/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

pub fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).expect("fixture JSON")
}

/// Allows the listed users, denies everyone else, counts calls.
#[derive(Default)]
pub struct MockAuthorizer {
    pub allowed: BTreeSet<String>,
    pub calls: AtomicUsize,
    /// If set, every call waits for this before answering.
    pub gate: Option<Arc<tokio::sync::Notify>>,
}

impl Authorizer for MockAuthorizer {
    fn authorize<'a>(
        &'a self,
        request: &'a AuthorizationRequest<'_>,
    ) -> BoxFuture<'a, Authorization> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = &self.gate {
                gate.notified().await;
            }
            if self.allowed.contains(&request.user.username) {
                Authorization::Allowed {
                    reason: Some("mock".into()),
                }
            } else {
                Authorization::Denied { reason: None }
            }
        })
    }
}

#[derive(Default)]
pub struct RecordingSink(pub Mutex<Vec<ClearanceDenial>>);

impl DenialSink for RecordingSink {
    fn record(&self, denial: &ClearanceDenial) {
        self.0.lock().expect("sink lock").push(denial.clone());
    }
}

impl RecordingSink {
    pub fn len(&self) -> usize {
        self.0.lock().expect("sink lock").len()
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    pub cert_dir: tempfile::TempDir,
    pub certs: Arc<CertStore>,
    pub ca_pems: Vec<String>,
    pub authorizer: Arc<MockAuthorizer>,
    pub sink: Arc<RecordingSink>,
    pub metrics: Metrics,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<Result<(), wfe_webhook::ServeError>>,
}

pub fn local_certs() -> GeneratedCerts {
    wfe_certs::generate(&GenerateOptions {
        dns_names: vec!["localhost".into()],
        ip_addresses: vec!["127.0.0.1".parse().expect("ip")],
        validity_days: 2,
    })
    .expect("generate certificates")
}

pub async fn start() -> TestServer {
    start_with(MockAuthorizer {
        allowed: BTreeSet::from(["alice".to_owned()]),
        ..Default::default()
    })
    .await
}

pub async fn start_with(authorizer: MockAuthorizer) -> TestServer {
    start_with_options(authorizer, wfe_webhook::ServeOptions::default()).await
}

pub async fn start_with_options(
    authorizer: MockAuthorizer,
    options: wfe_webhook::ServeOptions,
) -> TestServer {
    let cert_dir = tempfile::tempdir().expect("tempdir");
    let generated = local_certs();
    generated
        .write_to_dir(cert_dir.path())
        .expect("write certificates");
    let registry = Registry::new();
    let certs = Arc::new(CertStore::new(
        cert_dir.path().to_owned(),
        CertMetrics::new(&registry).expect("cert metrics"),
    ));
    assert!(certs.reload().expect("load certificate"));
    let authorizer = Arc::new(authorizer);
    let sink = Arc::new(RecordingSink::default());
    let metrics = Metrics::new(&registry).expect("metrics");
    let state = AppState::new(Settings::default(), authorizer.clone(), metrics.clone())
        .with_clock(Arc::new(FixedClock(NOW.parse().expect("ts"))))
        .with_denial_sink(sink.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    let router = wfe_webhook::router(state);
    let task = if options == wfe_webhook::ServeOptions::default() {
        // The entry point the binary uses.
        tokio::spawn(wfe_webhook::serve_tls(
            listener,
            router,
            certs.clone(),
            shutdown.clone(),
        ))
    } else {
        tokio::spawn(wfe_webhook::serve_tls_with(
            listener,
            router,
            certs.clone(),
            options,
            shutdown.clone(),
        ))
    };
    TestServer {
        addr,
        cert_dir,
        certs,
        ca_pems: vec![generated.ca_cert_pem],
        authorizer,
        sink,
        metrics,
        shutdown,
        task,
    }
}

pub struct Client {
    pub sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    pub peer_leaf: CertificateDer<'static>,
}

pub fn client_config(ca_pems: &[String]) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    for pem in ca_pems {
        for cert in pem_certs(pem) {
            roots.add(cert).expect("add CA");
        }
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn pem_certs(pem: &str) -> Vec<CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("PEM")
}

pub async fn connect(addr: SocketAddr, ca_pems: &[String]) -> Client {
    let connector = TlsConnector::from(Arc::new(client_config(ca_pems)));
    let tcp = TcpStream::connect(addr).await.expect("tcp connect");
    let tls = connector
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake");
    let peer_leaf = tls
        .get_ref()
        .1
        .peer_certificates()
        .expect("peer certificates")[0]
        .clone()
        .into_owned();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    Client { sender, peer_leaf }
}

impl Client {
    /// POSTs `body` to `path?timeout=5s` like the API server does.
    pub async fn post(&mut self, path: &str, body: impl Into<Bytes>) -> (u16, Value) {
        let request = hyper::Request::post(format!("{path}?timeout=5s"))
            .header("host", "localhost")
            .header("content-type", "application/json")
            .header("user-agent", "kube-apiserver-admission")
            .body(Full::new(body.into()))
            .expect("request");
        // The previous exchange may still be finishing; sending before the connection is idle fails.
        tokio::time::timeout(Duration::from_secs(30), self.sender.ready())
            .await
            .expect("hang guard")
            .expect("connection ready");
        let response =
            tokio::time::timeout(Duration::from_secs(30), self.sender.send_request(request))
                .await
                .expect("hang guard")
                .expect("response");
        status_and_json(response).await
    }
}

/// The status of `response` and its body as JSON (as a JSON string if it is not JSON).
pub async fn status_and_json<B>(response: http::Response<B>) -> (u16, Value)
where
    B: hyper::body::Body,
    B::Error: std::fmt::Debug,
{
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, json)
}

impl TestServer {
    pub async fn client(&self) -> Client {
        connect(self.addr, &self.ca_pems).await
    }

    pub fn cert_dir(&self) -> &Path {
        self.cert_dir.path()
    }
}

/// The decoded JSON patch of a response, or None.
pub fn patch_of(review: &Value) -> Option<Value> {
    use base64::Engine;
    let b64 = review["response"]["patch"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64 patch");
    Some(serde_json::from_slice(&bytes).expect("patch JSON"))
}

pub fn message_of(review: &Value) -> String {
    review["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}
