//! The thin I/O shell: fetch what a subcommand needs, hand it to the pure functions, return the
//! text to print.

use jiff::Timestamp;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, ListParams, Patch, PatchParams};
use wfe_api::WorkflowExecution;
use wfe_api::block::BlockPolicy;

use crate::cli::{BlockedArgs, ClearArgs, Command, Global, HistoryArgs, WhyArgs};
use crate::error::PluginError;
use crate::{blocked, clear, history, render, why};

/// Field manager of the clearance request (shows up in managedFields and the API audit log).
pub const FIELD_MANAGER: &str = "kubectl-wfe";

/// What a command printed: its output, and warnings for stderr.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Printed {
    /// For stdout.
    pub stdout: String,
    /// For stderr (e.g. objects that could not be decoded).
    pub warnings: Vec<String>,
}

/// The block rules' policy as far as the plugin knows it: the service defaults, with the
/// failure limit from `--max-consecutive-failures`.
pub fn policy(global: &Global) -> BlockPolicy {
    let mut policy = BlockPolicy::default();
    if let Some(max) = global.max_consecutive_failures {
        policy.max_consecutive_failures = max;
    }
    policy
}

/// Runs `command` against `client`; `namespace` is where unqualified names live.
pub async fn execute(
    command: &Command,
    client: Client,
    namespace: &str,
    policy: &BlockPolicy,
    now: Timestamp,
) -> Result<Printed, PluginError> {
    match command {
        Command::Blocked(args) => run_blocked(args, client, namespace, policy).await,
        Command::Clear(args) => run_clear(args, client, namespace, policy).await,
        Command::Why(args) => run_why(args, client, namespace, policy, now).await,
        Command::History(args) => run_history(args, client, namespace).await,
    }
}

async fn run_blocked(
    args: &BlockedArgs,
    client: Client,
    namespace: &str,
    policy: &BlockPolicy,
) -> Result<Printed, PluginError> {
    let (wfes, warnings) = list(client, namespace, args.all_namespaces).await?;
    let rows = blocked::blocked_rows(&wfes, policy);
    let stdout = match args.output {
        Some(format) => render::encode(&rows, format)?,
        None => blocked::render_table(
            &rows,
            args.all_namespaces,
            &scope(namespace, args.all_namespaces),
        ),
    };
    Ok(Printed { stdout, warnings })
}

async fn run_history(
    args: &HistoryArgs,
    client: Client,
    namespace: &str,
) -> Result<Printed, PluginError> {
    let (wfes, warnings) = list(client, namespace, args.all_namespaces).await?;
    let rows = history::history_rows(&wfes, &args.target);
    let stdout = match args.output {
        Some(format) => render::encode(&rows, format)?,
        None => history::render_table(&rows, &args.target, &scope(namespace, args.all_namespaces)),
    };
    Ok(Printed { stdout, warnings })
}

async fn run_why(
    args: &WhyArgs,
    client: Client,
    namespace: &str,
    policy: &BlockPolicy,
    now: Timestamp,
) -> Result<Printed, PluginError> {
    let wfe = get(client.clone(), namespace, &args.name).await?;
    let mut warnings = Vec::new();
    let related = match why::related(&wfe) {
        Some((name, ns)) => match get(client, &ns, &name).await {
            Ok(w) => Some(w),
            Err(PluginError::NotFound { .. }) => {
                warnings.push(format!("WorkflowExecution {ns}/{name} no longer exists"));
                None
            }
            Err(e) => return Err(e),
        },
        None => None,
    };
    Ok(Printed {
        stdout: why::explain(&wfe, related.as_ref(), now, policy),
        warnings,
    })
}

async fn run_clear(
    args: &ClearArgs,
    client: Client,
    namespace: &str,
    policy: &BlockPolicy,
) -> Result<Printed, PluginError> {
    if !args.no_local_check {
        clear::check_reason(&args.reason, policy)?;
    }
    let wfe = get(client.clone(), namespace, &args.name).await?;
    if !args.no_local_check {
        clear::check_clearable(&wfe, policy)?;
    }
    let api: Api<WorkflowExecution> = Api::namespaced(client, namespace);
    let params = PatchParams {
        dry_run: args.dry_run,
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..Default::default()
    };
    let answer = api
        .patch_status(
            &args.name,
            &params,
            &Patch::Merge(clear::clearance_patch(&args.reason)),
        )
        .await
        .map_err(|e| PluginError::from_kube(e, namespace, Some(&args.name)))?;
    let record = clear::stamped(&answer)?;
    let stdout = match args.output {
        Some(format) => render::encode(record, format)?,
        None => clear::render_record(&answer, record, args.dry_run),
    };
    Ok(Printed {
        stdout,
        warnings: Vec::new(),
    })
}

fn scope(namespace: &str, all: bool) -> String {
    if all {
        "in any namespace".to_owned()
    } else {
        format!("in namespace {namespace}")
    }
}

async fn get(
    client: Client,
    namespace: &str,
    name: &str,
) -> Result<WorkflowExecution, PluginError> {
    Api::<WorkflowExecution>::namespaced(client, namespace)
        .get(name)
        .await
        .map_err(|e| PluginError::from_kube(e, namespace, Some(name)))
}

/// The WFEs of `namespace` (or all), decoding each one separately so that one object the types
/// cannot read is reported instead of hiding every other.
async fn list(
    client: Client,
    namespace: &str,
    all: bool,
) -> Result<(Vec<WorkflowExecution>, Vec<String>), PluginError> {
    let resource = ApiResource::erase::<WorkflowExecution>(&());
    let api: Api<DynamicObject> = if all {
        Api::all_with(client, &resource)
    } else {
        Api::namespaced_with(client, namespace, &resource)
    };
    let objects = api
        .list(&ListParams::default())
        .await
        .map_err(|e| PluginError::from_kube(e, namespace, None))?;
    let mut wfes = Vec::new();
    let mut warnings = Vec::new();
    for object in objects.items {
        let id = format!(
            "{}/{}",
            object.metadata.namespace.as_deref().unwrap_or_default(),
            object.metadata.name.as_deref().unwrap_or_default()
        );
        let decoded = serde_json::to_value(&object)
            .map_err(|e| e.to_string())
            .and_then(|v| wfe_api::parse_workflow_execution(v).map_err(|e| e.to_string()));
        match decoded {
            Ok(w) => wfes.push(w),
            Err(e) => warnings.push(format!(
                "skipped WorkflowExecution {id}: cannot decode it: {e}"
            )),
        }
    }
    Ok((wfes, warnings))
}
