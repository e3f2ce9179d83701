//! API calls with metrics and bounded retries: every call is counted in
//! `tmc_component_operations_total{component_type="datamover-kube",component_id="apiserver",operation}`
//! and every failure in `tmc_component_errors_total` with the kind its HTTP status says
//! (429 `RateLimited`, 503 `Unavailable`, 500 `ServerError`, 409 `ResourceConflict`, a
//! connection failure `ClusterUnreachable`, ...). 429, 5xx and connection failures are
//! retried with a bounded exponential backoff before the error reaches the caller, never
//! sooner than the server's `Retry-After`; a `Retry-After` longer than the policy's longest
//! wait is not slept through inside a reconcile: the error goes back at once, carrying it,
//! and the controller requeues after it.
//!
//! [`cluster_error`] keeps an error's Kubernetes meaning for the reconciler: 409 a
//! conflict, 404 not found, 403 a permission error naming the verb and resource, 429/5xx/no
//! answer transient.

use datamover::backend::ClusterError;
use std::future::Future;
use std::time::Duration;
use tmc_metrics::{Classify, ErrorClass, ErrorKind, MetricsCollector};

/// `component_type` of this crate's operation and error metrics.
pub const COMPONENT_TYPE: &str = "datamover-kube";
/// `component_id` of this crate's operation and error metrics.
pub const COMPONENT_ID: &str = "apiserver";

/// A failed API call, classified.
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {source}")]
pub struct ApiError {
    /// What was attempted, e.g. `create-pvc`.
    pub operation: &'static str,
    /// The kube error.
    #[source]
    pub source: kube::Error,
}

impl ApiError {
    /// The HTTP status the API server answered, if it answered.
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        status_of(&self.source)
    }

    /// Whether the server said 404 Not Found.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the server said 409 Conflict (stale resourceVersion or already exists).
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }
}

/// How long the server asked us to wait: a 429's (or 503's) `Retry-After`. The API server
/// sends it both as the header and as the Status body's `details.retryAfterSeconds`;
/// kube-rs keeps the body.
#[must_use]
pub fn retry_after(e: &kube::Error) -> Option<Duration> {
    match e {
        kube::Error::Api(s) => s
            .details
            .as_ref()
            .map(|d| d.retry_after_seconds)
            .filter(|secs| *secs > 0)
            .map(|secs| Duration::from_secs(u64::from(secs))),
        _ => None,
    }
}

/// The verb and resource (`resource.group`, with a subresource after `/`) an operation
/// name (`create-job`) stands for, as RBAC rules name them.
#[must_use]
pub fn verb_and_resource(operation: &str) -> (&str, &str) {
    let (verb, what) = operation.split_once('-').unwrap_or((operation, ""));
    let resource = match what {
        "pvc" | "persistentvolumeclaims" => "persistentvolumeclaims",
        "job" | "jobs" => "jobs.batch",
        "secret" | "secrets" => "secrets",
        "pods" => "pods",
        "event" => "events.events.k8s.io",
        "status" => "datamovers.datamover.a-cup-of.coffee/status",
        "datamovers" | "datamover" => "datamovers.datamover.a-cup-of.coffee",
        "schedule-status" => "datamoverschedules.datamover.a-cup-of.coffee/status",
        "datamoverschedules" => "datamoverschedules.datamover.a-cup-of.coffee",
        "datamoverpopulators" => "datamoverpopulators.datamover.a-cup-of.coffee",
        "persistentvolume" => "persistentvolumes",
        "storageclass" => "storageclasses.storage.k8s.io",
        "volumesnapshot" => "volumesnapshots.snapshot.storage.k8s.io",
        "lease" => "leases.coordination.k8s.io",
        other => other,
    };
    (verb, resource)
}

/// A failed call as the reconciler's [`ClusterError`], keeping its Kubernetes meaning:
/// 409 [`Conflict`](ClusterError::Conflict), 404 [`NotFound`](ClusterError::NotFound),
/// 403 [`Forbidden`](ClusterError::Forbidden) naming the verb and resource, 429, 5xx and
/// no answer [`Transient`](ClusterError::Transient) (with `Retry-After`), anything else
/// `permanent(context: message)`.
#[must_use]
pub fn cluster_error(
    e: &ApiError,
    namespace: &str,
    context: &str,
    permanent: fn(String) -> ClusterError,
) -> ClusterError {
    let message = format!("{context}: {e}");
    match e.status() {
        Some(409) => return ClusterError::Conflict(message),
        Some(404) => return ClusterError::NotFound(message),
        Some(403) => {
            let (verb, resource) = verb_and_resource(e.operation);
            let said = match &e.source {
                kube::Error::Api(s) => s.message.clone(),
                other => other.to_string(),
            };
            return ClusterError::Forbidden {
                verb: verb.to_owned(),
                resource: resource.to_owned(),
                namespace: namespace.to_owned(),
                message: format!("{context}: {said}"),
            };
        }
        _ => {}
    }
    if is_transient(&e.source) {
        ClusterError::Transient {
            kind: kind_of(&e.source),
            message,
            retry_after: retry_after(&e.source),
        }
    } else {
        permanent(message)
    }
}

