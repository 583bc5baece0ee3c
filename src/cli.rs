//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Kubernaut WorkflowExecution service: runs remediation workflows safely as Tekton
/// PipelineRuns (controller) and authenticates block clearances (admission webhook).
#[derive(Debug, Parser)]
#[command(name = "workflowexecution", version, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller, admission webhook, health and metrics servers against the current
    /// kube context (KUBECONFIG or in-cluster).
    Run(ConfigArgs),
    /// Print the WorkflowExecution CRD (YAML) generated from the Rust types.
    Crd,
    /// Check WorkflowExecution manifests offline with the admission rules; exit 1 on any violation.
    Validate {
        /// YAML or JSON files, each with one or more documents.
        #[arg(short = 'f', long = "filename", required = true, num_args = 1..)]
        files: Vec<PathBuf>,
        /// Apply this service config's limits (maxTimeout, allowedServiceAccounts).
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Print the effective configuration (defaults, file, WFE_* environment and --set applied).
    Config(ConfigArgs),
    /// TLS certificates for kind clusters and local API servers.
    Certs {
        /// What to do with certificates.
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Print the three webhook configurations (YAML) with the CA bundle filled in.
    WebhookConfig(WebhookConfigArgs),
    /// Print the clearance provenance ValidatingAdmissionPolicy, its binding and its parameter
    /// ConfigMap (YAML) for this configuration's identities; `deploy/base` carries the same for
    /// in-cluster installs.
    ClearancePolicy(ClearancePolicyArgs),
    /// Print the version.
    Version,
}

/// Where configuration comes from.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// YAML config file (also WFE_CONFIG). Every key is documented in docs/config.example.yaml.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one key, e.g. --set cooldown=1m --set leaderElection.enabled=true (repeatable;
    /// wins over the file and WFE_* environment variables).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// `certs` subcommands.
#[derive(Debug, Subcommand)]
pub enum CertsCommand {
    /// Generate a self-signed CA and a serving certificate; writes ca.crt, tls.crt and tls.key.
    Generate {
        /// Directory to write into (created if missing); use it as webhook.certDir.
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
        /// DNS name for the certificate (repeatable). Defaults to the in-cluster Service names
        /// workflowexecution-webhook.kubernaut-system.svc[.cluster.local] when no --dns or --ip is given.
        #[arg(long = "dns", value_name = "NAME")]
        dns: Vec<String>,
        /// IP address for the certificate (repeatable), e.g. 127.0.0.1 for an API server on this host.
        #[arg(long = "ip", value_name = "IP")]
        ip: Vec<std::net::IpAddr>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
}

/// `clearance-policy` arguments.
#[derive(Debug, Args)]
pub struct ClearancePolicyArgs {
    /// The controller's username as the API server authenticates it (default: the config's
    /// controllerIdentity, else the in-cluster ServiceAccount of deploy/).
    #[arg(long)]
    pub controller_username: Option<String>,
    /// Namespace of the parameter ConfigMap (the service's namespace).
    #[arg(long, default_value = "kubernaut-system")]
    pub namespace: String,
    /// The service configuration (runner identity: executionNamespace, runnerServiceAccount).
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// `webhook-config` arguments.
#[derive(Debug, Args)]
pub struct WebhookConfigArgs {
    /// PEM file of the CA that signed the serving certificate (ca.crt from `certs generate`).
    /// Omit it for cert-manager CA injection.
    #[arg(long, value_name = "FILE")]
    pub ca_bundle: Option<PathBuf>,
    /// Reach the webhook at this URL base instead of a Service, e.g. https://127.0.0.1:9443
    /// (an API server running on the same host).
    #[arg(long, value_name = "URL", conflicts_with_all = ["service_namespace", "service_name"])]
    pub url: Option<String>,
    /// Namespace of the webhook Service.
    #[arg(long, default_value = "kubernaut-system")]
    pub service_namespace: String,
    /// Name of the webhook Service.
    #[arg(long, default_value = "workflowexecution-webhook")]
    pub service_name: String,
    /// The controller's username, skipped by the status webhooks (matchConditions).
    #[arg(long, default_value = wfe_api::keys::DEFAULT_CONTROLLER_USERNAME)]
    pub controller_username: String,
}
