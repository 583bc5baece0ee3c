//! The certificate expiry gauge.

use prometheus::{Gauge, Registry};

/// Metrics of the serving certificate, registered on an injected registry.
#[derive(Clone, Debug)]
pub struct CertMetrics {
    expiry: Gauge,
}

impl CertMetrics {
    /// Creates and registers `workflowexecution_webhook_cert_expiry_timestamp_seconds`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let expiry = Gauge::new(
            "workflowexecution_webhook_cert_expiry_timestamp_seconds",
            "notAfter of the serving certificate currently in use, as a Unix timestamp",
        )?;
        registry.register(Box::new(expiry.clone()))?;
        Ok(CertMetrics { expiry })
    }

    pub(crate) fn set_expiry(&self, not_after_unix: i64) {
        self.expiry.set(not_after_unix as f64);
    }

    /// Current gauge value (0 until a certificate was loaded).
    pub fn expiry(&self) -> f64 {
        self.expiry.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_is_exported_on_the_injected_registry() {
        let registry = Registry::new();
        let metrics = CertMetrics::new(&registry).expect("register");
        metrics.set_expiry(1_800_000_000);
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .expect("encode");
        assert!(
            text.contains("workflowexecution_webhook_cert_expiry_timestamp_seconds 1800000000\n"),
            "{text}"
        );
        // Registering twice on one registry is an error the caller sees, not a panic.
        assert!(CertMetrics::new(&registry).is_err());
    }
}
