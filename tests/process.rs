//! The whole process in one runtime (without the controller): readiness follows the serving
//! certificate, and shutdown turns readiness false while admission is still served, lets an
//! in-flight review finish, then closes the listeners.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use workflowexecution::config::{Config, ConfigDuration};
use workflowexecution::run::{Listeners, Parts, serve};

type ApiHandle =
    tower_test::mock::Handle<Request<kube::client::Body>, Response<kube::client::Body>>;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../shared/fixtures/admission/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

struct Process {
    webhook: SocketAddr,
    health: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), workflowexecution::run::RunError>>,
    api: ApiHandle,
    cert_dir: tempfile::TempDir,
}

async fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.unwrap()
}

async fn start(with_certs: bool, shutdown_delay: Duration) -> Process {
    start_with(with_certs, shutdown_delay, |_, _| {}).await
}

async fn start_with(
    with_certs: bool,
    shutdown_delay: Duration,
    adjust: impl FnOnce(&mut Config, &std::path::Path),
) -> Process {
    let cert_dir = tempfile::tempdir().unwrap();
    if with_certs {
        write_certs(cert_dir.path());
    }
    let mut cfg = Config::default();
    cfg.webhook.cert_dir = cert_dir.path().to_owned();
    cfg.webhook.cert_reload_interval = ConfigDuration(Duration::from_millis(100));
    cfg.webhook.shutdown_delay = ConfigDuration(shutdown_delay);
    cfg.audit.token_file = cert_dir.path().join("no-token");
    // Named, so start-up does not ask the mocked API server (SelfSubjectReview).
    cfg.controller_identity =
        "system:serviceaccount:kubernaut-system:workflowexecution-controller".into();
    adjust(&mut cfg, cert_dir.path());
    let (service, api) =
        tower_test::mock::pair::<Request<kube::client::Body>, Response<kube::client::Body>>();
    let client = kube::Client::new(service, "default");
    let listeners = Listeners {
        webhook: listener().await,
        health: listener().await,
        metrics: listener().await,
    };
    let (webhook, health) = (
        listeners.webhook.local_addr().unwrap(),
        listeners.health.local_addr().unwrap(),
    );
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(serve(
        cfg,
        client,
        listeners,
        shutdown.clone(),
        Parts { controller: false },
    ));
    Process {
        webhook,
        health,
        shutdown,
        task,
        api,
        cert_dir,
    }
}

fn write_certs(dir: &std::path::Path) {
    let certs = wfe_certs::generate(&wfe_certs::GenerateOptions {
        dns_names: vec!["localhost".into()],
        ip_addresses: vec!["127.0.0.1".parse().unwrap()],
        validity_days: 1,
    })
    .unwrap();
    certs.write_to_dir(dir).unwrap();
}

/// GET over plain HTTP; returns (status code, body), or None if the port is closed.
async fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.ok()?;
    let code = buf.split(' ').nth(1)?.parse().ok()?;
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    Some((code, body))
}

async fn wait_ready(addr: SocketAddr, want: u16) -> String {
    for _ in 0..200 {
        if let Some((code, body)) = http_get(addr, "/readyz").await
            && code == want
        {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("/readyz never returned {want}");
}

async fn tls_post(
    addr: SocketAddr,
    ca_pem: &[u8],
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Value), String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(cert.map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = Request::post(path)
        .header("content-type", "application/json")
        .header("host", "127.0.0.1")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((
        status,
        serde_json::from_slice(&bytes).map_err(|e| e.to_string())?,
    ))
}

#[tokio::test]
async fn readiness_waits_for_the_serving_certificate() {
    let p = start(false, Duration::ZERO).await;
    let body = wait_ready(p.health, 503).await;
    assert_eq!(body, "not ready: serving certificate not loaded");
    assert_eq!(
        http_get(p.health, "/healthz").await.map(|r| r.0),
        Some(200),
        "live without a certificate"
    );
    write_certs(p.cert_dir.path());
    assert_eq!(wait_ready(p.health, 200).await, "ok");
    p.shutdown.cancel();
    p.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_turns_unready_first_and_finishes_the_review_in_flight() {
    let mut p = start(true, Duration::from_millis(500)).await;
    wait_ready(p.health, 200).await;
    let ca = std::fs::read(p.cert_dir.path().join("ca.crt")).unwrap();

    // Alice's clearance review needs a SubjectAccessReview: hold the API server's answer.
    let (addr, ca2) = (p.webhook, ca.clone());
    let review = tokio::spawn(async move {
        tls_post(
            addr,
            &ca2,
            "/mutate-workflowexecution-status?timeout=5s",
            fixture("05-alice-status-clearance-request-mutate.json"),
        )
        .await
    });
    let (sar_request, respond) =
        tokio::time::timeout(Duration::from_secs(10), p.api.next_request())
            .await
            .unwrap()
            .unwrap();
    assert_eq!(
        sar_request.uri().path(),
        "/apis/authorization.k8s.io/v1/subjectaccessreviews"
    );

    p.shutdown.cancel();
    assert_eq!(wait_ready(p.health, 503).await, "not ready: shutting down");
    // Not ready, yet admission is still served while endpoints drain.
    let validate = tls_post(
        p.webhook,
        &ca,
        "/validate-workflowexecution",
        fixture("01-admin-create.json"),
    )
    .await;
    assert_eq!(
        validate.map(|(code, v)| (code, v["response"]["allowed"].clone())),
        Ok((200, json!(true)))
    );

    let sar = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {}, "status": {"allowed": true}});
    respond.send_response(
        Response::builder()
            .body(kube::client::Body::from(sar.to_string().into_bytes()))
            .unwrap(),
    );
    let (code, body) = review.await.unwrap().unwrap();
    assert_eq!(code, 200);
    assert_eq!(body["response"]["allowed"], json!(true), "{body}");
    assert!(
        body["response"]["patch"].is_string(),
        "the in-flight review completed with its patch: {body}"
    );

    tokio::time::timeout(Duration::from_secs(30), p.task)
        .await
        .expect("process stops")
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(p.webhook).await.is_err(),
        "webhook listener closed"
    );
    assert!(
        http_get(p.health, "/healthz").await.is_none(),
        "health server stopped last"
    );
}

#[tokio::test]
async fn refused_clearances_reach_the_local_audit_sink() {
    let p = start_with(true, Duration::ZERO, |cfg, dir| {
        cfg.audit.sink = workflowexecution::config::AuditSinkKind::File;
        cfg.audit.path = Some(dir.join("audit.jsonl"));
    })
    .await;
    wait_ready(p.health, 200).await;
    let ca = std::fs::read(p.cert_dir.path().join("ca.crt")).unwrap();
    // A service account that is not allow-listed: refused at the identity step, no API call.
    let (code, body) = tls_post(
        p.webhook,
        &ca,
        "/mutate-workflowexecution-status",
        fixture("07-test-sa-status-clearance-request-mutate.json"),
    )
    .await
    .unwrap();
    assert_eq!(
        (code, body["response"]["allowed"].clone()),
        (200, json!(false)),
        "{body}"
    );
    let path = p.cert_dir.path().join("audit.jsonl");
    let mut record = Value::Null;
    for _ in 0..100 {
        if let Some(line) = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_owned))
        {
            record = serde_json::from_str(&line).unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        record["record"], "workflowexecution.block.clearance_denied",
        "{record}"
    );
    assert_eq!(record["actor_id"], "system:serviceaccount:default:test-sa");
    assert_eq!(record["actor_type"], "service_account");
    p.shutdown.cancel();
    p.task.await.unwrap().unwrap();
}
