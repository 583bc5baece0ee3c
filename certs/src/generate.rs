//! Self-signed CA and serving certificate for kind clusters and local API servers.

use std::io::Write;
use std::net::IpAddr;
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

use crate::error::CertError;
use crate::store::{CA_FILE, CERT_FILE, KEY_FILE};

/// What to put in the generated serving certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    /// DNS subject alternative names (e.g. the webhook Service's `svc` names).
    pub dns_names: Vec<String>,
    /// IP subject alternative names (e.g. `127.0.0.1` for an API server on the same host).
    pub ip_addresses: Vec<IpAddr>,
    /// Validity of both certificates, in days from now.
    pub validity_days: u32,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            dns_names: vec![
                "workflowexecution-webhook.kubernaut-system.svc".to_owned(),
                "workflowexecution-webhook.kubernaut-system.svc.cluster.local".to_owned(),
            ],
            ip_addresses: Vec::new(),
            validity_days: 365,
        }
    }
}

/// A CA certificate and a serving certificate and key it signed, all PEM.
#[derive(Clone)]
pub struct GeneratedCerts {
    /// The CA certificate (for `caBundle`).
    pub ca_cert_pem: String,
    /// The serving certificate.
    pub cert_pem: String,
    /// The serving certificate's private key (PKCS#8).
    pub key_pem: String,
}

impl std::fmt::Debug for GeneratedCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedCerts")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl GeneratedCerts {
    /// Writes `ca.crt`, `tls.crt` and `tls.key` (mode 0600) into `dir`, creating it. Each file is
    /// written to a temporary name and renamed, so a reader never sees half a file.
    pub fn write_to_dir(&self, dir: &Path) -> Result<(), CertError> {
        std::fs::create_dir_all(dir).map_err(|source| CertError::Write {
            path: dir.to_owned(),
            source,
        })?;
        write_atomically(&dir.join(CA_FILE), self.ca_cert_pem.as_bytes(), 0o644)?;
        // Key before certificate: a reloader that sees the new certificate then also sees its key.
        write_atomically(&dir.join(KEY_FILE), self.key_pem.as_bytes(), 0o600)?;
        write_atomically(&dir.join(CERT_FILE), self.cert_pem.as_bytes(), 0o644)?;
        Ok(())
    }
}

/// Generates a CA and a serving certificate valid from now.
pub fn generate(opts: &GenerateOptions) -> Result<GeneratedCerts, CertError> {
    generate_at(opts, jiff::Timestamp::now())
}

/// Generates a CA and a serving certificate valid from `now` for `opts.validity_days` days.
pub fn generate_at(
    opts: &GenerateOptions,
    now: jiff::Timestamp,
) -> Result<GeneratedCerts, CertError> {
    if opts.dns_names.is_empty() && opts.ip_addresses.is_empty() {
        return Err(CertError::InvalidOption(
            "at least one DNS name or IP address is required".into(),
        ));
    }
    if opts.validity_days == 0 {
        return Err(CertError::InvalidOption(
            "validity must be at least one day".into(),
        ));
    }
    // Backdate a little so a client with a slightly slow clock accepts a fresh certificate.
    let not_before = to_offset(now.as_second() - 300)?;
    let not_after = to_offset(now.as_second() + i64::from(opts.validity_days) * 86_400)?;

    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = name("workflowexecution-webhook-ca");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = not_before;
    ca.not_after = not_after;
    let ca_cert = ca.self_signed(&ca_key)?;

    let mut sans = Vec::new();
    for dns in &opts.dns_names {
        let ia5 = dns
            .clone()
            .try_into()
            .map_err(|_| CertError::InvalidOption(format!("{dns:?} is not a valid DNS name")))?;
        sans.push(SanType::DnsName(ia5));
    }
    sans.extend(opts.ip_addresses.iter().copied().map(SanType::IpAddress));
    let common_name = opts
        .dns_names
        .first()
        .cloned()
        .or_else(|| opts.ip_addresses.first().map(|ip| ip.to_string()))
        .unwrap_or_default();

    let leaf_key = KeyPair::generate()?;
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = name(&common_name);
    leaf.subject_alt_names = sans;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = not_before;
    leaf.not_after = not_after;
    let issuer = Issuer::new(ca, ca_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

    Ok(GeneratedCerts {
        ca_cert_pem: ca_cert.pem(),
        cert_pem: leaf_cert.pem(),
        key_pem: leaf_key.serialize_pem(),
    })
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn to_offset(unix: i64) -> Result<OffsetDateTime, CertError> {
    OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| CertError::InvalidOption(format!("validity out of range: {e}")))
}

fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    let tmp = path.with_extension("tmp");
    let err = |source| CertError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(&tmp).map_err(err)?;
    #[cfg(unix)]
    {
        // `mode` applies only to new files; a leftover temporary file keeps its old mode.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(err)?;
    }
    file.write_all(bytes).map_err(err)?;
    file.sync_all().map_err(err)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::GeneralName;

    #[test]
    fn serving_certificate_has_requested_names_validity_and_ca_issuer() {
        let opts = GenerateOptions {
            dns_names: vec!["workflowexecution-webhook.kubernaut-system.svc".into()],
            ip_addresses: vec!["127.0.0.1".parse().expect("ip")],
            validity_days: 30,
        };
        let now = jiff::Timestamp::from_second(1_800_000_000).expect("ts");
        let g = generate_at(&opts, now).expect("generate");
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let leaf_der = CertificateDer::from_pem_slice(g.cert_pem.as_bytes()).expect("pem");
        let ca_der = CertificateDer::from_pem_slice(g.ca_cert_pem.as_bytes()).expect("pem");
        let (_, leaf) = x509_parser::parse_x509_certificate(&leaf_der).expect("x509");
        let (_, ca) = x509_parser::parse_x509_certificate(&ca_der).expect("x509");
        assert_eq!(
            leaf.validity().not_after.timestamp(),
            1_800_000_000 + 30 * 86_400
        );
        assert!(ca.is_ca());
        assert!(!leaf.is_ca());
        assert_eq!(leaf.issuer(), ca.subject());
        let san = leaf
            .subject_alternative_name()
            .expect("ok")
            .expect("present");
        let names: Vec<String> = san
            .value
            .general_names
            .iter()
            .map(|n| match n {
                GeneralName::DNSName(d) => d.to_string(),
                GeneralName::IPAddress(ip) => format!("ip:{ip:?}"),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            vec![
                "workflowexecution-webhook.kubernaut-system.svc".to_owned(),
                "ip:[127, 0, 0, 1]".to_owned()
            ]
        );
    }

    #[test]
    fn rejects_empty_names_and_zero_validity() {
        let none = GenerateOptions {
            dns_names: vec![],
            ip_addresses: vec![],
            validity_days: 1,
        };
        assert!(matches!(generate(&none), Err(CertError::InvalidOption(_))));
        let zero = GenerateOptions {
            validity_days: 0,
            ..GenerateOptions::default()
        };
        assert!(matches!(generate(&zero), Err(CertError::InvalidOption(_))));
        let bad = GenerateOptions {
            dns_names: vec!["bäd-name.example".into()],
            ..GenerateOptions::default()
        };
        assert!(generate(&bad).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("nested");
        generate(&GenerateOptions::default())
            .expect("generate")
            .write_to_dir(&out)
            .expect("write");
        let mode = std::fs::metadata(out.join(KEY_FILE))
            .expect("meta")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        for f in [CA_FILE, CERT_FILE] {
            assert!(
                std::fs::read_to_string(out.join(f))
                    .expect("read")
                    .starts_with("-----BEGIN CERTIFICATE-----")
            );
        }
    }
}
