//! TLS for the WorkflowExecution service: the serving certificate store with hot reload, the
//! rustls server configuration, the expiry metric and self-signed certificates for dev clusters.

mod error;
mod generate;
mod metrics;
pub mod serve;
mod store;
mod tls;

pub use error::CertError;
pub use generate::{GenerateOptions, GeneratedCerts, generate, generate_at};
pub use metrics::CertMetrics;
pub use store::{CA_FILE, CERT_FILE, CertStore, KEY_FILE};
pub use tls::server_config;
