//! Admission over TLS (DESIGN §10: "server CPU per review and throughput within 1.5× of a bare
//! TLS server that returns a fixed response"). Starts the real webhook (`serve_tls` + `router`, certificates from
//! `wfe_certs::generate`, an authorizer that allows without I/O) and a bare rustls + hyper server
//! that answers every POST with a fixed AdmissionReview without parsing, both on 127.0.0.1, then
//! drives them with N keep-alive HTTPS/1.1 connections posting one fixture for a fixed duration
//! per side, taken in alternating turns (`--slices`, default 8 per side, in the order bare,
//! webhook, webhook, bare, ...) so that both sides see the same machine, and prints requests/s,
//! latency percentiles, server CPU per review and the ratios. Each turn opens its connections
//! anew; the handshakes (one per connection per turn) cost both sides the same few
//! milliseconds, a slightly larger share of the slower side's reviews (about 1 %).
//!
//! ```text
//! cargo run --release -p wfe-webhook --example admission_load -- \
//!     --connections 8 --duration 10s --fixture 05-alice-status-clearance-request-mutate.json
//! ```
//!
//! Servers and clients run on separate tokio runtimes (threads named `server-*` / `client-*`) so
//! the CPU each side used can be read back from `/proc/self/task` and printed: on a small machine
//! the load generator competes with the server for the same cores.

#[path = "../benches/support/compact.rs"]
mod compact;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use wfe_certs::{CertMetrics, CertStore, GenerateOptions, GeneratedCerts};
use wfe_webhook::{
    AppState, Authorization, AuthorizationRequest, Authorizer, MUTATE_STATUS_PATH, Metrics,
    Settings, VALIDATE_PATH, VALIDATE_STATUS_PATH,
};

const USAGE: &str = "usage: admission_load [--connections N] [--duration 10s] [--fixture NAME|PATH] \
[--path /validate-...] [--server-threads N] [--client-threads N] [--slices N] [--indented]";

/// The fixed answer of the bare server: a real allowed AdmissionReview response.
const FIXED_RESPONSE: &[u8] = br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"00000000-0000-0000-0000-000000000000","allowed":true}}"#;

struct Options {
    connections: usize,
    duration: Duration,
    fixture: PathBuf,
    path: Option<String>,
    server_threads: usize,
    client_threads: usize,
    slices: usize,
    indented: bool,
}

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        connections: 8,
        duration: Duration::from_secs(10),
        fixture: PathBuf::from("05-alice-status-clearance-request-mutate.json"),
        path: None,
        server_threads: 2,
        client_threads: 2,
        slices: 8,
        indented: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_owned());
        }
        if flag == "--indented" {
            options.indented = true;
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let count = |what: &str| -> Result<usize, String> {
            match value.parse::<usize>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(format!(
                    "{what}: expected a positive integer, got {value:?}"
                )),
            }
        };
        match flag.as_str() {
            "--connections" => options.connections = count("--connections")?,
            "--server-threads" => options.server_threads = count("--server-threads")?,
            "--client-threads" => options.client_threads = count("--client-threads")?,
            "--slices" => options.slices = count("--slices")?,
            "--duration" => {
                options.duration = wfe_api::duration::parse(&value)
                    .map_err(|e| format!("--duration {value:?}: {e}"))?
            }
            "--fixture" => options.fixture = PathBuf::from(value),
            "--path" => options.path = Some(value),
            other => return Err(format!("unknown flag {other}\n{USAGE}")),
        }
    }
    if options.duration.is_zero() || options.duration > Duration::from_secs(600) {
        return Err("--duration must be between 1ns and 10m".to_owned());
    }
    Ok(options)
}

/// A bare file name is looked up in the shared fixture directory.
fn fixture_path(fixture: &Path) -> PathBuf {
    if fixture.components().count() == 1 && !fixture.exists() {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/fixtures/admission")
            .join(fixture)
    } else {
        fixture.to_owned()
    }
}

