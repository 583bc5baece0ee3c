//! DESIGN §10 admission targets, measured (not asserted): in-process decision latency p50/p99,
//! and keep-alive HTTPS throughput of the webhook against a bare TLS server answering a fixed body.
//!
//! Run with `cargo bench -p wfe-webhook`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::post;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio_util::sync::CancellationToken;
use wfe_certs::{CertMetrics, CertStore, GenerateOptions};
use wfe_webhook::clearance::decide_clearance;
use wfe_webhook::ownership::review_status_ownership;
use wfe_webhook::review::{parse_review, to_review};
use wfe_webhook::spec_review::review_spec;
use wfe_webhook::{AppState, Authorization, AuthorizationRequest, Authorizer, Metrics, Settings};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../shared/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    (at(0.50), at(0.99))
}

fn measure(name: &str, iterations: usize, mut f: impl FnMut()) {
    for _ in 0..iterations / 10 {
        f();
    }
    let samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    let (p50, p99) = percentiles(samples);
    let verdict = if p99 < Duration::from_millis(1) {
        "meets"
    } else {
        "MISSES"
    };
    println!("{name:<48} p50 {p50:>10.2?}  p99 {p99:>10.2?}  ({verdict} p99 < 1 ms)");
}

fn decisions() {
    let settings = Settings::default();
    let now: jiff::Timestamp = "2026-11-22T02:12:00Z".parse().expect("ts");
    let create = fixture("01-admin-create.json");
    let clearance = fixture("05-alice-status-clearance-request-mutate.json");
    let ownership = fixture("11-alice-status-jsonpatch-phase-running-validate-status.json");
    let allowed = Authorization::Allowed { reason: None };
    measure("parse + spec review + encode (01 create)", 20_000, || {
        let req = parse_review(&create).expect("parse");
        let body =
            serde_json::to_vec(&to_review(&req.uid, review_spec(&req, &settings))).expect("encode");
        std::hint::black_box(body);
    });
    measure("parse + clearance + encode (05 alice)", 20_000, || {
        let req = parse_review(&clearance).expect("parse");
        let outcome = decide_clearance(&req, &settings, Some(&allowed), now);
        std::hint::black_box(outcome);
    });
    measure("parse + ownership + encode (11 phase)", 20_000, || {
        let req = parse_review(&ownership).expect("parse");
        let body = serde_json::to_vec(&to_review(
            &req.uid,
            review_status_ownership(&req, &settings),
        ))
        .expect("encode");
        std::hint::black_box(body);
    });
}

struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize<'a>(&'a self, _: &'a AuthorizationRequest) -> BoxFuture<'a, Authorization> {
        Box::pin(async { Authorization::Allowed { reason: None } })
    }
}

async fn serve(
    router: Router,
    certs: Arc<CertStore>,
    shutdown: CancellationToken,
) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(wfe_webhook::serve_tls(listener, router, certs, shutdown));
    addr
}

async fn throughput(
    addr: std::net::SocketAddr,
    ca_pem: &str,
    path: &str,
    body: &[u8],
    requests: usize,
) -> f64 {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("pem")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("handshake");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http");
    tokio::spawn(conn);
    let body = Bytes::copy_from_slice(body);
    let start = Instant::now();
    for _ in 0..requests {
        let request = hyper::Request::post(path)
            .header("host", "localhost")
            .body(Full::new(body.clone()))
            .expect("request");
        sender.ready().await.expect("connection ready");
        let response = sender.send_request(request).await.expect("response");
        std::hint::black_box(response.into_body().collect().await.expect("body"));
    }
    requests as f64 / start.elapsed().as_secs_f64()
}

fn tls_throughput() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let generated = wfe_certs::generate(&GenerateOptions { dns_names: vec!["localhost".into()], ip_addresses: vec![], validity_days: 1 })
            .expect("certs");
        generated.write_to_dir(dir.path()).expect("write");
        let registry = prometheus::Registry::new();
        let certs = Arc::new(CertStore::new(dir.path().to_owned(), CertMetrics::new(&registry).expect("metrics")));
        certs.reload().expect("load");
        let shutdown = CancellationToken::new();

        let state = AppState::new(Settings::default(), Arc::new(AllowAll), Metrics::new(&registry).expect("metrics"));
        let webhook = serve(wfe_webhook::router(state), certs.clone(), shutdown.clone()).await;
        let fixed: &'static [u8] = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"x","allowed":true}}"#;
        let bare = serve(Router::new().route("/", post(move |body: axum::body::Bytes| async move {
            std::hint::black_box(body);
            fixed
        })), certs, shutdown.clone()).await;

        let body = fixture("05-alice-status-clearance-request-mutate.json");
        let requests = 3_000;
        let bare_rps = throughput(bare, &generated.ca_cert_pem, "/", &body, requests).await;
        let webhook_rps = throughput(webhook, &generated.ca_cert_pem, "/mutate-workflowexecution-status?timeout=5s", &body, requests).await;
        let ratio = bare_rps / webhook_rps;
        let verdict = if ratio <= 2.0 { "meets" } else { "MISSES" };
        println!("TLS keep-alive, 05 clearance body: webhook {webhook_rps:.0} req/s, bare {bare_rps:.0} req/s, bare/webhook {ratio:.2} ({verdict} ≤ 2×)");
        shutdown.cancel();
    });
}

fn main() {
    // `cargo test --benches` passes `--test`-style flags; only measure under `cargo bench`.
    if std::env::args().any(|a| a == "--bench") {
        decisions();
        tls_throughput();
    }
}
