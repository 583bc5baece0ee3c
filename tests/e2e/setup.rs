//! One-time preparation of the cluster (and, in external mode, of the binary) before scenarios.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::config::Kubeconfig;
use serde_json::json;

use crate::cluster;
use crate::settings::{Mode, Settings, TektonMode};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = env!("CARGO_BIN_EXE_workflowexecution");
/// Namespace of the controller's ServiceAccount (deploy/).
pub const CONTROLLER_NAMESPACE: &str = "kubernaut-system";
/// The controller's ServiceAccount (deploy/).
pub const CONTROLLER_SERVICE_ACCOUNT: &str = "workflowexecution-controller";

/// The service timings the scenarios depend on.
#[derive(Debug, Clone)]
pub struct Timings {
    pub cooldown: Duration,
    pub backoff_max: Duration,
    pub max_consecutive_failures: u32,
    pub execution_namespace: String,
}

impl Timings {
    /// From a service config file's text; absent keys take the product defaults.
    pub fn from_config(text: &str) -> Result<Timings, String> {
        let options = serde_saphyr::options! { strict_booleans: true };
        let v: serde_json::Value = serde_saphyr::from_str_with_options(text, options)
            .map_err(|e| format!("service config is not YAML: {e}"))?;
        let duration = |path: &[&str], default: &str| -> Result<Duration, String> {
            let raw = path
                .iter()
                .try_fold(&v, |v, k| v.get(*k))
                .and_then(serde_json::Value::as_str)
                .unwrap_or(default);
            wfe_api::duration::parse(raw).map_err(|e| format!("{}: {e}", path.join(".")))
        };
        Ok(Timings {
            cooldown: duration(&["cooldown"], "5m")?,
            backoff_max: duration(&["backoff", "max"], "10m")?,
            max_consecutive_failures: v
                .get("backoff")
                .and_then(|b| b.get("maxConsecutiveFailures"))
                .and_then(serde_json::Value::as_u64)
                .map_or(5, |n| n as u32),
            execution_namespace: v
                .get("executionNamespace")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("kubernaut-workflows")
                .to_owned(),
        })
    }

    /// Whether waiting out cooldowns and backoffs fits a test run (at most a minute each).
    pub fn short(&self) -> bool {
        self.cooldown <= Duration::from_secs(60) && self.backoff_max <= Duration::from_secs(60)
    }
}

/// What every test shares.
#[derive(Clone)]
pub struct Shared {
    pub timings: Timings,
    /// The audit file sink (external mode only).
    pub audit_path: Option<PathBuf>,
    /// Closing this pipe (when the test process exits) stops the external binary.
    _watchdog: Option<Arc<Mutex<std::process::ChildStdin>>>,
    _child: Option<Arc<Mutex<Child>>>,
}

/// Prepares the cluster once per test process.
pub async fn prepare(settings: &Settings) -> Result<Shared, String> {
    let admin = cluster::client(cluster::config(&settings.kubeconfig, None).await);
    ensure_tekton(&admin, settings).await?;
    match settings.mode {
        Mode::InCluster => prepare_in_cluster(&admin).await,
        Mode::External => prepare_external(&admin, settings).await,
    }
}

async fn ensure_tekton(admin: &Client, settings: &Settings) -> Result<(), String> {
    let served = |plural: &'static str| {
        let admin = admin.clone();
        async move { cluster::serves(&admin, "tekton.dev", "v1", plural).await }
    };
    if served("pipelineruns").await && served("taskruns").await {
        return Ok(());
    }
    if settings.tekton == TektonMode::Real {
        return Err("WFE_E2E_TEKTON=real but the cluster does not serve tekton.dev/v1 PipelineRuns and TaskRuns; install Tekton Pipelines".into());
    }
    let mut docs = Vec::new();
    for file in ["300-pipelinerun.yaml", "300-taskrun.yaml"] {
        let path = Path::new(ROOT)
            .join("../shared/reference/tekton")
            .join(file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for mut doc in cluster::yaml_documents(&text, file) {
            // No Tekton webhook runs in simulated mode: serve both versions without conversion.
            doc["spec"]["conversion"] = json!({"strategy": "None"});
            docs.push(doc);
        }
    }
    cluster::apply(admin, &docs).await;
    let timeout = settings.timeout;
    cluster::wait_for("the Tekton CRDs to be served", timeout, || async {
        if served("pipelineruns").await && served("taskruns").await {
            Ok(())
        } else {
            Err("not yet served".to_owned())
        }
    })
    .await;
    Ok(())
}

