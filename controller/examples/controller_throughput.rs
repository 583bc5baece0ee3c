//! Controller throughput and memory against a real API server (DESIGN §10), opt-in: it runs only
//! when `WFE_E2E_KUBECONFIG` names an admin kubeconfig, otherwise it says so and exits 0.
//!
//! ```text
//! WFE_E2E_KUBECONFIG=/path/kubeconfig cargo run --release -p wfe-controller \
//!     --example controller_throughput -- [--count 1000] [--concurrency 32]
//! WFE_E2E_KUBECONFIG=/path/kubeconfig cargo run --release -p wfe-controller \
//!     --example controller_throughput -- --memory 10000
//! ```
//!
//! Throughput run: installs the WorkflowExecution CRD and the Tekton PipelineRun/TaskRun CRDs if
//! absent (conversion webhook removed: Tekton is simulated, nothing else serves it), runs the
//! controller in-process through `wfe_controller::run` with an in-memory audit trail, creates N
//! WFEs on distinct targets with C concurrent requests and measures the time until every WFE is
//! Running with its PipelineRun. Then it completes every PipelineRun through the status
//! subresource (Succeeded=True) and measures the time until every WFE is Completed, and reports
//! reconciles per WFE from the controller's metrics registry. With the controller stopped, it
//! then issues the same per-WFE writes directly (create WFE, add finalizer, create PipelineRun,
//! write Running status) with the same concurrency: the API server's raw rate for that work.
//!
//! Memory run (`--memory N`): makes sure N Completed WFEs exist (a child process of this example
//! creates them, so its allocations do not count), then starts the controller, waits until its
//! caches are synced and reconciles have stopped, and prints the process's peak RSS (VmHWM).
//!
//! Every object is created in namespaces named after the run; nothing is deleted (a local API
//! server without a controller-manager cannot finish namespace deletion).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Api, Client, Config};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use wfe_api::{AuditEventType, Phase, WorkflowExecution, keys};
use wfe_audit::{AuditError, AuditTrail};
use wfe_controller::{Metrics, Settings, tekton};

type Error = Box<dyn std::error::Error + Send + Sync>;

const ENV: &str = "WFE_E2E_KUBECONFIG";
const MANAGER: &str = "wfe-benchmark";
const USAGE: &str = "usage: controller_throughput [--count N] [--concurrency C] [--timeout 10m] | --memory N | --populate N NAMESPACE";

enum Mode {
    Throughput {
        count: usize,
        concurrency: usize,
        timeout: Duration,
    },
    Memory {
        count: usize,
    },
    Populate {
        count: usize,
        namespace: String,
    },
}

fn parse_args() -> Result<Mode, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| -> Result<usize, String> {
        let v = args
            .get(i)
            .ok_or_else(|| format!("missing value\n{USAGE}"))?;
        match v.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(format!("expected a positive integer, got {v:?}")),
        }
    };
    match args.first().map(String::as_str) {
        Some("--memory") => Ok(Mode::Memory { count: number(1)? }),
        Some("--populate") => Ok(Mode::Populate {
            count: number(1)?,
            namespace: args.get(2).cloned().ok_or(USAGE)?,
        }),
        _ => {
            let (mut count, mut concurrency, mut timeout) = (1000, 32, Duration::from_secs(600));
            let mut i = 0;
            while i < args.len() {
                match args[i].as_str() {
                    "--count" => count = number(i + 1)?,
                    "--concurrency" => concurrency = number(i + 1)?,
                    "--timeout" => {
                        let v = args.get(i + 1).ok_or(USAGE)?;
                        timeout = wfe_api::duration::parse(v)
                            .map_err(|e| format!("--timeout {v:?}: {e}"))?;
                    }
                    other => return Err(format!("unknown argument {other}\n{USAGE}")),
                }
                i += 2;
            }
            Ok(Mode::Throughput {
                count,
                concurrency,
                timeout,
            })
        }
    }
}

/// Acknowledges every event at once and counts them: the run measures the controller and the
/// API server, not an audit sink.
#[derive(Default)]
struct MemoryAudit {
    delivered: Mutex<usize>,
}

impl AuditTrail for MemoryAudit {
    fn deliver<'a>(
        &'a self,
        _wfe: &'a WorkflowExecution,
        due: &'a [AuditEventType],
    ) -> BoxFuture<'a, Result<Vec<AuditEventType>, AuditError>> {
        Box::pin(async move {
            *self
                .delivered
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) += due.len();
            Ok(due.to_vec())
        })
    }
}

