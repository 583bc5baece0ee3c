//! Heap held per cached WorkflowExecution (DESIGN §10 memory target), measured without a cluster
//! and without noise: a counting global allocator reports the live bytes the WFE cache and the
//! target index hold after N Completed WFEs, as the API server lists them (status written by the
//! controller's own decision core, `managedFields` of three field managers), went through the
//! controller's watch path (`runner::decode_event`, `runner::slim`, index, reflector store).
//!
//! Run with `cargo run --release -p wfe-controller --example cache_footprint -- 10000`.
//! The process RSS with a real API server is measured by `controller_throughput --memory`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use jiff::Timestamp;
use kube::api::DynamicObject;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::json;
use wfe_api::{AuditEventType, Phase, PipelineRunRef, WorkflowExecution, keys};
use wfe_controller::audit_due::{due_events, record_delivery};
use wfe_controller::cached::CachedWfe;
use wfe_controller::decision::{World, decide};
use wfe_controller::executor::is_quiet;
use wfe_controller::index::TargetIndex;
use wfe_controller::runner::{cache_event, decode_event, slim};
use wfe_controller::tekton::{RunOwner, RunView, SucceededCondition};
use wfe_controller::{Metrics, Settings};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// A Completed WFE as the API server lists it once the controller is done with it.
fn listed(i: usize, settings: &Settings) -> DynamicObject {
    let target = format!("team-a/Deployment/app-{i}");
    let mut w = wfe_testing::wfe_on(&format!("done-{i:05}"), &target);
    w.spec.parameters = [("REPLICAS".to_owned(), "3".to_owned())].into();
    w.spec.confidence = Some(0.9);
    w.spec.rationale = Some("memory leak after the last rollout; a restart clears it".into());
    w.metadata.uid = Some(format!("6f1c2a9e-0b7d-4c55-9a1e-{i:012}"));
    w.metadata.resource_version = Some(format!("{}", 100_000 + i));
    w.metadata.finalizers = Some(vec![keys::FINALIZER.to_owned()]);
    let t0: Timestamp = "2026-11-22T04:00:00Z".parse().expect("timestamp");
    w.metadata.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t0));
    // The status the controller itself writes: started, then the run succeeded.
    let run = RunView {
        name: wfe_api::naming::pipeline_run_name(&target),
        uid: Some(format!("run-{i}")),
        owner: Some(RunOwner {
            namespace: "team-a".into(),
            name: w.metadata.name.clone().unwrap_or_default(),
            uid: w.metadata.uid.clone().unwrap_or_default(),
        }),
        succeeded: Some(SucceededCondition {
            status: "True".into(),
            reason: Some("Succeeded".into()),
            message: Some("Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 0".into()),
        }),
        task_runs: vec![],
        start_time: Some(t0),
        completion_time: Some(t0 + jiff::SignedDuration::from_secs(42)),
        deleting: false,
    };
    w.status = Some(wfe_api::WorkflowExecutionStatus {
        phase: Some(Phase::Running),
        start_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(t0)),
        pipeline_run_ref: Some(PipelineRunRef {
            name: run.name.clone(),
            namespace: settings.execution_namespace.clone(),
        }),
        audited_events: vec![AuditEventType::WorkflowStarted],
        ..Default::default()
    });
    let world = World {
        lock: Some(&run),
        others: &[],
        failed_task: None,
        now: t0 + jiff::SignedDuration::from_secs(43),
    };
    let mut status = decide(&w, &world, settings).status;
    // Every audit event acknowledged, as the controller records it.
    let due = due_events(&status, &settings.block);
    record_delivery(
        &mut status,
        &due,
        &settings.block,
        w.metadata.generation,
        world.now,
    );
    w.status = Some(status);
    let mut value = serde_json::to_value(&w).expect("serialisable");
    // What the API server adds: one managedFields entry per writer (client, controller status, finalizer).
    value["metadata"]["managedFields"] = json!([
        {"manager": "kubernaut-remediationorchestrator", "operation": "Update", "apiVersion": "kubernaut.ai/v1alpha1",
         "time": "2026-11-22T04:00:00Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:spec": {".": {}, "f:parameters": {".": {}, "f:REPLICAS": {}}, "f:confidence": {}, "f:rationale": {},
            "f:remediationRequestRef": {".": {}, "f:name": {}}, "f:targetResource": {},
            "f:workflowRef": {".": {}, "f:containerImage": {}, "f:version": {}, "f:workflowId": {}}}}},
        {"manager": "workflowexecution-controller", "operation": "Update", "apiVersion": "kubernaut.ai/v1alpha1",
         "time": "2026-11-22T04:00:00Z", "fieldsType": "FieldsV1",
         "fieldsV1": {"f:metadata": {"f:finalizers": {".": {}, "v:\"kubernaut.ai/workflowexecution-cleanup\"": {}}}}},
        {"manager": "workflowexecution-controller", "operation": "Apply", "apiVersion": "kubernaut.ai/v1alpha1",
         "time": "2026-11-22T04:00:43Z", "fieldsType": "FieldsV1", "subresource": "status",
         "fieldsV1": {"f:status": {"f:phase": {}, "f:completionTime": {}, "f:conditions": {}, "f:auditedEvents": {},
            "f:pipelineRunRef": {"f:name": {}, "f:namespace": {}}, "f:startTime": {}, "f:duration": {}}}}
    ]);
    serde_json::from_value(value).expect("a DynamicObject")
}

