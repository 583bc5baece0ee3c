//! Certificate rotation, malformed bodies and graceful shutdown against the real TLS server.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{
    MockAuthorizer, connect, fixture, fixture_json, local_certs, message_of, start, start_with,
};
use serde_json::json;

const MUTATE: &str = "/mutate-workflowexecution-status";
const VALIDATE: &str = "/validate-workflowexecution";

#[tokio::test]
async fn rotated_certificate_is_served_to_new_connections_without_restart() {
    let mut server = start().await;
    let mut old_client = server.client().await;
    let first_leaf = old_client.peer_leaf.clone();

    let rotated = local_certs();
    rotated
        .write_to_dir(server.cert_dir())
        .expect("rewrite certificate files");
    server.ca_pems.push(rotated.ca_cert_pem.clone());
    let reloader = Arc::clone(&server.certs)
        .spawn_reloader(Duration::from_millis(20), server.shutdown.clone());

    // Hang guard only: the reloader polls every 20 ms.
    let new_leaf = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let client = server.client().await;
            if client.peer_leaf != first_leaf {
                return client.peer_leaf;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("new certificate served within the hang guard");
    let expected: Vec<_> = {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        CertificateDer::pem_slice_iter(rotated.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("pem")
    };
    assert_eq!(new_leaf, expected[0]);

    // A client trusting only the new CA now connects; the connection opened before still works.
    let mut only_new = connect(server.addr, &[rotated.ca_cert_pem]).await;
    let (status, _) = only_new
        .post(VALIDATE, fixture("01-admin-create.json"))
        .await;
    assert_eq!(status, 200);
    let (status, review) = old_client
        .post(VALIDATE, fixture("01-admin-create.json"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(review["response"]["allowed"], true);
    server.shutdown.cancel();
    reloader.await.expect("reloader stops");
}

#[tokio::test]
async fn invalid_new_files_keep_the_old_certificate_in_service() {
    let server = start().await;
    let before = server.client().await.peer_leaf;
    std::fs::write(
        server.cert_dir().join("tls.crt"),
        b"-----BEGIN CERTIFICATE-----\nnot base64\n",
    )
    .expect("write");
    assert!(server.certs.reload().is_err());
    assert_eq!(server.client().await.peer_leaf, before);
}

#[tokio::test]
async fn malformed_bodies_get_clean_admission_review_errors() {
    let server = start().await;
    let mut client = server.client().await;
    let cases: Vec<(&str, Vec<u8>, u16, &str, &str)> = vec![
        ("empty", Vec::new(), 400, "", "request body is empty"),
        ("not json", b"<xml/>".to_vec(), 400, "", "request body is not JSON"),
        ("wrong kind", br#"{"kind":"Pod","apiVersion":"v1","request":{"uid":"u-1"}}"#.to_vec(), 400, "u-1", "expected kind AdmissionReview"),
        ("missing request", br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1"}"#.to_vec(), 400, "", "has no request"),
        (
            "broken request with readable uid",
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u-2","operation":7}}"#.to_vec(),
            400,
            "u-2",
            "AdmissionReview request.",
        ),
        (
            "truncated after a readable uid",
            br#"{"kind":"AdmissionReview","apiVersion":"admission.k8s.io/v1","request":{"uid":"u-3","operation":"UPD"#.to_vec(),
            400,
            "u-3",
            "request body is not JSON",
        ),
        ("huge", vec![b' '; wfe_webhook::Settings::default().max_body_bytes + 1], 413, "", "larger than 6291456 bytes"),
    ];
    for (what, body, code, uid, needle) in cases {
        let (status, review) = client.post(MUTATE, body).await;
        assert_eq!(status, code, "{what}: {review}");
        assert_eq!(review["kind"], "AdmissionReview", "{what}");
        assert_eq!(review["response"]["allowed"], false, "{what}");
        assert_eq!(review["response"]["uid"], json!(uid), "{what}");
        assert_eq!(review["response"]["status"]["code"], json!(code), "{what}");
        assert!(
            message_of(&review).contains(needle),
            "{what}: {}",
            message_of(&review)
        );
    }

    // The server answered the oversized body without reading it all, so that connection is closed.
    let mut client = server.client().await;
    // A well-formed review of another kind: answered (uid echoed) and denied.
    let mut deployment = fixture_json("01-admin-create.json");
    deployment["request"]["kind"] = json!({"group": "apps", "version": "v1", "kind": "Deployment"});
    let (status, review) = client
        .post(VALIDATE, serde_json::to_vec(&deployment).expect("json"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(review["response"]["uid"], deployment["request"]["uid"]);
    assert_eq!(review["response"]["allowed"], false);
    assert!(
        message_of(&review)
            .contains("only reviews kubernaut.ai WorkflowExecutions, got apps/v1 Deployment")
    );

    assert_eq!(
        server.metrics.requests("mutate-status", "UNKNOWN", false),
        7
    );
}

#[tokio::test]
async fn shutdown_stops_accepting_and_finishes_in_flight_reviews() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let server = start_with(MockAuthorizer {
        allowed: BTreeSet::from(["alice".to_owned()]),
        gate: Some(gate.clone()),
        ..Default::default()
    })
    .await;
    let mut client = server.client().await;
    let in_flight = tokio::spawn(async move {
        client
            .post(
                MUTATE,
                fixture("05-alice-status-clearance-request-mutate.json"),
            )
            .await
    });
    // Wait until the review is inside the authorizer.
    tokio::time::timeout(Duration::from_secs(30), async {
        while server.authorizer.calls.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("hang guard");

    server.shutdown.cancel();
    // The listener closes: new connections are refused.
    tokio::time::timeout(Duration::from_secs(30), async {
        while tokio::net::TcpStream::connect(server.addr).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("listener closed within the hang guard");
    assert!(
        !server.task.is_finished(),
        "the server waits for the in-flight review"
    );

    gate.notify_one();
    let (status, review) = tokio::time::timeout(Duration::from_secs(30), in_flight)
        .await
        .expect("hang guard")
        .expect("task");
    assert_eq!(status, 200);
    assert_eq!(review["response"]["allowed"], true);
    tokio::time::timeout(Duration::from_secs(30), server.task)
        .await
        .expect("hang guard")
        .expect("join")
        .expect("serve result");
}

type H2Sender = hyper::client::conn::http2::SendRequest<
    http_body_util::StreamBody<
        futures::stream::BoxStream<
            'static,
            Result<hyper::body::Frame<hyper::body::Bytes>, std::convert::Infallible>,
        >,
    >,
>;

/// An HTTP/2 connection (ALPN h2, as curl and Go clients negotiate) to the test server.
async fn h2_client(server: &common::TestServer) -> H2Sender {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let mut config = common::client_config(&server.ca_pems);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .expect("handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .expect("h2");
    tokio::spawn(connection);
    sender
}

/// POSTs `chunks` as one streamed body (with a content-length when `declare_length`) and
/// returns the status and the JSON body of the answer, and a count of the chunks the client
/// got to send (it stops when the server resets the stream).
async fn h2_post(
    sender: &mut H2Sender,
    path: &str,
    chunks: Vec<Vec<u8>>,
    declare_length: bool,
) -> (u16, serde_json::Value, Arc<AtomicUsize>) {
    use futures::StreamExt;
    use http_body_util::BodyExt;
    let length: usize = chunks.iter().map(Vec::len).sum();
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = sent.clone();
    let frames = futures::stream::iter(chunks)
        .map(move |c| {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(hyper::body::Frame::data(hyper::body::Bytes::from(c)))
        })
        .boxed();
    let mut request = hyper::Request::post(format!("https://localhost{path}?timeout=5s"));
    if declare_length {
        request = request.header(http::header::CONTENT_LENGTH, length);
    }
    let request = request
        .body(http_body_util::StreamBody::new(frames))
        .expect("request");
    let response = tokio::time::timeout(Duration::from_secs(30), sender.send_request(request))
        .await
        .expect("hang guard")
        .expect("an HTTP answer, not a reset stream");
    let status = response.status().as_u16();
    let body = tokio::time::timeout(Duration::from_secs(30), response.into_body().collect())
        .await
        .expect("hang guard")
        .expect("the whole answer body")
        .to_bytes();
    (status, serde_json::from_slice(&body).expect("json"), sent)
}

#[tokio::test]
async fn http2_is_negotiated_and_served() {
    let server = start().await;
    let mut sender = h2_client(&server).await;
    let fixture = fixture("05-alice-status-clearance-request-mutate.json");
    let (status, body, _) = h2_post(&mut sender, MUTATE, vec![fixture], true).await;
    assert_eq!(status, 200);
    assert_eq!(body["response"]["allowed"], true);
    assert_eq!(body["response"]["patchType"], "JSONPatch");
}

#[tokio::test]
async fn a_body_sent_in_several_frames_is_reviewed_like_one_sent_whole() {
    let server = start().await;
    let mut sender = h2_client(&server).await;
    let fixture = fixture("05-alice-status-clearance-request-mutate.json");
    let (_, whole, _) = h2_post(&mut sender, MUTATE, vec![fixture.clone()], true).await;
    let chunks: Vec<Vec<u8>> = fixture
        .chunks(fixture.len() / 3 + 1)
        .map(<[u8]>::to_vec)
        .collect();
    assert_eq!(chunks.len(), 3);
    for declare_length in [true, false] {
        let (status, split, sent) =
            h2_post(&mut sender, MUTATE, chunks.clone(), declare_length).await;
        assert_eq!((status, sent.load(Ordering::SeqCst)), (200, 3));
        assert_eq!(split["response"]["allowed"], true);
        assert_eq!(split["response"]["patch"], whole["response"]["patch"]);
    }
}

#[tokio::test]
async fn http2_oversized_and_malformed_bodies_get_http_answers_like_http1() {
    let server = start().await;
    let limit = wfe_webhook::Settings::default().max_body_bytes;
    // 20 MB in 1 MB chunks, declared up front or only discovered while streaming.
    let huge = || vec![vec![b' '; 1 << 20]; 20];
    for path in [VALIDATE, MUTATE, "/validate-workflowexecution-status"] {
        for declare_length in [true, false] {
            let mut sender = h2_client(&server).await;
            let (status, review, sent) = h2_post(&mut sender, path, huge(), declare_length).await;
            assert_eq!(status, 413, "{path} declared={declare_length}: {review}");
            assert_eq!(review["response"]["status"]["code"], 413);
            assert!(message_of(&review).contains(&format!("larger than {limit} bytes")));
            // The server reads the rest instead of resetting the stream (curl reports a reset
            // as a failed request even after a 413); the whole upload goes through.
            tokio::time::timeout(Duration::from_secs(30), async {
                while sent.load(Ordering::SeqCst) < 20 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "{path} declared={declare_length}: upload stopped after {} of 20 chunks: the stream was reset",
                    sent.load(Ordering::SeqCst)
                )
            });
        }
    }
    let mut sender = h2_client(&server).await;
    let (status, review, _) = h2_post(&mut sender, MUTATE, vec![b"<xml/>".to_vec()], true).await;
    assert_eq!(status, 400, "{review}");
    assert!(message_of(&review).contains("request body is not JSON"));
    // The connection is still usable after the refusals.
    let fixture = fixture("05-alice-status-clearance-request-mutate.json");
    let (status, _, _) = h2_post(&mut sender, MUTATE, vec![fixture], true).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn silent_clients_are_disconnected_by_the_handshake_and_header_timeouts() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let options = wfe_webhook::ServeOptions {
        handshake_timeout: Duration::from_millis(200),
        header_read_timeout: Duration::from_millis(200),
        ..wfe_webhook::ServeOptions::default()
    };
    let server = common::start_with_options(MockAuthorizer::default(), options).await;

    // TCP connection that never starts TLS: closed by the server.
    let mut silent = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buf))
        .await
        .expect("closed within the hang guard");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // TLS connection that sends half a request header: closed by the server.
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tcp = tokio::net::TcpStream::connect(server.addr)
        .await
        .expect("connect");
    let mut tls =
        tokio_rustls::TlsConnector::from(Arc::new(common::client_config(&server.ca_pems)))
            .connect(name, tcp)
            .await
            .expect("handshake");
    tls.write_all(b"POST /validate-workflowexecution HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("write");
    let mut response = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), tls.read_to_end(&mut response))
        .await
        .expect("closed within the hang guard");
    // hyper may answer 408 before closing; either way no review is processed and the socket ends.
    assert!(read.is_ok() || response.is_empty(), "{read:?}");
    assert!(
        response.is_empty() || response.starts_with(b"HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&response)
    );
}

#[tokio::test]
async fn handshakes_fail_until_a_certificate_is_loaded() {
    let dir = tempfile::tempdir().expect("tempdir");
    let registry = prometheus::Registry::new();
    let certs = Arc::new(wfe_certs::CertStore::new(
        dir.path().to_owned(),
        wfe_certs::CertMetrics::new(&registry).expect("metrics"),
    ));
    assert!(!certs.is_loaded());
    let state = wfe_webhook::AppState::new(
        wfe_webhook::Settings::default(),
        Arc::new(MockAuthorizer::default()),
        wfe_webhook::Metrics::new(&registry).expect("metrics"),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(wfe_webhook::serve_tls(
        listener,
        wfe_webhook::router(state),
        certs.clone(),
        shutdown.clone(),
    ));

    let generated = local_certs();
    let config = Arc::new(common::client_config(std::slice::from_ref(
        &generated.ca_cert_pem,
    )));
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let handshake = tokio_rustls::TlsConnector::from(config.clone())
        .connect(name.clone(), tcp)
        .await;
    assert!(handshake.is_err(), "no certificate yet, so no handshake");

    generated.write_to_dir(dir.path()).expect("write");
    assert!(certs.reload().expect("load"));
    let mut client = connect(addr, std::slice::from_ref(&generated.ca_cert_pem)).await;
    let (status, _) = client.post(VALIDATE, fixture("01-admin-create.json")).await;
    assert_eq!(status, 200);
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("hang guard")
        .expect("join")
        .expect("serve");
}
