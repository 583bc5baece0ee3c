//! `workflowexecution validate -f FILE`: the admission spec rules, offline.

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;
use wfe_api::{SpecPolicy, keys};

/// Result of checking one or more files.
#[derive(Debug, Default)]
pub struct Report {
    /// Human-readable lines, one per document or violation.
    pub text: String,
    /// Documents checked.
    pub documents: usize,
    /// Documents with at least one problem.
    pub invalid: usize,
}

/// Checks every YAML/JSON document in `path` (multi-document YAML allowed).
pub fn check_file(path: &Path, policy: &SpecPolicy, report: &mut Report) {
    let shown = path.display();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            report.invalid += 1;
            let _ = writeln!(report.text, "{shown}: cannot read: {e}");
            return;
        }
    };
    check_text(&shown.to_string(), &text, policy, report);
}

/// Checks every document in `text`; `origin` names it in the output.
pub fn check_text(origin: &str, text: &str, policy: &SpecPolicy, report: &mut Report) {
    for (index, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = match serde_yaml::Value::deserialize(doc) {
            Ok(serde_yaml::Value::Null) => continue,
            Ok(v) => v,
            Err(e) => {
                report.documents += 1;
                report.invalid += 1;
                let _ = writeln!(
                    report.text,
                    "{origin} (document {}): not valid YAML or JSON: {e}",
                    index + 1
                );
                // The YAML stream cannot be resumed after a syntax error.
                return;
            }
        };
        report.documents += 1;
        let label = format!("{origin} (document {})", index + 1);
        let json = match serde_json::to_value(&value) {
            Ok(j) => j,
            Err(e) => {
                report.invalid += 1;
                let _ = writeln!(report.text, "{label}: cannot be represented as JSON: {e}");
                continue;
            }
        };
        let kind = json.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let api_version = json
            .get("apiVersion")
            .and_then(|k| k.as_str())
            .unwrap_or("");
        let expected_api = format!("{}/{}", keys::GROUP, keys::VERSION);
        if kind != "WorkflowExecution" || api_version != expected_api {
            report.invalid += 1;
            let _ = writeln!(
                report.text,
                "{label}: kind/apiVersion: expected WorkflowExecution {expected_api}, got {kind:?} {api_version:?}"
            );
            continue;
        }
        let name = json
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or("<unnamed>")
            .to_owned();
        match wfe_api::parse_workflow_execution(json) {
            Err(v) => {
                report.invalid += 1;
                let _ = writeln!(report.text, "{label} {name}: {v}");
            }
            Ok(wfe) => match wfe_api::validate_spec(&wfe.spec, policy) {
                Ok(()) => {
                    let _ = writeln!(report.text, "{label} {name}: valid");
                }
                Err(violations) => {
                    report.invalid += 1;
                    let _ = writeln!(
                        report.text,
                        "{label} {name}: {} violation(s)",
                        violations.0.len()
                    );
                    for v in &violations.0 {
                        let _ = writeln!(report.text, "  {v}");
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Report {
        let mut r = Report::default();
        check_text("t.yaml", text, &SpecPolicy::default(), &mut r);
        r
    }

    #[test]
    fn example_in_docs_is_valid() {
        let mut r = Report::default();
        check_file(
            Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/docs/examples/wfe.yaml"
            )),
            &SpecPolicy::default(),
            &mut r,
        );
        assert_eq!((r.documents, r.invalid), (1, 0), "{}", r.text);
    }

    #[test]
    fn broken_example_lists_every_violation() {
        let mut r = Report::default();
        check_file(
            Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/docs/examples/wfe-broken.yaml"
            )),
            &SpecPolicy::default(),
            &mut r,
        );
        assert_eq!((r.documents, r.invalid), (1, 1), "{}", r.text);
        for field in [
            "spec.workflowRef.containerDigest",
            "spec.targetResource",
            "spec.parameters[TARGET_RESOURCE]",
            "spec.parameters[lower_case]",
            "spec.confidence",
            "spec.executionConfig.timeout",
        ] {
            assert!(
                r.text.contains(&format!("  {field}: ")),
                "{field} missing from:\n{}",
                r.text
            );
        }
    }

    #[test]
    fn multi_document_and_wrong_kind() {
        let r = run(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n---\n---\n{\"kind\": \"WorkflowExecution\", \"apiVersion\": \"kubernaut.ai/v1alpha1\", \"metadata\": {\"name\": \"j\"}, \"spec\": {}}\n",
        );
        assert_eq!((r.documents, r.invalid), (2, 2), "{}", r.text);
        assert!(r.text.contains("expected WorkflowExecution"));
        assert!(r.text.contains("j: spec: missing field"), "{}", r.text);
    }

    #[test]
    fn syntax_errors_are_reported_not_panicked() {
        let r = run("kind: [unclosed\n");
        assert_eq!(r.invalid, 1);
        assert!(r.text.contains("not valid YAML"));
    }
}
