//! Local-only audit records: things DataStorage has no event type for (clearance denials, skips),
//! and events it must not or would not take (schema-rejected, quarantined).

use serde_json::{Value, json};

use crate::event::AuditEvent;
use crate::lines::JsonLines;
use crate::settings::AuditSettings;

/// Record kind of a quarantined event (the sink answered 4xx).
pub const RECORD_QUARANTINED: &str = "audit.quarantined";
/// Record kind of an event that failed the DataStorage schema check.
pub const RECORD_REJECTED_SCHEMA: &str = "audit.rejected_schema";

/// Failure to write a local record.
#[derive(Debug, thiserror::Error)]
#[error("cannot write audit record to {target}: {source}")]
pub struct LocalRecordError {
    /// `stdout` or the file path.
    pub target: String,
    /// The I/O error.
    #[source]
    pub source: std::io::Error,
}

/// Writes JSON records to the local audit sink: `audit.path` when set, else stdout.
#[derive(Clone, Debug)]
pub struct LocalRecorder {
    lines: JsonLines,
}

impl LocalRecorder {
    /// The local sink the settings describe (`audit.path` if set, else stdout).
    pub fn new(settings: &AuditSettings) -> Self {
        match &settings.path {
            Some(path) => LocalRecorder {
                lines: JsonLines::file(path),
            },
            None => LocalRecorder {
                lines: JsonLines::stdout(),
            },
        }
    }

    /// A recorder writing to `lines`.
    pub fn from_lines(lines: JsonLines) -> Self {
        LocalRecorder { lines }
    }

    /// Appends `record` as one JSON line (fsynced for files).
    pub async fn record(&self, record: &Value) -> Result<(), LocalRecordError> {
        self.lines
            .append(std::slice::from_ref(record))
            .await
            .map_err(|source| LocalRecordError {
                target: self.lines.describe(),
                source,
            })
    }

    pub(crate) fn lines(&self) -> &JsonLines {
        &self.lines
    }
}

/// The local record of an event the sink rejected.
pub fn quarantined_record(sink: &str, reason: &str, event: &AuditEvent) -> Value {
    json!({"record": RECORD_QUARANTINED, "sink": sink, "reason": reason, "event": crate::event::to_json(event)})
}

/// The local record of an event that failed the schema check.
pub fn rejected_schema_record(violations: &[String], event: &AuditEvent) -> Value {
    json!({"record": RECORD_REJECTED_SCHEMA, "violations": violations, "event": crate::event::to_json(event)})
}