async fn client(path: &str) -> Result<Client, Error> {
    let kubeconfig = Kubeconfig::read_from(path)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    Ok(Client::try_from(config)?)
}

fn repo_path(relative: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Installs the WFE CRD and the Tekton CRDs (without their conversion webhook) unless present.
async fn ensure_crds(client: &Client) -> Result<(), Error> {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let files = [
        ("../deploy/crd/crd.yaml", false),
        ("../../shared/reference/tekton/300-pipelinerun.yaml", true),
        ("../../shared/reference/tekton/300-taskrun.yaml", true),
    ];
    for (file, tekton) in files {
        let path = repo_path(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for mut doc in serde_saphyr::from_multiple::<Value>(&text)? {
            if doc["kind"] != "CustomResourceDefinition" {
                continue;
            }
            let name = doc["metadata"]["name"]
                .as_str()
                .ok_or("CRD without a name")?
                .to_owned();
            if crds.get_opt(&name).await?.is_some() {
                continue;
            }
            if tekton {
                doc["spec"]["conversion"] = json!({"strategy": "None"});
            }
            println!("installing CRD {name}");
            crds.patch(&name, &PatchParams::apply(MANAGER), &Patch::Apply(&doc))
                .await?;
            wait_until("CRD established", Duration::from_secs(60), || async {
                let crd = crds.get(&name).await.ok()?;
                let established = crd
                    .status?
                    .conditions?
                    .iter()
                    .any(|c| c.type_ == "Established" && c.status == "True");
                established.then_some(())
            })
            .await?;
        }
    }
    Ok(())
}

async fn ensure_namespace(client: &Client, name: &str) -> Result<(), Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(name).await?.is_none() {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))?;
        namespaces.create(&PostParams::default(), &ns).await?;
    }
    Ok(())
}

async fn wait_until<F, Fut>(what: &str, timeout: Duration, mut check: F) -> Result<(), Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<()>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if check().await.is_some() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out after {timeout:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A WFE on its own target, with the spec size of a typical request.
fn new_wfe(namespace: &str, name: &str, target_namespace: &str, i: usize) -> WorkflowExecution {
    // Created by this example, not read back: the API server assigns uid and versions.
    let mut w = wfe_testing::wfe_on(name, &format!("{target_namespace}/Deployment/app-{i}"));
    w.spec.parameters = [("REPLICAS".to_owned(), "3".to_owned())].into();
    w.spec.confidence = Some(0.9);
    w.spec.rationale = Some("memory leak after the last rollout; a restart clears it".into());
    w.metadata.namespace = Some(namespace.to_owned());
    w.metadata.uid = None;
    w.metadata.generation = None;
    w.metadata.resource_version = None;
    w
}

/// Watches `namespace` until `count` WFEs satisfy `done`; returns when the last one did.
async fn wait_for_wfes(
    client: Client,
    namespace: String,
    count: usize,
    timeout: Duration,
    done: fn(&WorkflowExecution) -> bool,
) -> Result<Instant, Error> {
    let api: Api<WorkflowExecution> = Api::namespaced(client, &namespace);
    let mut seen = HashSet::new();
    let mut events = watcher(api, watcher::Config::default()).boxed();
    let watch = async {
        while let Some(event) = events.try_next().await? {
            match event {
                watcher::Event::Apply(w) | watcher::Event::InitApply(w) if done(&w) => {
                    seen.insert(w.metadata.name.clone().unwrap_or_default());
                    if seen.len() >= count {
                        return Ok::<_, Error>(Instant::now());
                    }
                }
                _ => {}
            }
        }
        Err("watch ended".into())
    };
    tokio::time::timeout(timeout, watch).await.map_err(|_| {
        format!(
            "timed out after {timeout:?}: {} of {count} done",
            seen.len()
        )
    })?
}

fn running_with_run(w: &WorkflowExecution) -> bool {
    w.phase() == Phase::Running
        && w.status
            .as_ref()
            .is_some_and(|s| s.pipeline_run_ref.is_some())
}

fn completed(w: &WorkflowExecution) -> bool {
    w.phase() == Phase::Completed
}

fn reconcile_count(registry: &prometheus::Registry) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == "workflowexecution_reconcile_duration_seconds")
        .flat_map(|f| f.get_metric().iter())
        .map(|m| m.get_histogram().get_sample_count())
        .sum()
}

fn counter(registry: &prometheus::Registry, name: &str) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .map(|m| m.get_counter().get_value())
        .sum()
}

