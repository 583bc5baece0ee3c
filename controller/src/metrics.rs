//! Controller metrics of DESIGN §4.6, registered on an injected registry.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry,
};

/// The controller's Prometheus metrics.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// `workflowexecution_total{outcome}`: WFEs that reached a terminal phase.
    pub total: IntCounterVec,
    /// `workflowexecution_duration_seconds{outcome}`: run time of finished workflows.
    pub duration: HistogramVec,
    /// `workflowexecution_pipelinerun_creation_total`: PipelineRuns created.
    pub pipelinerun_creations: IntCounter,
    /// `workflowexecution_skip_total{reason}`: WFEs skipped, by reason.
    pub skips: IntCounterVec,
    /// `workflowexecution_block_clearances_total`: block clearances that took effect.
    pub block_clearances: IntCounter,
    /// `workflowexecution_forged_clearances_total`: clearances rejected by the block rules.
    pub forged_clearances: IntCounter,
    /// `workflowexecution_reconcile_duration_seconds`: time per reconcile.
    pub reconcile_duration: Histogram,
    /// `workflowexecution_reconcile_errors_total{kind}`: failed reconciles, by error kind.
    pub reconcile_errors: IntCounterVec,
}

impl Metrics {
    /// Creates the metrics and registers them on `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let total = IntCounterVec::new(
            Opts::new(
                "workflowexecution_total",
                "WorkflowExecutions that reached a terminal phase",
            ),
            &["outcome"],
        )?;
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "workflowexecution_duration_seconds",
                "Run time of finished workflows, from PipelineRun creation to completion",
            )
            .buckets(prometheus::exponential_buckets(5.0, 2.0, 7)?),
            &["outcome"],
        )?;
        let pipelinerun_creations = IntCounter::new(
            "workflowexecution_pipelinerun_creation_total",
            "PipelineRuns created (resource locks acquired)",
        )?;
        let skips = IntCounterVec::new(
            Opts::new(
                "workflowexecution_skip_total",
                "WorkflowExecutions skipped, by reason",
            ),
            &["reason"],
        )?;
        let block_clearances = IntCounter::new(
            "workflowexecution_block_clearances_total",
            "Execution blocks released after an attributed operator clearance",
        )?;
        let forged_clearances = IntCounter::new(
            "workflowexecution_forged_clearances_total",
            "Block clearances found on a failed WorkflowExecution that the block rules rejected (forged or bound to another failure); the block stayed",
        )?;
        let reconcile_duration = Histogram::with_opts(HistogramOpts::new(
            "workflowexecution_reconcile_duration_seconds",
            "Time spent in one reconcile",
        ))?;
        let reconcile_errors = IntCounterVec::new(
            Opts::new(
                "workflowexecution_reconcile_errors_total",
                "Failed reconciles, by error kind",
            ),
            &["kind"],
        )?;
        registry.register(Box::new(total.clone()))?;
        registry.register(Box::new(duration.clone()))?;
        registry.register(Box::new(pipelinerun_creations.clone()))?;
        registry.register(Box::new(skips.clone()))?;
        registry.register(Box::new(block_clearances.clone()))?;
        registry.register(Box::new(forged_clearances.clone()))?;
        registry.register(Box::new(reconcile_duration.clone()))?;
        registry.register(Box::new(reconcile_errors.clone()))?;
        Ok(Metrics {
            total,
            duration,
            pipelinerun_creations,
            skips,
            block_clearances,
            forged_clearances,
            reconcile_duration,
            reconcile_errors,
        })
    }
}

impl Metrics {
    /// Creates every label value known in advance at 0 (outcomes, skip reasons, error kinds), so
    /// that dashboards and `rate()` alerts see the series from the first scrape instead of only
    /// after the first event of each kind.
    pub fn zero_known_labels(&self) {
        for outcome in ["Completed", "Failed", "Skipped"] {
            self.total.with_label_values(&[outcome]);
        }
        // Skipped WFEs never ran, so they have no duration.
        for outcome in ["Completed", "Failed"] {
            self.duration.with_label_values(&[outcome]);
        }
        for reason in wfe_api::SkipReason::ALL {
            self.skips.with_label_values(&[reason.as_str()]);
        }
        for kind in crate::Error::KINDS {
            self.reconcile_errors.with_label_values(&[kind]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_every_controller_metric_with_the_design_buckets() {
        let registry = Registry::new();
        let m = Metrics::new(&registry).unwrap();
        m.total.with_label_values(&["Completed"]).inc();
        m.duration.with_label_values(&["Completed"]).observe(7.0);
        m.pipelinerun_creations.inc();
        m.skips.with_label_values(&["ResourceBusy"]).inc();
        m.block_clearances.inc();
        m.forged_clearances.inc();
        m.reconcile_duration.observe(0.1);
        m.reconcile_errors.with_label_values(&["kube"]).inc();
        let families = registry.gather();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        for expected in [
            "workflowexecution_total",
            "workflowexecution_duration_seconds",
            "workflowexecution_pipelinerun_creation_total",
            "workflowexecution_skip_total",
            "workflowexecution_block_clearances_total",
            "workflowexecution_forged_clearances_total",
            "workflowexecution_reconcile_duration_seconds",
            "workflowexecution_reconcile_errors_total",
        ] {
            assert!(names.contains(&expected), "missing {expected} in {names:?}");
        }
        let duration = families
            .iter()
            .find(|f| f.name() == "workflowexecution_duration_seconds")
            .unwrap();
        let buckets: Vec<f64> = duration.get_metric()[0]
            .get_histogram()
            .get_bucket()
            .iter()
            .map(|b| b.upper_bound())
            .collect();
        assert_eq!(buckets, vec![5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0]);
        assert!(
            Metrics::new(&registry).is_err(),
            "registering twice must fail, not duplicate"
        );
    }
}
