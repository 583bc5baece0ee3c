//! `AuditTrailImpl`: builds the due events from a persisted WFE, checks them against the
//! DataStorage schema and sends them through the configured sink.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use wfe_api::{AuditEventType, WorkflowExecution};

use crate::event::{AuditEvent, EventContext, build_event, to_json};
use crate::local::{LocalRecorder, local_event_record, quarantined_record, rejected_schema_record};
use crate::metrics::{AuditMetrics, result};
use crate::recent::{DEFAULT_CAPACITY, RecentlySettled};
use crate::schema::AuditSchema;
use crate::settings::{AuditSettings, SinkKind};
use crate::sink::batch::Batched;
use crate::sink::datastorage::{self, DataStorageSink};
use crate::sink::{Delivery, LinesSink, Sink};
use crate::{AuditError, AuditSetupError, AuditTrail};

/// `sink` label of records that go to the local sink only (skips, rejected clearances).
pub const LOCAL_SINK: &str = "local";

/// The audit trail the controller calls after each persisted status change.
pub struct AuditTrailImpl {
    ctx: EventContext,
    /// `None` only for local sinks built without an embedded schema (they accept any event).
    schema: Option<Arc<AuditSchema>>,
    /// Events settled by this process: never sent twice, even if recording the acknowledgement
    /// in the WFE status failed and the controller asks again.
    settled: Arc<RecentlySettled>,
    sink: Arc<dyn Sink>,
    local: LocalRecorder,
    metrics: AuditMetrics,
}

impl AuditTrailImpl {
    /// Builds the trail from settings. Must be called inside a tokio runtime (the `datastorage`
    /// sink spawns its batching task).
    pub fn new(settings: &AuditSettings, metrics: AuditMetrics) -> Result<Self, AuditSetupError> {
        let local = LocalRecorder::new(settings);
        Self::with_local(settings, metrics, local)
    }

