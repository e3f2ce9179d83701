//! What a health check is and what it returns.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use tmc_metrics::HealthStatus;

/// The future a [`HealthCheck`] returns.
pub type CheckFuture = Pin<Box<dyn Future<Output = CheckResult> + Send + 'static>>;

/// A health check the [`HealthMonitor`](super::HealthMonitor) runs on every round.
///
/// Implemented for every closure returning a future whose output converts into a
/// [`CheckResult`]: a [`HealthStatus`], a `CheckResult`, or a `Result` of either (an `Err` is
/// an error check). Each run is a task of its own with a timeout, so a check that panics or
/// hangs is counted as an error check and never stalls the others.
///
/// ```
/// use tmc_metrics::HealthStatus;
/// use tmc_server::health::{CheckResult, HealthCheck};
///
/// fn assert_check(_: impl HealthCheck) {}
/// assert_check(|| async { HealthStatus::Healthy });
/// assert_check(|| async { CheckResult::new(HealthStatus::Degraded).with_message("2 of 3 replicas") });
/// assert_check(|| async { Err::<HealthStatus, _>(std::io::Error::other("connection refused")) });
/// ```
pub trait HealthCheck: Send + Sync + 'static {
    /// Runs the check once.
    fn check(&self) -> CheckFuture;
}

impl<F, Fut, R> HealthCheck for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: Into<CheckResult>,
{
    fn check(&self) -> CheckFuture {
        let fut = self();
        Box::pin(async move { fut.await.into() })
    }
}

/// The outcome of one check or one pushed status: a status, an optional message, and
/// whether the check failed to run (an *error check*, reported as [`HealthStatus::Unknown`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct CheckResult {
    status: HealthStatus,
    message: Option<String>,
    error: bool,
}

impl CheckResult {
    /// A result with `status` and no message.
    pub const fn new(status: HealthStatus) -> Self {
        Self {
            status,
            message: None,
            error: false,
        }
    }

    /// A check that could not run (it failed, panicked or timed out): status
    /// [`HealthStatus::Unknown`], counted in `errorChecks`.
    pub fn error(reason: impl Into<String>) -> Self {
        Self {
            status: HealthStatus::Unknown,
            message: Some(reason.into()),
            error: true,
        }
    }

    /// Adds a message saying why, shown in the component list and the overall message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// The status.
    #[must_use]
    pub const fn status(&self) -> HealthStatus {
        self.status
    }

    /// The message, if any.
    #[must_use]
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// Whether the check failed to run.
    #[must_use]
    pub const fn is_error(&self) -> bool {
        self.error
    }
}

impl From<HealthStatus> for CheckResult {
    fn from(status: HealthStatus) -> Self {
        Self::new(status)
    }
}

impl<T: Into<CheckResult>, E: fmt::Display> From<Result<T, E>> for CheckResult {
    fn from(result: Result<T, E>) -> Self {
        match result {
            Ok(ok) => ok.into(),
            Err(err) => Self::error(format!("check failed: {err}")),
        }
    }
}
