//! Errors of loading, parsing and generating certificates.

use std::io;
use std::path::PathBuf;

/// Why a certificate could not be loaded, generated or written.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A certificate or key file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// File that failed.
        path: PathBuf,
        /// Underlying I/O error.
        source: io::Error,
    },
    /// A file is not valid PEM.
    #[error("{path} is not valid PEM: {source}")]
    Pem {
        /// File that failed.
        path: PathBuf,
        /// Underlying parse error.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no `CERTIFICATE` block.
    #[error("{path} holds no PEM CERTIFICATE block")]
    NoCertificate {
        /// File that failed.
        path: PathBuf,
    },
    /// The key file holds no private key block.
    #[error("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")]
    NoPrivateKey {
        /// File that failed.
        path: PathBuf,
    },
    /// The leaf certificate is not parseable X.509.
    #[error("{path}: leaf certificate is not valid X.509: {message}")]
    X509 {
        /// File that failed.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// The key is unsupported or does not belong to the certificate.
    #[error("certificate and key in {dir} are not a usable pair: {source}")]
    KeyPair {
        /// Directory holding the pair.
        dir: PathBuf,
        /// rustls' reason.
        source: rustls::Error,
    },
    /// rustls rejected the server configuration.
    #[error("cannot build the TLS server configuration: {0}")]
    Config(#[source] rustls::Error),
    /// Certificate generation failed.
    #[error("cannot generate certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A generation option is unusable.
    #[error("invalid certificate option: {0}")]
    InvalidOption(String),
    /// A generated file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// File that failed.
        path: PathBuf,
        /// Underlying I/O error.
        source: io::Error,
    },
}
