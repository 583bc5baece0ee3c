//! Deterministic names and label values derived from WFE fields.

use sha2::{Digest, Sha256};

/// Name of the lock PipelineRun for a target: `wfe-` + the first 16 hex chars of SHA-256(target).
///
/// Every WFE on the same target computes the same name, so creating the PipelineRun is the
/// atomic lock acquisition.
pub fn pipeline_run_name(target_resource: &str) -> String {
    let digest = Sha256::digest(target_resource.as_bytes());
    format!("wfe-{}", &hex::encode(digest)[..16])
}

/// Maximum length of a Kubernetes label value.
pub const MAX_LABEL_VALUE_LEN: usize = 63;

/// Whether `value` is a valid Kubernetes label value.
pub fn is_valid_label_value(value: &str) -> bool {
    if value.len() > MAX_LABEL_VALUE_LEN {
        return false;
    }
    if value.is_empty() {
        return true;
    }
    let bytes = value.as_bytes();
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1])
        && bytes
            .iter()
            .all(|&b| alnum(b) || b == b'-' || b == b'_' || b == b'.')
}

/// Turns any string into a valid label value: unchanged when already valid, otherwise a
/// sanitised prefix plus a hash of the original so distinct inputs stay distinct.
pub fn label_value(raw: &str) -> String {
    if is_valid_label_value(raw) {
        return raw.to_owned();
    }
    let hash = &hex::encode(Sha256::digest(raw.as_bytes()))[..16];
    let sanitised: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .take(MAX_LABEL_VALUE_LEN - hash.len() - 1)
        .collect();
    let prefix = sanitised.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if prefix.is_empty() {
        hash.to_owned()
    } else {
        format!("{prefix}-{hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipeline_run_name_is_deterministic_20_lowercase_hex_chars() {
        let a = pipeline_run_name("team-a/Deployment/payment-api");
        assert_eq!(a, pipeline_run_name("team-a/Deployment/payment-api"));
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("wfe-"));
        assert!(
            a[4..]
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        // Fixed vector: `printf %s team-a/Deployment/payment-api | sha256sum | cut -c1-16`.
        assert_eq!(a, "wfe-0d96b913074f137c");
    }

    #[test]
    fn different_targets_get_different_names() {
        assert_ne!(
            pipeline_run_name("team-a/Deployment/payment-api"),
            pipeline_run_name("team-a/Deployment/checkout-api")
        );
        assert_ne!(
            pipeline_run_name("node/worker-1"),
            pipeline_run_name("Node/worker-1")
        );
    }

    #[test]
    fn label_values_are_always_valid_and_distinct() {
        assert_eq!(label_value("restart-deployment"), "restart-deployment");
        let long = "a".repeat(200);
        let v = label_value(&long);
        assert!(is_valid_label_value(&v), "{v}");
        let odd = label_value("scale/up:now!");
        assert!(is_valid_label_value(&odd), "{odd}");
        assert_ne!(label_value("scale/up"), label_value("scale:up"));
        assert!(is_valid_label_value(&label_value("---")));
        assert!(is_valid_label_value(&label_value("ünïcödé")));
    }

    proptest::proptest! {
        #[test]
        fn label_value_is_valid_for_any_input(s in ".{0,300}") {
            let v = label_value(&s);
            proptest::prop_assert!(is_valid_label_value(&v), "{:?} -> {:?}", s, v);
        }
    }
}
