//! SIGTERM/SIGINT: the first asks for an orderly shutdown, a second exits at once.

use tokio_util::sync::CancellationToken;

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
