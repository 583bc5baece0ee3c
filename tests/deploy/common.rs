//! Reading `deploy/`: the repository root, YAML documents and the objects in them.

use super::*;

pub(crate) const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_workflowexecution");
pub(crate) const CONTROLLER_NAMESPACE: &str = "kubernaut-system";
pub(crate) const CONTROLLER_SERVICE_ACCOUNT: &str = "workflowexecution-controller";
pub(crate) const EXECUTION_NAMESPACE: &str = "kubernaut-workflows";

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// YAML 1.2 booleans only, so that a workflow's `on:` key stays the string it is.
pub(crate) fn yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! { strict_booleans: true }
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(*k))?.as_str()
}

pub(crate) fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The documents of deploy/base, read file by file as listed in its kustomization (no kubectl).
pub(crate) fn base_documents() -> Vec<Value> {
    let base = Path::new(ROOT).join("deploy/base");
    let kustomization = yaml_documents(
        &read(&base.join("kustomization.yaml")),
        "deploy/base/kustomization.yaml",
    );
    let resources = strings(kustomization[0].get("resources"));
    assert!(
        !resources.is_empty(),
        "deploy/base/kustomization.yaml lists no resources"
    );
    resources
        .iter()
        .flat_map(|r| yaml_documents(&read(&base.join(r)), r))
        .collect()
}

pub(crate) fn kind_of(doc: &Value) -> &str {
    str_at(doc, &["kind"]).unwrap_or_default()
}

pub(crate) fn named<'a>(
    docs: &'a [Value],
    kind: &str,
    namespace: Option<&str>,
    name: &str,
) -> Option<&'a Value> {
    docs.iter().find(|d| {
        kind_of(d) == kind
            && str_at(d, &["metadata", "name"]) == Some(name)
            && str_at(d, &["metadata", "namespace"]) == namespace
    })
}

pub(crate) fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter().map(|d| kind_of(d).to_owned()).collect()
}

/// (kind, name) of every object in `docs`.
pub(crate) fn objects(docs: &[Value]) -> BTreeSet<(String, String)> {
    docs.iter()
        .map(|d| {
            (
                kind_of(d).to_owned(),
                str_at(d, &["metadata", "name"])
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

pub(crate) fn pair(kind: &str, name: &str) -> (String, String) {
    (kind.to_owned(), name.to_owned())
}
