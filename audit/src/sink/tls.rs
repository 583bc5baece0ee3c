//! HTTPS client for DataStorage: rustls with the ring provider only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::AuditSetupError;

/// Builds the HTTP client: trusts `ca_file` (PEM) if given, else the system roots.
pub(crate) fn client(
    ca_file: Option<&Path>,
    request_timeout: Duration,
) -> Result<reqwest::Client, AuditSetupError> {
    let roots = match ca_file {
        Some(path) => roots_from_pem(path)?,
        None => system_roots(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AuditSetupError::Tls(format!("cannot configure TLS versions: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(config)
        .timeout(request_timeout)
        .build()
        .map_err(|e| AuditSetupError::Tls(format!("cannot build the DataStorage HTTP client: {e}")))
}

fn roots_from_pem(path: &Path) -> Result<RootCertStore, AuditSetupError> {
    let field = || format!("audit.caFile {}", path.display());
    let pem = std::fs::read(path).map_err(|e| AuditSetupError::Tls(format!("{}: {e}", field())))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert =
            cert.map_err(|e| AuditSetupError::Tls(format!("{}: invalid PEM: {e}", field())))?;
        roots
            .add(cert)
            .map_err(|e| AuditSetupError::Tls(format!("{}: invalid certificate: {e}", field())))?;
    }
    if roots.is_empty() {
        return Err(AuditSetupError::Tls(format!(
            "{}: contains no CERTIFICATE block",
            field()
        )));
    }
    Ok(roots)
}

fn system_roots() -> RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "could not load some system CA certificates for the audit client");
    }
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(found.certs);
    roots
}