/// The webhook path the API server would post this fixture to.
fn webhook_path(name: &str) -> &'static str {
    if name.ends_with("-mutate.json") {
        MUTATE_STATUS_PATH
    } else if name.ends_with("-validate-status.json") {
        VALIDATE_STATUS_PATH
    } else {
        VALIDATE_PATH
    }
}

/// Allows every clearance without I/O: the run measures the webhook, not SubjectAccessReviews.
struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize<'a>(&'a self, _: &'a AuthorizationRequest<'_>) -> BoxFuture<'a, Authorization> {
        Box::pin(async { Authorization::Allowed { reason: None } })
    }
}

fn runtime(name: &'static str, threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name(name)
        .enable_all()
        .build()
}

/// The real webhook: `serve_tls` + `router`, on 127.0.0.1:0.
async fn start_webhook(
    certs: Arc<CertStore>,
    shutdown: CancellationToken,
) -> Result<SocketAddr, Box<dyn std::error::Error>> {
    let registry = prometheus::Registry::new();
    let state = AppState::new(
        Settings::default(),
        Arc::new(AllowAll),
        Metrics::new(&registry)?,
    );
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) =
            wfe_webhook::serve_tls(listener, wfe_webhook::router(state), certs, shutdown).await
        {
            eprintln!("webhook server failed: {e}");
        }
    });
    Ok(addr)
}

/// The ceiling: the same TLS configuration, plain hyper HTTP/1, a fixed body, no parsing.
async fn start_bare(
    certs: Arc<CertStore>,
    shutdown: CancellationToken,
) -> Result<SocketAddr, Box<dyn std::error::Error>> {
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(wfe_certs::server_config(certs)?));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let tcp = tokio::select! {
                () = shutdown.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, _)) => tcp,
                    Err(_) => continue,
                },
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service =
                    hyper::service::service_fn(|request: hyper::Request<Incoming>| async {
                        // Read the body like any server must before answering on a keep-alive connection.
                        let body = request.into_body().collect().await?;
                        std::hint::black_box(body);
                        Ok::<_, hyper::Error>(
                            hyper::Response::builder()
                                .header(http::header::CONTENT_TYPE, "application/json")
                                .body(Full::new(Bytes::from_static(FIXED_RESPONSE)))
                                .unwrap_or_default(),
                        )
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

/// What one side of the comparison achieved.
#[derive(Default)]
struct SideResult {
    requests: usize,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl SideResult {
    /// Adds another slice of the same side.
    fn add(&mut self, other: SideResult) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
    }

    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }

    fn at(&self, q: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        self.latencies[((self.latencies.len() - 1) as f64 * q).round() as usize]
    }
}

fn client_config(generated: &GeneratedCerts) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(generated.ca_cert_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("CA certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("CA certificate: {e}"))?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS versions: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// One request to `addr`, returning the answer's `response` summary, so the run shows what the
/// webhook decided (a denial or an error would make the comparison meaningless).
async fn probe(
    addr: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    path: &str,
    body: Bytes,
) -> Result<String, String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(connection);
    let request = hyper::Request::post(path)
        .header(http::header::HOST, "localhost")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("response body: {e}"))?
        .to_bytes();
    let review: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| format!("response is not JSON: {e}"))?;
    let answer = &review["response"];
    Ok(format!(
        "HTTP {status}, {} bytes, allowed={}, patch={}, message={}",
        bytes.len(),
        answer["allowed"],
        answer.get("patch").is_some(),
        answer["status"]["message"]
    ))
}