/// Reconcile errors by kind, e.g. `conflict=3`.
fn errors_by_kind(registry: &prometheus::Registry) -> String {
    let parts: Vec<String> = registry
        .gather()
        .iter()
        .filter(|f| f.name() == "workflowexecution_reconcile_errors_total")
        .flat_map(|f| f.get_metric().iter())
        .map(|m| {
            let kind = m
                .get_label()
                .iter()
                .map(|l| l.value())
                .collect::<Vec<_>>()
                .join(",");
            format!("{kind}={}", m.get_counter().get_value())
        })
        .collect();
    if parts.is_empty() {
        "none".to_owned()
    } else {
        parts.join(" ")
    }
}

struct Controller {
    registry: prometheus::Registry,
    shutdown: CancellationToken,
    synced: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<Result<(), wfe_controller::Error>>,
}

fn start_controller(client: &Client, settings: &Settings) -> Result<Controller, Error> {
    let registry = prometheus::Registry::new();
    let metrics = Arc::new(Metrics::new(&registry)?);
    let shutdown = CancellationToken::new();
    let synced = Arc::new(AtomicBool::new(false));
    let task = tokio::spawn(wfe_controller::run(
        client.clone(),
        settings.clone(),
        metrics,
        Arc::new(MemoryAudit::default()),
        shutdown.clone(),
        synced.clone(),
    ));
    Ok(Controller {
        registry,
        shutdown,
        synced,
        task,
    })
}

impl Controller {
    async fn wait_synced(&self) -> Result<(), Error> {
        wait_until(
            "controller caches synced",
            Duration::from_secs(300),
            || async { self.synced.load(Ordering::Acquire).then_some(()) },
        )
        .await
    }

    /// Waits until no reconcile ran for `quiet` (the start-up pass over existing WFEs is over).
    async fn settle(&self, quiet: Duration) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(600);
        let mut last = reconcile_count(&self.registry);
        let mut still = Duration::ZERO;
        while still < quiet && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = reconcile_count(&self.registry);
            still = if now == last {
                still + Duration::from_millis(250)
            } else {
                Duration::ZERO
            };
            last = now;
        }
        last
    }

    async fn stop(self) -> Result<(), Error> {
        self.shutdown.cancel();
        self.task.await??;
        Ok(())
    }
}

/// Creates the WFEs with `concurrency` requests in flight.
async fn create_wfes(
    client: &Client,
    namespace: &str,
    target_namespace: &str,
    count: usize,
    concurrency: usize,
) -> Result<(), Error> {
    let api: Api<WorkflowExecution> = Api::namespaced(client.clone(), namespace);
    stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            let w = new_wfe(namespace, &format!("wfe-{i}"), target_namespace, i);
            async move { api.create(&PostParams::default(), &w).await.map(drop) }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
    Ok(())
}

/// Marks every PipelineRun of the run's targets Succeeded, as Tekton would.
async fn complete_runs(
    client: &Client,
    settings: &Settings,
    target_namespace: &str,
    count: usize,
    concurrency: usize,
) -> Result<(), Error> {
    let runs: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &settings.execution_namespace,
        &tekton::pipeline_run_resource(),
    );
    let now = jiff::Timestamp::now().to_string();
    stream::iter(0..count)
        .map(|i| {
            let runs = runs.clone();
            let name = wfe_api::naming::pipeline_run_name(&format!(
                "{target_namespace}/Deployment/app-{i}"
            ));
            let status = json!({"status": {
                "startTime": now,
                "completionTime": now,
                "conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded",
                    "message": "Tasks Completed: 1 (Failed: 0, Cancelled 0), Skipped: 0",
                    "lastTransitionTime": now}],
            }});
            async move {
                runs.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                    .map(drop)
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await?;
    Ok(())
}

