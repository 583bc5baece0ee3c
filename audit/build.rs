//! Embeds the DataStorage OpenAPI document at build time when it is available, without keeping
//! a copy in the repository: from `WFE_DATASTORAGE_OPENAPI` (a path, e.g. in an image build), else
//! from the project's shared reference beside the workspace. Without either, the binary needs
//! `audit.schemaFile` at run time for the datastorage sink.

use std::path::PathBuf;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wfe_embedded_schema)");
    println!("cargo::rerun-if-env-changed=WFE_DATASTORAGE_OPENAPI");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let source = std::env::var_os("WFE_DATASTORAGE_OPENAPI")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            manifest.join("../../shared/reference/datastorage/data-storage-v1.yaml")
        });
    println!("cargo::rerun-if-changed={}", source.display());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default())
        .join("datastorage-openapi.yaml");
    let text = std::fs::read_to_string(&source).unwrap_or_default();
    if !text.is_empty() {
        println!("cargo::rustc-cfg=wfe_embedded_schema");
    }
    if let Err(e) = std::fs::write(&out, text) {
        println!("cargo::warning=cannot write {}: {e}", out.display());
    }
}