/// One keep-alive connection posting `body` until `deadline`; returns latencies and errors.
async fn connection_loop(
    addr: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    path: String,
    body: Bytes,
    deadline: Instant,
) -> Result<(Vec<Duration>, usize), String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect {addr}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake: {e}"))?;
    tokio::spawn(connection);
    let mut latencies = Vec::with_capacity(65_536);
    let mut errors = 0;
    while Instant::now() < deadline {
        let request = hyper::Request::post(path.as_str())
            .header(http::header::HOST, "localhost")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))
            .map_err(|e| e.to_string())?;
        sender
            .ready()
            .await
            .map_err(|e| format!("connection closed: {e}"))?;
        let start = Instant::now();
        match sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status().is_success();
                let collected = response.into_body().collect().await;
                if ok && collected.is_ok() {
                    latencies.push(start.elapsed());
                } else {
                    errors += 1;
                }
            }
            Err(e) => return Err(format!("request failed: {e}")),
        }
    }
    Ok((latencies, errors))
}

async fn drive(
    addr: SocketAddr,
    tls: tokio_rustls::TlsConnector,
    path: &str,
    body: Bytes,
    connections: usize,
    duration: Duration,
) -> Result<SideResult, String> {
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            tokio::spawn(connection_loop(
                addr,
                tls.clone(),
                path.to_owned(),
                body.clone(),
                deadline,
            ))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (l, e) = task.await.map_err(|e| format!("client task: {e}"))??;
        latencies.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Ok(SideResult {
        requests: latencies.len(),
        errors,
        elapsed,
        latencies,
    })
}

/// CPU seconds used so far by this process's threads whose name starts with `prefix`.
fn cpu_seconds(prefix: &str) -> f64 {
    // /proc reports times in USER_HZ ticks, which Linux fixes at 100 for user space.
    const TICKS_PER_SECOND: f64 = 100.0;
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return f64::NAN;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ... utime(14) stime(15); comm may contain spaces.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        ticks += field(11).unwrap_or(0) + field(12).unwrap_or(0);
    }
    ticks as f64 / TICKS_PER_SECOND
}

fn report(label: &str, r: &SideResult, server_cpu: f64, client_cpu: f64) {
    println!(
        "{label:<8} {:>9.0} req/s  {:>8} requests  {:>3} errors  p50 {:>9.2?}  p90 {:>9.2?}  p99 {:>9.2?}  max {:>9.2?}  cpu server {:.2}s client {:.2}s",
        r.rate(),
        r.requests,
        r.errors,
        r.at(0.50),
        r.at(0.90),
        r.at(0.99),
        r.at(1.0),
        server_cpu,
        client_cpu,
    );
}