/// The controller's writes for one new WFE, issued directly: create (the client's), then what
/// the controller writes: finalizer, PipelineRun, Running status, the PipelineRunCreated event,
/// and the status write recording the acknowledged audit events.
async fn raw_writes(
    client: &Client,
    settings: &Settings,
    namespace: &str,
    target_namespace: &str,
    count: usize,
    concurrency: usize,
) -> Result<(), Error> {
    let api: Api<WorkflowExecution> = Api::namespaced(client.clone(), namespace);
    let runs: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &settings.execution_namespace,
        &tekton::pipeline_run_resource(),
    );
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    stream::iter(0..count)
        .map(|i| {
            let (api, runs, events) = (api.clone(), runs.clone(), events.clone());
            let w = new_wfe(namespace, &format!("raw-{i}"), target_namespace, i);
            async move {
                let created = api.create(&PostParams::default(), &w).await?;
                let name = created.metadata.name.clone().unwrap_or_default();
                let finalizer = json!({"metadata": {"finalizers": [keys::FINALIZER]}});
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&finalizer))
                    .await?;
                let run = tekton::build_pipeline_run(&created, settings)
                    .map_err(|e| format!("PipelineRun for {name}: {e}"))?;
                let run = runs.create(&PostParams::default(), &run).await?;
                let now = jiff::Timestamp::now().to_string();
                let status = json!({"status": {
                    "phase": "Running",
                    "startTime": now,
                    "observedGeneration": 1,
                    "pipelineRunRef": {"name": run.metadata.name, "namespace": settings.execution_namespace},
                }});
                let written = api
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await?;
                let event: Event = serde_json::from_value(json!({
                    "metadata": {"name": format!("{name}.{i:x}"), "namespace": namespace},
                    "eventTime": jiff::Timestamp::now().to_string(),
                    "reportingController": keys::REPORTING_CONTROLLER,
                    "reportingInstance": "benchmark",
                    "action": "PipelineRunCreated",
                    "reason": "PipelineRunCreated",
                    "type": "Normal",
                    "note": format!("created PipelineRun {} for {}", run.metadata.name.unwrap_or_default(), w.spec.target_resource),
                    "regarding": {"apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecution",
                        "namespace": namespace, "name": name, "uid": written.metadata.uid},
                }))?;
                events.create(&PostParams::default(), &event).await?;
                let audited = json!({"status": {"auditedEvents": [AuditEventType::WorkflowStarted.as_str()]}});
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&audited))
                    .await?;
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(concurrency)
        .try_collect::<()>()
        .await
}

fn run_id() -> String {
    format!("{}", jiff::Timestamp::now().as_second() % 1_000_000)
}

async fn throughput(
    client: Client,
    count: usize,
    concurrency: usize,
    timeout: Duration,
) -> Result<(), Error> {
    let settings = Settings::default();
    ensure_crds(&client).await?;
    ensure_namespace(&client, &settings.execution_namespace).await?;
    let id = run_id();
    let (ns, raw_ns) = (format!("wfe-bench-{id}"), format!("wfe-raw-{id}"));
    ensure_namespace(&client, &ns).await?;
    ensure_namespace(&client, &raw_ns).await?;
    println!(
        "{count} WFEs on distinct targets, {concurrency} concurrent requests; namespaces {ns} and {raw_ns}"
    );

    let controller = start_controller(&client, &settings)?;
    controller.wait_synced().await?;
    let before = controller.settle(Duration::from_secs(2)).await;
    let waiter = tokio::spawn(wait_for_wfes(
        client.clone(),
        ns.clone(),
        count,
        timeout,
        running_with_run,
    ));
    let start = Instant::now();
    create_wfes(&client, &ns, &ns, count, concurrency).await?;
    let created = start.elapsed();
    let running = waiter.await??.duration_since(start);
    let runs: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &settings.execution_namespace,
        &tekton::pipeline_run_resource(),
    );
    let ours = runs
        .list(&ListParams::default().labels(&format!("{}={ns}", keys::LABEL_SOURCE_NAMESPACE)))
        .await?
        .items
        .len();
    let reconciles_running = reconcile_count(&controller.registry) - before;
    println!(
        "controller: {count} created in {created:.2?}, all Running with a PipelineRun after {running:.2?} ({:.0} WFE/s); PipelineRuns created {} (metric), {ours} listed for this run; reconciles {reconciles_running} ({:.2} per WFE)",
        count as f64 / running.as_secs_f64(),
        counter(
            &controller.registry,
            "workflowexecution_pipelinerun_creation_total"
        ),
        reconciles_running as f64 / count as f64,
    );

    let waiter = tokio::spawn(wait_for_wfes(
        client.clone(),
        ns.clone(),
        count,
        timeout,
        completed,
    ));
    let start = Instant::now();
    complete_runs(&client, &settings, &ns, count, concurrency).await?;
    let patched = start.elapsed();
    let done = waiter.await??.duration_since(start);
    let reconciles_total = reconcile_count(&controller.registry) - before;
    println!(
        "completion: {count} PipelineRun statuses patched in {patched:.2?}, all Completed after {done:.2?}; reconciles so far {reconciles_total} ({:.2} per WFE), reconcile errors {}",
        reconciles_total as f64 / count as f64,
        errors_by_kind(&controller.registry),
    );
    controller.stop().await?;

    let start = Instant::now();
    raw_writes(&client, &settings, &raw_ns, &raw_ns, count, concurrency).await?;
    let raw = start.elapsed();
    println!(
        "raw writes: {count} × (create WFE, add finalizer, create PipelineRun, write status, create event, write status) in {raw:.2?} ({:.0} WFE/s)",
        count as f64 / raw.as_secs_f64()
    );
    let ratio = running.as_secs_f64() / raw.as_secs_f64();
    println!(
        "time to Running / raw writes = {ratio:.2} ({} the DESIGN §10 target ≤ 1.5×)",
        if ratio <= 1.5 { "meets" } else { "MISSES" }
    );
    Ok(())
}

