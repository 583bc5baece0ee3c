//! `workflowexecution run`: wires the servers and the controller to one runtime and one
//! cancellation token, and shuts them down in order.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::health::{self, Readiness};

/// Why the process could not run.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
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
    #[error("{what} server failed: {source}")]
    Serve {
        /// Which server.
        what: &'static str,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Metrics could not be registered.
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// The spec rules the webhook, controller and `validate` share, from the config.
pub fn spec_policy(cfg: &Config) -> wfe_api::SpecPolicy {
    wfe_api::SpecPolicy {
        max_timeout: cfg.max_timeout.0,
        allowed_service_accounts: cfg.allowed_service_accounts.clone(),
    }
}

async fn bind(what: &'static str, port: u16) -> Result<TcpListener, RunError> {
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    TcpListener::bind(addr)
        .await
        .map_err(|source| RunError::Bind { what, addr, source })
}

/// Cancels `token` on the first SIGTERM/SIGINT; a second signal exits at once.
pub fn spawn_signal_handler(token: CancellationToken) {
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!(
            "shutdown requested: finishing in-flight work (signal again to exit at once)"
        );
        token.cancel();
        wait_for_signal().await;
        tracing::warn!("second signal: exiting immediately");
        std::process::exit(130);
    });
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
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
        .map_err(|source| RunError::Serve { what, source })
}

/// Runs the service until SIGTERM/SIGINT.
pub async fn run(cfg: Config) -> Result<(), RunError> {
    let shutdown = CancellationToken::new();
    spawn_signal_handler(shutdown.clone());
    let registry = prometheus::Registry::new();
    let synced = Arc::new(AtomicBool::new(false));
    let readiness = Arc::new(Readiness::new(|| false, synced));

    let health_listener = bind("health", cfg.health.port).await?;
    let metrics_listener = bind("metrics", cfg.metrics.port).await?;
    let servers_stop = CancellationToken::new();
    let health = tokio::spawn(serve_http(
        "health",
        health_listener,
        health::router(readiness.clone()),
        servers_stop.clone(),
    ));
    let metrics = tokio::spawn(serve_http(
        "metrics",
        metrics_listener,
        crate::metrics::router(registry.clone(), None),
        servers_stop.clone(),
    ));
    tracing::info!(
        health_port = cfg.health.port,
        metrics_port = cfg.metrics.port,
        "serving"
    );

    shutdown.cancelled().await;
    readiness.begin_shutdown();
    servers_stop.cancel();
    for task in [health, metrics] {
        if let Ok(Err(e)) = task.await {
            tracing::warn!(error = %e, "server stopped with an error");
        }
    }
    tracing::info!("stopped");
    Ok(())
}
