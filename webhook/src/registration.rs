//! The three webhook configurations (what `workflowexecution webhook-config` prints).

use base64::Engine;
use serde_json::{Value, json};

use crate::server::{
    MUTATE_STATUS_PATH, STATUS_OPERATIONS, VALIDATE_OPERATIONS, VALIDATE_PATH, VALIDATE_STATUS_PATH,
};
use wfe_api::keys::DEFAULT_CONTROLLER_USERNAME;

/// Where the API server reaches the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientTarget {
    /// An in-cluster Service.
    Service {
        /// Service namespace.
        namespace: String,
        /// Service name.
        name: String,
        /// Service port.
        port: u16,
    },
    /// A URL base such as `https://127.0.0.1:9443` (API server on the same host); paths are appended.
    Url {
        /// Scheme, host and port, without a trailing path.
        base: String,
    },
}

/// Inputs of the generated configurations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfigOptions {
    /// How to reach the webhook.
    pub target: ClientTarget,
    /// PEM of the CA that signed the serving certificate (empty: omit `caBundle`, e.g. for
    /// cert-manager CA injection).
    pub ca_bundle_pem: String,
    /// Identity skipped by the status webhooks' `matchConditions`.
    pub controller_username: String,
}

impl Default for WebhookConfigOptions {
    fn default() -> Self {
        WebhookConfigOptions {
            target: ClientTarget::Service {
                namespace: "kubernaut-system".to_owned(),
                name: "workflowexecution-webhook".to_owned(),
                port: 443,
            },
            ca_bundle_pem: String::new(),
            controller_username: DEFAULT_CONTROLLER_USERNAME.to_owned(),
        }
    }
}

/// ValidatingWebhookConfiguration `workflowexecution-validating`, MutatingWebhookConfiguration
/// `workflowexecution-status-mutating` and ValidatingWebhookConfiguration
/// `workflowexecution-status-validating`, in that order.
pub fn webhook_configurations(opts: &WebhookConfigOptions) -> Vec<Value> {
    vec![
        configuration(
            "ValidatingWebhookConfiguration",
            "workflowexecution-validating",
            webhook(
                opts,
                "validate.workflowexecution.kubernaut.ai",
                VALIDATE_PATH,
                VALIDATE_OPERATIONS,
                "workflowexecutions",
                false,
            ),
        ),
        configuration(
            "MutatingWebhookConfiguration",
            "workflowexecution-status-mutating",
            webhook(
                opts,
                "mutate-status.workflowexecution.kubernaut.ai",
                MUTATE_STATUS_PATH,
                STATUS_OPERATIONS,
                "workflowexecutions/status",
                true,
            ),
        ),
        configuration(
            "ValidatingWebhookConfiguration",
            "workflowexecution-status-validating",
            webhook(
                opts,
                "validate-status.workflowexecution.kubernaut.ai",
                VALIDATE_STATUS_PATH,
                STATUS_OPERATIONS,
                "workflowexecutions/status",
                true,
            ),
        ),
    ]
}

/// The configurations as a multi-document YAML stream.
pub fn webhook_configurations_yaml(
    opts: &WebhookConfigOptions,
) -> Result<String, serde_saphyr::SerializeError> {
    yaml_stream(&webhook_configurations(opts))
}

/// Documents as one multi-document YAML stream (what `kubectl apply -f -` reads).
pub fn yaml_stream(docs: &[Value]) -> Result<String, serde_saphyr::SerializeError> {
    let mut out = String::new();
    for doc in docs {
        out.push_str("---\n");
        out.push_str(&serde_saphyr::to_string(doc)?);
    }
    Ok(out)
}

fn configuration(kind: &str, name: &str, webhook: Value) -> Value {
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": { "name": name, "labels": { "app.kubernetes.io/name": "workflowexecution" } },
        "webhooks": [webhook],
    })
}

fn webhook(
    opts: &WebhookConfigOptions,
    name: &str,
    path: &str,
    operations: &[&str],
    resource: &str,
    skip_controller: bool,
) -> Value {
    let mut client_config = match &opts.target {
        ClientTarget::Service {
            namespace,
            name,
            port,
        } => json!({
            "service": { "namespace": namespace, "name": name, "port": port, "path": path }
        }),
        ClientTarget::Url { base } => {
            json!({ "url": format!("{}{path}", base.trim_end_matches('/')) })
        }
    };
    if !opts.ca_bundle_pem.is_empty() {
        client_config["caBundle"] = Value::String(
            base64::engine::general_purpose::STANDARD.encode(opts.ca_bundle_pem.as_bytes()),
        );
    }
    let mut webhook = json!({
        "name": name,
        "admissionReviewVersions": ["v1"],
        "sideEffects": "NoneOnDryRun",
        "failurePolicy": "Fail",
        "timeoutSeconds": 5,
        "matchPolicy": "Equivalent",
        "clientConfig": client_config,
        "rules": [{
            "apiGroups": [wfe_api::keys::GROUP],
            "apiVersions": [wfe_api::keys::VERSION],
            "operations": operations,
            "resources": [resource],
            "scope": "Namespaced",
        }],
    });
    if skip_controller {
        // The controller must never depend on the webhook being up for its own status writes.
        webhook["matchConditions"] = json!([{
            "name": "skip-controller",
            "expression": format!("request.userInfo.username != '{}'", cel_string(&opts.controller_username)),
        }]);
    }
    webhook
}

