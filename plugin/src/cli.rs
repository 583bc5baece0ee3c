//! Command line of `kubectl wfe`: kubectl's connection flags plus four subcommands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
Examples:
  # Every blocked target in the current namespace, and in all namespaces
  kubectl wfe blocked
  kubectl wfe blocked -A -o json

  # Why did this remediation not run, and what do I do now?
  kubectl wfe why restart-payment-api-7f2c -n team-a

  # Clear a block (the webhook records who, when and why); preview it first
  kubectl wfe clear restart-payment-api-7f2c -n team-a --dry-run \\
    --reason \"The pod's memory limit was raised and on-call verified the deployment is healthy\"
  kubectl wfe clear restart-payment-api-7f2c -n team-a \\
    --reason \"The pod's memory limit was raised and on-call verified the deployment is healthy\"

  # Every remediation of a target, oldest first
  kubectl wfe history team-a/Deployment/payment-api -n team-a";

/// `kubectl wfe`: find blocked remediation targets, explain WorkflowExecutions, clear blocks.
#[derive(Debug, Parser)]
#[command(
    name = "kubectl-wfe",
    bin_name = "kubectl wfe",
    version,
    about = "Operate Kubernaut WorkflowExecutions: list blocked targets, explain a WFE, clear a block, show a target's history",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// Connection and scope flags, as kubectl has them.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every subcommand takes.
#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config, then in-cluster).
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace (default: the context's namespace, else `default`).
    #[arg(short = 'n', long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// Username to impersonate (like kubectl --as).
    #[arg(long = "as", global = true, value_name = "USER")]
    pub as_user: Option<String>,
    /// Group to impersonate; repeat for several (like kubectl --as-group).
    #[arg(long = "as-group", global = true, value_name = "GROUP")]
    pub as_groups: Vec<String>,
    /// The service's `backoff.maxConsecutiveFailures`, when it is not the default: the failure
    /// count at which pre-execution failures block a target.
    #[arg(
        long,
        global = true,
        env = "KUBECTL_WFE_MAX_CONSECUTIVE_FAILURES",
        value_name = "N"
    )]
    pub max_consecutive_failures: Option<u32>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every blocked target with its blocking WorkflowExecution and the command to clear it.
    Blocked(BlockedArgs),
    /// Ask the admission webhook to clear the block of a failed WorkflowExecution.
    Clear(ClearArgs),
    /// Explain why a WorkflowExecution is in its phase and what to do next.
    Why(WhyArgs),
    /// List the remediations of a target (spec.targetResource), oldest first.
    History(HistoryArgs),
}

/// `blocked`.
#[derive(Debug, Args)]
pub struct BlockedArgs {
    /// Look in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format (default: a table).
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<Format>,
}

/// `clear`.
#[derive(Debug, Args)]
pub struct ClearArgs {
    /// The failed WorkflowExecution whose block to clear.
    pub name: String,
    /// Why it is safe to remediate the target again (at least 10 words and 20 characters).
    #[arg(long)]
    pub reason: String,
    /// Ask the API server and the webhook for their decision without saving anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Skip the local check of the reason (for a service configured with other clearance rules);
    /// the webhook still checks it.
    #[arg(long)]
    pub no_local_check: bool,
    /// Output format of the stamped record (default: text).
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<Format>,
}

/// `why`.
#[derive(Debug, Args)]
pub struct WhyArgs {
    /// The WorkflowExecution to explain.
    pub name: String,
}

/// `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// The target, as in spec.targetResource: `namespace/Kind/name` or `Kind/name`.
    pub target: String,
    /// Look in every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Output format (default: a table).
    #[arg(short = 'o', long, value_enum)]
    pub output: Option<Format>,
}

/// Machine-readable output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// JSON.
    Json,
    /// YAML.
    Yaml,
}