/// Creates `count` Completed WFEs (finalizer set, as the controller would have left them).
async fn populate(client: Client, namespace: &str, count: usize) -> Result<(), Error> {
    ensure_crds(&client).await?;
    ensure_namespace(&client, namespace).await?;
    let api: Api<WorkflowExecution> = Api::namespaced(client.clone(), namespace);
    let existing = api.list_metadata(&ListParams::default()).await?.items.len();
    let now = jiff::Timestamp::now().to_string();
    stream::iter(existing..count)
        .map(|i| {
            let api = api.clone();
            let mut w = new_wfe(namespace, &format!("done-{i}"), namespace, i);
            w.metadata.finalizers = Some(vec![keys::FINALIZER.to_owned()]);
            let status = json!({"status": {
                "phase": "Completed",
                "startTime": now,
                "completionTime": now,
                "observedGeneration": 1,
                "pipelineRunRef": {"name": wfe_api::naming::pipeline_run_name(&w.spec.target_resource),
                    "namespace": "kubernaut-workflows"},
            }});
            async move {
                let created = api.create(&PostParams::default(), &w).await?;
                let name = created.metadata.name.unwrap_or_default();
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await?;
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(32)
        .try_collect::<()>()
        .await?;
    println!("{namespace}: {count} WFEs present");
    Ok(())
}

fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

async fn memory(client: Client, count: usize, kubeconfig: &str) -> Result<(), Error> {
    let namespace = format!("wfe-mem-{count}");
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["--populate", &count.to_string(), &namespace])
        .env(ENV, kubeconfig)
        .status()?;
    if !child.success() {
        return Err(format!("populating {namespace} failed: {child}").into());
    }
    let baseline = status_kib("VmRSS:").unwrap_or(0);
    let settings = Settings::default();
    let controller = start_controller(&client, &settings)?;
    let start = Instant::now();
    controller.wait_synced().await?;
    let synced = start.elapsed();
    let rss_synced = status_kib("VmRSS:").unwrap_or(0);
    // At start-up every cached WFE is reconciled once; wait for that pass, then for quiet.
    wait_until(
        "the start-up reconcile of every WFE",
        Duration::from_secs(600),
        || async { (reconcile_count(&controller.registry) >= count as u64).then_some(()) },
    )
    .await?;
    let first_pass = start.elapsed();
    let last = controller.settle(Duration::from_secs(5)).await;
    let mib = |kib: u64| kib as f64 / 1024.0;
    let hwm = status_kib("VmHWM:").unwrap_or(u64::MAX);
    println!(
        "memory: {count} WFEs in {namespace}; caches synced after {synced:.2?}, every WFE reconciled after {first_pass:.2?}, {last} reconciles when settled ({:.2?})",
        start.elapsed()
    );
    println!(
        "RSS before the controller {:.1} MiB, when synced {:.1} MiB, settled {:.1} MiB; peak (VmHWM) {:.1} MiB ({} the DESIGN §10 target < 32 MiB)",
        mib(baseline),
        mib(rss_synced),
        mib(status_kib("VmRSS:").unwrap_or(0)),
        mib(hwm),
        if hwm < 32 * 1024 { "meets" } else { "MISSES" }
    );
    controller.stop().await
}

#[tokio::main]
async fn main() {
    let Ok(kubeconfig) = std::env::var(ENV) else {
        println!(
            "controller_throughput: skipped ({ENV} is not set; it needs an admin kubeconfig of a disposable cluster)"
        );
        return;
    };
    let result = async {
        let mode = parse_args()?;
        let client = client(&kubeconfig).await?;
        match mode {
            Mode::Throughput {
                count,
                concurrency,
                timeout,
            } => throughput(client, count, concurrency, timeout).await,
            Mode::Memory { count } => memory(client, count, &kubeconfig).await,
            Mode::Populate { count, namespace } => populate(client, &namespace, count).await,
        }
    }
    .await;
    if let Err(e) = result {
        eprintln!("controller_throughput: {e}");
        std::process::exit(1);
    }
}
