//! The mocked API server: a script of expected requests, each checked (against `API_CALLS`
//! too) and answered in order.

use super::*;

pub(crate) struct Harness {
    pub(crate) ctx: Arc<Context>,
    pub(crate) handle: Option<Handle<Request<Body>, Response<Body>>>,
    pub(crate) audit: Arc<RecordingAudit>,
    pub(crate) _runs: Writer<DynamicObject>,
}

pub(crate) fn harness(wfes: &[&WorkflowExecution], runs: &[&DynamicObject]) -> Harness {
    harness_with_trail(wfes, runs, None)
}

/// A harness whose audit trail is `trail` (a real one) instead of the recording fake.
pub(crate) fn harness_with_trail(
    wfes: &[&WorkflowExecution],
    runs: &[&DynamicObject],
    trail: Option<Arc<dyn AuditTrail>>,
) -> Harness {
    let (service, handle) = mock::pair::<Request<Body>, Response<Body>>();
    let client = Client::new(service, "default");
    let index = Arc::new(TargetIndex::new(&Settings::default()));
    for w in wfes {
        index.observe(&watcher::Event::Apply((*w).clone()));
    }
    let mut run_writer = Writer::<DynamicObject>::new(tekton::pipeline_run_resource());
    for r in runs {
        run_writer.apply_watcher_event(&watcher::Event::Apply((*r).clone()));
    }
    let audit = Arc::new(RecordingAudit::default());
    let registry = prometheus::Registry::new();
    let ctx = Context {
        client: client.clone(),
        settings: Settings::default(),
        metrics: Arc::new(Metrics::new(&registry).unwrap()),
        audit: trail.unwrap_or_else(|| audit.clone()),
        recorder: Recorder::new(
            client,
            Reporter {
                controller: keys::REPORTING_CONTROLLER.into(),
                instance: None,
            },
        ),
        runs: run_writer.as_reader(),
        index,
        synced: Arc::new(AtomicBool::new(true)),
        clock: Arc::new(now),
    };
    Harness {
        ctx: Arc::new(ctx),
        handle: Some(handle),
        audit,
        _runs: run_writer,
    }
}

pub(crate) type Responder = Box<dyn FnOnce(&str, Value) -> (u16, Value) + Send>;

/// One expected request and how to answer it.
pub(crate) struct Exchange {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) respond: Responder,
}

pub(crate) fn expect(
    method: Method,
    path: impl Into<String>,
    respond: impl FnOnce(&str, Value) -> (u16, Value) + Send + 'static,
) -> Exchange {
    Exchange {
        method,
        path: path.into(),
        respond: Box::new(respond),
    }
}

pub(crate) fn api_error(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message, "code": code}),
    )
}

/// Applies a status apply-patch to `w` like the API server would, bumping resourceVersion.
pub(crate) fn echo_status(w: &WorkflowExecution, body: &Value, rv: &str) -> (u16, Value) {
    let mut out = serde_json::to_value(w).unwrap();
    out["status"] = body["status"].clone();
    out["metadata"]["resourceVersion"] = json!(rv);
    (200, out)
}

pub(crate) fn expect_event(reason: &'static str, type_: &'static str) -> Exchange {
    expect(Method::POST, EVENTS_PATH, move |_, body| {
        assert_eq!(body["reason"], reason, "event: {body}");
        assert_eq!(body["type"], type_);
        assert_eq!(body["reportingController"], keys::REPORTING_CONTROLLER);
        assert_eq!(body["regarding"]["kind"], "WorkflowExecution");
        (201, body)
    })
}

/// Asserts that a request is one of the calls declared in `API_CALLS` (what deploy RBAC grants).
pub(crate) fn assert_declared(method: &Method, path: &str, query: &str) {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("unexpected path {path}"),
    };
    if rest.is_empty() {
        return; // discovery: a non-resource URL
    }
    let rest = match rest {
        ["namespaces", _ns, rest @ ..] => rest,
        rest => rest,
    };
    let (resource, named) = match rest {
        [resource] => (resource.to_string(), false),
        [resource, _name] => (resource.to_string(), true),
        [resource, _name, sub] => (format!("{resource}/{sub}"), true),
        _ => panic!("unexpected path {path}"),
    };
    let verb = match (method.as_str(), named) {
        ("GET", _) if query.contains("watch=true") => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("DELETE", _) => "delete",
        (m, _) => panic!("unexpected method {m}"),
    };
    assert!(
        wfe_controller::API_CALLS
            .iter()
            .any(|c| c.verb == verb && c.group == group && c.resource == resource),
        "{verb} {group}/{resource} ({method} {path}) is not declared in API_CALLS"
    );
}

pub(crate) async fn serve(
    mut handle: Handle<Request<Body>, Response<Body>>,
    script: Vec<Exchange>,
) -> Handle<Request<Body>, Response<Body>> {
    for (i, exchange) in script.into_iter().enumerate() {
        let (request, send) = handle
            .next_request()
            .await
            .expect("client dropped before all expected requests");
        assert_eq!(
            (request.method(), request.uri().path()),
            (&exchange.method, exchange.path.as_str()),
            "request #{i}: {} {}",
            request.method(),
            request.uri()
        );
        let query = request.uri().query().unwrap_or_default().to_owned();
        assert_declared(request.method(), request.uri().path(), &query);
        let content_type = request
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = request.into_body().collect_bytes().await.unwrap();
        let body: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        if exchange.method == Method::PATCH && exchange.path.ends_with("/status") {
            assert_eq!(
                content_type.as_deref(),
                Some("application/apply-patch+yaml"),
                "status is server-side applied"
            );
            assert!(
                query.contains("force=true")
                    && query.contains("fieldManager=workflowexecution-controller"),
                "{query}"
            );
        }
        let (code, reply) = (exchange.respond)(&query, body);
        let response = Response::builder()
            .status(code)
            .body(Body::from(serde_json::to_vec(&reply).unwrap()))
            .unwrap();
        send.send_response(response);
    }
    handle
}

/// Runs one reconcile against the script; fails on a missing or an unexpected request.
pub(crate) async fn run_script(
    h: &mut Harness,
    w: &WorkflowExecution,
    script: Vec<Exchange>,
) -> Result<Action, wfe_controller::Error> {
    let ctx = h.ctx.clone();
    run_scripted(h, script, reconcile(Arc::new(w.clone()), ctx)).await
}

/// Runs one reconcile of a cache entry, as the controller does, against the script.
pub(crate) async fn run_cached_script(
    h: &mut Harness,
    cached: &Arc<CachedWfe>,
    script: Vec<Exchange>,
) -> Result<Action, wfe_controller::Error> {
    let ctx = h.ctx.clone();
    run_scripted(h, script, reconcile_cached(cached.clone(), ctx)).await
}

pub(crate) async fn run_scripted(
    h: &mut Harness,
    script: Vec<Exchange>,
    reconcile: impl std::future::Future<Output = Result<Action, wfe_controller::Error>>,
) -> Result<Action, wfe_controller::Error> {
    let handle = h.handle.take().expect("handle in use");
    let verifier = tokio::spawn(serve(handle, script));
    let result = tokio::time::timeout(Duration::from_secs(30), reconcile)
        .await
        .expect("reconcile hung: it made a request the script did not expect");
    let handle = tokio::time::timeout(Duration::from_secs(30), verifier)
        .await
        .expect("reconcile finished without making every expected request")
        .expect("a request did not match the script");
    h.handle = Some(handle);
    result
}
