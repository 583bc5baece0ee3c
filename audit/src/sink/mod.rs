//! Sinks: where validated events are sent, behind one internal trait.

pub(crate) mod batch;
pub(crate) mod datastorage;
pub(crate) mod tls;
pub(crate) mod token;

use futures::future::BoxFuture;

use crate::event::{AuditEvent, to_json};
use crate::lines::JsonLines;

/// What happened to one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Stored by the sink.
    Acknowledged,
    /// Refused by the sink for this event's content (4xx); retrying cannot help.
    Quarantined(String),
    /// Not stored this time (5xx, network, timeout, I/O); deliver again later.
    Unavailable(String),
}

/// A destination for audit events. `send` returns one `Delivery` per event, in order.
pub(crate) trait Sink: Send + Sync + 'static {
    /// Label used in metrics and errors.
    fn name(&self) -> &'static str;
    /// Sends `events`, in order.
    fn send<'a>(&'a self, events: &'a [AuditEvent]) -> BoxFuture<'a, Vec<Delivery>>;
}

/// The `stdout` and `file` sinks: one JSON line per event, one flush/fsync per batch.
pub(crate) struct LinesSink {
    name: &'static str,
    lines: JsonLines,
}

impl LinesSink {
    pub(crate) fn new(name: &'static str, lines: JsonLines) -> Self {
        LinesSink { name, lines }
    }
}

impl Sink for LinesSink {
    fn name(&self) -> &'static str {
        self.name
    }

    fn send<'a>(&'a self, events: &'a [AuditEvent]) -> BoxFuture<'a, Vec<Delivery>> {
        Box::pin(async move {
            let values: Vec<_> = events.iter().map(to_json).collect();
            match self.lines.append(&values).await {
                Ok(()) => vec![Delivery::Acknowledged; events.len()],
                Err(e) => {
                    let message = format!("cannot write to {}: {e}", self.lines.describe());
                    vec![Delivery::Unavailable(message); events.len()]
                }
            }
        })
    }
}
