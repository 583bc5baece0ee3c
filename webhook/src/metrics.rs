//! Admission metrics, registered on an injected registry.

use std::sync::Arc;

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

use crate::server::{UNKNOWN_OPERATION, Webhook};

/// Request counts and latencies per webhook.
#[derive(Clone, Debug)]
pub struct Metrics {
    requests: IntCounterVec,
    series: Arc<Series>,
}

/// The series created at start, looked up by position instead of by hashing the labels under
/// the vector's lock on every request.
#[derive(Debug)]
struct Series {
    /// Per webhook, in [`Webhook::ALL`] order.
    webhooks: Vec<WebhookSeries>,
}

/// One webhook's series.
#[derive(Debug)]
struct WebhookSeries {
    /// The requests counter of each (operation, allowed) label set.
    requests: Vec<(&'static str, bool, IntCounter)>,
    duration: Histogram,
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
        let series = Arc::new(Series::create(&requests, &duration));
        Ok(Metrics { requests, series })
    }

    /// Counts one answered review and its duration.
    pub(crate) fn observe(&self, webhook: Webhook, operation: &str, allowed: bool, seconds: f64) {
        let series = &self.series.webhooks[webhook as usize];
        match series
            .requests
            .iter()
            .find(|(o, a, _)| *o == operation && *a == allowed)
        {
            Some((_, _, counter)) => counter.inc(),
            // An operation the webhook is not registered for (a misconfigured registration).
            None => self
                .requests
                .with_label_values(&[webhook.label(), operation, allowed_label(allowed)])
                .inc(),
        }
        series.duration.observe(seconds);
    }

    /// Count of answered reviews with these labels.
    pub fn requests(&self, webhook: &str, operation: &str, allowed: bool) -> u64 {
        self.requests
            .with_label_values(&[webhook, operation, allowed_label(allowed)])
            .get()
    }
}

fn allowed_label(allowed: bool) -> &'static str {
    if allowed { "true" } else { "false" }
}

impl Series {
    /// Creates every label set a request can produce, at 0, so that dashboards and `rate()`
    /// alerts see the series from the first scrape instead of after the first request.
    fn create(requests: &IntCounterVec, duration: &HistogramVec) -> Self {
        let webhooks = Webhook::ALL
            .iter()
            .map(|webhook| {
                let label = webhook.label();
                // Unreadable and malformed bodies are always refused.
                let sets = webhook
                    .operations()
                    .iter()
                    .flat_map(|operation| [(*operation, true), (*operation, false)])
                    .chain([(UNKNOWN_OPERATION, false)]);
                let counters = sets
                    .map(|(operation, allowed)| {
                        let labels = [label, operation, allowed_label(allowed)];
                        (operation, allowed, requests.with_label_values(&labels))
                    })
                    .collect();
                WebhookSeries {
                    requests: counters,
                    duration: duration.with_label_values(&[label]),
                }
            })
            .collect();
        Series { webhooks }
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

    #[test]
    fn each_review_is_counted_under_its_own_labels_even_for_an_unregistered_operation() {
        // The series are found by the webhook's position in `Webhook::ALL`.
        for (i, webhook) in Webhook::ALL.iter().enumerate() {
            assert_eq!(*webhook as usize, i, "{webhook:?}");
        }
        let registry = Registry::new();
        let metrics = Metrics::new(&registry).unwrap();
        metrics.observe(Webhook::MutateStatus, "UPDATE", true, 0.001);
        metrics.observe(Webhook::MutateStatus, "UPDATE", true, 0.001);
        metrics.observe(Webhook::ValidateStatus, "UPDATE", false, 0.001);
        metrics.observe(Webhook::Validate, UNKNOWN_OPERATION, false, 0.001);
        metrics.observe(Webhook::ValidateStatus, "DELETE", false, 0.001);
        assert_eq!(metrics.requests("mutate-status", "UPDATE", true), 2);
        assert_eq!(metrics.requests("mutate-status", "UPDATE", false), 0);
        assert_eq!(metrics.requests("validate-status", "UPDATE", false), 1);
        assert_eq!(metrics.requests("validate", UNKNOWN_OPERATION, false), 1);
        assert_eq!(metrics.requests("validate-status", "DELETE", false), 1);
        let durations: Vec<(String, u64)> = registry
            .gather()
            .iter()
            .filter(|f| f.name() == "workflowexecution_admission_duration_seconds")
            .flat_map(|f| f.get_metric().iter())
            .map(|m| {
                (
                    m.get_label()[0].value().to_owned(),
                    m.get_histogram().get_sample_count(),
                )
            })
            .collect();
        assert_eq!(
            durations,
            [
                ("mutate-status".to_owned(), 2),
                ("validate".to_owned(), 1),
                ("validate-status".to_owned(), 2)
            ]
        );
    }
}
