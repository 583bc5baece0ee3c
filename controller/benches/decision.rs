//! DESIGN §10 "reconcile cost independent of the number of terminal WFEs (indexed cache, no
//! per-reconcile LIST)", measured (never asserted).
//!
//! What one reconcile does before any I/O: look up the WFE's neighbours in the target index (as
//! `executor::Context::neighbours` does), then run the pure
//! `decision::decide`. Measured for a new Pending WFE on its own target with 0, 100 and 10 000
//! terminal WFEs on *other* targets in the cache (the production shape: cost must be flat), and,
//! separately, with 0, 100 and 10 000 terminal WFEs on the *same* target: the index hands the
//! decision only the few neighbours it can depend on (latest resets, the current run of
//! failures, blocks, backoff and cooldown windows, Running ones), so that cost must be flat too
//! (DESIGN §10: < 10 µs).
//!
//! Run with `cargo bench -p wfe-controller --bench decision`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::runtime::watcher;
use wfe_api::{
    FailureDetails, FailureReason, Phase, PipelineRunRef, WorkflowExecution,
    WorkflowExecutionStatus,
};
use wfe_controller::Settings;
use wfe_controller::decision::{Step, World, decide};
use wfe_controller::index::TargetIndex;
use wfe_controller::neighbour::Neighbour;

const SIZES: [usize; 3] = [0, 100, 10_000];

fn now() -> Timestamp {
    "2026-11-22T04:00:00Z".parse().expect("timestamp")
}

fn target(i: usize) -> String {
    format!("team-a/Deployment/app-{i}")
}

/// A WFE as the API server stores it: metadata, a realistic spec and, when terminal, a status.
fn wfe(name: &str, target: &str) -> WorkflowExecution {
    let mut w = wfe_testing::wfe_on(name, target);
    w.spec.parameters = [("REPLICAS".to_owned(), "3".to_owned())].into();
    w.spec.confidence = Some(0.92);
    w.spec.rationale = Some("memory leak after the last rollout; a restart clears it".into());
    w
}

/// Completed a day ago, long past any cooldown.
fn completed(name: &str, target: &str, age_secs: i64) -> WorkflowExecution {
    let mut w = wfe(name, target);
    let finished = now()
        .checked_sub(SignedDuration::from_secs(age_secs))
        .expect("timestamp");
    w.status = Some(WorkflowExecutionStatus {
        phase: Some(Phase::Completed),
        start_time: Some(Time(finished)),
        completion_time: Some(Time(finished)),
        pipeline_run_ref: Some(PipelineRunRef {
            name: wfe_api::naming::pipeline_run_name(target),
            namespace: "kubernaut-workflows".into(),
        }),
        consecutive_failures: Some(0),
        ..Default::default()
    });
    w
}

/// The target index holding `wfes`, fed the way the watch stream feeds it.
fn cache(wfes: &[WorkflowExecution], settings: &Settings) -> TargetIndex {
    let index = TargetIndex::new(settings);
    for w in wfes {
        index.observe(&watcher::Event::Apply(w.clone()));
    }
    index
}

/// The neighbours lookup of a reconcile plus the decision.
fn reconcile_core(wfe: &WorkflowExecution, index: &TargetIndex, settings: &Settings) -> Step {
    let uid = wfe
        .metadata
        .uid
        .as_deref()
        .map(wfe_api::naming::label_value);
    let mut neighbours = index.relevant(&wfe.spec.target_resource, uid.as_deref(), None);
    neighbours.retain(|n| n.owner_uid.as_deref() != uid.as_deref());
    let others: Vec<&Neighbour> = neighbours.iter().map(AsRef::as_ref).collect();
    let world = World {
        lock: None,
        others: &others,
        failed_task: None,
        now: now(),
    };
    decide(wfe, &world, settings).step
}