async fn prepare_in_cluster(admin: &Client) -> Result<Shared, String> {
    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), CONTROLLER_NAMESPACE);
    let d = deployments
        .get("workflowexecution")
        .await
        .map_err(|e| format!("in-cluster mode needs Deployment {CONTROLLER_NAMESPACE}/workflowexecution (install deploy/ first): {e}"))?;
    let ready = d.status.and_then(|s| s.ready_replicas).unwrap_or(0);
    if ready < 1 {
        return Err(format!(
            "Deployment {CONTROLLER_NAMESPACE}/workflowexecution has no ready replica"
        ));
    }
    let maps: Api<ConfigMap> = Api::namespaced(admin.clone(), CONTROLLER_NAMESPACE);
    let cm = maps
        .get("workflowexecution-config")
        .await
        .map_err(|e| format!("cannot read ConfigMap workflowexecution-config: {e}"))?;
    let text = cm
        .data
        .and_then(|d| d.get("config.yaml").cloned())
        .unwrap_or_default();
    Ok(Shared {
        timings: Timings::from_config(&text)?,
        audit_path: None,
        _watchdog: None,
        _child: None,
    })
}

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

async fn prepare_external(admin: &Client, settings: &Settings) -> Result<Shared, String> {
    let work = work_dir(settings)?;
    println!(
        "E2E work directory (certificates, kubeconfig, binary log, audit file): {}",
        work.display()
    );
    let deploy = Path::new(ROOT).join("deploy");
    let mut docs = Vec::new();
    // In the documented install order: the CRD and the shared namespaces (their own components,
    // never removed with the service), then the service's RBAC from deploy/base.
    for file in [
        "crd/crd.yaml",
        "namespaces/namespaces.yaml",
        "base/rbac.yaml",
        "base/runner.yaml",
        "base/block-clearer.yaml",
    ] {
        docs.extend(cluster::yaml_documents(&read(&deploy.join(file))?, file));
    }
    cluster::apply(admin, &docs).await;
    cluster::wait_for(
        "the WorkflowExecution CRD to be served",
        settings.timeout,
        || async {
            if cluster::serves(admin, "kubernaut.ai", "v1alpha1", "workflowexecutions").await {
                Ok(())
            } else {
                Err("not yet served".to_owned())
            }
        },
    )
    .await;

    let kubeconfig = controller_kubeconfig(admin, settings, &work).await?;
    let certs = work.join("certs");
    run_binary(&[
        "certs",
        "generate",
        "--out-dir",
        path_str(&certs)?,
        "--ip",
        "127.0.0.1",
        "--dns",
        "localhost",
    ])?;

    let (webhook_port, health_port, metrics_port) = (free_port()?, free_port()?, free_port()?);
    // Per run: a binary of an earlier run may still be draining and writing its own file. Leader
    // election stays on (tests/e2e/config.yaml), so such a binary never reconciles alongside this
    // one, and the suite exercises the Lease RBAC as deployed.
    let run_id = format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    );
    let audit_path = work.join(format!("audit-{run_id}.jsonl"));
    let config_path = Path::new(ROOT).join("tests/e2e/config.yaml");
    let timings = Timings::from_config(&read(&config_path)?)?;
    let sets = [
        format!("webhook.port={webhook_port}"),
        format!("health.port={health_port}"),
        format!("metrics.port={metrics_port}"),
        format!("webhook.certDir={}", certs.display()),
        "audit.sink=file".to_owned(),
        format!("audit.path={}", audit_path.display()),
        format!(
            "controllerIdentity=system:serviceaccount:{CONTROLLER_NAMESPACE}:{CONTROLLER_SERVICE_ACCOUNT}"
        ),
        "logging.format=text".to_owned(),
    ];
    let identity = format!("e2e-{run_id}");
    let log_path = work.join(format!("workflowexecution-{run_id}.log"));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let log_err = log.try_clone().map_err(|e| e.to_string())?;
    // The shell runs the binary and kills it when its stdin closes, i.e. when this test process
    // exits however it exits; the shell itself ends when the binary ends. (Background jobs of a
    // non-interactive shell read /dev/null unless redirected, hence fd 3.)
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(r#"exec 3<&0; "$0" "$@" </dev/null & child=$!; (read -r line <&3; kill -TERM "$child" 2>/dev/null) & wait "$child"; status=$?; echo "workflowexecution exited with status $status" >&2; exit "$status""#)
        .arg(BIN)
        .args(["run", "--config"])
        .arg(&config_path);
    for s in &sets {
        command.arg("--set").arg(s);
    }
    let mut child = command
        .env("KUBECONFIG", &kubeconfig)
        .env_remove("WFE_CONFIG")
        .env("POD_NAME", &identity)
        .stdin(Stdio::piped())
        .stdout(log)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("cannot start {BIN}: {e}"))?;
    let stdin = child.stdin.take().ok_or("no stdin pipe to the binary")?;
    let child = Arc::new(Mutex::new(child));

    wait_ready(&child, health_port, &log_path, settings.timeout)?;
    // A binary of an earlier run may still hold the Lease while it drains; scenarios start once
    // this run's binary is the one reconciling.
    wait_leader(admin, &identity, settings.timeout).await;

    let out = run_binary(&[
        "webhook-config",
        "--ca-bundle",
        path_str(&certs.join("ca.crt"))?,
        "--url",
        &format!("https://127.0.0.1:{webhook_port}"),
    ])?;
    let webhooks = cluster::yaml_documents(&out, "webhook-config output");
    if webhooks.len() != 3 {
        return Err(format!(
            "webhook-config printed {} documents, expected 3",
            webhooks.len()
        ));
    }
    cluster::apply(admin, &webhooks).await;
    // The clearance provenance policy (DESIGN §3.3), as a URL-registered install gets it.
    let policy = run_binary(&[
        "clearance-policy",
        "--controller-username",
        &format!("system:serviceaccount:{CONTROLLER_NAMESPACE}:{CONTROLLER_SERVICE_ACCOUNT}"),
        "--config",
        path_str(&config_path)?,
    ])?;
    cluster::apply(
        admin,
        &cluster::yaml_documents(&policy, "clearance-policy output"),
    )
    .await;
    wait_webhook_active(admin, settings.timeout).await;
    Ok(Shared {
        timings,
        audit_path: Some(audit_path),
        _watchdog: Some(Arc::new(Mutex::new(stdin))),
        _child: Some(child),
    })
}