/// Heap the WFE cache and the target index hold after `count` listed WFEs went through the
/// watch path; `quiet` is the judgement `runner` caches with (`executor::is_quiet`).
fn held(
    count: usize,
    settings: &Settings,
    quiet: impl Fn(&WorkflowExecution) -> bool,
) -> (isize, isize) {
    let metrics = Metrics::new(&prometheus::Registry::new()).expect("metrics");
    let index = TargetIndex::new(settings);
    let mut writer = Writer::<CachedWfe>::default();
    let mut index_bytes = 0;
    // Each listed object is made, decoded and dropped in turn, so what is still live afterwards
    // is the cache and the index.
    let start = live();
    for i in 0..count {
        let event = decode_event(watcher::Event::InitApply(listed(i, settings)), &metrics)
            .expect("every listed WFE decodes");
        let event = match event {
            watcher::Event::InitApply(mut w) => {
                slim(&mut w);
                watcher::Event::InitApply(w)
            }
            other => other,
        };
        let at = live();
        index.observe(&event);
        index_bytes += live() - at;
        writer.apply_watcher_event(&cache_event(event, &quiet));
    }
    let at = live();
    index.observe(&watcher::Event::InitDone);
    index_bytes += live() - at;
    writer.apply_watcher_event(&watcher::Event::InitDone);
    assert_eq!(writer.as_reader().state().len(), count);
    (live() - start - index_bytes, index_bytes)
}

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("usage: cache_footprint [COUNT]"))
        .unwrap_or(10_000);
    let settings = Settings::default();
    let json_bytes: usize = (0..count)
        .map(|i| serde_json::to_vec(&listed(i, &settings)).map_or(0, |v| v.len()))
        .sum();
    println!(
        "{count} Completed WFEs ({:.0} bytes of JSON each as listed, managedFields included)",
        json_bytes as f64 / count as f64
    );
    let per = |bytes: isize| bytes as f64 / count as f64;
    let report = |what: &str, (store, index): (isize, isize)| {
        println!(
            "{what}: {:.1} MiB in all, {:.0} bytes per WFE (WFE cache {:.0}, target index {:.0})",
            (store + index) as f64 / 1048576.0,
            per(store + index),
            per(store),
            per(index),
        )
    };
    let now = Timestamp::now();
    assert!(
        is_quiet(&decoded(0, &settings), &settings, now),
        "the listed WFEs are settled ones"
    );
    report(
        "heap held, every object kept (as before the slim cache)",
        held(count, &settings, |_| false),
    );
    report(
        "heap held, settled WFEs cached by name (shipped)",
        held(count, &settings, |w| is_quiet(w, &settings, now)),
    );
}

fn decoded(i: usize, settings: &Settings) -> WorkflowExecution {
    let metrics = Metrics::new(&prometheus::Registry::new()).expect("metrics");
    match decode_event(watcher::Event::Apply(listed(i, settings)), &metrics) {
        Some(watcher::Event::Apply(w)) => w,
        _ => panic!("the listed WFE decodes"),
    }
}
