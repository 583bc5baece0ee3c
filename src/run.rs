//! `workflowexecution run`: wires the servers and the controller to one runtime and one
//! cancellation token, and shuts them down in order.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wfe_api::block::BlockPolicy;
use wfe_audit::{AuditTrail, AuditTrailImpl};
use wfe_certs::CertStore;
use wfe_webhook::{AppState, SubjectAccessReviewer};

use crate::config::Config;
use crate::health::{self, Readiness};
use crate::identity;
use crate::leader::{self, LeaseSettings};
use crate::metrics_auth::KubeScrapeAuthorizer;
pub use crate::signals::spawn_signal_handler;
pub use crate::wiring::{
    LocalDenialSink, audit_settings, block_policy, controller_settings, spec_policy,
    webhook_settings,
};

/// How long secure-metrics authorisation decisions are cached.
const SCRAPE_DECISION_TTL: Duration = Duration::from_secs(30);

/// Why the process could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No kube context could be loaded.
    #[error("cannot connect to Kubernetes (KUBECONFIG, ~/.kube/config or in-cluster): {0}")]
    Kube(#[from] kube::Error),
    /// A port could not be bound.
    #[error("cannot listen on {addr} for {what}: {source}")]
    Bind {
        /// Which server.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A server failed while running.
    #[error("{what} server failed: {message}")]
    Serve {
        /// Which server.
        what: &'static str,
        /// What went wrong.
        message: String,
    },
    /// Metrics could not be registered.
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    /// The audit trail could not be set up.
    #[error("cannot set up the audit trail: {0}")]
    Audit(#[from] wfe_audit::AuditSetupError),
    /// The controller could not start or stopped with an error.
    #[error("controller: {0}")]
    Controller(String),
    /// Leader election failed.
    #[error(transparent)]
    Leader(#[from] leader::LeaderError),
    /// The controller's own username is unknown.
    #[error(transparent)]
    Identity(#[from] identity::IdentityError),
}

/// The three listening sockets, bound before anything starts so a busy port fails fast.
pub struct Listeners {
    /// Admission webhook (HTTPS).
    pub webhook: TcpListener,
    /// Health probes (HTTP).
    pub health: TcpListener,
    /// Metrics (HTTP or HTTPS).
    pub metrics: TcpListener,
}

impl Listeners {
    /// Binds the configured ports on all interfaces.
    pub async fn bind(cfg: &Config) -> Result<Self, RunError> {
        Ok(Listeners {
            webhook: bind("webhook", cfg.webhook.port).await?,
            health: bind("health", cfg.health.port).await?,
            metrics: bind("metrics", cfg.metrics.port).await?,
        })
    }
}

async fn bind(what: &'static str, port: u16) -> Result<TcpListener, RunError> {
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { what, addr, source })
}

/// Serves a plain-HTTP router until `shutdown`, finishing in-flight requests.
pub async fn serve_http(
    what: &'static str,
    listener: TcpListener,
    router: axum::Router,
    shutdown: CancellationToken,
) -> Result<(), RunError> {
    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
        .map_err(|e| RunError::Serve {
            what,
            message: e.to_string(),
        })
}

/// Which parts `serve` starts (tests run the servers without a controller).
#[derive(Debug, Clone)]
pub struct Parts {
    /// Run the controller (after the Tekton check), under leader election if configured.
    pub controller: bool,
}

impl Default for Parts {
    fn default() -> Self {
        Parts { controller: true }
    }
}

/// A client for the current kube context without kube's built-in retry of 429/503/504: that
/// layer backs off to minutes inside one request, which would hide an API server that is back
/// from the watches' own short, capped reconnect (`wfe_controller::reconnect`, DESIGN §10
/// recovery); a failed reconcile call is requeued by the controller instead.
async fn kube_client() -> Result<kube::Client, RunError> {
    let mut config = kube::Config::infer()
        .await
        .map_err(|e| RunError::Kube(kube::Error::InferConfig(e)))?;
    config.default_retry = false;
    Ok(kube::Client::try_from(config)?)
}

/// Runs the service against the current kube context until SIGTERM/SIGINT.
pub async fn run(cfg: Config) -> Result<(), RunError> {
    let client = kube_client().await?;
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    let listeners = Listeners::bind(&cfg).await?;
    serve(cfg, client, listeners, shutdown, Parts::default()).await
}

/// Runs the parts of the process until `shutdown`, then stops them in order: readiness off,
/// controller stopped (lease released), admission drained, servers closed.
pub async fn serve(
    cfg: Config,
    client: kube::Client,
    listeners: Listeners,
    shutdown: CancellationToken,
    parts: Parts,
) -> Result<(), RunError> {
    if parts.controller {
        wfe_controller::check_tekton(&client)
            .await
            .map_err(|e| RunError::Controller(e.to_string()))?;
    }
    let telemetry = crate::service_metrics::ServiceMetrics::new()?;
    let controller_username =
        identity::controller_username(&cfg.controller_identity, &client).await?;
    let block = block_policy(&cfg, &controller_username);

    let servers_stop = CancellationToken::new();
    let (certs, reloader) = load_certs(&cfg, &telemetry, &servers_stop);
    let (state, audit) =
        admission_and_audit(&cfg, &client, &block, &controller_username, &telemetry)?;

    let synced = Arc::new(AtomicBool::new(false));
    let cert_view = certs.clone();
    let readiness = Arc::new(Readiness::new(
        move || cert_view.is_loaded(),
        synced.clone(),
    ));
    let servers = Servers::spawn(
        &cfg,
        &client,
        listeners,
        state,
        &certs,
        &telemetry,
        &readiness,
        &servers_stop,
    );
    tracing::info!(
        webhook_port = cfg.webhook.port,
        health_port = cfg.health.port,
        metrics_port = cfg.metrics.port,
        secure_metrics = cfg.metrics.secure,
        controller_identity = %controller_username,
        "serving"
    );

    let controller_stop = CancellationToken::new();
    let controller = if parts.controller {
        let settings = controller_settings(&cfg, block);
        spawn_controller(
            &cfg,
            client.clone(),
            settings,
            telemetry.controller.clone(),
            audit,
            synced,
            readiness.clone(),
            controller_stop.clone(),
        )
    } else {
        let stop = controller_stop.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            Ok(())
        })
    };
    let mut failure = stop_controller(
        &shutdown,
        controller,
        &readiness,
        &controller_stop,
        cfg.webhook.shutdown_delay.0,
    )
    .await;
    servers_stop.cancel();
    servers.join(&mut failure).await;
    let _ = reloader.await;
    match failure {
        None => {
            tracing::info!("stopped");
            Ok(())
        }
        Some(e) => Err(e),
    }
}

/// The serving certificate, loaded now if present and reloaded when it rotates.
fn load_certs(
    cfg: &Config,
    telemetry: &crate::service_metrics::ServiceMetrics,
    stop: &CancellationToken,
) -> (Arc<CertStore>, JoinHandle<()>) {
    let certs = Arc::new(CertStore::new(
        cfg.webhook.cert_dir.clone(),
        telemetry.certs.clone(),
    ));
    if let Err(e) = certs.reload() {
        tracing::warn!(error = %e, cert_dir = %cfg.webhook.cert_dir.display(), "serving certificate not loaded yet; not ready until it is");
    }
    let reloader = certs
        .clone()
        .spawn_reloader(cfg.webhook.cert_reload_interval.0, stop.clone());
    (certs, reloader)
}

/// The webhook's state (with the denial sink when configured) and the controller's audit trail.
fn admission_and_audit(
    cfg: &Config,
    client: &kube::Client,
    block: &BlockPolicy,
    controller_username: &str,
    telemetry: &crate::service_metrics::ServiceMetrics,
) -> Result<(AppState, Arc<dyn AuditTrail>), RunError> {
    let trail = AuditTrailImpl::new(
        &audit_settings(cfg, controller_username),
        telemetry.audit.clone(),
    )?;
    let mut state = AppState::new(
        webhook_settings(cfg, block.clone()),
        Arc::new(SubjectAccessReviewer::new(client.clone())),
        telemetry.admission.clone(),
    );
    if cfg.audit.record_denials {
        state = state.with_denial_sink(Arc::new(LocalDenialSink(trail.local_recorder())));
    }
    Ok((state, Arc::new(trail)))
}

/// The three servers' tasks.
struct Servers {
    health: JoinHandle<Result<(), RunError>>,
    health_stop: CancellationToken,
    webhook: JoinHandle<Result<(), RunError>>,
    metrics: JoinHandle<Result<(), RunError>>,
}

impl Servers {
    #[allow(clippy::too_many_arguments)]
    fn spawn(
        cfg: &Config,
        client: &kube::Client,
        listeners: Listeners,
        state: AppState,
        certs: &Arc<CertStore>,
        telemetry: &crate::service_metrics::ServiceMetrics,
        readiness: &Arc<Readiness>,
        stop: &CancellationToken,
    ) -> Servers {
        // Health outlives the others: it answers "not ready" while admission drains.
        let health_stop = CancellationToken::new();
        let health = tokio::spawn(serve_http(
            "health",
            listeners.health,
            health::router(readiness.clone()),
            health_stop.clone(),
        ));
        let webhook = tokio::spawn(serve_tls_task(
            "webhook",
            listeners.webhook,
            wfe_webhook::router(state),
            certs.clone(),
            stop.clone(),
        ));
        let metrics = if cfg.metrics.secure {
            let auth = Arc::new(KubeScrapeAuthorizer::new(
                client.clone(),
                SCRAPE_DECISION_TTL,
            ));
            let router = crate::metrics::router(telemetry.registry.clone(), Some(auth));
            tokio::spawn(serve_tls_task(
                "metrics",
                listeners.metrics,
                router,
                certs.clone(),
                stop.clone(),
            ))
        } else {
            let router = crate::metrics::router(telemetry.registry.clone(), None);
            tokio::spawn(serve_http(
                "metrics",
                listeners.metrics,
                router,
                stop.clone(),
            ))
        };
        Servers {
            health,
            health_stop,
            webhook,
            metrics,
        }
    }

    /// Waits for webhook and metrics (already told to stop), then closes health.
    async fn join(self, failure: &mut Option<RunError>) {
        for task in [self.webhook, self.metrics] {
            match task.await {
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "server stopped with an error");
                    failure.get_or_insert(e);
                }
                Err(e) => tracing::error!(error = %e, "server task panicked"),
                Ok(Ok(())) => {}
            }
        }
        self.health_stop.cancel();
        let _ = self.health.await;
    }
}

