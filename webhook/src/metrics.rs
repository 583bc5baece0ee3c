//! Admission metrics, registered on an injected registry.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

use crate::server::{UNKNOWN_OPERATION, Webhook};

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
        let metrics = Metrics { requests, duration };
        metrics.zero_known_labels();
        Ok(metrics)
    }

    /// Creates every label set a request can produce, at 0, so that dashboards and `rate()`
    /// alerts see the series from the first scrape instead of after the first request.
    fn zero_known_labels(&self) {
        for webhook in Webhook::ALL {
            let label = webhook.label();
            for operation in webhook.operations() {
                for allowed in ["true", "false"] {
                    self.requests
                        .with_label_values(&[label, operation, allowed]);
                }
            }
            // Unreadable and malformed bodies are always refused.
            self.requests
                .with_label_values(&[label, UNKNOWN_OPERATION, "false"]);
            self.duration.with_label_values(&[label]);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_possible_label_set_exists_at_zero_before_any_request() {
        let registry = Registry::new();
        let metrics = Metrics::new(&registry).unwrap();
        let families = registry.gather();
        let requests = families
            .iter()
            .find(|f| f.name() == "workflowexecution_admission_requests_total")
            .expect("requests counter exported before any request");
        let mut sets: Vec<String> = requests
            .get_metric()
            .iter()
            .map(|m| {
                assert_eq!(m.get_counter().get_value(), 0.0);
                m.get_label()
                    .iter()
                    .map(|l| format!("{}={}", l.name(), l.value()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        sets.sort();
        let expected = [
            "allowed=false,operation=CREATE,webhook=validate",
            "allowed=false,operation=UNKNOWN,webhook=mutate-status",
            "allowed=false,operation=UNKNOWN,webhook=validate",
            "allowed=false,operation=UNKNOWN,webhook=validate-status",
            "allowed=false,operation=UPDATE,webhook=mutate-status",
            "allowed=false,operation=UPDATE,webhook=validate",
            "allowed=false,operation=UPDATE,webhook=validate-status",
            "allowed=true,operation=CREATE,webhook=validate",
            "allowed=true,operation=UPDATE,webhook=mutate-status",
            "allowed=true,operation=UPDATE,webhook=validate",
            "allowed=true,operation=UPDATE,webhook=validate-status",
        ];
        assert_eq!(sets, expected);
        let duration = families
            .iter()
            .find(|f| f.name() == "workflowexecution_admission_duration_seconds")
            .expect("duration histogram exported before any request");
        assert_eq!(duration.get_metric().len(), 3);
        assert_eq!(metrics.requests("validate", "CREATE", true), 0);
    }
}
