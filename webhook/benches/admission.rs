//! DESIGN §10 admission target "p99 decision latency < 1 ms in process", measured (never
//! asserted): criterion means for the spec validation, the clearance decision and the whole
//! admission handler (HTTP request → parse → decide → serialise → HTTP response, driven through
//! the real axum router with `oneshot`), then p50/p99/max over many single timed calls, because
//! criterion reports means and the target is a tail latency.
//!
//! Run with `cargo bench -p wfe-webhook --bench admission`. Under `cargo test --benches` criterion
//! runs every benchmark once as a smoke test and the percentile pass is skipped.
//! The TLS throughput comparison lives in `examples/admission_load.rs`.
//!
//! Bodies are compacted as the API server sends them (the stored fixtures are indented, which
//! adds 60 % whitespace to fixture 05); `WFE_BENCH_INDENTED=1` measures them as stored, as
//! this bench did before 2026-12-07.

mod support {
    pub mod compact;
}

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use criterion::{Criterion, criterion_group};
use futures::future::BoxFuture;
use http_body_util::BodyExt;
use tower::ServiceExt;
use wfe_webhook::clearance::{ClearanceOutcome, decide_clearance};
use wfe_webhook::review::parse_review;
use wfe_webhook::{
    AppState, Authorization, AuthorizationRequest, Authorizer, FixedClock, MUTATE_STATUS_PATH,
    Metrics, Settings, VALIDATE_PATH, VALIDATE_STATUS_PATH,
};

/// The clock the fixtures were captured at, so the clearance decision takes its normal path.
const CAPTURE_TIME: &str = "2026-11-22T02:12:00Z";

fn fixture_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/admission")
}

fn fixture(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(name);
    let stored = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if std::env::var_os("WFE_BENCH_INDENTED").is_some() {
        stored
    } else {
        support::compact::compact(&stored)
    }
}

/// Every AdmissionReview fixture with the webhook path the API server sends it to.
fn all_fixtures() -> Vec<(String, &'static str, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".json") && n.as_bytes()[0].is_ascii_digit())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| {
            let body = fixture(&name);
            (name.clone(), path_for(&name), body)
        })
        .collect()
}

fn path_for(name: &str) -> &'static str {
    if name.ends_with("-mutate.json") {
        MUTATE_STATUS_PATH
    } else if name.ends_with("-validate-status.json") {
        VALIDATE_STATUS_PATH
    } else {
        VALIDATE_PATH
    }
}

/// An authorizer that allows without I/O: the benchmark measures the webhook, not the API server.
struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize<'a>(&'a self, _: &'a AuthorizationRequest<'_>) -> BoxFuture<'a, Authorization> {
        Box::pin(async { Authorization::Allowed { reason: None } })
    }
}

fn capture_time() -> jiff::Timestamp {
    CAPTURE_TIME.parse().expect("capture time")
}

fn admission_router() -> Router {
    let registry = prometheus::Registry::new();
    let state = AppState::new(
        Settings::default(),
        Arc::new(AllowAll),
        Metrics::new(&registry).expect("metrics"),
    )
    .with_clock(Arc::new(FixedClock(capture_time())));
    wfe_webhook::router(state)
}

/// One admission request through the router; returns the response body.
async fn admit(router: &Router, path: &'static str, body: &axum::body::Bytes) -> Vec<u8> {
    let request = http::Request::post(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.clone()))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec()
}

fn spec_of(name: &str) -> wfe_api::WorkflowExecutionSpec {
    let body = fixture(name);
    let review = parse_review(&body).expect("fixture parses");
    let object = review.object.expect("fixture has an object");
    object
        .workflow_execution()
        .expect("fixture object is a JSON object")
        .expect("fixture object is a WorkflowExecution")
        .spec
}

fn bench_validation(c: &mut Criterion) {
    let policy = Settings::default().spec_policy;
    let spec = spec_of("01-admin-create.json");
    c.bench_function("validate_spec (01 create)", |b| {
        b.iter(|| black_box(wfe_api::validate_spec(black_box(&spec), &policy)))
    });
}

