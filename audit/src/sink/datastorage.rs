//! The Kubernaut DataStorage sink: `POST {url}/api/v1/audit/events/batch`.
//!
//! The batch endpoint answers 201 for the whole batch or an RFC 7807 problem; it has no per-event
//! result, so a batch is treated as all-or-nothing. When a batch is refused for its content (4xx),
//! its events are re-sent one by one to find the offenders: those are quarantined and the rest are
//! delivered. Auth, routing and throttling answers (401, 403, 404, 408, 429) say nothing about the
//! events and are retried like 5xx and network errors, so a misconfiguration delays audit instead
//! of quarantining everything.

use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::Value;

use super::token::TokenSource;
use super::{Delivery, Sink};
use crate::AuditSetupError;
use crate::event::{AuditEvent, to_json};
use crate::metrics::{AuditMetrics, result};
use crate::settings::AuditSettings;

/// Path of the batch endpoint below the configured base URL.
pub const BATCH_PATH: &str = "/api/v1/audit/events/batch";
/// Name of this sink in metrics.
pub const SINK_NAME: &str = "datastorage";

/// How to treat an HTTP status from the batch endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    /// Stored (2xx; 202 means DataStorage queued it to its DLQ, which it owns from then on).
    Acknowledged,
    /// The request content was refused; retrying the same content cannot succeed.
    Rejected,
    /// The token was refused: read it again, then retry.
    Unauthorized,
    /// Transient or not about the content: retry with backoff.
    Retry,
}

/// Classifies a response status.
pub fn classify(status: u16) -> StatusClass {
    match status {
        200..=299 => StatusClass::Acknowledged,
        401 => StatusClass::Unauthorized,
        403 | 404 | 405 | 408 | 425 | 429 => StatusClass::Retry,
        400..=499 => StatusClass::Rejected,
        _ => StatusClass::Retry,
    }
}

enum PostOutcome {
    Acknowledged,
    Rejected(String),
    Unavailable(String),
}

/// Sends batches to DataStorage with retries, token rotation and offender isolation.
pub(crate) struct DataStorageSink {
    client: reqwest::Client,
    endpoint: String,
    token: Option<TokenSource>,
    settings: AuditSettings,
    metrics: AuditMetrics,
}

impl DataStorageSink {
    pub(crate) fn new(
        settings: &AuditSettings,
        metrics: AuditMetrics,
    ) -> Result<Self, AuditSetupError> {
        let url = settings.url.as_deref().ok_or(AuditSetupError::Settings(
            crate::settings::SettingsError {
                field: "audit.url",
                message: "is required when audit.sink is datastorage".into(),
            },
        ))?;
        let client = super::tls::client(settings.ca_file.as_deref(), settings.request_timeout)?;
        Ok(DataStorageSink {
            client,
            endpoint: format!("{}{BATCH_PATH}", url.trim_end_matches('/')),
            token: settings.token_file.clone().map(TokenSource::new),
            settings: settings.clone(),
            metrics,
        })
    }

    async fn send_all(&self, events: &[AuditEvent]) -> Vec<Delivery> {
        let mut out = Vec::with_capacity(events.len());
        for chunk in events.chunks(self.settings.batch_size.max(1)) {
            match self.post_with_retry(chunk).await {
                PostOutcome::Acknowledged => {
                    out.extend(std::iter::repeat_n(Delivery::Acknowledged, chunk.len()))
                }
                PostOutcome::Unavailable(why) => {
                    out.extend(std::iter::repeat_n(Delivery::Unavailable(why), chunk.len()))
                }
                PostOutcome::Rejected(why) if chunk.len() == 1 => {
                    out.push(Delivery::Quarantined(why))
                }
                PostOutcome::Rejected(why) => {
                    tracing::warn!(events = chunk.len(), reason = %why, "DataStorage refused an audit batch; sending its events singly to isolate the offending ones");
                    for event in chunk {
                        out.push(
                            match self.post_with_retry(std::slice::from_ref(event)).await {
                                PostOutcome::Acknowledged => Delivery::Acknowledged,
                                PostOutcome::Rejected(why) => Delivery::Quarantined(why),
                                PostOutcome::Unavailable(why) => Delivery::Unavailable(why),
                            },
                        );
                    }
                }
            }
        }
        out
    }

