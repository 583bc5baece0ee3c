//! Talking to the cluster: clients (admin and impersonated), server-side apply of manifests,
//! polling.

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use kube::{Client, Config, Discovery};
use serde_json::Value;

/// Field manager of everything the suite applies.
pub const FIELD_MANAGER: &str = "wfe-e2e";

/// A kube config from the admin kubeconfig file, optionally impersonating someone.
pub async fn config(kubeconfig: &Path, impersonate: Option<(&str, &[&str])>) -> Config {
    let file = Kubeconfig::read_from(kubeconfig).unwrap_or_else(|e| {
        panic!(
            "cannot read WFE_E2E_KUBECONFIG {}: {e}",
            kubeconfig.display()
        )
    });
    let mut config = Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot use WFE_E2E_KUBECONFIG {}: {e}",
                kubeconfig.display()
            )
        });
    if let Some((user, groups)) = impersonate {
        config.auth_info.impersonate = Some(user.to_owned());
        config.auth_info.impersonate_groups =
            Some(groups.iter().map(|g| (*g).to_owned()).collect());
    }
    config
}

/// A client for `config`.
pub fn client(config: Config) -> Client {
    Client::try_from(config).unwrap_or_else(|e| panic!("cannot build a kube client: {e}"))
}

/// Parses a multi-document YAML stream, skipping empty documents.
pub fn yaml_documents(text: &str, what: &str) -> Vec<Value> {
    let mut input = std::io::Cursor::new(text.as_bytes());
    let options = serde_saphyr::options! { strict_booleans: true };
    serde_saphyr::read_with_options(&mut input, options)
        .enumerate()
        .map(|(i, doc)| {
            doc.unwrap_or_else(|e| panic!("{what}: document {i} is not valid YAML: {e}"))
        })
        .collect()
}

/// Server-side applies `docs` (forcing ownership: the suite owns what it applies), finding each
/// kind's resource through discovery.
pub async fn apply(client: &Client, docs: &[Value]) {
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .unwrap_or_else(|e| panic!("API discovery failed: {e}"));
    for doc in docs {
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_else(|| panic!("a {kind} without metadata.name"));
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (resource, caps) = discovery.resolve_gvk(&gvk).unwrap_or_else(|| {
            panic!("the cluster does not serve {api_version} {kind} (is its CRD installed?)")
        });
        let api = dynamic_api(
            client,
            &resource,
            &caps,
            doc["metadata"]["namespace"].as_str(),
        );
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch(name, &params, &Patch::Apply(doc))
            .await
            .unwrap_or_else(|e| panic!("cannot apply {kind} {name}: {e}"));
    }
}

fn dynamic_api(
    client: &Client,
    resource: &ApiResource,
    caps: &ApiCapabilities,
    namespace: Option<&str>,
) -> Api<DynamicObject> {
    match (&caps.scope, namespace) {
        (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, resource),
        (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), resource),
        (Scope::Cluster, _) => Api::all_with(client.clone(), resource),
    }
}

/// Whether the cluster serves `group/version` `plural`.
pub async fn serves(client: &Client, group: &str, version: &str, plural: &str) -> bool {
    let Ok(discovery) = Discovery::new(client.clone()).filter(&[group]).run().await else {
        return false;
    };
    discovery
        .groups()
        .flat_map(|g| g.versioned_resources(version))
        .any(|(r, _)| r.plural == plural)
}

/// Polls `probe` every half second until it returns `Some`, or panics with `what` and the last
/// observation after `timeout`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe().await {
            Ok(v) => return v,
            Err(observed) => observed,
        };
        if Instant::now() >= deadline {
            panic!(
                "timed out after {}s waiting for {what}; last observed: {last}",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The message of an API error, or a panic when the call unexpectedly succeeded.
pub fn denial<T: std::fmt::Debug>(what: &str, result: Result<T, kube::Error>) -> String {
    match result {
        Ok(v) => panic!("{what} was allowed but must be denied: {v:?}"),
        Err(kube::Error::Api(status)) => status.message.clone(),
        Err(e) => panic!("{what}: expected a denial from the API server, got {e}"),
    }
}

/// True for a 404 from the API server.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