fn bench_clearance(c: &mut Criterion) {
    let settings = Settings::default();
    let now = capture_time();
    let allowed = Authorization::Allowed { reason: None };
    let body = fixture("05-alice-status-clearance-request-mutate.json");
    let request = parse_review(&body).expect("fixture parses");
    c.bench_function("decide_clearance (05 alice, parsed)", |b| {
        b.iter(|| {
            black_box(decide_clearance(
                black_box(&request),
                &settings,
                Some(&allowed),
                now,
            ))
        })
    });
    // Compact, as every body here is unless WFE_BENCH_INDENTED is set.
    c.bench_function("parse_review (05 alice)", |b| {
        b.iter(|| black_box(parse_review(black_box(&body))))
    });
}

fn bench_handler(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let router = admission_router();
    for name in [
        "01-admin-create.json",
        "05-alice-status-clearance-request-mutate.json",
        "11-alice-status-jsonpatch-phase-running-validate-status.json",
    ] {
        let body = axum::body::Bytes::from(fixture(name));
        let path = path_for(name);
        c.bench_function(&format!("handler {name}"), |b| {
            b.to_async(&runtime)
                .iter(|| async { black_box(admit(&router, path, &body).await) })
        });
    }
}

struct Percentiles {
    p50: Duration,
    p99: Duration,
    max: Duration,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Percentiles {
        p50: at(0.50),
        p99: at(0.99),
        max: at(1.0),
    }
}

fn print_row(name: &str, p: &Percentiles) {
    let verdict = if p.p99 < Duration::from_millis(1) {
        "meets"
    } else {
        "MISSES"
    };
    println!(
        "{name:<66} p50 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}  {verdict} p99 < 1 ms",
        p.p50, p.p99, p.max
    );
}

/// p50/p99/max of the whole handler for every fixture, and of the clearance decision alone.
fn tail_latency(iterations: usize) {
    println!("\n== in-process tail latency, {iterations} single timed calls each ==");
    let settings = Settings::default();
    let now = capture_time();
    let allowed = Authorization::Allowed { reason: None };
    let body = fixture("05-alice-status-clearance-request-mutate.json");
    let request = parse_review(&body).expect("fixture parses");
    let outcome = match decide_clearance(&request, &settings, Some(&allowed), now) {
        ClearanceOutcome::Pass => "pass",
        ClearanceOutcome::Refused(_) => "refused",
        ClearanceOutcome::Cleared(_) => "cleared",
    };
    let samples = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            black_box(decide_clearance(
                black_box(&request),
                &settings,
                Some(&allowed),
                now,
            ));
            start.elapsed()
        })
        .collect();
    print_row(
        &format!("decide_clearance 05 alice ({outcome})"),
        &percentiles(samples),
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let router = admission_router();
    // `WFE_BENCH_FIXTURE=05-` limits the pass to the fixtures whose name starts with it (to
    // profile one path, e.g. under callgrind).
    let only = std::env::var("WFE_BENCH_FIXTURE").unwrap_or_default();
    runtime.block_on(async {
        for (name, path, body) in all_fixtures() {
            if !name.starts_with(&only) {
                continue;
            }
            let body = axum::body::Bytes::from(body);
            for _ in 0..iterations / 10 {
                black_box(admit(&router, path, &body).await);
            }
            let mut samples = Vec::with_capacity(iterations);
            for _ in 0..iterations {
                let start = Instant::now();
                black_box(admit(&router, path, &body).await);
                samples.push(start.elapsed());
            }
            print_row(&format!("handler {name}"), &percentiles(samples));
        }
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3));
    targets = bench_validation, bench_clearance, bench_handler
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo test --benches` runs criterion in test mode; the percentile pass is for `cargo bench`.
    if std::env::args().any(|a| a == "--bench") {
        let iterations = std::env::var("WFE_BENCH_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20_000);
        tail_latency(iterations);
    }
}
