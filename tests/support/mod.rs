//! What the deploy, monitoring and clearance-policy tests share: reading YAML manifests and
//! rendering kustomizations with kubectl.
#![allow(dead_code)] // each test crate uses its own subset

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// YAML documents as JSON values (empty documents dropped); YAML 1.2 booleans only, so that a
/// workflow's `on:` key stays the string it is.
pub fn yaml_documents(text: &str, what: &str) -> Vec<Value> {
    let mut input = std::io::Cursor::new(text.as_bytes());
    serde_saphyr::read_with_options(&mut input, serde_saphyr::options! { strict_booleans: true })
        .enumerate()
        .map(|(i, doc)| doc.unwrap_or_else(|e| panic!("{what}: document {i} is not YAML: {e}")))
        .filter(|v: &Value| !v.is_null())
        .collect()
}

/// Whether `kubectl` is on PATH (kustomize renders are skipped without it).
pub fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `kubectl kustomize DIR` as documents; resources may sit outside DIR (test overlays).
pub fn kustomize(dir: &Path) -> Vec<Value> {
    let out = Command::new("kubectl")
        .args(["kustomize", "--load-restrictor", "LoadRestrictionsNone"])
        .arg(dir)
        .output()
        .expect("run kubectl kustomize");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    yaml_documents(
        &String::from_utf8_lossy(&out.stdout),
        &dir.display().to_string(),
    )
}