/// Escapes a value for a single-quoted CEL string literal.
fn cel_string(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_configurations_match_the_registered_names_paths_and_rules() {
        let opts = WebhookConfigOptions {
            ca_bundle_pem: "PEM".into(),
            ..WebhookConfigOptions::default()
        };
        let docs = webhook_configurations(&opts);
        let summary: Vec<(String, String, String, String, Value, Value)> = docs
            .iter()
            .map(|d| {
                let w = &d["webhooks"][0];
                (
                    d["kind"].as_str().unwrap_or_default().to_owned(),
                    d["metadata"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    w["name"].as_str().unwrap_or_default().to_owned(),
                    w["clientConfig"]["service"]["path"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    w["rules"][0]["operations"].clone(),
                    w["rules"][0]["resources"].clone(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "ValidatingWebhookConfiguration".into(),
                    "workflowexecution-validating".into(),
                    "validate.workflowexecution.kubernaut.ai".into(),
                    "/validate-workflowexecution".into(),
                    json!(["CREATE", "UPDATE"]),
                    json!(["workflowexecutions"])
                ),
                (
                    "MutatingWebhookConfiguration".into(),
                    "workflowexecution-status-mutating".into(),
                    "mutate-status.workflowexecution.kubernaut.ai".into(),
                    "/mutate-workflowexecution-status".into(),
                    json!(["UPDATE"]),
                    json!(["workflowexecutions/status"])
                ),
                (
                    "ValidatingWebhookConfiguration".into(),
                    "workflowexecution-status-validating".into(),
                    "validate-status.workflowexecution.kubernaut.ai".into(),
                    "/validate-workflowexecution-status".into(),
                    json!(["UPDATE"]),
                    json!(["workflowexecutions/status"])
                ),
            ]
        );
        for (i, d) in docs.iter().enumerate() {
            let w = &d["webhooks"][0];
            assert_eq!(w["failurePolicy"], "Fail");
            assert_eq!(w["sideEffects"], "NoneOnDryRun");
            assert_eq!(w["timeoutSeconds"], 5);
            assert_eq!(w["matchPolicy"], "Equivalent");
            assert_eq!(w["admissionReviewVersions"], json!(["v1"]));
            assert_eq!(w["rules"][0]["scope"], "Namespaced");
            assert_eq!(w["rules"][0]["apiGroups"], json!(["kubernaut.ai"]));
            assert_eq!(w["clientConfig"]["caBundle"], "UEVN");
            assert_eq!(
                w["clientConfig"]["service"]["namespace"],
                "kubernaut-system"
            );
            assert_eq!(w["clientConfig"]["service"]["port"], 443);
            if i == 0 {
                assert!(w.get("matchConditions").is_none());
            } else {
                assert_eq!(
                    w["matchConditions"][0]["expression"],
                    "request.userInfo.username != 'system:serviceaccount:kubernaut-system:workflowexecution-controller'"
                );
            }
        }
    }

    #[test]
    fn url_target_appends_paths_and_yaml_has_three_documents() {
        let opts = WebhookConfigOptions {
            target: ClientTarget::Url {
                base: "https://127.0.0.1:9443/".into(),
            },
            ..WebhookConfigOptions::default()
        };
        let docs = webhook_configurations(&opts);
        assert_eq!(
            docs[1]["webhooks"][0]["clientConfig"],
            json!({"url": "https://127.0.0.1:9443/mutate-workflowexecution-status"})
        );
        let yaml = webhook_configurations_yaml(&opts).expect("yaml");
        assert_eq!(yaml.matches("---\n").count(), 3);
        let parsed: Vec<Value> = yaml
            .split("---\n")
            .filter(|d| !d.trim().is_empty())
            .map(|d| serde_saphyr::from_str(d).expect("yaml doc"))
            .collect();
        assert_eq!(parsed, docs);
    }
}
