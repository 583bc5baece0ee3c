//! Leader election: only the Lease holder runs the controller; every replica keeps serving
//! admission. Each term of leadership starts the controller afresh (new watches, fresh cache).

use std::future::Future;
use std::time::Duration;

use kube::runtime::utils::Backoff as _;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wfe_controller::reconnect::{API_RETRY, Retry};

/// Leader election could not run.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    /// The Lease could not be set up.
    #[error("cannot set up leader election Lease {namespace}/{name}: {source}")]
    Setup {
        /// Lease namespace.
        namespace: String,
        /// Lease name.
        name: String,
        /// What failed.
        source: kube_lease_manager::LeaseManagerError,
    },
    /// The lease manager stopped unexpectedly.
    #[error("leader election stopped unexpectedly")]
    Stopped,
    /// The elected work failed.
    #[error("{0}")]
    Work(String),
}

/// Lease settings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity (pod name when available).
    pub identity: String,
    /// How long the lease is valid without renewal.
    pub duration: Duration,
}

/// Builds the lease manager. The holder renews a third of the duration before expiry.
pub async fn lease_manager(
    client: kube::Client,
    s: &LeaseSettings,
) -> Result<LeaseManager, LeaderError> {
    let duration = s.duration.as_secs().max(2);
    let grace = (duration / 3).max(1);
    LeaseManagerBuilder::new(client, &s.name)
        .with_namespace(&s.namespace)
        .with_identity(&s.identity)
        .with_duration(duration)
        .with_grace(grace)
        .with_field_manager(format!("workflowexecution-leader-{}", s.identity))
        .build()
        .await
        .map_err(|source| LeaderError::Setup {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
            source,
        })
}

/// Runs `work` while this replica holds the lease, until `shutdown`. `work` gets a token that
/// is cancelled when leadership is lost or on shutdown, and must return promptly after it.
/// `on_change` hears every start (true) and stop (false) of leading. On shutdown the lease is
/// released so another replica takes over at once.
pub async fn run_while_leading<W, Fut>(
    manager: LeaseManager,
    shutdown: CancellationToken,
    on_change: impl Fn(bool),
    mut work: W,
) -> Result<(), LeaderError>
where
    W: FnMut(CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), String>> + Send + 'static,
{
    let (mut leading_rx, manager_task) = watch_lease(manager);
    let mut term: Option<(CancellationToken, JoinHandle<Result<(), String>>)> = None;
    let outcome = loop {
        let leading = *leading_rx.borrow_and_update();
        match (leading, term.is_some()) {
            (true, false) => {
                tracing::info!("acquired leadership: starting the controller");
                let token = shutdown.child_token();
                term = Some((token.clone(), tokio::spawn(work(token))));
                on_change(true);
            }
            (false, true) => {
                tracing::warn!("lost leadership: stopping the controller");
                if let Some(result) = end_term(term.take()).await {
                    on_change(false);
                    if let Err(e) = result {
                        break Err(LeaderError::Work(e));
                    }
                }
            }
            _ => {}
        }
        let finished = async {
            match &mut term {
                Some((_, handle)) => handle.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = shutdown.cancelled() => break Ok(()),
            changed = leading_rx.changed() => {
                if changed.is_err() {
                    break Err(LeaderError::Stopped);
                }
            }
            result = finished => {
                term = None;
                on_change(false);
                if shutdown.is_cancelled() {
                    // The shutdown token reached the controller first: a normal stop.
                    break result.map_err(|e| LeaderError::Work(format!("the controller task panicked: {e}"))).and_then(|r| r.map_err(LeaderError::Work));
                }
                // The controller stopped on its own while leading: surface it so the pod restarts.
                break Err(LeaderError::Work(match result {
                    Ok(Ok(())) => "the controller stopped unexpectedly".to_owned(),
                    Ok(Err(e)) => e,
                    Err(e) => format!("the controller task panicked: {e}"),
                }));
            }
        }
    };
    if end_term(term.take()).await.is_some() {
        on_change(false);
    }
    // Closing the channel makes the manager release the lease before it exits.
    drop(leading_rx);
    match manager_task.await {
        Ok(Ok(_)) => tracing::info!("leader election lease released"),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "could not release the leader election lease; it expires on its own")
        }
        Err(e) => tracing::warn!(error = %e, "leader election task failed"),
    }
    outcome
}

/// `LeaseManager::watch` with this service's retry policy: the library's doubles from 1 s to
/// 30 s, which after an API-server restart can leave the Lease unrenewed (and nothing
/// reconciling) for half a minute; `API_RETRY` retries within 2 s (jittered). Sends every
/// change of "this replica leads"; when every receiver is gone it releases the lease and ends.
fn watch_lease(
    manager: LeaseManager,
) -> (
    tokio::sync::watch::Receiver<bool>,
    JoinHandle<Result<(), kube_lease_manager::LeaseManagerError>>,
) {
    let (sender, receiver) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(async move {
        let mut retry = Retry::new(API_RETRY);
        loop {
            tokio::select! {
                biased;
                () = sender.closed() => return manager.release().await,
                result = manager.changed() => match result {
                    Ok(leading) => {
                        retry.reset();
                        if sender.send(leading).is_err() {
                            return manager.release().await;
                        }
                    }
                    Err(e) => {
                        let delay = retry.next().unwrap_or(API_RETRY.max);
                        tracing::warn!(error = %e, retry_in = ?delay, "leader election: Lease call failed; retrying");
                        tokio::select! {
                            () = sender.closed() => return manager.release().await,
                            () = tokio::time::sleep(delay) => {}
                        }
                    }
                },
            }
        }
    });
    (receiver, task)
}

async fn end_term(
    term: Option<(CancellationToken, JoinHandle<Result<(), String>>)>,
) -> Option<Result<(), String>> {
    let (token, handle) = term?;
    token.cancel();
    Some(match handle.await {
        Ok(r) => r,
        Err(e) => Err(format!("the controller task panicked: {e}")),
    })
}
