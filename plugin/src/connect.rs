//! From kubectl-style flags to a client and a namespace, the way kubectl resolves them.

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::cli::Global;
use crate::error::PluginError;

/// A client for the cluster the flags name, and the namespace to use when `-n` is not given.
pub async fn connect(global: &Global) -> Result<(Client, String), PluginError> {
    let options = KubeConfigOptions {
        context: global.context.clone(),
        ..Default::default()
    };
    let mut config = match &global.kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path).map_err(|e| {
                PluginError::Config(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?;
            Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| PluginError::Config(format!("{}: {e}", path.display())))?
        }
        // A named context only exists in a kubeconfig; without one, fall back like kubectl
        // does inside a pod.
        None if global.context.is_some() => Config::from_kubeconfig(&options)
            .await
            .map_err(|e| PluginError::Config(e.to_string()))?,
        None => Config::infer()
            .await
            .map_err(|e| PluginError::Config(e.to_string()))?,
    };
    if let Some(user) = &global.as_user {
        config.auth_info.impersonate = Some(user.clone());
    }
    if !global.as_groups.is_empty() {
        config.auth_info.impersonate_groups = Some(global.as_groups.clone());
    }
    let namespace = global
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = Client::try_from(config).map_err(|e| PluginError::Config(e.to_string()))?;
    Ok((client, namespace))
}