/// The HTTP status of a kube error, if the server answered.
#[must_use]
pub fn status_of(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) if s.code > 0 => Some(s.code),
        _ => None,
    }
}

/// The error kind of a kube error.
#[must_use]
pub fn kind_of(e: &kube::Error) -> ErrorKind {
    match e {
        kube::Error::Api(s) => ErrorKind::from_http_status(s.code).unwrap_or(ErrorKind::Unknown),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
            ErrorKind::ClusterUnreachable
        }
        kube::Error::SerdeError(_) | kube::Error::BuildRequest(_) | kube::Error::HttpError(_) => {
            ErrorKind::Internal
        }
        kube::Error::Auth(_) => ErrorKind::Unauthorized,
        _ => ErrorKind::Unknown,
    }
}

impl Classify for ApiError {
    fn classify(&self) -> ErrorClass {
        kind_of(&self.source).into()
    }
}

/// Whether an error is worth retrying at once: 429, 5xx, or no answer.
#[must_use]
pub fn is_transient(e: &kube::Error) -> bool {
    matches!(
        kind_of(e),
        ErrorKind::RateLimited
            | ErrorKind::Unavailable
            | ErrorKind::ServerError
            | ErrorKind::Timeout
            | ErrorKind::ClusterUnreachable
    )
}

/// How API calls are retried on 429, 5xx and connection failures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// The wait after the first failure; doubled after each.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            initial: Duration::from_millis(200),
            max: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failure number `n` (1-based).
    #[must_use]
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1));
        self.initial.saturating_mul(factor).min(self.max)
    }
}

/// Runs `call`, counting it, retrying transient failures as `policy` says.
///
/// # Errors
/// The last [`ApiError`].
pub async fn call<T, F, Fut>(
    metrics: &MetricsCollector,
    policy: RetryPolicy,
    operation: &'static str,
    mut call: F,
) -> Result<T, ApiError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let op = metrics.operation(COMPONENT_TYPE, COMPONENT_ID, operation);
    let mut failures = 0;
    loop {
        let tracker = op.start();
        match call().await {
            Ok(v) => {
                tracker.success();
                return Ok(v);
            }
            Err(source) => {
                let error = ApiError { operation, source };
                tracker.error(&error);
                failures += 1;
                if !is_transient(&error.source) || failures >= policy.attempts.max(1) {
                    return Err(error);
                }
                let wait = match retry_after(&error.source) {
                    // Longer than we wait in place: the caller (the controller) requeues.
                    Some(asked) if asked > policy.max => return Err(error),
                    Some(asked) => asked.max(policy.delay(failures)),
                    None => policy.delay(failures),
                };
                tracing::debug!(%error, failures, ?wait, "transient API error; retrying");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(code: u16) -> kube::Error {
        kube::Error::Api(
            kube::core::Status {
                code,
                ..kube::core::Status::failure("x", "y")
            }
            .boxed(),
        )
    }

    #[test]
    fn kinds_follow_the_http_status() {
        assert_eq!(kind_of(&api(429)), ErrorKind::RateLimited);
        assert_eq!(kind_of(&api(503)), ErrorKind::Unavailable);
        assert_eq!(kind_of(&api(500)), ErrorKind::ServerError);
        assert_eq!(kind_of(&api(409)), ErrorKind::ResourceConflict);
        assert!(is_transient(&api(429)) && is_transient(&api(500)));
        assert!(!is_transient(&api(404)) && !is_transient(&api(409)));
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let p = RetryPolicy {
            attempts: 9,
            initial: Duration::from_millis(100),
            max: Duration::from_millis(350),
        };
        let d: Vec<_> = (1..5).map(|n| p.delay(n).as_millis()).collect();
        assert_eq!(d, [100, 200, 350, 350]);
    }
}
