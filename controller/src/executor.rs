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
use wfe_api::{Phase, WorkflowExecution, WorkflowExecutionStatus, keys, naming};
use wfe_audit::AuditTrail;

use crate::audit_due::{audit_retry_after, due_events, record_delivery, set_audit_condition};
use crate::decision::{
    self, CreateOutcome, Decision, Notice, NoticeKind, RunDeletion, Step, World,
};
use crate::error::Error;
use crate::index::TargetIndex;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::tekton::{self, FailedTask, RunView, TaskRunView};

/// Safety-net resync for running workflows; PipelineRun watch events are the real trigger.
pub const RUNNING_RESYNC: Duration = Duration::from_secs(600);
/// Retry delay while the caches are still loading.
pub const NOT_SYNCED_RETRY: Duration = Duration::from_secs(1);
/// How many times one reconcile tries to take over an expired lock before giving up for now.
const MAX_LOCK_ATTEMPTS: usize = 3;

/// Source of the current time (injected so tests control it).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

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
    /// WFE cache.
    pub wfes: Store<WorkflowExecution>,
    /// PipelineRun cache (execution namespace).
    pub runs: Store<DynamicObject>,
    /// WFEs by target.
    pub index: Arc<TargetIndex>,
    /// True once both caches hold their initial list.
    pub synced: Arc<AtomicBool>,
    /// Current time.
    pub clock: Clock,
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

    /// The other WFEs on `wfe`'s target, from the index and the cache.
    fn neighbours(&self, wfe: &WorkflowExecution) -> Vec<Arc<WorkflowExecution>> {
        let uid = wfe.metadata.uid.as_deref();
        self.index
            .on_target(&wfe.spec.target_resource)
            .iter()
            .filter_map(|r| self.wfes.get(r))
            .filter(|w| w.metadata.uid.as_deref() != uid)
            .collect()
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
    let _timer = ctx.metrics.reconcile_duration.start_timer();
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

/// Error policy: count, log, and retry with a delay that depends on the kind of error.
pub fn error_policy(wfe: Arc<WorkflowExecution>, error: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .with_label_values(&[error.kind()])
        .inc();
    warn!(wfe = %wfe.name_any(), namespace = ?wfe.namespace(), %error, "reconcile failed");
    Action::requeue(error.retry_after())
}

async fn apply(wfe: &WorkflowExecution, ctx: &Context) -> Result<Action, Error> {
    let now = (ctx.clock)();
    let uid = wfe
        .metadata
        .uid
        .clone()
        .ok_or(Error::MissingMetadata("uid"))?;
    let run_name = naming::pipeline_run_name(&wfe.spec.target_resource);
    let mut lock = ctx.cached_run(&run_name);
    // The run cache can lag behind our own create: confirm before concluding it is gone.
    if wfe.phase() == Phase::Running && !lock.as_ref().is_some_and(|r| r.is_owned_by(&uid)) {
        lock = ctx
            .run_api()
            .get_opt(&run_name)
            .await
            .map_err(kube_err("get pipelinerun"))?
            .map(|o| RunView::from_object(&o));
    }
    let failed_task = match &lock {
        Some(run) if decision::needs_failed_task(wfe, Some(run)) => {
            find_failed_task(ctx, run).await?
        }
        _ => None,
    };
    let neighbours = ctx.neighbours(wfe);
    let others: Vec<&WorkflowExecution> = neighbours.iter().map(AsRef::as_ref).collect();
    let world = World {
        lock: lock.as_ref(),
        others: &others,
        failed_task: failed_task.as_ref(),
        now,
    };
    let mut d = decision::decide(wfe, &world, &ctx.settings);

    let mut attempts = 0;
    while let Step::Start { expired_lock } = d.step.clone() {
        attempts += 1;
        if attempts > MAX_LOCK_ATTEMPTS {
            return Err(Error::LockContended(run_name));
        }
        if let Some(expired) = expired_lock {
            delete_run(ctx, &expired).await?;
        }
        let outcome_run;
        let outcome = match create_run(ctx, wfe).await? {
            Created::Yes(run) => {
                ctx.metrics.pipelinerun_creations.inc();
                outcome_run = *run;
                CreateOutcome::Created(&outcome_run)
            }
            Created::AlreadyExists => match ctx
                .run_api()
                .get_opt(&run_name)
                .await
                .map_err(kube_err("get pipelinerun"))?
            {
                Some(o) => {
                    outcome_run = RunView::from_object(&o);
                    CreateOutcome::AlreadyExists(&outcome_run)
                }
                // Deleted between our create and our read: simply try again.
                None => {
                    d.step = Step::Start { expired_lock: None };
                    continue;
                }
            },
            Created::Rejected { code, message } => {
                let world = World {
                    lock: None,
                    ..world
                };
                d = decision::decide_after_create(
                    wfe,
                    CreateOutcome::Rejected {
                        code,
                        message: &message,
                    },
                    &world,
                    &ctx.settings,
                );
                break;
            }
        };
        d = decision::decide_after_create(wfe, outcome, &world, &ctx.settings);
    }
    if let Step::ReleaseLock(run) = &d.step {
        delete_run(ctx, run).await?;
    }
    persist_and_announce(wfe, d, ctx, now).await
}

/// Writes the decided status (if it changed), then emits its notices and delivers audit.
async fn persist_and_announce(
    wfe: &WorkflowExecution,
    d: Decision,
    ctx: &Context,
    now: Timestamp,
) -> Result<Action, Error> {
    let (persisted, from_cache) = if Some(&d.status) != wfe.status.as_ref() {
        (write_status(ctx, wfe, &d.status).await?, false)
    } else {
        (wfe.clone(), true)
    };
    // Only now is the state these notices describe persisted; a conflict above emits nothing.
    for notice in &d.notices {
        announce(ctx, &persisted, notice).await;
    }
    let audit_requeue = deliver_audit(ctx, &persisted, from_cache, now).await?;
    let resync = (persisted.phase() == Phase::Running).then_some(RUNNING_RESYNC);
    let next = [d.requeue_after, audit_requeue, resync]
        .into_iter()
        .flatten()
        .min();
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// Delivers the audit events the persisted status implies and records the acknowledgement.
/// Returns when to retry if something is still pending.
///
/// `from_cache`: `persisted` is the watch cache's copy, which may predate our own last write
/// (the write that recorded an acknowledgement). Before delivering on its word, the status is
/// read fresh, so a lagging cache never sends an event twice.
async fn deliver_audit(
    ctx: &Context,
    persisted: &WorkflowExecution,
    from_cache: bool,
    now: Timestamp,
) -> Result<Option<Duration>, Error> {
    let Some(cached_status) = persisted.status.as_ref() else {
        return Ok(None);
    };
    let policy = &ctx.settings.block;
    if due_events(cached_status, policy).is_empty() {
        return Ok(None);
    }
    let fresh;
    let persisted = if from_cache {
        fresh = read_status(ctx, persisted).await?;
        &fresh
    } else {
        persisted
    };
    let Some(status) = persisted.status.as_ref() else {
        return Ok(None);
    };
    let due = due_events(status, policy);
    if due.is_empty() {
        return Ok(None);
    }
    let generation = persisted.metadata.generation;
    let mut next = status.clone();
    let result = ctx.audit.deliver(persisted, &due).await;
    match &result {
        Ok(acked) => record_delivery(&mut next, acked, policy, generation, now),
        Err(e) => set_audit_condition(&mut next, policy, generation, now, Some(&e.to_string())),
    }
    let written = if &next != status {
        write_status(ctx, persisted, &next).await?
    } else {
        persisted.clone()
    };
    let still_due = written
        .status
        .as_ref()
        .map(|s| due_events(s, policy))
        .unwrap_or_default();
    if still_due.is_empty() {
        return Ok(None);
    }
    if let Err(e) = result {
        warn!(wfe = %persisted.name_any(), error = %e, "audit delivery failed; will retry");
    }
    Ok(Some(
        written
            .status
            .as_ref()
            .map_or(crate::audit_due::MIN_AUDIT_RETRY, |s| {
                audit_retry_after(s, now)
            }),
    ))
}

async fn announce(ctx: &Context, wfe: &WorkflowExecution, notice: &Notice) {
    let m = &ctx.metrics;
    let status = wfe.status.as_ref();
    match notice.kind {
        NoticeKind::WorkflowCompleted | NoticeKind::WorkflowFailed => {
            let outcome = if notice.kind == NoticeKind::WorkflowCompleted {
                "Completed"
            } else {
                "Failed"
            };
            m.total.with_label_values(&[outcome]).inc();
            if let Some((start, end)) =
                status.and_then(|s| Some((s.start_time.as_ref()?.0, s.completion_time.as_ref()?.0)))
            {
                let secs = end.duration_since(start).as_secs_f64();
                m.duration
                    .with_label_values(&[outcome])
                    .observe(secs.max(0.0));
            }
        }
        NoticeKind::Skipped => {
            m.total.with_label_values(&["Skipped"]).inc();
            if let Some(reason) = status.and_then(|s| s.skip_details.as_ref()) {
                m.skips.with_label_values(&[reason.reason.as_str()]).inc();
            }
        }
        NoticeKind::BlockCleared => m.block_clearances.inc(),
        NoticeKind::ForgedClearance => {
            m.forged_clearances.inc();
            warn!(wfe = %wfe.name_any(), note = %notice.note, "a blockClearance failed the block rules; the block stays");
        }
        _ => {}
    }
    let event = KubeEvent {
        type_: if notice.kind.is_warning() {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: notice.kind.reason().to_owned(),
        note: Some(notice.note.chars().take(1000).collect()),
        action: notice.kind.reason().to_owned(),
        secondary: None,
    };
    // Events are best-effort diagnostics; the status is the record, so never fail on them.
    if let Err(e) = ctx.recorder.publish(&event, &wfe.object_ref(&())).await {
        warn!(wfe = %wfe.name_any(), reason = notice.kind.reason(), error = %e, "could not publish event");
    }
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

/// The object as stored now (GET of the status subresource), bypassing the watch cache.
async fn read_status(ctx: &Context, wfe: &WorkflowExecution) -> Result<WorkflowExecution, Error> {
    let (name, namespace) = name_and_namespace(wfe)?;
    ctx.wfe_api(namespace)
        .get_status(name)
        .await
        .map_err(|source| Error::Kube {
            call: "get workflowexecutions/status",
            source,
        })
}

/// Server-side applies `status` (never the operator/webhook-owned clearance fields), with the
/// resourceVersion the decision was based on so a stale decision is rejected, not applied.
async fn write_status(
    ctx: &Context,
    wfe: &WorkflowExecution,
    status: &WorkflowExecutionStatus,
) -> Result<WorkflowExecution, Error> {
    let (name, namespace) = name_and_namespace(wfe)?;
    let mut ours = status.clone();
    ours.block_clearance = None;
    ours.block_clearance_request = None;
    let body = json!({
        "apiVersion": WorkflowExecution::api_version(&()),
        "kind": WorkflowExecution::kind(&()),
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": wfe.metadata.resource_version},
        "status": ours,
    });
    let params = PatchParams::apply(keys::FIELD_MANAGER).force();
    match ctx
        .wfe_api(namespace)
        .patch_status(name, &params, &Patch::Apply(&body))
        .await
    {
        Ok(w) => Ok(w),
        Err(e) if is_status(&e, 409) => Err(Error::Conflict(format!("{namespace}/{name}"))),
        Err(e) => Err(Error::Kube {
            call: "patch workflowexecutions/status",
            source: e,
        }),
    }
}

enum Created {
    Yes(Box<RunView>),
    AlreadyExists,
    Rejected { code: u16, message: String },
}

async fn create_run(ctx: &Context, wfe: &WorkflowExecution) -> Result<Created, Error> {
    let run = tekton::build_pipeline_run(wfe, &ctx.settings)?;
    match ctx
        .run_api()
        .create(
            &PostParams {
                field_manager: Some(keys::FIELD_MANAGER.to_owned()),
                ..Default::default()
            },
            &run,
        )
        .await
    {
        Ok(o) => {
            info!(wfe = %wfe.name_any(), pipelinerun = ?o.metadata.name, "PipelineRun created");
            Ok(Created::Yes(Box::new(RunView::from_object(&o))))
        }
        Err(e) if is_status(&e, 409) => Ok(Created::AlreadyExists),
        // Retrying cannot fix these (RBAC, admission, schema): record a pre-execution failure.
        Err(kube::Error::Api(s)) if matches!(s.code, 400 | 403 | 404 | 422) => {
            Ok(Created::Rejected {
                code: s.code,
                message: s.message.clone(),
            })
        }
        Err(e) => Err(Error::Kube {
            call: "create pipelineruns",
            source: e,
        }),
    }
}

/// Deletes a PipelineRun the decision core proved may be deleted, preconditioned on its UID so
/// a newer run of the same name (someone else's lock) is never hit.
async fn delete_run(ctx: &Context, run: &RunDeletion) -> Result<(), Error> {
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: Some(run.uid.clone()),
            resource_version: None,
        }),
        propagation_policy: Some(kube::api::PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match ctx.run_api().delete(&run.name, &params).await {
        Ok(_) => Ok(()),
        // Already gone, or replaced by another run (UID precondition failed): nothing of ours left.
        Err(e) if is_status(&e, 404) || is_status(&e, 409) => Ok(()),
        Err(e) => Err(Error::Kube {
            call: "delete pipelineruns",
            source: e,
        }),
    }
}

/// GETs the run's child TaskRuns in order and returns the first one that failed.
async fn find_failed_task(ctx: &Context, run: &RunView) -> Result<Option<FailedTask>, Error> {
    let api = ctx.task_run_api();
    for (index, child) in run.task_runs.iter().enumerate() {
        let Some(obj) = api
            .get_opt(&child.name)
            .await
            .map_err(kube_err("get taskruns"))?
        else {
            continue;
        };
        let task_run = TaskRunView::from_object(&obj);
        if task_run.failed() {
            return Ok(Some(FailedTask {
                task_name: child
                    .pipeline_task_name
                    .clone()
                    .unwrap_or_else(|| child.name.clone()),
                index: i32::try_from(index).unwrap_or(i32::MAX),
                task_run,
            }));
        }
    }
    Ok(None)
}

/// Deletion (DESIGN §4.5): cancel our run, let pending audit drain (bounded), announce.
async fn cleanup(wfe: &WorkflowExecution, ctx: &Context) -> Result<Action, Error> {
    let now = (ctx.clock)();
    let uid = wfe
        .metadata
        .uid
        .clone()
        .ok_or(Error::MissingMetadata("uid"))?;
    let run_name = naming::pipeline_run_name(&wfe.spec.target_resource);
    if let Some(obj) = ctx
        .run_api()
        .get_opt(&run_name)
        .await
        .map_err(kube_err("get pipelinerun"))?
    {
        let run = RunView::from_object(&obj);
        if run.is_owned_by(&uid)
            && !run.deleting
            && let Some(run_uid) = run.uid.clone()
        {
            delete_run(
                ctx,
                &RunDeletion {
                    name: run_name.clone(),
                    uid: run_uid,
                },
            )
            .await?;
        }
    }
    let policy = &ctx.settings.block;
    let due = wfe
        .status
        .as_ref()
        .map(|s| due_events(s, policy))
        .unwrap_or_default();
    if !due.is_empty() {
        let since = wfe
            .metadata
            .deletion_timestamp
            .as_ref()
            .map_or(now, |t| t.0);
        let waited = Duration::try_from(now.duration_since(since)).unwrap_or_default();
        if waited < ctx.settings.audit_delete_timeout {
            let pending = match ctx.audit.deliver(wfe, &due).await {
                Ok(acked) => {
                    if let Some(status) = wfe.status.as_ref() {
                        let mut next = status.clone();
                        record_delivery(&mut next, &acked, policy, wfe.metadata.generation, now);
                        write_status(ctx, wfe, &next).await?;
                        due_events(&next, policy)
                    } else {
                        Vec::new()
                    }
                }
                Err(e) => {
                    warn!(wfe = %wfe.name_any(), error = %e, "audit delivery failed during deletion; will retry");
                    due.clone()
                }
            };
            if !pending.is_empty() {
                return Err(Error::AuditPending(wfe.name_any()));
            }
        } else {
            let names: Vec<&str> = due.iter().map(|e| e.as_str()).collect();
            warn!(wfe = %wfe.name_any(), pending = ?names, "audit events still undelivered after the deletion timeout; deleting anyway");
        }
    }
    let notice = Notice {
        kind: NoticeKind::WorkflowExecutionDeleted,
        note: format!(
            "cleaned up WorkflowExecution {} (target {})",
            wfe.name_any(),
            wfe.spec.target_resource
        ),
    };
    announce(ctx, wfe, &notice).await;
    Ok(Action::await_change())
}
