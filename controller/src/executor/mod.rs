//! The imperative shell: reads the caches, asks the decision core, and performs what it says
//! against the API server. Every API call the controller makes is in this file and listed in
//! [`crate::API_CALLS`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event as KubeEvent, EventType, Recorder};
use kube::runtime::finalizer::{Error as FinalizerError, Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{debug, info, warn};
use wfe_api::AuditEventType;
use wfe_api::clock::Clock;
use wfe_api::{Phase, WorkflowExecution, WorkflowExecutionStatus, keys, naming};
use wfe_audit::{AuditError, AuditTrail};

use crate::audit_due::{audit_retry_after, due_events, record_delivery, set_audit_condition};
use crate::cached::CachedWfe;
use crate::decision::{
    self, CreateOutcome, Decision, Notice, NoticeKind, RunDeletion, Step, World,
};
use crate::error::Error;
use crate::index::TargetIndex;
use crate::metrics::Metrics;
use crate::neighbour::Neighbour;
use crate::settings::Settings;
use crate::tekton::{self, FailedTask, RunView, TaskRunView};

mod announce;
mod apply;
mod audit;
mod cleanup;
mod writes;

use announce::*;
use apply::*;
use audit::*;
use cleanup::*;
use writes::*;

/// Safety-net resync for running workflows; PipelineRun watch events are the real trigger.
pub const RUNNING_RESYNC: Duration = Duration::from_secs(600);

/// Retry delay while the caches are still loading.
pub const NOT_SYNCED_RETRY: Duration = Duration::from_secs(1);

/// Everything a reconcile needs; shared by all reconciles.
pub struct Context {
    /// API client.
    pub client: Client,
    /// Configuration.
    pub settings: Settings,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Audit delivery.
    pub audit: Arc<dyn AuditTrail>,
    /// events.k8s.io publisher.
    pub recorder: Recorder,
    /// PipelineRun cache (execution namespace).
    pub runs: Store<DynamicObject>,
    /// WFEs by target, and what a decision reads of each (`crate::neighbour`).
    pub index: Arc<TargetIndex>,
    /// True once both caches hold their initial list.
    pub synced: Arc<AtomicBool>,
    /// Current time.
    pub clock: Arc<dyn Clock>,
}

impl Context {
    fn wfe_api(&self, namespace: &str) -> Api<WorkflowExecution> {
        Api::namespaced(self.client.clone(), namespace)
    }

    fn run_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.settings.execution_namespace,
            &tekton::pipeline_run_resource(),
        )
    }

    fn task_run_api(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.settings.execution_namespace,
            &tekton::task_run_resource(),
        )
    }

    fn cached_run(&self, name: &str) -> Option<RunView> {
        let key = ObjectRef::new_with(name, tekton::pipeline_run_resource())
            .within(&self.settings.execution_namespace);
        self.runs.get(&key).map(|o| RunView::from_object(&o))
    }

    /// Whether the indexed WFE `namespace/name` owns its target's lock PipelineRun, in the
    /// PipelineRun cache.
    fn holds_lock(&self, namespace: &str, name: &str) -> bool {
        self.index
            .target_and_owner(namespace, name)
            .is_some_and(|(target, owner_uid)| {
                self.cached_run(&naming::pipeline_run_name(&target))
                    .and_then(|run| run.owner)
                    .is_some_and(|owner| owner_uid.as_deref() == Some(owner.uid.as_str()))
            })
    }

    /// The other WFEs on `wfe`'s target its decision can depend on, from the index; `lock` is
    /// the lock PipelineRun the decision will see (its owner must be among them).
    fn neighbours(&self, wfe: &WorkflowExecution, lock: Option<&RunView>) -> Vec<Arc<Neighbour>> {
        let uid = wfe.metadata.uid.as_deref().map(naming::label_value);
        let lock_owner = lock.and_then(|r| r.owner.as_ref()).map(|o| o.uid.as_str());
        let mut neighbours =
            self.index
                .relevant(&wfe.spec.target_resource, uid.as_deref(), lock_owner);
        neighbours.retain(|n| n.owner_uid.as_deref() != uid.as_deref());
        neighbours
    }
}

fn is_status(err: &kube::Error, code: u16) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == code)
}

fn kube_err(call: &'static str) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Kube { call, source }
}

