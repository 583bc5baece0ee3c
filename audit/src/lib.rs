//! Audit trail for WorkflowExecutions (DESIGN §6): what the controller needs from it.

use futures::future::BoxFuture;
use wfe_api::{AuditEventType, WorkflowExecution};

/// Why events could not be delivered this time; the caller retries later (nothing is dropped).
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The sink did not acknowledge; retry with backoff.
    #[error("audit sink {sink} did not acknowledge: {message}")]
    Unavailable {
        /// Which sink failed.
        sink: &'static str,
        /// What went wrong.
        message: String,
    },
}

/// Delivers the audit events a persisted WFE state implies.
///
/// The controller calls this only after the status change an event describes is persisted, and
/// records the returned (acknowledged) types in `status.auditedEvents`, so delivery is driven by
/// persisted state and a retry never produces a second, different event.
pub trait AuditTrail: Send + Sync + 'static {
    /// Sends the events of `due` types for `wfe` and returns the types the sink acknowledged.
    fn deliver<'a>(
        &'a self,
        wfe: &'a WorkflowExecution,
        due: &'a [AuditEventType],
    ) -> BoxFuture<'a, Result<Vec<AuditEventType>, AuditError>>;
}
