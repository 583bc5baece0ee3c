//! Admission metrics, registered on an injected registry.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Request counts and latencies per webhook.
#[derive(Clone, Debug)]
pub struct Metrics {
    requests: IntCounterVec,
    duration: HistogramVec,
}

impl Metrics {
    /// Creates and registers the admission metrics.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let requests = IntCounterVec::new(
            Opts::new(
                "workflowexecution_admission_requests_total",
                "Admission reviews answered, by webhook, operation and outcome",
            ),
            &["webhook", "operation", "allowed"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "workflowexecution_admission_duration_seconds",
                "Time to answer an admission review, by webhook",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            ]),
            &["webhook"],
        )?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        Ok(Metrics { requests, duration })
    }

    pub(crate) fn observe(&self, webhook: &str, operation: &str, allowed: bool, seconds: f64) {
        self.requests
            .with_label_values(&[webhook, operation, if allowed { "true" } else { "false" }])
            .inc();
        self.duration.with_label_values(&[webhook]).observe(seconds);
    }

    /// Count of answered reviews with these labels.
    pub fn requests(&self, webhook: &str, operation: &str, allowed: bool) -> u64 {
        self.requests
            .with_label_values(&[webhook, operation, if allowed { "true" } else { "false" }])
            .get()
    }
}
