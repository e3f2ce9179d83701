//! The secured metrics endpoint's check, as controller-runtime's `WithAuthenticationAndAuthorization`
//! filter does it: a `TokenReview` authenticates the bearer token (not authenticated: 401),
//! then a `SubjectAccessReview` asks whether that user may `get` the non-resource URL of the
//! request (`/metrics`; denied: 403). Decisions are cached for a short TTL (10 s by
//! default) per token and path, so a scrape every 30 s costs two reviews at most.
//!
//! The shape matches `tmc_server::auth::Authorizer` (token, method, path in; a three-way
//! decision out); the operator adapts it in a few lines (see the crate docs).

use crate::api::{self, RetryPolicy};
use k8s_openapi::api::authentication::v1::TokenReview;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use kube::api::{Api, PostParams};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;
use tmc_metrics::MetricsCollector;
use tokio::time::Instant;

/// Token, verb, path.
type CacheKey = (String, String, String);

/// What to do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Serve it.
    Allow,
    /// No token, or the API server does not know it: 401.
    Unauthenticated,
    /// A known user without the right to `get` the path (or the reviews failed): 403.
    Forbidden,
}

/// Checks bearer tokens with `TokenReview` and `SubjectAccessReview`, caching decisions.
pub struct TokenReviewAuthorizer {
    client: kube::Client,
    metrics: MetricsCollector,
    ttl: Duration,
    cache: Mutex<HashMap<CacheKey, (Decision, Instant)>>,
}

impl fmt::Debug for TokenReviewAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenReviewAuthorizer")
            .field("ttl", &self.ttl)
            .field("cached", &self.cache.lock().map(|c| c.len()).unwrap_or(0))
            .finish_non_exhaustive()
    }
}

impl TokenReviewAuthorizer {
    /// An authorizer with a 10 s cache.
    #[must_use]
    pub fn new(client: kube::Client, metrics: MetricsCollector) -> Self {
        Self {
            client,
            metrics,
            ttl: Duration::from_secs(10),
            cache: Mutex::default(),
        }
    }

    /// Another cache TTL (`Duration::ZERO`: no cache).
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// May the bearer `token` `get` `path`?
    pub async fn authorize(&self, token: Option<&str>, path: &str) -> Decision {
        self.authorize_request(token, "GET", path).await
    }

    /// May the bearer `token` call `method` (the review's verb, lowercased) on `path`?
    pub async fn authorize_request(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
    ) -> Decision {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Decision::Unauthenticated;
        };
        let verb = method.to_ascii_lowercase();
        let key = (token.to_owned(), verb.clone(), path.to_owned());
        {
            let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            let now = Instant::now();
            cache.retain(|_, (_, at)| now.duration_since(*at) < self.ttl);
            if let Some((d, _)) = cache.get(&key) {
                return *d;
            }
        }
        match self.review(token, &verb, path).await {
            Ok(decision) => {
                if !self.ttl.is_zero() {
                    self.cache
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(key, (decision, Instant::now()));
                }
                decision
            }
            Err(e) => {
                tracing::warn!(error = %e, "reviewing a metrics request failed; denying it");
                Decision::Forbidden
            }
        }
    }

    async fn review(&self, token: &str, verb: &str, path: &str) -> Result<Decision, api::ApiError> {
        let policy = RetryPolicy {
            attempts: 2,
            ..RetryPolicy::default()
        };
        let tr: TokenReview = serde_json::from_value(serde_json::json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "metadata": {},
            "spec": {"token": token},
        }))
        .unwrap_or_default();
        let reviews: Api<TokenReview> = Api::all(self.client.clone());
        let pp = PostParams::default();
        let tr = api::call(&self.metrics, policy, "create-tokenreview", || {
            reviews.create(&pp, &tr)
        })
        .await?;
        let status = tr.status.unwrap_or_default();
        let Some(user) = status.user.filter(|_| status.authenticated == Some(true)) else {
            return Ok(Decision::Unauthenticated);
        };
        let sar: SubjectAccessReview = serde_json::from_value(serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "metadata": {},
            "spec": {
                "user": user.username,
                "uid": user.uid,
                "groups": user.groups,
                "extra": user.extra,
                "nonResourceAttributes": {"path": path, "verb": verb},
            },
        }))
        .unwrap_or_default();
        let reviews: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let sar = api::call(&self.metrics, policy, "create-subjectaccessreview", || {
            reviews.create(&pp, &sar)
        })
        .await?;
        Ok(if sar.status.is_some_and(|s| s.allowed) {
            Decision::Allow
        } else {
            Decision::Forbidden
        })
    }
}
