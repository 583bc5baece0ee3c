//! Audit metrics, registered on the injected registry.

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};

/// `result` label values of `workflowexecution_audit_events_total`.
pub mod result {
    /// The sink acknowledged the event.
    pub const ACKNOWLEDGED: &str = "acknowledged";
    /// The event was sent again after a 5xx, network error or timeout.
    pub const RETRIED: &str = "retried";
    /// The sink rejected the event (4xx); it was logged and kept in the local sink.
    pub const QUARANTINED: &str = "quarantined";
    /// The event failed the DataStorage schema check; logged and kept in the local sink.
    pub const REJECTED_SCHEMA: &str = "rejected_schema";
    /// The retry budget ran out; the controller will deliver it again later.
    pub const UNAVAILABLE: &str = "unavailable";
    /// The persisted state lacks a field the event needs; it stays due.
    pub const INCOMPLETE: &str = "incomplete";

    /// Results any sink can report.
    pub const EVERY_SINK: [&str; 4] = [ACKNOWLEDGED, UNAVAILABLE, REJECTED_SCHEMA, INCOMPLETE];
    /// Results only a remote sink (DataStorage) reports: it retries, and it can refuse an event.
    pub const REMOTE_ONLY: [&str; 2] = [RETRIED, QUARANTINED];
}

/// Counters and gauges of the audit trail.
#[derive(Clone, Debug)]
pub struct AuditMetrics {
    events: IntCounterVec,
    pending: IntGauge,
}

impl AuditMetrics {
    /// Creates and registers the metrics on `registry`.
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let events = IntCounterVec::new(
            Opts::new(
                "workflowexecution_audit_events_total",
                "Audit events by sink and delivery result.",
            ),
            &["sink", "result"],
        )?;
        let pending = IntGauge::new(
            "workflowexecution_audit_pending",
            "Audit events handed to a sink and not yet settled.",
        )?;
        registry.register(Box::new(events.clone()))?;
        registry.register(Box::new(pending.clone()))?;
        Ok(AuditMetrics { events, pending })
    }

    /// Creates the series of every result `sink` can report, at 0, so that dashboards and
    /// `rate()` alerts see them from the first scrape instead of after the first event.
    pub fn zero_sink(&self, sink: &str, remote: bool) {
        let remote_only: &[&str] = if remote { &result::REMOTE_ONLY } else { &[] };
        for r in result::EVERY_SINK.iter().chain(remote_only) {
            self.events.with_label_values(&[sink, r]);
        }
    }

    /// Adds `n` events with `result` for `sink`.
    pub fn count(&self, sink: &str, result: &str, n: usize) {
        self.events
            .with_label_values(&[sink, result])
            .inc_by(n as u64);
    }

    /// Current count for (`sink`, `result`).
    pub fn get(&self, sink: &str, result: &str) -> u64 {
        self.events.with_label_values(&[sink, result]).get()
    }

    /// Events in flight.
    pub fn pending(&self) -> i64 {
        self.pending.get()
    }

    pub(crate) fn pending_add(&self, n: usize) {
        self.pending.add(n as i64);
    }

    pub(crate) fn pending_sub(&self, n: usize) {
        self.pending.sub(n as i64);
    }
}