/// Waits for `shutdown` (or the controller failing), turns readiness off, stops the controller
/// at once (it finishes the reconcile in progress and releases the lease, so another replica
/// takes over) while admission is still served for `drain_delay`. Returns the first failure.
async fn stop_controller(
    shutdown: &CancellationToken,
    mut controller: JoinHandle<Result<(), RunError>>,
    readiness: &Readiness,
    controller_stop: &CancellationToken,
    drain_delay: Duration,
) -> Option<RunError> {
    let mut failure: Option<RunError> = None;
    tokio::select! {
        _ = shutdown.cancelled() => {}
        result = &mut controller => {
            failure = Some(match result {
                Ok(Ok(())) => RunError::Controller("stopped unexpectedly".into()),
                Ok(Err(e)) => e,
                Err(e) => RunError::Controller(format!("task panicked: {e}")),
            });
        }
    }
    readiness.begin_shutdown();
    controller_stop.cancel();
    let drain_delay = if failure.is_none() {
        drain_delay
    } else {
        Duration::ZERO
    };
    tracing::info!(delay = ?drain_delay, "not ready; stopping the controller and draining admission");
    let controller_done = async {
        if failure.is_some() {
            return None; // Its result was taken above.
        }
        Some(controller.await)
    };
    let (controller_result, ()) = tokio::join!(controller_done, tokio::time::sleep(drain_delay));
    match controller_result {
        Some(Ok(Err(e))) => failure = Some(e),
        Some(Err(e)) => failure = Some(RunError::Controller(format!("task panicked: {e}"))),
        _ => {}
    }
    failure
}

