//! Liveness and readiness (DESIGN §2): plain HTTP on the health port.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::{Router, extract::State, http::StatusCode, routing::get};

/// What readiness depends on. Ready = not shutting down, certificate loaded and, while this
/// replica leads, the controller's caches synced.
pub struct Readiness {
    cert_loaded: Box<dyn Fn() -> bool + Send + Sync>,
    controller_synced: Arc<AtomicBool>,
    leading: AtomicBool,
    shutting_down: AtomicBool,
}

impl Readiness {
    /// `cert_loaded` is asked on every probe; `controller_synced` is set by the controller.
    pub fn new(
        cert_loaded: impl Fn() -> bool + Send + Sync + 'static,
        controller_synced: Arc<AtomicBool>,
    ) -> Self {
        Readiness {
            cert_loaded: Box::new(cert_loaded),
            controller_synced,
            leading: AtomicBool::new(false),
            shutting_down: AtomicBool::new(false),
        }
    }

    /// This replica started (true) or stopped (false) running the controller.
    pub fn set_leading(&self, leading: bool) {
        self.leading.store(leading, Ordering::SeqCst);
    }

    /// Readiness turns false for good: the first step of a graceful shutdown.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Why the replica is not ready, or `None` when it is.
    pub fn not_ready_reason(&self) -> Option<&'static str> {
        if self.shutting_down.load(Ordering::SeqCst) {
            Some("shutting down")
        } else if !(self.cert_loaded)() {
            Some("serving certificate not loaded")
        } else if self.leading.load(Ordering::SeqCst)
            && !self.controller_synced.load(Ordering::SeqCst)
        {
            Some("controller caches not synced")
        } else {
            None
        }
    }
}

/// `/healthz` (`/health`) and `/readyz` (`/ready`).
pub fn router(readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(live))
        .route("/health", get(live))
        .route("/readyz", get(ready))
        .route("/ready", get(ready))
        .with_state(readiness)
}

async fn live() -> &'static str {
    "ok"
}

async fn ready(State(r): State<Arc<Readiness>>) -> (StatusCode, String) {
    match r.not_ready_reason() {
        None => (StatusCode::OK, "ok".into()),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn get_path(app: &Router, path: &str) -> (StatusCode, String) {
        let res = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn readiness_follows_cert_leadership_sync_and_shutdown() {
        let cert = Arc::new(AtomicBool::new(false));
        let synced = Arc::new(AtomicBool::new(false));
        let c = cert.clone();
        let r = Arc::new(Readiness::new(
            move || c.load(Ordering::SeqCst),
            synced.clone(),
        ));
        let app = router(r.clone());

        assert_eq!(
            get_path(&app, "/healthz").await,
            (StatusCode::OK, "ok".into())
        );
        assert_eq!(get_path(&app, "/health").await.0, StatusCode::OK);
        assert_eq!(
            get_path(&app, "/readyz").await,
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: serving certificate not loaded".into()
            )
        );

        cert.store(true, Ordering::SeqCst);
        assert_eq!(
            get_path(&app, "/readyz").await.0,
            StatusCode::OK,
            "a follower needs no synced cache"
        );

        r.set_leading(true);
        assert_eq!(
            get_path(&app, "/ready").await.1,
            "not ready: controller caches not synced"
        );
        synced.store(true, Ordering::SeqCst);
        assert_eq!(get_path(&app, "/ready").await.0, StatusCode::OK);

        r.begin_shutdown();
        assert_eq!(
            get_path(&app, "/readyz").await.1,
            "not ready: shutting down"
        );
        assert_eq!(
            get_path(&app, "/healthz").await.0,
            StatusCode::OK,
            "still live while draining"
        );
    }
}
