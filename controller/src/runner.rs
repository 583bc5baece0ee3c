//! Wiring: watches, caches, the target index and kube-runtime's `Controller`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef, store::Writer};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use wfe_api::clock::{Clock, SystemClock};
use wfe_api::{WorkflowExecution, keys};
use wfe_audit::AuditTrail;

use crate::cached::CachedWfe;
use crate::error::Error;
use crate::executor::{Context, error_policy, is_quiet, reconcile_cached};
use crate::index::TargetIndex;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::tekton::{self, RunView};

/// Fails with a clear message when `tekton.dev/v1` PipelineRuns are not served (discovery).
pub async fn check_tekton(client: &Client) -> Result<(), Error> {
    let version = format!("{}/{}", tekton::TEKTON_GROUP, tekton::TEKTON_VERSION);
    match client.list_api_group_resources(&version).await {
        Ok(list) if list.resources.iter().any(|r| r.name == "pipelineruns") => Ok(()),
        Ok(_) => Err(Error::TektonMissing(format!(
            " ({version} is served but has no pipelineruns resource)"
        ))),
        Err(kube::Error::Api(s)) if s.code == 404 => Err(Error::TektonMissing(format!(
            " (GET /apis/{version} returned 404)"
        ))),
        Err(e) => Err(Error::Kube {
            call: "discover tekton.dev/v1",
            source: e,
        }),
    }
}

/// Decodes a watch event of an untyped WFE. An object that does not decode is logged with the
/// offending field and counted (`reconcile_errors_total{kind="decode"}`), and its event dropped.
pub fn decode_event(
    event: watcher::Event<DynamicObject>,
    metrics: &Metrics,
) -> Option<watcher::Event<WorkflowExecution>> {
    let decode = |obj: DynamicObject| -> Option<WorkflowExecution> {
        let name = format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
        let value = serde_json::to_value(obj).ok()?;
        match wfe_api::parse_workflow_execution(value) {
            Ok(wfe) => Some(wfe),
            Err(violation) => {
                metrics
                    .reconcile_errors
                    .with_label_values(&[crate::error::DECODE_KIND])
                    .inc();
                warn!(wfe = %name, error = %violation, "WorkflowExecution does not decode; it is skipped until it is fixed or deleted");
                None
            }
        }
    };
    match event {
        watcher::Event::Apply(o) => decode(o).map(watcher::Event::Apply),
        watcher::Event::Delete(o) => decode(o).map(watcher::Event::Delete),
        watcher::Event::InitApply(o) => decode(o).map(watcher::Event::InitApply),
        watcher::Event::Init => Some(watcher::Event::Init),
        watcher::Event::InitDone => Some(watcher::Event::InitDone),
    }
}

/// The cache entry of a decoded WFE watch event: the index has seen the whole object; the cache
/// keeps it only if `quiet` says a reconcile may have something to do with it
/// (`executor::is_quiet`).
pub fn cache_event(
    event: watcher::Event<WorkflowExecution>,
    quiet: impl Fn(&WorkflowExecution) -> bool,
) -> watcher::Event<CachedWfe> {
    let entry = |w: WorkflowExecution| {
        if quiet(&w) {
            CachedWfe::settled(&w)
        } else {
            CachedWfe::new(w)
        }
    };
    match event {
        watcher::Event::Apply(w) => watcher::Event::Apply(entry(w)),
        watcher::Event::Delete(w) => watcher::Event::Delete(CachedWfe::settled(&w)),
        watcher::Event::InitApply(w) => watcher::Event::InitApply(entry(w)),
        watcher::Event::Init => watcher::Event::Init,
        watcher::Event::InitDone => watcher::Event::InitDone,
    }
}

/// The WFE a PipelineRun belongs to, from its exact `namespace/name` annotation.
pub fn owner_of_run(run: &DynamicObject) -> Option<ObjectRef<CachedWfe>> {
    let owner = RunView::from_object(run).owner?;
    Some(ObjectRef::new(&owner.name).within(&owner.namespace))
}

/// Tracks the first complete list of each cache. (Waiting on `Store::wait_until_ready` from a
/// second task is unreliable: the controller waits on the same one-shot and only one waiter is
/// woken.)
struct CacheSync {
    wfes: AtomicBool,
    runs: AtomicBool,
    synced: Arc<AtomicBool>,
}

