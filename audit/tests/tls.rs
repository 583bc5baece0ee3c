//! The datastorage sink over HTTPS: it trusts exactly the configured CA.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::server::FakeDataStorage;
use common::*;
use prometheus::Registry;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use wfe_api::AuditEventType;
use wfe_audit::{AuditMetrics, AuditSettings, AuditTrail, AuditTrailImpl, SinkKind};

struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::default();
    leaf.subject_alt_names = vec![SanType::IpAddress("127.0.0.1".parse().unwrap())];
    let leaf_cert = leaf.signed_by(&leaf_key, &Issuer::new(ca, ca_key)).unwrap();
    Pki {
        ca_pem: ca_cert.pem(),
        cert_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
    }
}

fn settings(url: &str, ca_file: std::path::PathBuf) -> AuditSettings {
    AuditSettings {
        sink: SinkKind::Datastorage,
        url: Some(url.to_owned()),
        ca_file: Some(ca_file),
        token_file: None,
        flush_interval: Duration::from_millis(10),
        retry_initial_backoff: Duration::from_millis(1),
        retry_max_backoff: Duration::from_millis(2),
        max_attempts: 2,
        ..AuditSettings::default()
    }
}

#[tokio::test]
async fn delivers_over_tls_to_a_server_signed_by_the_configured_ca() {
    let server_pki = pki();
    let ds = Arc::new(FakeDataStorage::default());
    let url = ds
        .start_tls(&server_pki.cert_pem, &server_pki.key_pem)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &server_pki.ca_pem).unwrap();
    let metrics = AuditMetrics::register(&Registry::new()).unwrap();
    let trail = AuditTrailImpl::new(&settings(&url, ca), metrics).unwrap();
    let acked = tokio::time::timeout(
        Duration::from_secs(60),
        trail.deliver(
            &running("wfe-1", "uid-1"),
            &[AuditEventType::WorkflowStarted],
        ),
    )
    .await
    .expect("hang guard")
    .expect("delivered over TLS");
    assert_eq!(acked, [AuditEventType::WorkflowStarted]);
    assert_eq!(ds.stored_ids().len(), 1);
}

#[tokio::test]
async fn refuses_a_server_signed_by_another_ca() {
    let server_pki = pki();
    let other = pki();
    let ds = Arc::new(FakeDataStorage::default());
    let url = ds
        .start_tls(&server_pki.cert_pem, &server_pki.key_pem)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("other-ca.pem");
    std::fs::write(&ca, &other.ca_pem).unwrap();
    let metrics = AuditMetrics::register(&Registry::new()).unwrap();
    let trail = AuditTrailImpl::new(&settings(&url, ca), metrics).unwrap();
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        trail.deliver(
            &running("wfe-1", "uid-1"),
            &[AuditEventType::WorkflowStarted],
        ),
    )
    .await
    .expect("hang guard")
    .expect_err("an untrusted server must not receive audit events");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert_eq!(ds.request_count(), 0);
}
