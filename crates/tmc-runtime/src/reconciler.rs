//! The reconciler contract: a tower `Service`, the closure adapter, and the error policy.

use crate::{Action, ObjectKey};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tower::Service;

/// What a reconciler is called with: the latest cached object, its key and the attempt.
pub struct ReconcileRequest<K> {
    /// The object as the store holds it when the reconcile starts.
    pub object: Arc<K>,
    /// Its key.
    pub key: ObjectKey,
    /// Consecutive failures of this key so far: 0 on a first try, `n` after `n` failures.
    pub attempt: u32,
}

impl<K> Clone for ReconcileRequest<K> {
    fn clone(&self) -> Self {
        Self {
            object: Arc::clone(&self.object),
            key: self.key.clone(),
            attempt: self.attempt,
        }
    }
}

impl<K> fmt::Debug for ReconcileRequest<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconcileRequest")
            .field("key", &self.key)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// A reconciler [`Service`] from the familiar `reconcile(Arc<K>, Arc<Ctx>)` function.
///
/// ```
/// use std::sync::Arc;
/// use tmc_runtime::{Action, ObjectKey, ReconcileRequest, Resource, reconciler_fn};
/// use tower::ServiceExt;
///
/// struct Job(String);
/// impl Resource for Job {
///     fn key(&self) -> ObjectKey { ObjectKey::namespaced("default", &self.0) }
/// }
///
/// async fn reconcile(job: Arc<Job>, ctx: Arc<String>) -> Result<Action, std::io::Error> {
///     assert_eq!(*ctx, "ctx");
///     Ok(Action::await_change())
/// }
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let svc = reconciler_fn(reconcile, Arc::new("ctx".to_owned()));
/// let job = Arc::new(Job("a".into()));
/// let req = ReconcileRequest { key: job.key(), object: job, attempt: 0 };
/// assert_eq!(svc.oneshot(req).await.unwrap(), Action::await_change());
/// # });
/// ```
pub fn reconciler_fn<K, Ctx, F, Fut, E>(reconcile: F, ctx: Arc<Ctx>) -> ReconcilerFn<F, Ctx>
where
    F: Fn(Arc<K>, Arc<Ctx>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
{
    ReconcilerFn {
        f: Arc::new(reconcile),
        ctx,
    }
}

/// The service made by [`reconciler_fn`]; always ready, cheap to clone.
pub struct ReconcilerFn<F, Ctx> {
    f: Arc<F>,
    ctx: Arc<Ctx>,
}

impl<F, Ctx> Clone for ReconcilerFn<F, Ctx> {
    fn clone(&self) -> Self {
        Self {
            f: Arc::clone(&self.f),
            ctx: Arc::clone(&self.ctx),
        }
    }
}

impl<F, Ctx> fmt::Debug for ReconcilerFn<F, Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReconcilerFn").finish_non_exhaustive()
    }
}

impl<K, Ctx, F, Fut, E> Service<ReconcileRequest<K>> for ReconcilerFn<F, Ctx>
where
    F: Fn(Arc<K>, Arc<Ctx>) -> Fut,
    Fut: Future<Output = Result<Action, E>>,
{
    type Response = Action;
    type Error = E;
    type Future = Fut;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), E>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: ReconcileRequest<K>) -> Fut {
        (self.f)(req.object, Arc::clone(&self.ctx))
    }
}

/// What the error policy is told about a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retry {
    /// Consecutive failures of this key, this one included (1 on the first failure).
    pub failures: u32,
    /// The controller's [`Backoff`](crate::Backoff) delay for that many failures, jittered.
    pub backoff: Duration,
}

impl Retry {
    /// A retry description, for testing error policies.
    #[must_use]
    pub const fn new(failures: u32, backoff: Duration) -> Self {
        Self { failures, backoff }
    }
}

/// Decides what happens to a key whose reconcile returned an error.
///
/// Panics and timeouts do not reach the policy: they are requeued with the backoff delay.
/// A key's failure count survives whatever the policy returns until the key reconciles
/// successfully.
pub trait ErrorPolicy<K, E>: Send + Sync + 'static {
    /// The action after `error`; `retry` carries the failure count and the backoff delay.
    fn on_error(&self, object: Arc<K>, error: &E, retry: Retry) -> Action;
}

/// The default error policy: requeue after the controller's backoff delay.
#[derive(Debug, Clone, Copy, Default)]
pub struct BackoffPolicy;

impl<K, E> ErrorPolicy<K, E> for BackoffPolicy {
    fn on_error(&self, _object: Arc<K>, _error: &E, retry: Retry) -> Action {
        Action::requeue(retry.backoff)
    }
}

/// An error policy from the familiar `error_policy(Arc<K>, &E, Arc<Ctx>, Retry) -> Action`.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use tmc_runtime::{Action, Retry, error_policy_fn};
///
/// struct Job;
/// let policy = error_policy_fn(
///     |_job: Arc<Job>, _err: &std::io::Error, _ctx: Arc<()>, retry: Retry| {
///         if retry.failures > 5 { Action::await_change() } else { Action::requeue(retry.backoff) }
///     },
///     Arc::new(()),
/// );
/// # let _ = policy;
/// ```
pub fn error_policy_fn<K, E, Ctx, F>(policy: F, ctx: Arc<Ctx>) -> ErrorPolicyFn<F, Ctx>
where
    F: Fn(Arc<K>, &E, Arc<Ctx>, Retry) -> Action,
{
    ErrorPolicyFn { f: policy, ctx }
}

/// The policy made by [`error_policy_fn`].
pub struct ErrorPolicyFn<F, Ctx> {
    f: F,
    ctx: Arc<Ctx>,
}

impl<F, Ctx> fmt::Debug for ErrorPolicyFn<F, Ctx> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ErrorPolicyFn").finish_non_exhaustive()
    }
}

impl<K, E, Ctx, F> ErrorPolicy<K, E> for ErrorPolicyFn<F, Ctx>
where
    F: Fn(Arc<K>, &E, Arc<Ctx>, Retry) -> Action + Send + Sync + 'static,
    Ctx: Send + Sync + 'static,
{
    fn on_error(&self, object: Arc<K>, error: &E, retry: Retry) -> Action {
        (self.f)(object, error, Arc::clone(&self.ctx), retry)
    }
}
