//! Audit trail for WorkflowExecutions (DESIGN §6): DataStorage-compatible events derived from
//! persisted state, checked against the DataStorage schema, and delivered through a sink
//! (`stdout`, `file` or `datastorage`).

pub mod event;
pub mod lines;
pub mod local;
pub mod metrics;
pub mod recent;
pub mod schema;
pub mod settings;
mod sink;
mod trail;

use futures::future::BoxFuture;
use wfe_api::{AuditEventType, WorkflowExecution};

pub use event::{AuditEvent, BuildError, EventContext, build_event};
pub use lines::JsonLines;
pub use local::{LocalRecordError, LocalRecorder};
pub use metrics::AuditMetrics;
pub use schema::{AuditSchema, SchemaLoadError, SchemaViolation, SchemaViolations};
pub use settings::{AuditSettings, SettingsError, SinkKind};
pub use sink::datastorage::{BATCH_PATH, StatusClass, classify};
pub use trail::AuditTrailImpl;

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

/// Why the audit trail cannot be set up; fatal at startup.
#[derive(Debug, thiserror::Error)]
pub enum AuditSetupError {
    /// A setting is missing or invalid.
    #[error("invalid audit settings: {0}")]
    Settings(#[from] SettingsError),
    /// The DataStorage schema cannot be loaded.
    #[error(transparent)]
    Schema(#[from] SchemaLoadError),
    /// `audit.schemaFile` cannot be read.
    #[error("cannot read audit schema file {path}: {message}")]
    SchemaFile {
        /// The path.
        path: String,
        /// The I/O error.
        message: String,
    },
    /// The TLS client for DataStorage cannot be built.
    #[error("audit TLS: {0}")]
    Tls(String),
    /// The `datastorage` sink needs a tokio runtime to run its batcher.
    #[error("the datastorage audit sink must be created inside a tokio runtime")]
    NoRuntime,
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
