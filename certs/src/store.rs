//! The serving certificate, reloaded from a Secret volume when its content changes.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use sha2::{Digest, Sha256};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::error::CertError;
use crate::metrics::CertMetrics;

/// Certificate chain file name (cert-manager / kubernetes.io/tls Secret key).
pub const CERT_FILE: &str = "tls.crt";
/// Private key file name.
pub const KEY_FILE: &str = "tls.key";
/// CA certificate file name written by `generate`.
pub const CA_FILE: &str = "ca.crt";

struct Loaded {
    key: Arc<CertifiedKey>,
    /// Hash of both files' bytes: a Secret volume swaps a `..data` symlink, so file and
    /// directory mtimes say nothing reliable; the content does.
    fingerprint: [u8; 32],
    not_after: i64,
}

/// Holds the current serving certificate and answers rustls' certificate lookups with it.
pub struct CertStore {
    dir: PathBuf,
    metrics: CertMetrics,
    current: RwLock<Option<Loaded>>,
}

impl fmt::Debug for CertStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertStore")
            .field("dir", &self.dir)
            .field("loaded", &self.is_loaded())
            .field("not_after", &self.not_after())
            .finish()
    }
}

impl CertStore {
    /// An empty store for `dir`; call [`CertStore::reload`] to load `tls.crt` and `tls.key`.
    pub fn new(dir: PathBuf, metrics: CertMetrics) -> Self {
        CertStore {
            dir,
            metrics,
            current: RwLock::new(None),
        }
    }

    /// Directory the certificate is read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether a certificate is loaded (handshakes fail until one is).
    pub fn is_loaded(&self) -> bool {
        self.read_current(|c| c.is_some())
    }

    /// `notAfter` of the loaded leaf certificate, as a Unix timestamp.
    pub fn not_after(&self) -> Option<i64> {
        self.read_current(|c| c.as_ref().map(|l| l.not_after))
    }

    /// The certificate currently served.
    pub fn current(&self) -> Option<Arc<CertifiedKey>> {
        self.read_current(|c| c.as_ref().map(|l| Arc::clone(&l.key)))
    }

    /// Reads the files and swaps the certificate in if their content changed. Returns whether
    /// it changed. On unreadable or invalid files the old certificate stays in use.
    pub fn reload(&self) -> Result<bool, CertError> {
        // The two files are read separately; if a Secret update lands in between, the pair does
        // not match, `from_der` rejects it, the old certificate stays and the next poll retries.
        let cert_path = self.dir.join(CERT_FILE);
        let key_path = self.dir.join(KEY_FILE);
        let cert_pem = read(&cert_path)?;
        let key_pem = read(&key_path)?;
        let fingerprint = fingerprint(&cert_pem, &key_pem);
        if self.read_current(|c| c.as_ref().is_some_and(|l| l.fingerprint == fingerprint)) {
            return Ok(false);
        }
        let chain = parse_chain(&cert_path, &cert_pem)?;
        let key = parse_key(&key_path, &key_pem)?;
        let not_after = not_after(&cert_path, &chain[0])?;
        let provider = rustls::crypto::ring::default_provider();
        let certified =
            CertifiedKey::from_der(chain, key, &provider).map_err(|source| CertError::KeyPair {
                dir: self.dir.clone(),
                source,
            })?;
        let loaded = Loaded {
            key: Arc::new(certified),
            fingerprint,
            not_after,
        };
        match self.current.write() {
            Ok(mut guard) => *guard = Some(loaded),
            Err(poisoned) => *poisoned.into_inner() = Some(loaded),
        }
        self.metrics.set_expiry(not_after);
        Ok(true)
    }

    /// Polls the directory every `interval` and reloads on change until `shutdown` fires.
    pub fn spawn_reloader(
        self: Arc<Self>,
        interval: Duration,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_error: Option<String> = None;
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                match self.reload() {
                    Ok(true) => {
                        last_error = None;
                        tracing::info!(dir = %self.dir.display(), not_after = ?self.not_after(), "serving certificate loaded");
                    }
                    Ok(false) => last_error = None,
                    Err(e) => {
                        let message = e.to_string();
                        // Log each distinct failure once, not on every poll.
                        if last_error.as_deref() != Some(message.as_str()) {
                            tracing::warn!(dir = %self.dir.display(), error = %message, loaded = self.is_loaded(),
                                "serving certificate not reloaded; keeping the previous one");
                            last_error = Some(message);
                        }
                    }
                }
            }
        })
    }

    fn read_current<T>(&self, f: impl FnOnce(&Option<Loaded>) -> T) -> T {
        match self.current.read() {
            Ok(guard) => f(&guard),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.current()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_owned(),
        source,
    })
}

fn fingerprint(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_be_bytes());
    h.update(cert);
    h.update(key);
    h.finalize().into()
}

fn parse_chain(path: &Path, pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| CertError::Pem {
            path: path.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(CertError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn parse_key(path: &Path, pem: &[u8]) -> Result<PrivateKeyDer<'static>, CertError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|source| match source {
        pem::Error::NoItemsFound => CertError::NoPrivateKey {
            path: path.to_owned(),
        },
        source => CertError::Pem {
            path: path.to_owned(),
            source,
        },
    })
}