fn bench_other_targets(c: &mut Criterion) {
    let settings = Settings::default();
    let mut group = c.benchmark_group("reconcile core, N terminal WFEs on other targets");
    for n in SIZES {
        let mut wfes: Vec<WorkflowExecution> = (0..n)
            .map(|i| completed(&format!("done-{i}"), &target(i), 86_400))
            .collect();
        let subject = wfe("new", "team-a/Deployment/payment-api");
        wfes.push(subject.clone());
        let index = cache(&wfes, &settings);
        assert!(
            matches!(
                reconcile_core(&subject, &index, &settings),
                Step::Start { .. }
            ),
            "a new WFE on a free target starts"
        );
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(reconcile_core(black_box(&subject), &index, &settings)))
        });
    }
    group.finish();
}

fn bench_same_target(c: &mut Criterion) {
    let settings = Settings::default();
    let mut group = c.benchmark_group("reconcile core, N terminal WFEs on the same target");
    let shared = "team-a/Deployment/payment-api";
    for n in SIZES {
        // Oldest first, one an hour, the newest a day old: all past the cooldown.
        let mut wfes: Vec<WorkflowExecution> = (0..n)
            .map(|i| completed(&format!("done-{i}"), shared, 86_400 + 3_600 * i as i64))
            .collect();
        let subject = wfe("new", shared);
        wfes.push(subject.clone());
        let index = cache(&wfes, &settings);
        assert!(
            matches!(
                reconcile_core(&subject, &index, &settings),
                Step::Start { .. }
            ),
            "a new WFE on a target whose history is past its cooldown starts"
        );
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(reconcile_core(black_box(&subject), &index, &settings)))
        });
    }
    group.finish();
}

/// Failed before execution `age_secs` ago with `count` failures in a row: a spec the
/// webhook admitted and a configuration change later made invalid.
fn failed_before_execution(
    name: &str,
    target: &str,
    age_secs: i64,
    count: i32,
) -> WorkflowExecution {
    let mut w = wfe(name, target);
    let failed = Time(
        now()
            .checked_sub(SignedDuration::from_secs(age_secs))
            .expect("timestamp"),
    );
    w.status = Some(WorkflowExecutionStatus {
        phase: Some(Phase::Failed),
        completion_time: Some(failed.clone()),
        consecutive_failures: Some(count),
        failure_details: Some(Box::new(FailureDetails {
            reason: FailureReason::ConfigurationError,
            message: "invalid spec: serviceAccountName is not allowed".into(),
            failed_task_name: None,
            failed_task_index: None,
            exit_code: None,
            failed_at: failed,
            execution_time_before_failure: None,
            natural_language_summary: None,
            was_execution_failure: false,
        })),
        ..Default::default()
    });
    w
}

/// The one shape in which the history the decision reads grows: N failures in one run, none
/// cleared, no success after them. The index walks the run and hands over four of them.
fn bench_one_long_run(c: &mut Criterion) {
    let settings = Settings::default();
    let mut group = c.benchmark_group("reconcile core, N failures in one run on the same target");
    let shared = "team-a/Deployment/payment-api";
    for n in SIZES {
        let mut wfes: Vec<WorkflowExecution> = (0..n)
            .map(|i| {
                let count = i32::try_from(i + 1).expect("count");
                failed_before_execution(
                    &format!("bad-{i}"),
                    shared,
                    86_400 + 60 * (n - i) as i64,
                    count,
                )
            })
            .collect();
        let subject = wfe("new", shared);
        wfes.push(subject.clone());
        let index = cache(&wfes, &settings);
        let step = reconcile_core(&subject, &index, &settings);
        assert_eq!(
            matches!(step, Step::Start { .. }),
            n < settings.block.max_consecutive_failures as usize,
            "a run at the limit blocks, a shorter one does not"
        );
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| black_box(reconcile_core(black_box(&subject), &index, &settings)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = bench_other_targets, bench_same_target, bench_one_long_run
}
criterion_main!(benches);
