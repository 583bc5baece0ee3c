//! Batching in front of a sink: concurrent `deliver` calls share requests, bounded by size and by
//! how long the first event of a batch may wait.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{Delivery, Sink};
use crate::event::AuditEvent;

struct Job {
    events: Vec<AuditEvent>,
    reply: oneshot::Sender<Vec<Delivery>>,
}

/// A sink that queues events and sends them to `inner` in batches from one background task,
/// which also keeps each caller's events in order and contiguous.
pub(crate) struct Batched {
    name: &'static str,
    queue: mpsc::Sender<Job>,
}

impl Batched {
    /// Spawns the batching task on the current tokio runtime.
    pub(crate) fn spawn(inner: Arc<dyn Sink>, batch_size: usize, flush_interval: Duration) -> Self {
        let (queue, rx) = mpsc::channel(1024);
        let name = inner.name();
        tokio::spawn(run(inner, rx, batch_size.max(1), flush_interval));
        Batched { name, queue }
    }
}

impl Sink for Batched {
    fn name(&self) -> &'static str {
        self.name
    }

    fn send<'a>(&'a self, events: &'a [AuditEvent]) -> BoxFuture<'a, Vec<Delivery>> {
        Box::pin(async move {
            let stopped =
                || vec![Delivery::Unavailable("audit batcher has stopped".into()); events.len()];
            let (reply, answer) = oneshot::channel();
            if self
                .queue
                .send(Job {
                    events: events.to_vec(),
                    reply,
                })
                .await
                .is_err()
            {
                return stopped();
            }
            answer.await.unwrap_or_else(|_| stopped())
        })
    }
}

async fn run(
    inner: Arc<dyn Sink>,
    mut rx: mpsc::Receiver<Job>,
    batch_size: usize,
    flush_interval: Duration,
) {
    while let Some(first) = rx.recv().await {
        let deadline = Instant::now() + flush_interval;
        let mut count = first.events.len();
        let mut jobs = vec![first];
        while count < batch_size {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(job)) => {
                    count += job.events.len();
                    jobs.push(job);
                }
                Ok(None) | Err(_) => break,
            }
        }
        let events: Vec<AuditEvent> = jobs.iter().flat_map(|j| j.events.iter().cloned()).collect();
        let mut results = inner.send(&events).await.into_iter();
        for job in jobs {
            let mut answer: Vec<Delivery> = results.by_ref().take(job.events.len()).collect();
            // A sink must answer every event; treat a short answer as "not delivered".
            answer.resize(
                job.events.len(),
                Delivery::Unavailable("sink gave no result for this event".into()),
            );
            // The caller may have given up (cancelled); its events simply stay due.
            let _ = job.reply.send(answer);
        }
    }
}