impl CacheSync {
    fn observe<K>(&self, event: &watcher::Event<K>, which: &AtomicBool) {
        if matches!(event, watcher::Event::InitDone) {
            which.store(true, Ordering::Release);
            if self.wfes.load(Ordering::Acquire)
                && self.runs.load(Ordering::Acquire)
                && !self.synced.swap(true, Ordering::AcqRel)
            {
                info!("WorkflowExecution and PipelineRun caches synced");
            }
        }
    }
}

/// Runs the reconciler until `shutdown` is cancelled, finishing the reconciles in progress.
///
/// `synced` turns true once the WFE and PipelineRun caches hold their initial lists.
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<Metrics>,
    audit: Arc<dyn AuditTrail>,
    shutdown: CancellationToken,
    synced: Arc<AtomicBool>,
) -> Result<(), Error> {
    let index = Arc::new(TargetIndex::new(&settings));
    let sync = Arc::new(CacheSync {
        wfes: AtomicBool::new(false),
        runs: AtomicBool::new(false),
        synced: synced.clone(),
    });

    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (wfe_store, wfe_writer) = reflector::store::<CachedWfe>();
    let wfe_stream = wfe_events(
        &client,
        wfe_writer,
        index.clone(),
        sync.clone(),
        metrics.clone(),
        Quiet {
            settings: settings.clone(),
            clock: clock.clone(),
        },
    );
    let ar = tekton::pipeline_run_resource();
    let run_writer: Writer<DynamicObject> = Writer::new(ar.clone());
    let run_store = run_writer.as_reader();
    let run_stream = run_events(
        &client,
        &settings.execution_namespace,
        run_writer,
        sync.clone(),
    );

    let recorder = Recorder::new(
        client.clone(),
        Reporter {
            controller: keys::REPORTING_CONTROLLER.to_owned(),
            instance: settings.reporting_instance.clone(),
        },
    );
    let ctx = Arc::new(Context {
        client,
        settings,
        metrics,
        audit,
        recorder,
        runs: run_store,
        index,
        synced: synced.clone(),
        clock,
    });

    let token = shutdown.clone();
    Controller::for_stream(wfe_stream, wfe_store)
        .with_config(kube::runtime::controller::Config::default().concurrency(32))
        // Each watch backs off on its own (short and capped, crate::reconnect); a second,
        // shared backoff here would stretch one watch's retries by the other's errors.
        .trigger_backoff(crate::reconnect::no_second_backoff())
        .watches_stream_with(run_stream, |run| owner_of_run(&run), ar)
        .graceful_shutdown_on(async move { token.cancelled().await })
        .run(reconcile_cached, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                warn!(error = %e, "controller event");
            }
        })
        .await;
    synced.store(false, Ordering::Release);
    info!("controller stopped");
    Ok(())
}

/// Objects per page of the initial (and any re-) list. kube's default is 500; each page is
/// decoded through JSON trees that glibc keeps in its arenas after they are freed, so smaller
/// pages cut the process's RSS with 10 000 WFEs (from ~72 to ~56 MiB at 100 with the old cache;
/// 31.8 -> 30.4 MiB from 100 to 50 with the slim one, no slower to sync within the noise)
/// (BENCHMARKS.md, memory).
pub const LIST_PAGE_SIZE: u32 = 50;

/// Drops from a WFE what the controller never reads, before it is cached: the bulk of a cached
/// object (BENCHMARKS.md, memory). Safe because every controller write is a patch or a
/// server-side apply built from scratch, never a replace of a cached copy.
pub fn slim(w: &mut WorkflowExecution) {
    w.managed_fields_mut().clear();
}

/// What `executor::is_quiet` judges with: the controller's settings and clock.
struct Quiet {
    settings: Settings,
    clock: Arc<dyn Clock>,
}