fn not_after(path: &Path, leaf: &CertificateDer<'_>) -> Result<i64, CertError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(leaf.as_ref()).map_err(|e| CertError::X509 {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
    Ok(cert.validity().not_after.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::{GenerateOptions, generate};
    use prometheus::Registry;

    fn store(dir: &Path) -> (CertStore, CertMetrics) {
        let metrics = CertMetrics::new(&Registry::new()).expect("metrics");
        (CertStore::new(dir.to_owned(), metrics.clone()), metrics)
    }

    fn opts() -> GenerateOptions {
        GenerateOptions {
            dns_names: vec!["localhost".into()],
            ..GenerateOptions::default()
        }
    }

    #[test]
    fn starts_empty_when_files_are_missing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = store(dir.path());
        assert!(!store.is_loaded());
        assert!(matches!(store.reload(), Err(CertError::Read { .. })));
        assert!(!store.is_loaded());
        assert!(store.current().is_none());
    }

    #[test]
    fn loads_then_reports_no_change_then_swaps_on_new_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, metrics) = store(dir.path());
        let first = generate(&opts()).expect("generate");
        first.write_to_dir(dir.path()).expect("write");
        assert!(store.reload().expect("load"));
        assert!(store.is_loaded());
        assert!(metrics.expiry() > 0.0);
        assert_eq!(Some(metrics.expiry() as i64), store.not_after());
        let first_der = store.current().expect("cert").cert[0].clone();
        assert!(!store.reload().expect("unchanged"));

        let second = generate(&opts()).expect("generate");
        second.write_to_dir(dir.path()).expect("write");
        assert!(store.reload().expect("reload"));
        assert_ne!(store.current().expect("cert").cert[0], first_der);
    }

    #[test]
    fn keeps_old_certificate_when_new_files_are_invalid() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = store(dir.path());
        generate(&opts())
            .expect("generate")
            .write_to_dir(dir.path())
            .expect("write");
        store.reload().expect("load");
        let before = store.current().expect("cert").cert[0].clone();

        std::fs::write(dir.path().join(CERT_FILE), b"garbage").expect("write");
        assert!(matches!(
            store.reload(),
            Err(CertError::NoCertificate { .. })
        ));
        assert_eq!(store.current().expect("cert").cert[0], before);

        // A key from another pair must not be accepted with the old certificate.
        let other = generate(&opts()).expect("generate");
        let original = std::fs::read(dir.path().join(KEY_FILE)).expect("read");
        std::fs::write(dir.path().join(CERT_FILE), &other.cert_pem).expect("write");
        std::fs::write(dir.path().join(KEY_FILE), &original).expect("write");
        assert!(matches!(store.reload(), Err(CertError::KeyPair { .. })));
        assert_eq!(store.current().expect("cert").cert[0], before);

        std::fs::write(dir.path().join(KEY_FILE), b"").expect("write");
        assert!(matches!(
            store.reload(),
            Err(CertError::NoPrivateKey { .. })
        ));
        assert_eq!(store.current().expect("cert").cert[0], before);
    }

    #[cfg(unix)]
    #[test]
    fn follows_a_secret_volume_symlink_swap() {
        // Layout of a kubelet Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>.
        let dir = tempfile::tempdir().expect("tempdir");
        let v1 = dir.path().join("..2026_v1");
        let v2 = dir.path().join("..2026_v2");
        generate(&opts())
            .expect("generate")
            .write_to_dir(&v1)
            .expect("write");
        generate(&opts())
            .expect("generate")
            .write_to_dir(&v2)
            .expect("write");
        std::os::unix::fs::symlink("..2026_v1", dir.path().join("..data")).expect("symlink");
        for f in [CERT_FILE, KEY_FILE] {
            std::os::unix::fs::symlink(format!("..data/{f}"), dir.path().join(f)).expect("symlink");
        }
        let (store, _) = store(dir.path());
        assert!(store.reload().expect("load"));
        let before = store.current().expect("cert").cert[0].clone();
        std::os::unix::fs::symlink("..2026_v2", dir.path().join("..data_tmp")).expect("symlink");
        std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).expect("swap");
        assert!(store.reload().expect("reload"));
        assert_ne!(store.current().expect("cert").cert[0], before);
    }

    #[tokio::test(start_paused = true)]
    async fn reloader_picks_up_files_that_appear_later_and_stops_on_shutdown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (store, _) = store(dir.path());
        let store = Arc::new(store);
        let shutdown = CancellationToken::new();
        let handle = Arc::clone(&store).spawn_reloader(Duration::from_secs(5), shutdown.clone());
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(!store.is_loaded());
        generate(&opts())
            .expect("generate")
            .write_to_dir(dir.path())
            .expect("write");
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(store.is_loaded());
        shutdown.cancel();
        handle.await.expect("reloader ends");
    }
}
