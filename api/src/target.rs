//! The `spec.targetResource` string: `namespace/Kind/name` or `Kind/name`.

use std::fmt;

/// A parsed target resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetResource<'a> {
    /// Namespace, for namespaced resources.
    pub namespace: Option<&'a str>,
    /// Kind as written (e.g. `Deployment`).
    pub kind: &'a str,
    /// Resource name.
    pub name: &'a str,
}

/// Why a target string is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not two or three `/`-separated parts.
    #[error(
        "must be namespace/Kind/name (namespaced) or Kind/name (cluster-scoped), got {0} part(s)"
    )]
    PartCount(usize),
    /// A part is empty.
    #[error("must not contain an empty segment")]
    EmptySegment,
    /// Namespace is not a DNS-1123 label.
    #[error(
        "namespace {0:?} must be a DNS-1123 label (lowercase alphanumerics and '-', at most 63 characters)"
    )]
    Namespace(String),
    /// Kind is not `[A-Za-z][A-Za-z0-9]*`.
    #[error(
        "kind {0:?} must start with a letter and contain only letters and digits (at most 63 characters)"
    )]
    Kind(String),
    /// Name is not a DNS-1123 subdomain.
    #[error(
        "name {0:?} must be a DNS-1123 subdomain (lowercase alphanumerics, '-' and '.', at most 253 characters)"
    )]
    Name(String),
}

impl<'a> TargetResource<'a> {
    /// Parses and validates a target string.
    pub fn parse(raw: &'a str) -> Result<Self, TargetError> {
        if raw.is_empty() {
            return Err(TargetError::PartCount(0));
        }
        // At most three parts are kept (no allocation): the count alone names a longer target.
        let mut parts = [""; 3];
        let mut count = 0;
        for part in raw.split('/') {
            if let Some(slot) = parts.get_mut(count) {
                *slot = part;
            }
            count += 1;
        }
        let parts = &parts[..count.min(3)];
        if parts.iter().any(|p| p.is_empty()) && (2..=3).contains(&count) {
            return Err(TargetError::EmptySegment);
        }
        let (namespace, kind, name) = match (count, parts) {
            (3, [ns, kind, name]) => (Some(*ns), *kind, *name),
            (2, [kind, name]) => (None, *kind, *name),
            _ => return Err(TargetError::PartCount(count)),
        };
        if let Some(ns) = namespace
            && !is_dns1123_label(ns)
        {
            return Err(TargetError::Namespace(ns.to_owned()));
        }
        if !is_kind(kind) {
            return Err(TargetError::Kind(kind.to_owned()));
        }
        if !is_dns1123_subdomain(name) {
            return Err(TargetError::Name(name.to_owned()));
        }
        Ok(TargetResource {
            namespace,
            kind,
            name,
        })
    }
}

impl fmt::Display for TargetResource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// RFC 1123 label: lowercase alphanumerics and `-`, alphanumeric at both ends, 1..=63 chars.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-')
}

/// RFC 1123 subdomain: dot-separated labels, 1..=253 chars.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_kind(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphabetic()
        && b.iter().all(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_upstream_valid_targets() {
        let t = TargetResource::parse("default/deployment/nginx").unwrap();
        assert_eq!(
            (t.namespace, t.kind, t.name),
            (Some("default"), "deployment", "nginx")
        );
        let t = TargetResource::parse("node/worker-node-1").unwrap();
        assert_eq!(
            (t.namespace, t.kind, t.name),
            (None, "node", "worker-node-1")
        );
        assert!(TargetResource::parse("namespace/production").is_ok());
        assert!(TargetResource::parse("team-a/Deployment/payment-api").is_ok());
        assert!(TargetResource::parse("team-a/StatefulSet/db.primary-0").is_ok());
    }

    #[test]
    fn rejects_upstream_invalid_targets() {
        assert_eq!(TargetResource::parse(""), Err(TargetError::PartCount(0)));
        assert_eq!(
            TargetResource::parse("nginx"),
            Err(TargetError::PartCount(1))
        );
        assert_eq!(
            TargetResource::parse("a/b/c/d"),
            Err(TargetError::PartCount(4))
        );
        assert_eq!(
            TargetResource::parse("default//nginx"),
            Err(TargetError::EmptySegment)
        );
        // Too many parts is named as such even when one is empty.
        assert_eq!(
            TargetResource::parse("a//b/c"),
            Err(TargetError::PartCount(4))
        );
        assert_eq!(
            TargetResource::parse("/Deployment/nginx"),
            Err(TargetError::EmptySegment)
        );
        assert_eq!(
            TargetResource::parse("Deployment/"),
            Err(TargetError::EmptySegment)
        );
    }

    #[test]
    fn checks_each_segment() {
        assert!(matches!(
            TargetResource::parse("Team_A/Deployment/x"),
            Err(TargetError::Namespace(_))
        ));
        assert!(matches!(
            TargetResource::parse("ns/1Deployment/x"),
            Err(TargetError::Kind(_))
        ));
        assert!(matches!(
            TargetResource::parse("ns/Deploy-ment/x"),
            Err(TargetError::Kind(_))
        ));
        assert!(matches!(
            TargetResource::parse("ns/Deployment/Payment"),
            Err(TargetError::Name(_))
        ));
        assert!(matches!(
            TargetResource::parse("ns/Deployment/-x"),
            Err(TargetError::Name(_))
        ));
        let long = format!("ns/Deployment/{}", "a".repeat(254));
        assert!(matches!(
            TargetResource::parse(&long),
            Err(TargetError::Name(_))
        ));
    }

    #[test]
    fn display_is_readable() {
        let t = TargetResource::parse("team-a/Deployment/payment-api").unwrap();
        assert_eq!(t.to_string(), "Deployment team-a/payment-api");
        assert_eq!(
            TargetResource::parse("Node/w1").unwrap().to_string(),
            "Node w1"
        );
    }
}