async fn serve_tls_task(
    what: &'static str,
    listener: TcpListener,
    router: axum::Router,
    certs: Arc<CertStore>,
    stop: CancellationToken,
) -> Result<(), RunError> {
    wfe_certs::serve::serve_tls(listener, router, certs, stop)
        .await
        .map_err(|e| RunError::Serve {
            what,
            message: e.to_string(),
        })
}

#[allow(clippy::too_many_arguments)]
fn spawn_controller(
    cfg: &Config,
    client: kube::Client,
    settings: wfe_controller::Settings,
    metrics: Arc<wfe_controller::Metrics>,
    audit: Arc<dyn AuditTrail>,
    synced: Arc<AtomicBool>,
    readiness: Arc<Readiness>,
    stop: CancellationToken,
) -> JoinHandle<Result<(), RunError>> {
    let elect = cfg.leader_election.clone();
    tokio::spawn(async move {
        let lease_client = client.clone();
        let work = move |token: CancellationToken| {
            let (client, settings, metrics, audit, synced) = (
                client.clone(),
                settings.clone(),
                metrics.clone(),
                audit.clone(),
                synced.clone(),
            );
            async move {
                // A new term starts from an empty cache: not synced until the watches list again.
                synced.store(false, std::sync::atomic::Ordering::SeqCst);
                wfe_controller::run(client, settings, metrics, audit, token, synced)
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        if !elect.enabled {
            readiness.set_leading(true);
            return work(stop).await.map_err(RunError::Controller);
        }
        let lease = LeaseSettings {
            name: elect.lease_name.clone(),
            namespace: elect.lease_namespace.clone(),
            identity: replica_identity(),
            duration: elect.lease_duration.0,
        };
        tracing::info!(lease = %format!("{}/{}", lease.namespace, lease.name), identity = %lease.identity, "leader election enabled");
        let manager = leader::lease_manager(lease_client, &lease).await?;
        leader::run_while_leading(
            manager,
            stop,
            |leading| readiness.set_leading(leading),
            work,
        )
        .await?;
        Ok(())
    })
}

/// This replica's name (Lease holder, event reporting instance): the pod name, else the hostname, else a fixed fallback.
pub fn replica_identity() -> String {
    std::env::var("POD_NAME")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| format!("workflowexecution-{}", std::process::id()))
}
