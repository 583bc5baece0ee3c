//! `workflowexecution validate -f FILE`: the admission spec rules, offline.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;
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
    let mut input = std::io::Cursor::new(text.as_bytes());
    // Empty documents are skipped by the reader; a syntax error ends the stream (it cannot be
    // resumed), any other error only its own document.
    let documents =
        serde_saphyr::read_with_options::<_, Value>(&mut input, crate::yaml::untyped_options());
    for (index, doc) in documents.enumerate() {
        let label = format!("{origin} (document {})", index + 1);
        report.documents += 1;
        let json = match doc {
            Ok(v) => v,
            Err(e) => {
                report.invalid += 1;
                let _ = writeln!(
                    report.text,
                    "{label}: not valid YAML or JSON: {}",
                    crate::yaml::describe_error(&e, origin)
                );
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
