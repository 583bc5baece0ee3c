//! Who may scrape `/metrics` in secure mode: TokenReview authenticates the bearer token and a
//! SubjectAccessReview for `get` on the non-resource URL `/metrics` authorises it. Decisions are
//! cached briefly so a scrape every few seconds costs no API calls.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};
use sha2::{Digest, Sha256};

/// The outcome of checking one bearer token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScrapeDecision {
    /// Authenticated and authorised.
    Allowed {
        /// Who is scraping.
        username: String,
    },
    /// The token is not valid (HTTP 401).
    Unauthenticated,
    /// Valid token, but RBAC does not allow `get /metrics` (HTTP 403).
    Forbidden {
        /// Who tried.
        username: String,
    },
}

/// The API server could not be asked; the scrape is refused (never allowed on error).
#[derive(Debug, thiserror::Error)]
#[error("cannot verify the metrics scraper's token: {0}")]
pub struct AuthError(#[from] kube::Error);

/// Decides whether a bearer token may read metrics.
pub trait ScrapeAuthorizer: Send + Sync + 'static {
    /// Checks one token.
    fn check<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<ScrapeDecision, AuthError>>;
}

/// TokenReview + SubjectAccessReview against the API server, with a short decision cache.
pub struct KubeScrapeAuthorizer {
    client: kube::Client,
    ttl: Duration,
    cache: Mutex<HashMap<[u8; 32], (Instant, ScrapeDecision)>>,
}

/// Bound on cached decisions, so a flood of random tokens cannot grow memory without limit.
const MAX_CACHED: usize = 1024;

impl KubeScrapeAuthorizer {
    /// Caches each decision for `ttl`.
    pub fn new(client: kube::Client, ttl: Duration) -> Self {
        KubeScrapeAuthorizer {
            client,
            ttl,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn review(&self, token: &str) -> Result<ScrapeDecision, AuthError> {
        let tr = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_owned()),
                audiences: None,
            },
            ..Default::default()
        };
        let tr = Api::<TokenReview>::all(self.client.clone())
            .create(&PostParams::default(), &tr)
            .await?;
        let status = tr.status.unwrap_or_default();
        let user = match (status.authenticated, status.user) {
            (Some(true), Some(user)) => user,
            _ => return Ok(ScrapeDecision::Unauthenticated),
        };
        let username = user.username.clone().unwrap_or_default();
        let sar = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: user.username,
                uid: user.uid,
                groups: user.groups,
                extra: user.extra,
                non_resource_attributes: Some(NonResourceAttributes {
                    path: Some("/metrics".into()),
                    verb: Some("get".into()),
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let sar = Api::<SubjectAccessReview>::all(self.client.clone())
            .create(&PostParams::default(), &sar)
            .await?;
        let allowed = sar.status.is_some_and(|s| s.allowed);
        Ok(if allowed {
            ScrapeDecision::Allowed { username }
        } else {
            ScrapeDecision::Forbidden { username }
        })
    }
}

impl ScrapeAuthorizer for KubeScrapeAuthorizer {
    fn check<'a>(&'a self, token: &'a str) -> BoxFuture<'a, Result<ScrapeDecision, AuthError>> {
        Box::pin(async move {
            let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
            if let Ok(cache) = self.cache.lock()
                && let Some((at, decision)) = cache.get(&key)
                && at.elapsed() < self.ttl
            {
                return Ok(decision.clone());
            }
            let decision = self.review(token).await?;
            if let Ok(mut cache) = self.cache.lock() {
                if cache.len() >= MAX_CACHED {
                    let ttl = self.ttl;
                    cache.retain(|_, (at, _)| at.elapsed() < ttl);
                    if cache.len() >= MAX_CACHED {
                        cache.clear();
                    }
                }
                cache.insert(key, (Instant::now(), decision.clone()));
            }
            Ok(decision)
        })
    }
}
