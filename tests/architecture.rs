//! ARCHITECTURE.md stays true: every function or type it names on the clearance and reconcile
//! paths exists in the code, and every path it points at exists.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_sources(dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() && name != "target" && !name.starts_with('.') {
            rust_sources(&path, out);
        } else if name.ends_with(".rs") {
            out.push(std::fs::read_to_string(&path).unwrap_or_default());
        }
    }
}

/// The backticked spans of the text between `## The path of a clearance` and `## Where`.
fn named_on_paths(doc: &str) -> Vec<String> {
    let start = doc
        .find("## The path of a clearance")
        .expect("clearance path section");
    let end = doc
        .find("## Where each DESIGN section lives")
        .expect("DESIGN table");
    doc[start..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_function_on_the_documented_paths_exists() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let mut sources = Vec::new();
    for dir in [
        "api",
        "audit",
        "certs",
        "controller",
        "plugin",
        "src",
        "webhook",
    ] {
        rust_sources(&root().join(dir), &mut sources);
    }
    let code = sources.join("\n");
    let mut checked = 0;
    for span in named_on_paths(&doc) {
        let name = span.rsplit("::").next().unwrap_or(&span);
        let is_ident = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && span.contains(['_', ':'])
            || name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && !name.contains(' ');
        if !is_ident || name.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
            continue; // a command, a path or a constant-like word, not an item
        }
        let defined = [
            format!("fn {name}("),
            format!("fn {name}<"),
            format!("struct {name}"),
            format!("enum {name}"),
            format!("trait {name}"),
            format!("mod {name}"),
            format!("    {name},\n"), // an enum variant
        ]
        .iter()
        .any(|pattern| code.contains(pattern.as_str()));
        assert!(
            defined,
            "ARCHITECTURE.md names `{span}` but no such item exists"
        );
        checked += 1;
    }
    assert!(
        checked > 20,
        "only {checked} names checked: did the sections move?"
    );
}

#[test]
fn every_path_in_the_design_table_exists() {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let table = &doc[doc.find("## Where each DESIGN section lives").unwrap()..];
    for span in table.split('`').skip(1).step_by(2) {
        if span.contains('*') || !span.contains('/') {
            continue;
        }
        assert!(
            root().join(span).exists(),
            "ARCHITECTURE.md points at missing {span}"
        );
    }
}