    /// Like `new`, but local records (and, for `stdout`/`file`, the events themselves) go to
    /// `local` instead of the destination the settings name.
    pub fn with_local(
        settings: &AuditSettings,
        metrics: AuditMetrics,
        local: LocalRecorder,
    ) -> Result<Self, AuditSetupError> {
        settings.validate()?;
        let schema = match &settings.schema_file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|e| AuditSetupError::SchemaFile {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })?;
                AuditSchema::from_openapi(&text)?
            }
            None => match AuditSchema::embedded() {
                Ok(schema) => schema,
                // DataStorage must never receive unchecked events; local sinks may.
                Err(e) if settings.sink == SinkKind::Datastorage => return Err(e.into()),
                Err(e) => {
                    tracing::warn!(error = %e, "audit events are written locally without schema checking");
                    return Self::assemble(settings, metrics, local, None);
                }
            },
        };
        Self::assemble(settings, metrics, local, Some(Arc::new(schema)))
    }

    fn assemble(
        settings: &AuditSettings,
        metrics: AuditMetrics,
        local: LocalRecorder,
        schema: Option<Arc<AuditSchema>>,
    ) -> Result<Self, AuditSetupError> {
        let sink: Arc<dyn Sink> = match settings.sink {
            SinkKind::Stdout | SinkKind::File => Arc::new(LinesSink::new(
                settings.sink.as_str(),
                local.lines().clone(),
            )),
            SinkKind::Datastorage => {
                tokio::runtime::Handle::try_current().map_err(|_| AuditSetupError::NoRuntime)?;
                let inner = datastorage::shared(DataStorageSink::new(settings, metrics.clone())?);
                Arc::new(Batched::spawn(
                    inner,
                    settings.batch_size,
                    settings.flush_interval,
                ))
            }
        };
        metrics.zero_sink(sink.name(), settings.sink == SinkKind::Datastorage);
        // Local-only records (skips, rejected clearances) are either written or not.
        for r in [result::ACKNOWLEDGED, result::UNAVAILABLE] {
            metrics.count(LOCAL_SINK, r, 0);
        }
        Ok(AuditTrailImpl {
            ctx: EventContext {
                controller_identity: settings.controller_identity.clone(),
                cluster_id: settings.cluster_id.clone(),
            },
            schema,
            settled: Arc::new(RecentlySettled::new(DEFAULT_CAPACITY)),
            sink,
            local,
            metrics,
        })
    }

    /// The local recorder (same destination and lock as this trail's local records), for the
    /// webhook's clearance denials.
    pub fn local_recorder(&self) -> LocalRecorder {
        self.local.clone()
    }

    /// Builds, checks and sends the events of the `due` types; see [`AuditTrail::deliver`].
    ///
    /// Returns the types that are settled: acknowledged by the sink, or permanently refused
    /// (schema-rejected or quarantined: logged, kept locally and counted), so that a WFE never
    /// waits forever on an event no retry can deliver. Types whose data is not persisted yet, or
    /// that the sink could not take this time, are left out and stay due.
    pub async fn deliver_events(
        &self,
        wfe: &WorkflowExecution,
        due: &[AuditEventType],
    ) -> Result<Vec<AuditEventType>, AuditError> {
        let sink = self.sink.name();
        let name = wfe.metadata.name.as_deref().unwrap_or_default();
        let namespace = wfe.metadata.namespace.as_deref().unwrap_or_default();
        // Lifecycle order (started < completed < failed < cleared), each type once.
        let due: BTreeSet<AuditEventType> = due.iter().copied().collect();
        let mut settled = self.record_local_only(wfe, &due).await;
        let to_send = self.prepare(wfe, &due, &mut settled).await;
        if to_send.is_empty() {
            return Ok(settled);
        }

        let outcomes = {
            let _pending = PendingGuard::new(&self.metrics, to_send.len());
            self.sink.send(&to_send).await
        };

        let mut unavailable = Vec::new();
        for (event, outcome) in to_send.iter().zip(outcomes) {
            match outcome {
                Delivery::Acknowledged => {
                    self.metrics.count(sink, result::ACKNOWLEDGED, 1);
                    settled.push(event.event_type);
                }
                Delivery::Quarantined(reason) => {
                    self.metrics.count(sink, result::QUARANTINED, 1);
                    tracing::error!(wfe = %name, namespace, event_id = %event.event_id, event_type = event.event_type.as_str(), %reason, "audit event quarantined: the sink refused it; kept in the local sink");
                    if self
                        .keep_locally(&quarantined_record(sink, &reason, event))
                        .await
                    {
                        settled.push(event.event_type);
                    } else {
                        unavailable
                            .push(format!("quarantined ({reason}) but the local sink failed"));
                    }
                }
                Delivery::Unavailable(reason) => {
                    self.metrics.count(sink, result::UNAVAILABLE, 1);
                    unavailable.push(reason);
                }
            }
        }
        if settled.is_empty()
            && let Some(message) = unavailable.into_iter().next()
        {
            return Err(AuditError::Unavailable { sink, message });
        }
        settled.sort();
        for event in &to_send {
            if settled.contains(&event.event_type) {
                self.settled.insert(&event.event_id);
            }
        }
        Ok(settled)
    }

    /// Builds and schema-checks the DataStorage events of `due`; settles at once those already
    /// settled by this process or refused by the schema (kept locally). Returns what to send.
    async fn prepare(
        &self,
        wfe: &WorkflowExecution,
        due: &BTreeSet<AuditEventType>,
        settled: &mut Vec<AuditEventType>,
    ) -> Vec<AuditEvent> {
        let sink = self.sink.name();
        let name = wfe.metadata.name.as_deref().unwrap_or_default();
        let namespace = wfe.metadata.namespace.as_deref().unwrap_or_default();
        let mut to_send: Vec<AuditEvent> = Vec::new();
        for &event_type in due.iter().filter(|t| !t.is_local_only()) {
            let event = match build_event(wfe, event_type, &self.ctx) {
                Ok(event) => event,
                Err(e) => {
                    self.metrics.count(sink, result::INCOMPLETE, 1);
                    tracing::warn!(wfe = %name, namespace, error = %e, "audit event not built yet; it stays due");
                    continue;
                }
            };
            if self.settled.contains(&event.event_id) {
                tracing::debug!(wfe = %name, namespace, event_id = %event.event_id, "audit event already settled by this process; not sent again");
                settled.push(event_type);
                continue;
            }
            let checked = match &self.schema {
                Some(schema) => schema.validate_event(&to_json(&event)),
                None => Ok(()),
            };
            match checked {
                Ok(()) => to_send.push(event),
                Err(violations) => {
                    self.metrics.count(sink, result::REJECTED_SCHEMA, 1);
                    tracing::error!(wfe = %name, namespace, event_id = %event.event_id, event_type = event_type.as_str(), error = %violations, "audit event rejected by the DataStorage schema; kept in the local sink only");
                    let list: Vec<String> = violations.0.iter().map(ToString::to_string).collect();
                    if self
                        .keep_locally(&rejected_schema_record(&list, &event))
                        .await
                    {
                        settled.push(event_type);
                    }
                }
            }
        }
        to_send
    }

    /// Writes the due local-only records (skips, rejected clearances) to the local sink, each
    /// once per process by its deterministic id; returns the types settled.
    async fn record_local_only(
        &self,
        wfe: &WorkflowExecution,
        due: &BTreeSet<AuditEventType>,
    ) -> Vec<AuditEventType> {
        let mut settled = Vec::new();
        for &event_type in due.iter().filter(|t| t.is_local_only()) {
            let Some(record) = local_event_record(wfe, event_type, &self.ctx) else {
                continue;
            };
            let id = record["event_id"].as_str().unwrap_or_default().to_owned();
            if self.settled.contains(&id) {
                settled.push(event_type);
            } else if self.keep_locally(&record).await {
                self.metrics.count(LOCAL_SINK, result::ACKNOWLEDGED, 1);
                self.settled.insert(&id);
                settled.push(event_type);
            } else {
                self.metrics.count(LOCAL_SINK, result::UNAVAILABLE, 1);
            }
        }
        settled
    }

    /// A refused event must never vanish: if it cannot even be kept locally, it is not settled
    /// (it stays due and is tried again).
    async fn keep_locally(&self, record: &serde_json::Value) -> bool {
        match self.local.record(record).await {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(%error, "cannot keep a refused audit event locally; it stays due");
                false
            }
        }
    }
}

impl AuditTrail for AuditTrailImpl {
    fn deliver<'a>(
        &'a self,
        wfe: &'a WorkflowExecution,
        due: &'a [AuditEventType],
    ) -> BoxFuture<'a, Result<Vec<AuditEventType>, AuditError>> {
        Box::pin(self.deliver_events(wfe, due))
    }
}

/// Keeps `workflowexecution_audit_pending` right even if the caller drops the delivery future.
struct PendingGuard<'a> {
    metrics: &'a AuditMetrics,
    n: usize,
}

impl<'a> PendingGuard<'a> {
    fn new(metrics: &'a AuditMetrics, n: usize) -> Self {
        metrics.pending_add(n);
        PendingGuard { metrics, n }
    }
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.metrics.pending_sub(self.n);
    }
}
