//! The one spec validation (DESIGN §3.1), shared by the webhook, the controller and the CLI.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::bounds::{MAX_PARAMETER_NAME_LEN, MAX_PARAMETER_VALUE_LEN, MAX_PARAMETERS};
use crate::duration;
use crate::keys::PARAM_TARGET_RESOURCE;
use crate::resource::{WorkflowExecution, WorkflowExecutionSpec};
use crate::spec_view::SpecView;
use crate::target::TargetResource;

/// Maximum length of `spec.rationale`.
pub const MAX_RATIONALE_LEN: usize = 4096;

/// Settings that make some spec rules depend on the service configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecPolicy {
    /// Longest `executionConfig.timeout` accepted.
    pub max_timeout: Duration,
    /// Service accounts a WFE may name in `executionConfig.serviceAccountName`.
    pub allowed_service_accounts: Vec<String>,
}

impl Default for SpecPolicy {
    fn default() -> Self {
        SpecPolicy {
            max_timeout: Duration::from_secs(2 * 3600),
            allowed_service_accounts: Vec::new(),
        }
    }
}

/// One broken rule, with the JSON path of the field that breaks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON field path, e.g. `spec.targetResource` or `spec.parameters[FOO]`.
    pub field: String,
    /// What is wrong, phrased so the author knows what to change.
    pub message: String,
}

impl Violation {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every violation of a spec, in field order; empty when the spec is valid.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
pub struct Violations(pub Vec<Violation>);

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

/// Checks every rule of DESIGN §3.1 and returns all violations at once. Takes a decoded spec
/// (`&WorkflowExecutionSpec`) or a [`SpecView`] read straight from JSON text.
pub fn validate_spec<'a>(
    spec: impl Into<SpecView<'a>>,
    policy: &SpecPolicy,
) -> Result<(), Violations> {
    let spec = spec.into();
    let mut out = Vec::new();
    if spec.remediation_request_name.trim().is_empty() {
        out.push(Violation::new(
            "spec.remediationRequestRef.name",
            "is required",
        ));
    }
    check_workflow_ref(&mut out, &spec);
    if spec.target_resource.is_empty() {
        out.push(Violation::new("spec.targetResource", "is required"));
    } else if let Err(e) = TargetResource::parse(&spec.target_resource) {
        out.push(Violation::new("spec.targetResource", e.to_string()));
    }
    check_parameters(&mut out, spec.parameters());
    if let Some(c) = spec.confidence
        && !(c.is_finite() && (0.0..=1.0).contains(&c))
    {
        out.push(Violation::new(
            "spec.confidence",
            format!("must be between 0 and 1, got {c}"),
        ));
    }
    if let Some(r) = &spec.rationale
        && char_count_exceeds(r, MAX_RATIONALE_LEN)
    {
        out.push(Violation::new(
            "spec.rationale",
            format!("must be at most {MAX_RATIONALE_LEN} characters"),
        ));
    }
    check_execution_config(&mut out, &spec, policy);
    if out.is_empty() {
        Ok(())
    } else {
        Err(Violations(out))
    }
}

/// Whether `text` has more than `max` characters; a text of at most `max` bytes cannot, so
/// the usual short value is not decoded character by character.
fn char_count_exceeds(text: &str, max: usize) -> bool {
    text.len() > max && text.chars().count() > max
}

fn check_workflow_ref(out: &mut Vec<Violation>, spec: &SpecView<'_>) {
    check_required_len(out, "spec.workflowRef.workflowId", &spec.workflow_id, 253);
    check_required_len(out, "spec.workflowRef.version", &spec.version, 63);
    if spec.container_image.is_empty() {
        out.push(Violation::new(
            "spec.workflowRef.containerImage",
            "is required",
        ));
    } else if let Err(problem) = check_image_reference(&spec.container_image) {
        out.push(Violation::new("spec.workflowRef.containerImage", problem));
    }
    if let Some(digest) = &spec.container_digest
        && !is_sha256_digest(digest)
    {
        out.push(Violation::new(
            "spec.workflowRef.containerDigest",
            format!("must be sha256: followed by 64 lowercase hex characters, got {digest:?}"),
        ));
    }
}

fn check_parameters(out: &mut Vec<Violation>, parameters: &[(Cow<'_, str>, Cow<'_, str>)]) {
    if parameters.len() > MAX_PARAMETERS {
        out.push(Violation::new(
            "spec.parameters",
            format!(
                "at most {MAX_PARAMETERS} parameters are allowed, got {}",
                parameters.len()
            ),
        ));
    }
    for (key, value) in parameters {
        // Named only when violated: a valid spec (every admitted create) formats nothing.
        let field = || format!("spec.parameters[{key}]");
        if key == PARAM_TARGET_RESOURCE {
            out.push(Violation::new(
                field(),
                "TARGET_RESOURCE is reserved: the controller sets it from spec.targetResource",
            ));
            continue;
        }
        if !is_parameter_name(key) {
            out.push(Violation::new(
                field(),
                format!("name must match ^[A-Z][A-Z0-9_]*$ and be at most {MAX_PARAMETER_NAME_LEN} characters"),
            ));
        }
        if char_count_exceeds(value, MAX_PARAMETER_VALUE_LEN) {
            out.push(Violation::new(
                field(),
                format!("value must be at most {MAX_PARAMETER_VALUE_LEN} characters"),
            ));
        }
    }
}

