//! What can go wrong, each with the message an operator needs to act on it.

use wfe_api::keys;

/// A failed `kubectl wfe` command.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The kubeconfig could not be read or used.
    #[error("cannot load the cluster configuration: {0}")]
    Config(String),
    /// The API server could not be reached.
    #[error(
        "cannot reach the Kubernetes API server: {0}\n(check --kubeconfig/--context and that the cluster is up)"
    )]
    Unreachable(String),
    /// The WorkflowExecution CRD is not installed (the resource list itself is 404).
    #[error(
        "the API server does not serve {}.{}/{}: is the WorkflowExecution CRD installed? (kubectl get crd {}.{})",
        keys::PLURAL,
        keys::GROUP,
        keys::VERSION,
        keys::PLURAL,
        keys::GROUP
    )]
    CrdMissing,
    /// The named WorkflowExecution does not exist.
    #[error("WorkflowExecution {namespace}/{name} not found")]
    NotFound {
        /// Namespace looked in.
        namespace: String,
        /// Name looked for.
        name: String,
    },
    /// The API server (or an admission webhook) refused the request; `message` is its own
    /// message, printed verbatim.
    #[error("{message}")]
    Denied {
        /// HTTP status code.
        code: u16,
        /// The API server's Status message.
        message: String,
    },
    /// The clearance was refused before anything was sent.
    #[error("block clearance not sent: {0}")]
    Refused(String),
    /// The API server accepted the request but stamped no clearance.
    #[error("{0}")]
    NotStamped(String),
    /// Any other API error.
    #[error("Kubernetes API error: {0}")]
    Api(String),
    /// Output could not be written or encoded.
    #[error("cannot write output: {0}")]
    Output(String),
}

impl PluginError {
    /// Classifies a kube error from a request about WFE `name` (None for a list) in `namespace`.
    pub fn from_kube(err: kube::Error, namespace: &str, name: Option<&str>) -> PluginError {
        match err {
            kube::Error::Api(status) if status.code == 404 => {
                // A missing object says which one in `details.name`; a missing resource type
                // (CRD not installed) has no details.
                let names_object = status.details.as_ref().is_some_and(|d| !d.name.is_empty());
                match name {
                    Some(n) if names_object => PluginError::NotFound {
                        namespace: namespace.to_owned(),
                        name: n.to_owned(),
                    },
                    _ => PluginError::CrdMissing,
                }
            }
            kube::Error::Api(status) => PluginError::Denied {
                code: status.code,
                message: status.message,
            },
            kube::Error::HyperError(e) => PluginError::Unreachable(e.to_string()),
            kube::Error::Service(e) => PluginError::Unreachable(e.to_string()),
            other => PluginError::Api(other.to_string()),
        }
    }
}
