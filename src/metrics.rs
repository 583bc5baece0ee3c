//! The `/metrics` endpoint over the injected registry, optionally behind token authorisation.

use std::sync::Arc;

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use prometheus::{Encoder, Registry, TextEncoder};

use crate::metrics_auth::{ScrapeAuthorizer, ScrapeDecision};

#[derive(Clone)]
struct MetricsState {
    registry: Registry,
    authorizer: Option<Arc<dyn ScrapeAuthorizer>>,
}

/// `/metrics`; with an authorizer every request needs an authorised bearer token.
pub fn router(registry: Registry, authorizer: Option<Arc<dyn ScrapeAuthorizer>>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(MetricsState {
            registry,
            authorizer,
        })
}

async fn scrape(State(state): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Some(auth) = &state.authorizer {
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let Some(token) = token else {
            return (StatusCode::UNAUTHORIZED, "missing bearer token\n").into_response();
        };
        match auth.check(token).await {
            Ok(ScrapeDecision::Allowed { .. }) => {}
            Ok(ScrapeDecision::Unauthenticated) => {
                return (StatusCode::UNAUTHORIZED, "invalid bearer token\n").into_response();
            }
            Ok(ScrapeDecision::Forbidden { username }) => {
                tracing::info!(%username, "metrics scrape denied: no RBAC permission for get /metrics");
                return (
                    StatusCode::FORBIDDEN,
                    format!("{username} may not get /metrics\n"),
                )
                    .into_response();
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics scrape refused: authorisation unavailable");
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "cannot verify token right now\n",
                )
                    .into_response();
            }
        }
    }
    let mut body = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&state.registry.gather(), &mut body) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode metrics: {e}\n"),
        )
            .into_response();
    }
    ([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], body).into_response()
}