fn main() {
    if let Err(e) = run() {
        eprintln!("admission_load: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let options = parse_args()?;
    let fixture = fixture_path(&options.fixture);
    let raw = std::fs::read(&fixture).map_err(|e| format!("fixture {}: {e}", fixture.display()))?;
    let body = Bytes::from(if options.indented {
        raw
    } else {
        compact::compact(&raw)
    });
    serde_json::from_slice::<serde_json::Value>(&body)
        .map_err(|e| format!("fixture {} is not JSON: {e}", fixture.display()))?;
    let fixture_name = fixture
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let path = options
        .path
        .clone()
        .unwrap_or_else(|| format!("{}?timeout=10s", webhook_path(&fixture_name)));

    let dir = tempfile::tempdir()?;
    let generated = wfe_certs::generate(&GenerateOptions {
        dns_names: vec!["localhost".into()],
        ip_addresses: vec![],
        validity_days: 1,
    })?;
    generated.write_to_dir(dir.path())?;
    let registry = prometheus::Registry::new();
    let certs = Arc::new(CertStore::new(
        dir.path().to_owned(),
        CertMetrics::new(&registry)?,
    ));
    certs.reload()?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(client_config(&generated)?));

    let servers = runtime("server", options.server_threads)?;
    let clients = runtime("client", options.client_threads)?;
    let shutdown = CancellationToken::new();
    let webhook = servers.block_on(start_webhook(certs.clone(), shutdown.clone()))?;
    let bare = servers.block_on(start_bare(certs, shutdown.clone()))?;

    println!(
        "fixture {fixture_name} ({} bytes{}) → {path}; {} keep-alive HTTPS/1.1 connections, {:?} per side in {} turns, {} server + {} client threads, {} CPUs",
        body.len(),
        if options.indented {
            ", indented as stored"
        } else {
            ", compacted as the API server sends it"
        },
        options.connections,
        options.duration,
        options.slices,
        options.server_threads,
        options.client_threads,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    // One slice of one side: its result and the server and client CPU seconds it cost.
    let measure =
        |addr: SocketAddr, duration: Duration| -> Result<(SideResult, f64, f64), String> {
            let (server0, client0) = (cpu_seconds("server"), cpu_seconds("client"));
            let result = clients.block_on(drive(
                addr,
                tls.clone(),
                &path,
                body.clone(),
                options.connections,
                duration,
            ))?;
            Ok((
                result,
                cpu_seconds("server") - server0,
                cpu_seconds("client") - client0,
            ))
        };
    println!(
        "webhook answer: {}",
        clients.block_on(probe(webhook, tls.clone(), &path, body.clone()))?
    );
    // A short warm-up of each so neither side pays for first-connection costs in its window.
    let warmup = Duration::from_millis(500).min(options.duration);
    for addr in [bare, webhook] {
        clients.block_on(drive(addr, tls.clone(), &path, body.clone(), 1, warmup))?;
    }
    // The sides take turns in slices, in the order bare, webhook, webhook, bare, ..., so that
    // a change in what the rest of the machine is doing falls on both sides alike: measured one
    // after the other, the bare server's cost alone varied by a third between minutes.
    let slice = options.duration / options.slices as u32;
    let mut sides = [
        (SideResult::default(), 0.0, 0.0),
        (SideResult::default(), 0.0, 0.0),
    ];
    for i in 0..options.slices * 2 {
        let side = usize::from((i % 4 == 1) || (i % 4 == 2));
        let (result, server_cpu, client_cpu) = measure([bare, webhook][side], slice)?;
        let total = &mut sides[side];
        total.0.add(result);
        total.1 += server_cpu;
        total.2 += client_cpu;
    }
    for (side, label) in sides.iter_mut().zip(["bare", "webhook"]) {
        side.0.latencies.sort_unstable();
        report(label, &side.0, side.1, side.2);
    }
    let [(bare_result, bare_cpu, _), (webhook_result, webhook_cpu, _)] = sides;
    shutdown.cancel();

    // DESIGN §10: server CPU per review and throughput within 1.5× of the bare server.
    let per_review = |cpu: f64, r: &SideResult| cpu / r.requests.max(1) as f64 * 1e6;
    let (bare_us, webhook_us) = (
        per_review(bare_cpu, &bare_result),
        per_review(webhook_cpu, &webhook_result),
    );
    let cpu_ratio = webhook_us / bare_us;
    let ratio = bare_result.rate() / webhook_result.rate();
    let verdict = |r: f64| if r <= 1.5 { "meets" } else { "MISSES" };
    println!(
        "server CPU per review: bare {bare_us:.1} µs, webhook {webhook_us:.1} µs, ratio {cpu_ratio:.2} ({} the DESIGN §10 target ≤ 1.5×)",
        verdict(cpu_ratio)
    );
    println!(
        "bare/webhook throughput ratio {ratio:.2} ({} the DESIGN §10 target ≤ 1.5×); p99 webhook {:.2?} vs bare {:.2?}",
        verdict(ratio),
        webhook_result.at(0.99),
        bare_result.at(0.99)
    );
    if webhook_result.errors > 0 || webhook_result.requests == 0 {
        return Err(format!(
            "webhook answered {} requests with errors (non-2xx or unreadable body)",
            webhook_result.errors
        )
        .into());
    }
    servers.shutdown_timeout(Duration::from_secs(1));
    clients.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}
