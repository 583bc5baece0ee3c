//! The rustls server configuration shared by the webhook and the HTTPS metrics endpoint.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls::version::{TLS12, TLS13};

use crate::error::CertError;
use crate::store::CertStore;

/// TLS 1.2 and 1.3 only, ring provider, ALPN `h2` and `http/1.1`, certificate from `store`.
pub fn server_config(store: Arc<CertStore>) -> Result<ServerConfig, CertError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&TLS13, &TLS12])
        .map_err(CertError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(store);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
