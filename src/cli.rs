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