    async fn post_with_retry(&self, events: &[AuditEvent]) -> PostOutcome {
        let body = Value::Array(events.iter().map(to_json).collect());
        let mut last = String::new();
        for attempt in 1..=self.settings.max_attempts {
            if attempt > 1 {
                self.metrics.count(SINK_NAME, result::RETRIED, events.len());
                tokio::time::sleep(self.settings.backoff(attempt - 1)).await;
            }
            match self.post_once(&body).await {
                Ok(()) => return PostOutcome::Acknowledged,
                Err(Failure::Rejected(why)) => return PostOutcome::Rejected(why),
                Err(Failure::Retry(why)) => last = why,
                Err(Failure::Unauthorized(why)) => {
                    if let Some(token) = &self.token {
                        token.invalidate();
                    }
                    last = why;
                }
            }
            tracing::warn!(attempt, max_attempts = self.settings.max_attempts, reason = %last, "audit delivery to DataStorage failed");
        }
        PostOutcome::Unavailable(format!(
            "{} after {} attempt(s): {last}",
            self.endpoint, self.settings.max_attempts
        ))
    }

    async fn post_once(&self, body: &Value) -> Result<(), Failure> {
        let mut request = self
            .client
            .post(&self.endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(token) = &self.token {
            let token = token.current().map_err(|e| Failure::Retry(e.to_string()))?;
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Failure::Retry(describe_reqwest(&e)))?;
        let status = response.status().as_u16();
        let class = classify(status);
        if class == StatusClass::Acknowledged {
            return Ok(());
        }
        let detail = problem_detail(&response.text().await.unwrap_or_default());
        let why = format!(
            "HTTP {status}{}{detail}",
            if detail.is_empty() { "" } else { ": " }
        );
        Err(match class {
            StatusClass::Rejected => Failure::Rejected(why),
            StatusClass::Unauthorized => Failure::Unauthorized(why),
            StatusClass::Acknowledged | StatusClass::Retry => Failure::Retry(why),
        })
    }
}

enum Failure {
    Rejected(String),
    Unauthorized(String),
    Retry(String),
}

impl Sink for DataStorageSink {
    fn name(&self) -> &'static str {
        SINK_NAME
    }

    fn send<'a>(&'a self, events: &'a [AuditEvent]) -> BoxFuture<'a, Vec<Delivery>> {
        Box::pin(self.send_all(events))
    }
}

/// Wraps the sink so it can be shared with the batcher task.
pub(crate) fn shared(sink: DataStorageSink) -> Arc<dyn Sink> {
    Arc::new(sink)
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    use std::error::Error;
    let mut message = if e.is_timeout() {
        format!("request timed out: {e}")
    } else {
        format!("request failed: {e}")
    };
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(&format!(": {s}"));
        source = s.source();
    }
    message
}

/// The useful part of an error body: RFC 7807 `title`/`detail`/`field_errors`, else a prefix of it.
pub fn problem_detail(body: &str) -> String {
    if let Ok(Value::Object(problem)) = serde_json::from_str::<Value>(body) {
        let mut parts: Vec<String> = ["title", "detail"]
            .iter()
            .filter_map(|k| problem.get(*k).and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        if let Some(Value::Object(fields)) = problem.get("field_errors") {
            parts.extend(
                fields
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.as_str().unwrap_or_default())),
            );
        }
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    body.trim().chars().take(512).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        for s in [200, 201, 202] {
            assert_eq!(classify(s), StatusClass::Acknowledged, "{s}");
        }
        for s in [400, 409, 413, 422] {
            assert_eq!(classify(s), StatusClass::Rejected, "{s}");
        }
        assert_eq!(classify(401), StatusClass::Unauthorized);
        for s in [403, 404, 408, 429, 500, 502, 503, 504, 302] {
            assert_eq!(classify(s), StatusClass::Retry, "{s}");
        }
    }

    #[test]
    fn problem_details_are_summarised() {
        let body = r#"{"type":"https://kubernaut.ai/problems/validation-error","title":"Validation Error","status":400,
            "detail":"bad event","field_errors":{"correlation_id":"too long"}}"#;
        assert_eq!(
            problem_detail(body),
            "Validation Error; bad event; correlation_id: too long"
        );
        assert_eq!(problem_detail("  plain text \n"), "plain text");
        assert_eq!(problem_detail(&"x".repeat(2000)).len(), 512);
    }
}