/// Reconciles one WFE: finalizer bookkeeping, then apply or cleanup.
pub async fn reconcile(wfe: Arc<WorkflowExecution>, ctx: Arc<Context>) -> Result<Action, Error> {
    if !ctx.synced.load(Ordering::Acquire) {
        return Ok(Action::requeue(NOT_SYNCED_RETRY));
    }
    let namespace = wfe.namespace().ok_or(Error::MissingMetadata("namespace"))?;
    let api = ctx.wfe_api(&namespace);
    let name = wfe.name_any();
    let outcome = finalizer(&api, keys::FINALIZER, wfe, |event| async {
        match event {
            FinalizerEvent::Apply(w) => apply(&w, &ctx).await,
            FinalizerEvent::Cleanup(w) => cleanup(&w, &ctx).await,
        }
    })
    .await;
    match outcome {
        // The object is already gone: a stale cached copy was cleaned up once more after the
        // finalizer had been removed, or it was deleted before the finalizer went on. Nothing is
        // left to do, so this is success, not an error (it would feed the ReconcileErrors alert).
        Err(FinalizerError::RemoveFinalizer(e) | FinalizerError::AddFinalizer(e))
            if is_status(&e, 404) =>
        {
            debug!(wfe = %name, %namespace, "WorkflowExecution already gone; finalizer bookkeeping done");
            Ok(Action::await_change())
        }
        other => other.map_err(|e| Error::Finalizer(Box::new(e))),
    }
}

/// Whether a reconcile of `wfe` would find nothing to do (no API call, nothing to wait for) as
/// long as no lock PipelineRun of its own exists: a finished WFE whose finalizer is on, whose
/// status is what the decision would write and whose audit events are all acknowledged. Judged
/// by the same decision and audit rules the reconcile applies, none of which reads the clock
/// unless something changes; such a WFE is cached settled from the start (`crate::cached`).
pub fn is_quiet(wfe: &WorkflowExecution, settings: &Settings, now: Timestamp) -> bool {
    let Some(status) = wfe.status.as_ref() else {
        return false;
    };
    let finished = matches!(
        wfe.phase(),
        Phase::Completed | Phase::Failed | Phase::Skipped
    );
    let finalized = wfe.finalizers().iter().any(|f| f == keys::FINALIZER);
    if !finished || !finalized || wfe.metadata.deletion_timestamp.is_some() {
        return false;
    }
    let world = World {
        lock: None,
        others: &[],
        failed_task: None,
        now,
    };
    let d = decision::decide(wfe, &world, settings);
    d.step == Step::Nothing
        && d.notices.is_empty()
        && d.requeue_after.is_none()
        && &d.status == status
        && due_events(status, &settings.block).is_empty()
}

/// Reconciles a cache entry: with the object the watch delivered while the entry still holds it,
/// else, when the WFE holds its target's lock PipelineRun, with the WFE read fresh from the API
/// server (`crate::cached`). A settled entry (its last reconcile, or `is_quiet`, found nothing
/// to do until the WFE changes) of a WFE that holds no lock has nothing to do: whatever changes
/// the WFE arrives as a new entry. An entry whose reconcile ends with nothing to do until the
/// WFE changes lets go of its object.
pub async fn reconcile_cached(cached: Arc<CachedWfe>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Every reconcile the controller runs, the settled ones that end here included.
    let _timer = ctx.metrics.reconcile_duration.start_timer();
    if !ctx.synced.load(Ordering::Acquire) {
        return Ok(Action::requeue(NOT_SYNCED_RETRY));
    }
    let wfe = match cached.body() {
        Some(wfe) => wfe,
        None => {
            let namespace = cached
                .namespace()
                .ok_or(Error::MissingMetadata("namespace"))?;
            let name = cached.name_any();
            if !ctx.holds_lock(&namespace, &name) {
                return Ok(Action::await_change());
            }
            debug!(wfe = %name, %namespace, "settled WorkflowExecution holds its lock; reading it");
            match ctx
                .wfe_api(&namespace)
                .get_opt(&name)
                .await
                .map_err(kube_err("get workflowexecution"))?
            {
                Some(wfe) => Arc::new(wfe),
                // Deleted since: its deletion event removes the entry.
                None => return Ok(Action::await_change()),
            }
        }
    };
    let action = reconcile(wfe, ctx).await?;
    if action == Action::await_change() {
        cached.settle();
    }
    Ok(action)
}

/// Error policy: count, log, and retry with a delay that depends on the kind of error.
pub fn error_policy(wfe: Arc<CachedWfe>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .with_label_values(&[error.kind()])
        .inc();
    warn!(wfe = %wfe.name_any(), namespace = ?wfe.namespace(), %error, "reconcile failed");
    Action::requeue(error.retry_after())
}

/// `(name, namespace)` of a WFE, which every status call needs.
fn name_and_namespace(wfe: &WorkflowExecution) -> Result<(&str, &str), Error> {
    let name = wfe
        .metadata
        .name
        .as_deref()
        .ok_or(Error::MissingMetadata("name"))?;
    let namespace = wfe
        .metadata
        .namespace
        .as_deref()
        .ok_or(Error::MissingMetadata("namespace"))?;
    Ok((name, namespace))
}