fn work_dir(settings: &Settings) -> Result<PathBuf, String> {
    let dir = match &settings.work_dir {
        Some(d) => d.clone(),
        None => {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            std::env::temp_dir().join(format!("wfe-e2e-{}-{nanos}", std::process::id()))
        }
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(dir)
}

fn path_str(p: &Path) -> Result<&str, String> {
    p.to_str()
        .ok_or_else(|| format!("path {} is not UTF-8", p.display()))
}

fn run_binary(args: &[&str]) -> Result<String, String> {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {BIN}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "workflowexecution {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| {
        format!(
            "workflowexecution {} printed non-UTF-8: {e}",
            args.join(" ")
        )
    })
}

fn free_port() -> Result<u16, String> {
    let l =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot find a free port: {e}"))?;
    l.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}

/// A kubeconfig for the controller's ServiceAccount: the admin kubeconfig's cluster, and a token
/// from the TokenRequest API, so the binary runs with exactly deploy/base's RBAC.
async fn controller_kubeconfig(
    admin: &Client,
    settings: &Settings,
    work: &Path,
) -> Result<PathBuf, String> {
    let accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), CONTROLLER_NAMESPACE);
    let request = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![],
            expiration_seconds: Some(24 * 3600),
            ..Default::default()
        },
        ..Default::default()
    };
    let token = accounts
        .create_token_request(CONTROLLER_SERVICE_ACCOUNT, &PostParams::default(), &request)
        .await
        .map_err(|e| {
            format!(
                "TokenRequest for {CONTROLLER_NAMESPACE}/{CONTROLLER_SERVICE_ACCOUNT} failed: {e}"
            )
        })?
        .status
        .map(|s| s.token)
        .ok_or("TokenRequest returned no token")?;
    let token_path = work.join("controller.token");
    std::fs::write(&token_path, token)
        .map_err(|e| format!("cannot write {}: {e}", token_path.display()))?;

    let file = Kubeconfig::read_from(&settings.kubeconfig)
        .map_err(|e| format!("cannot read {}: {e}", settings.kubeconfig.display()))?;
    let context_name = file
        .current_context
        .clone()
        .ok_or("WFE_E2E_KUBECONFIG has no current-context")?;
    let cluster_name = file
        .contexts
        .iter()
        .find(|c| c.name == context_name)
        .and_then(|c| c.context.as_ref())
        .map(|c| c.cluster.clone())
        .ok_or_else(|| format!("context {context_name} not found in WFE_E2E_KUBECONFIG"))?;
    let mut cluster = file
        .clusters
        .iter()
        .find(|c| c.name == cluster_name)
        .and_then(|c| c.cluster.clone())
        .ok_or_else(|| format!("cluster {cluster_name} not found in WFE_E2E_KUBECONFIG"))?;
    // A relative CA path is relative to the admin kubeconfig's directory.
    if let Some(ca) = cluster
        .certificate_authority
        .as_ref()
        .filter(|p| Path::new(p).is_relative())
    {
        let dir = settings.kubeconfig.parent().unwrap_or(Path::new("."));
        cluster.certificate_authority = Some(dir.join(ca).display().to_string());
    }
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "e2e", "cluster": serde_json::to_value(&cluster).map_err(|e| e.to_string())?}],
        "users": [{"name": "workflowexecution-controller", "user": {"tokenFile": token_path.display().to_string()}}],
        "contexts": [{"name": "e2e", "context": {"cluster": "e2e", "user": "workflowexecution-controller"}}],
        "current-context": "e2e",
    });
    let path = work.join("controller.kubeconfig");
    std::fs::write(&path, kubeconfig.to_string())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(path)
}

fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn wait_ready(
    child: &Arc<Mutex<Child>>,
    port: u16,
    log: &Path,
    timeout: Duration,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        let exited = child
            .lock()
            .ok()
            .and_then(|mut c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            return Err(format!(
                "the binary exited ({status}) before it was ready; log {}:\n{}",
                log.display(),
                log_tail(log)
            ));
        }
        if http_status(port, "/readyz") == Some(200) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "the binary was not ready on :{port}/readyz within {}s; log {}:\n{}",
                timeout.as_secs(),
                log.display(),
                log_tail(log)
            ));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits until the controller Lease names `identity` as holder.
async fn wait_leader(admin: &Client, identity: &str, timeout: Duration) {
    let leases: Api<Lease> = Api::namespaced(admin.clone(), CONTROLLER_NAMESPACE);
    cluster::wait_for(
        &format!("this run's binary ({identity}) to hold the controller Lease"),
        timeout,
        || async {
            let holder = leases
                .get_opt("workflowexecution-controller")
                .await
                .map_err(|e| e.to_string())?
                .and_then(|l| l.spec.and_then(|s| s.holder_identity));
            if holder.as_deref() == Some(identity) {
                Ok(())
            } else {
                Err(format!("holder is {holder:?}"))
            }
        },
    )
    .await;
}

/// Status code of a plain HTTP GET to 127.0.0.1:`port`.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 32];
    let n = s.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until the API server calls the validating webhook (its registration can take a moment
/// to reach the admission plugin).
async fn wait_webhook_active(admin: &Client, timeout: Duration) {
    let api: Api<wfe_api::WorkflowExecution> = Api::namespaced(admin.clone(), "default");
    let mut probe = crate::wfe::manifest(
        "e2e-webhook-probe",
        "default/Deployment/probe",
        "reg.example/x:v1",
        &[],
    );
    probe["spec"]["parameters"] = json!({"TARGET_RESOURCE": "reserved"});
    let probe = crate::wfe::typed(probe);
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    cluster::wait_for(
        "the validating webhook to be called by the API server",
        timeout,
        || async {
            match api.create(&dry_run, &probe).await {
                Err(kube::Error::Api(s))
                    if s.message
                        .contains("validate.workflowexecution.kubernaut.ai") =>
                {
                    Ok(())
                }
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}