fn check_execution_config(out: &mut Vec<Violation>, spec: &SpecView<'_>, policy: &SpecPolicy) {
    if let Some(timeout) = &spec.timeout {
        match duration::parse(timeout) {
            Err(e) => out.push(Violation::new(
                "spec.executionConfig.timeout",
                e.to_string(),
            )),
            Ok(d) if d.is_zero() => out.push(Violation::new(
                "spec.executionConfig.timeout",
                "must be greater than zero",
            )),
            Ok(d) if d > policy.max_timeout => out.push(Violation::new(
                "spec.executionConfig.timeout",
                format!(
                    "{timeout} exceeds the maximum of {}",
                    duration::format(policy.max_timeout)
                ),
            )),
            Ok(_) => {}
        }
    }
    if let Some(sa) = &spec.service_account_name
        && !policy.allowed_service_accounts.iter().any(|a| a == sa)
    {
        let allowed = if policy.allowed_service_accounts.is_empty() {
            "none are allowed by the service configuration".to_owned()
        } else {
            format!("allowed: {}", policy.allowed_service_accounts.join(", "))
        };
        out.push(Violation::new(
            "spec.executionConfig.serviceAccountName",
            format!("{sa:?} is not in allowedServiceAccounts ({allowed})"),
        ));
    }
}

/// Names of the top-level spec fields that differ between two specs (for immutability errors).
pub fn changed_spec_fields(
    old: &WorkflowExecutionSpec,
    new: &WorkflowExecutionSpec,
) -> Vec<&'static str> {
    let mut out = Vec::new();
    if old.remediation_request_ref != new.remediation_request_ref {
        out.push("spec.remediationRequestRef");
    }
    if old.workflow_ref != new.workflow_ref {
        out.push("spec.workflowRef");
    }
    if old.target_resource != new.target_resource {
        out.push("spec.targetResource");
    }
    if old.parameters != new.parameters {
        out.push("spec.parameters");
    }
    if old.confidence != new.confidence {
        out.push("spec.confidence");
    }
    if old.rationale != new.rationale {
        out.push("spec.rationale");
    }
    if old.execution_config != new.execution_config {
        out.push("spec.executionConfig");
    }
    out
}

/// Decodes a WorkflowExecution from JSON, naming the offending field when the shape is wrong.
pub fn parse_workflow_execution(value: serde_json::Value) -> Result<WorkflowExecution, Violation> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "<object>".to_owned()
        } else {
            path
        };
        Violation::new(field, e.into_inner().to_string())
    })
}

/// A required text of at most `max` characters (counted only when its bytes could exceed it).
fn check_required_len(out: &mut Vec<Violation>, field: &str, value: &str, max: usize) {
    if value.is_empty() {
        out.push(Violation::new(field, "is required"));
    } else if char_count_exceeds(value, max) {
        let n = value.chars().count();
        out.push(Violation::new(
            field,
            format!("must be at most {max} characters, got {n}"),
        ));
    }
}

fn is_parameter_name(key: &str) -> bool {
    let b = key.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_PARAMETER_NAME_LEN
        && b[0].is_ascii_uppercase()
        && b.iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    })
}

/// Validates an OCI reference: `[registry[:port]/]path[:tag][@sha256:digest]`.
fn check_image_reference(image: &str) -> Result<(), String> {
    const HINT: &str =
        "must be an OCI reference such as registry.example.com/workflows/restart:v1.2.0";
    if image.len() > 512 {
        return Err("must be at most 512 characters".into());
    }
    // ASCII whitespace and controls are the bytes up to ' ' and DEL; other characters are
    // decoded only in a text that has any.
    let ascii_blank = |b: u8| b <= b' ' || b == 0x7f;
    if image.bytes().any(ascii_blank)
        || (!image.is_ascii() && image.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(format!("{HINT} (contains whitespace)"));
    }
    let (name_and_tag, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest
        && !is_sha256_digest(d)
    {
        return Err(format!(
            "{HINT} (digest must be sha256: + 64 lowercase hex)"
        ));
    }
    // A ':' after the last '/' separates the tag; one before it belongs to a registry port.
    let last_slash = name_and_tag.rfind('/');
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(i) if last_slash.is_none_or(|s| i > s) => {
            (&name_and_tag[..i], Some(&name_and_tag[i + 1..]))
        }
        _ => (name_and_tag, None),
    };
    if let Some(tag) = tag {
        let b = tag.as_bytes();
        let ok = !b.is_empty()
            && b.len() <= 128
            && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c == b'-');
        if !ok {
            return Err(format!("{HINT} (invalid tag {tag:?})"));
        }
    }
    // The first component is a registry when it looks like a host (and more follow).
    let path = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            let (host, port) = first.split_once(':').unwrap_or((first, ""));
            let host_ok = !host.is_empty()
                && host.split('.').all(|l| {
                    !l.is_empty()
                        && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
                        && !l.starts_with('-')
                        && !l.ends_with('-')
                });
            let port_ok =
                port.is_empty() || (port.len() <= 5 && port.bytes().all(|c| c.is_ascii_digit()));
            if !host_ok || !port_ok {
                return Err(format!("{HINT} (invalid registry {first:?})"));
            }
            rest
        }
        _ => name,
    };
    if let Some(c) = path.split('/').find(|c| !is_path_component(c)) {
        return Err(format!("{HINT} (invalid path component {c:?})"));
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_path_component(c: &str) -> bool {
    let b = c.as_bytes();
    if b.is_empty() || !is_lower_alnum(b[0]) || !is_lower_alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if is_lower_alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !is_lower_alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let dashes = sep.bytes().all(|x| x == b'-');
        if !(sep == "." || sep == "_" || sep == "__" || dashes) {
            return false;
        }
    }
    true
}

fn is_lower_alnum(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

#[cfg(test)]
mod tests;
