//! Every metric the service exports (DESIGN §4.6 plus process metrics), on one registry,
//! with every label value known in advance present at 0 from the first scrape.

use std::sync::Arc;

use prometheus::Registry;
use wfe_audit::AuditMetrics;
use wfe_certs::CertMetrics;

/// The metric names of DESIGN §4.6, in its order; every one is registered by
/// [`ServiceMetrics::new`] (with the audit trail's sink series) before any event.
pub const DESIGN_METRICS: [&str; 12] = [
    "workflowexecution_total",
    "workflowexecution_duration_seconds",
    "workflowexecution_pipelinerun_creation_total",
    "workflowexecution_skip_total",
    "workflowexecution_block_clearances_total",
    "workflowexecution_reconcile_duration_seconds",
    "workflowexecution_reconcile_errors_total",
    "workflowexecution_admission_requests_total",
    "workflowexecution_admission_duration_seconds",
    "workflowexecution_webhook_cert_expiry_timestamp_seconds",
    "workflowexecution_audit_events_total",
    "workflowexecution_audit_pending",
];

/// The registry `/metrics` serves and the metric handles each component is given.
#[derive(Clone)]
pub struct ServiceMetrics {
    /// What `/metrics` exports.
    pub registry: Registry,
    /// Serving certificate expiry.
    pub certs: CertMetrics,
    /// Audit delivery; the trail adds its sink's label values when it is built.
    pub audit: AuditMetrics,
    /// Admission requests and latency.
    pub admission: wfe_webhook::Metrics,
    /// Controller outcomes, skips, reconciles.
    pub controller: Arc<wfe_controller::Metrics>,
}

impl ServiceMetrics {
    /// Registers everything on a new registry, including the process collector (RSS, CPU,
    /// open fds) where the platform has one.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        register_process_collector(&registry)?;
        let controller = wfe_controller::Metrics::new(&registry)?;
        controller.zero_known_labels();
        Ok(ServiceMetrics {
            certs: CertMetrics::new(&registry)?,
            audit: AuditMetrics::register(&registry)?,
            admission: wfe_webhook::Metrics::new(&registry)?,
            controller: Arc::new(controller),
            registry,
        })
    }
}

#[cfg(target_os = "linux")]
fn register_process_collector(registry: &Registry) -> Result<(), prometheus::Error> {
    registry.register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ))
}

/// The prometheus crate reads process metrics from procfs, so other platforms go without.
#[cfg(not(target_os = "linux"))]
fn register_process_collector(_registry: &Registry) -> Result<(), prometheus::Error> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::run::audit_settings;

    /// `label=value` of every series of `family`.
    fn series(
        families: &[prometheus::proto::MetricFamily],
        family: &str,
        label: &str,
    ) -> Vec<String> {
        let f = families.iter().find(|f| f.name() == family).unwrap();
        let mut out: Vec<String> = f
            .get_metric()
            .iter()
            .flat_map(|m| m.get_label().iter())
            .filter(|l| l.name() == label)
            .map(|l| l.value().to_owned())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn every_design_metric_is_exported_before_any_event() {
        // As `run::serve` does: the metrics, then the audit trail for the configured sink.
        let cfg = Config::default();
        let telemetry = ServiceMetrics::new().unwrap();
        let _trail = wfe_audit::AuditTrailImpl::new(
            &audit_settings(&cfg, "system:serviceaccount:kubernaut-system:controller"),
            telemetry.audit.clone(),
        )
        .unwrap();
        let families = telemetry.registry.gather();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        for name in DESIGN_METRICS {
            assert!(
                names.contains(&name),
                "{name} missing at start from {names:?}"
            );
        }
        #[cfg(target_os = "linux")]
        for name in [
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "process_open_fds",
        ] {
            assert!(names.contains(&name), "{name} missing from {names:?}");
        }
        assert_eq!(
            series(&families, "workflowexecution_total", "outcome"),
            ["Completed", "Failed", "Skipped"]
        );
        assert_eq!(
            series(&families, "workflowexecution_skip_total", "reason").len(),
            wfe_api::SkipReason::ALL.len()
        );
        assert_eq!(
            series(
                &families,
                "workflowexecution_reconcile_errors_total",
                "kind"
            )
            .len(),
            wfe_controller::Error::KINDS.len()
        );
        assert_eq!(
            series(&families, "workflowexecution_audit_events_total", "sink"),
            ["local", "stdout"],
            "the configured sink and the local records (skips, rejected clearances)"
        );
        assert_eq!(
            series(
                &families,
                "workflowexecution_admission_requests_total",
                "webhook"
            ),
            ["mutate-status", "validate", "validate-status"]
        );
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&families)
            .unwrap();
        assert!(
            text.contains("workflowexecution_skip_total{reason=\"ResourceBusy\"} 0\n"),
            "{text}"
        );
    }
}