/// WorkflowExecutions as the controller sees them: decoded one by one, indexed by target, cached
/// slim.
fn wfe_events(
    client: &Client,
    writer: Writer<CachedWfe>,
    index: Arc<TargetIndex>,
    sync: Arc<CacheSync>,
    metrics: Arc<Metrics>,
    quiet: Quiet,
) -> impl futures::Stream<Item = Result<CachedWfe, watcher::Error>> + use<> {
    // Listed as untyped objects and decoded one by one: a single stored WFE that no longer
    // decodes (e.g. written under an older schema) is reported and skipped instead of failing the
    // whole list and stalling every other WFE.
    let api: Api<DynamicObject> = Api::all_with(
        client.clone(),
        &ApiResource::erase::<WorkflowExecution>(&()),
    );
    watcher(api, watcher::Config::default().page_size(LIST_PAGE_SIZE))
        .backoff(crate::reconnect::watch_backoff())
        .try_filter_map(move |event| {
            let decoded = decode_event(event, &metrics);
            async move { Ok(decoded) }
        })
        .modify(slim)
        .map_ok(move |event| {
            index.observe(&event);
            sync.observe(&event, &sync.wfes);
            cache_event(event, |w| is_quiet(w, &quiet.settings, quiet.clock.now()))
        })
        .reflect(writer)
        .applied_objects()
}

/// PipelineRuns of the execution namespace: every change, status included, and deletions
/// trigger the owner's reconcile.
fn run_events(
    client: &Client,
    namespace: &str,
    writer: Writer<DynamicObject>,
    sync: Arc<CacheSync>,
) -> impl futures::Stream<Item = Result<DynamicObject, watcher::Error>> + use<> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &tekton::pipeline_run_resource());
    watcher(api, watcher::Config::default().page_size(LIST_PAGE_SIZE))
        .backoff(crate::reconnect::watch_backoff())
        .modify(|r| r.managed_fields_mut().clear())
        .map_ok(move |event| {
            sync.observe(&event, &sync.runs);
            event
        })
        .reflect(writer)
        .touched_objects()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wfe_testing::wfe_on;

    #[test]
    fn pipeline_run_events_map_to_the_exact_owner() {
        let mut w = wfe_on(&"n".repeat(120), "ns/Deployment/x");
        w.metadata.namespace = Some("team-b".into());
        let run = tekton::build_pipeline_run(&w, &Settings::default()).unwrap();
        let owner = owner_of_run(&run).unwrap();
        assert_eq!(
            (owner.name.as_str(), owner.namespace.as_deref()),
            ("n".repeat(120).as_str(), Some("team-b"))
        );
        let foreign = DynamicObject::new("x", &tekton::pipeline_run_resource());
        assert!(
            owner_of_run(&foreign).is_none(),
            "unlabelled runs trigger nothing"
        );
    }
}

#[cfg(test)]
mod decode_tests {
    use super::*;
    use serde_json::json;

    fn object(status: serde_json::Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "kubernaut.ai/v1alpha1", "kind": "WorkflowExecution",
            "metadata": {"name": "w", "namespace": "team-a", "uid": "u-1"},
            "spec": {
                "remediationRequestRef": {"name": "rr"},
                "workflowRef": {"workflowId": "restart", "version": "v1", "containerImage": "registry.example/restart:v1"},
                "targetResource": "team-a/Deployment/api"
            },
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn undecodable_wfes_are_skipped_and_counted_while_the_rest_pass() {
        let metrics = Metrics::new(&prometheus::Registry::new()).unwrap();
        let good = object(json!({"phase": "Running"}));
        match decode_event(watcher::Event::InitApply(good), &metrics) {
            Some(watcher::Event::InitApply(w)) => {
                assert_eq!(w.spec.workflow_ref.workflow_id, "restart")
            }
            other => panic!("expected the decoded object, got {other:?}"),
        }
        // Written under an older schema: the clearance lacks a now-required field.
        let stale = object(json!({"phase": "Failed", "blockClearance": {"clearedBy": "alice"}}));
        assert!(decode_event(watcher::Event::Apply(stale), &metrics).is_none());
        assert_eq!(
            metrics
                .reconcile_errors
                .with_label_values(&["decode"])
                .get(),
            1
        );
        assert!(matches!(
            decode_event(watcher::Event::InitDone, &metrics),
            Some(watcher::Event::InitDone)
        ));
        assert!(matches!(
            decode_event(watcher::Event::Init, &metrics),
            Some(watcher::Event::Init)
        ));
    }
}
