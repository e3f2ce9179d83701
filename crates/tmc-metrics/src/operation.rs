//! The operation tracker: counts, errors and latency of one operation, recorded once it ends.
//!
//! An [`Operation`] resolves its labels once (component type, component id, operation) and
//! holds ready handles; [`Operation::start`] is then a clock read. Ending an
//! [`OperationTracker`] with [`success`](OperationTracker::success) or
//! [`error`](OperationTracker::error) records the outcome; dropping it without either records
//! `cancelled`, so an abandoned future is never lost. Every outcome observes the duration.
//!
//! Each run is also a `tracing` span, `operation`, with the fields `component_type`,
//! `component_id`, `operation`, and once it ends `outcome` (`success`, `error`,
//! `cancelled`) and, for an error, `error_kind` ([`ErrorKind::as_str`]). A tracked future
//! runs inside it, and the metrics are recorded inside it (so an exemplar points at it).
//! With no subscriber interested the span is disabled by its callsite: no field is
//! evaluated and nothing is allocated.

use crate::catalog::*;
use crate::collector::MetricsCollector;
use crate::error::{Classify, ErrorClass, ErrorKind, Severity};
use metrics::{Counter, Histogram};
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

/// The `status` values of `tmc_component_operations_total`.
pub mod status {
    /// The operation succeeded.
    pub const SUCCESS: &str = "success";
    /// The operation failed; the error is counted in `tmc_component_errors_total`.
    pub const ERROR: &str = "error";
    /// The operation was dropped before it finished (a cancelled future, a timeout).
    pub const CANCELLED: &str = "cancelled";
}

/// One operation of one component, with every label resolved. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Operation {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    success: Counter,
    error: Counter,
    cancelled: Counter,
    duration: Histogram,
    /// `tmc_component_errors_total` by (kind, severity), registered on first use.
    errors: Box<[OnceLock<Counter>]>,
    collector: MetricsCollector,
    component_type: String,
    component_id: String,
    operation: String,
    /// Read raw (one `rdtsc` where the TSC is usable) at start and end, scaled once.
    clock: quanta::Clock,
}

impl Operation {
    pub(crate) fn new(
        c: &MetricsCollector,
        component_type: &str,
        component_id: &str,
        operation: &str,
    ) -> Self {
        let ops = |status| {
            c.counter(
                &TMC_COMPONENT_OPERATIONS_TOTAL,
                [component_type, component_id, operation, status],
            )
        };
        let errors = (0..ErrorKind::ALL.len() * Severity::ALL.len())
            .map(|_| OnceLock::new())
            .collect();
        Self {
            inner: Arc::new(Inner {
                success: ops(status::SUCCESS),
                error: ops(status::ERROR),
                cancelled: ops(status::CANCELLED),
                duration: c.histogram(
                    &TMC_COMPONENT_OPERATION_DURATION_SECONDS,
                    [component_type, component_id, operation],
                ),
                errors,
                collector: c.clone(),
                component_type: component_type.to_owned(),
                component_id: component_id.to_owned(),
                operation: operation.to_owned(),
                clock: quanta::Clock::new(),
            }),
        }
    }

    /// Starts timing one run of the operation.
    #[must_use = "dropping the tracker at once records a cancelled operation"]
    pub fn start(&self) -> OperationTracker {
        let i = &*self.inner;
        // One atomic load when no subscriber wants `info`: the span macro is not reached
        // (its disabled path would hand the fields to `log` with tracing's `log` feature on).
        let span = info_wanted()
            .then(|| {
                tracing::info_span!(
                    "operation",
                    component_type = i.component_type.as_str(),
                    component_id = i.component_id.as_str(),
                    operation = i.operation.as_str(),
                    outcome = tracing::field::Empty,
                    error_kind = tracing::field::Empty,
                )
            })
            .filter(|span| !span.is_disabled());
        OperationTracker {
            start: i.clock.raw(),
            op: self.clone(),
            done: false,
            span,
        }
    }

    /// Tracks a future that returns `Result`: `Ok` is a success, `Err` an error classified by
    /// [`Classify`], and dropping the future before it finishes a cancellation.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use tmc_metrics::{Metrics, TmcError};
    ///
    /// let metrics = Metrics::builder().build()?;
    /// let get = metrics.collector().operation("syncer", "cluster-1", "get-deployment");
    /// let found: Result<u32, TmcError> = get.track(async { Ok(3) }).await;
    /// assert_eq!(found.unwrap(), 3);
    /// # Ok::<(), tmc_metrics::MetricsError>(()) }).unwrap();
    /// ```
    pub fn track<F, T, E>(&self, future: F) -> TrackedResult<F>
    where
        F: Future<Output = Result<T, E>>,
        E: Classify,
    {
        self.track_outcome(future, DefaultClassifier)
    }

    /// As [`track`](Self::track), with a function that classifies the error.
    pub fn track_with<F, T, E, C>(&self, future: F, classify: C) -> Tracked<F, ClassifyError<C>>
    where
        F: Future<Output = Result<T, E>>,
        C: FnMut(&E) -> ErrorClass,
    {
        self.track_outcome(future, ClassifyError(classify))
    }

    /// As [`track`](Self::track), with a [`ClassifyOutcome`] that decides from the whole
    /// result, so an `Ok` (an HTTP 500 response, say) can count as an error.
    pub fn track_outcome<F, C>(&self, future: F, classifier: C) -> Tracked<F, C>
    where
        F: Future,
    {
        Tracked {
            future,
            tracker: Some(self.start()),
            classifier,
        }
    }

    /// Runs a synchronous closure as one tracked operation.
    ///
    /// # Errors
    /// Whatever `f` returns.
    pub fn call<T, E: Classify>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        let tracker = self.start();
        let entered = tracker.enter();
        let result = f();
        drop(entered);
        match &result {
            Ok(_) => tracker.success(),
            Err(e) => tracker.error(e),
        }
        result
    }

    fn error_counter(&self, class: ErrorClass) -> &Counter {
        let index = class.kind as usize * Severity::ALL.len() + class.severity as usize;
        self.inner.errors[index].get_or_init(|| {
            let i = &self.inner;
            i.collector.counter(
                &TMC_COMPONENT_ERRORS_TOTAL,
                [
                    &i.component_type,
                    &i.component_id,
                    class.kind.as_str(),
                    class.severity.as_str(),
                ],
            )
        })
    }
}

/// One run of an [`Operation`]. End it with [`success`](Self::success) or
/// [`error`](Self::error); dropped without either, it records `cancelled`.
#[derive(Debug)]
pub struct OperationTracker {
    op: Operation,
    /// The raw clock reading at the start (see `quanta::Clock::raw`).
    start: u64,
    done: bool,
    /// The run's `operation` span; `None` when no subscriber wants it, so a disabled span
    /// is never entered or dropped.
    span: Option<tracing::Span>,
}

impl OperationTracker {
    /// The run's `operation` span, `None` when no subscriber wants it: enter it (or
    /// instrument a future with it) so that what the run logs or records is attributed to it.
    #[must_use]
    pub fn span(&self) -> Option<&tracing::Span> {
        self.span.as_ref()
    }

    fn enter(&self) -> Option<tracing::span::Entered<'_>> {
        self.span.as_ref().map(tracing::Span::enter)
    }

    /// Records a success and the duration.
    pub fn success(mut self) {
        self.outcome(status::SUCCESS);
        self.finish(|inner| &inner.success);
    }

    /// Records an error, classified by kind and severity, and the duration.
    pub fn error(self, error: &impl Classify) {
        self.error_class(error.classify());
    }

    /// Records an error of the given class and the duration.
    pub fn error_class(mut self, class: ErrorClass) {
        if let Some(span) = &self.span {
            span.record("outcome", status::ERROR);
            span.record("error_kind", class.kind.as_str());
        }
        let entered = self.enter();
        self.op.error_counter(class).increment(1);
        drop(entered);
        self.finish(|inner| &inner.error);
    }

    /// Time since the tracker started.
    #[must_use]
    pub fn elapsed(&self) -> std::time::Duration {
        let clock = &self.op.inner.clock;
        std::time::Duration::from_nanos(clock.delta_as_nanos(self.start, clock.raw()))
    }

    /// Records the span's `outcome` (a field lookup, so only into an enabled span).
    #[inline]
    fn outcome(&self, outcome: &'static str) {
        if let Some(span) = &self.span {
            span.record("outcome", outcome);
        }
    }

    /// Counts the outcome `which` picks and observes the duration; no handle is cloned.
    fn finish(&mut self, which: impl FnOnce(&Inner) -> &Counter) {
        self.done = true;
        let _entered = self.enter();
        let inner = &*self.op.inner;
        which(inner).increment(1);
        let nanos = inner.clock.delta_as_nanos(self.start, inner.clock.raw());
        inner.duration.record(nanos_to_secs(nanos));
    }
}

impl Drop for OperationTracker {
    fn drop(&mut self) {
        if !self.done {
            self.outcome(status::CANCELLED);
            self.finish(|inner| &inner.cancelled);
        }
    }
}

/// Whether any subscriber could want an `info` span.
#[inline]
fn info_wanted() -> bool {
    use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
    tracing::Level::INFO <= STATIC_MAX_LEVEL && tracing::Level::INFO <= LevelFilter::current()
}

/// Nanoseconds as seconds (a multiplication: cheaper than a division on the hot path).
#[allow(clippy::cast_precision_loss)]
fn nanos_to_secs(nanos: u64) -> f64 {
    nanos as f64 * 1e-9
}

/// Decides whether a call's result is a success or an error of some class.
///
/// Implemented for [`DefaultClassifier`], for [`ClassifyError`] (a function of the error),
/// and for closures `FnMut(&Result<T, E>) -> Result<(), ErrorClass>`, so an `Ok` HTTP
/// response with status 500 can count as an error:
///
/// ```
/// use tmc_metrics::{ErrorClass, ErrorKind};
/// let by_status = |r: &Result<u16, std::io::Error>| match r {
///     Ok(s) if *s >= 500 => Err(ErrorClass::of(ErrorKind::ServerError)),
///     Ok(_) => Ok(()),
///     Err(e) => Err(ErrorClass::of(ErrorKind::from_io(e))),
/// };
/// # let _ = by_status;
/// ```
pub trait ClassifyOutcome<T, E> {
    /// `Ok(())` for a success, `Err(class)` for an error.
    ///
    /// # Errors
    /// The class of the error the result represents.
    fn classify(&mut self, result: &Result<T, E>) -> Result<(), ErrorClass>;
}

/// `Ok` is a success; `Err(e)` is an error of class `e.classify()`.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultClassifier;

impl<T, E: Classify> ClassifyOutcome<T, E> for DefaultClassifier {
    fn classify(&mut self, result: &Result<T, E>) -> Result<(), ErrorClass> {
        result.as_ref().map(drop).map_err(Classify::classify)
    }
}

/// `Ok` is a success; `Err(e)` is an error of class `f(e)`.
#[derive(Clone, Copy, Debug)]
pub struct ClassifyError<C>(pub C);

impl<T, E, C: FnMut(&E) -> ErrorClass> ClassifyOutcome<T, E> for ClassifyError<C> {
    fn classify(&mut self, result: &Result<T, E>) -> Result<(), ErrorClass> {
        result.as_ref().map(drop).map_err(&mut self.0)
    }
}

impl<T, E, F> ClassifyOutcome<T, E> for F
where
    F: FnMut(&Result<T, E>) -> Result<(), ErrorClass>,
{
    fn classify(&mut self, result: &Result<T, E>) -> Result<(), ErrorClass> {
        self(result)
    }
}

/// A future tracked with the error's own [`Classify`] implementation.
pub type TrackedResult<F> = Tracked<F, DefaultClassifier>;

pin_project! {
    /// A future tracked as one operation; see [`Operation::track`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Tracked<F, C> {
        #[pin]
        future: F,
        tracker: Option<OperationTracker>,
        classifier: C,
    }
}

impl<F, T, E, C> Future for Tracked<F, C>
where
    F: Future<Output = Result<T, E>>,
    C: ClassifyOutcome<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.tracker.as_ref().and_then(OperationTracker::enter);
            ready!(this.future.poll(cx))
        };
        if let Some(tracker) = this.tracker.take() {
            match this.classifier.classify(&result) {
                Ok(()) => tracker.success(),
                Err(class) => tracker.error_class(class),
            }
        }
        Poll::Ready(result)
    }
}

/// Tracks one future as an operation, resolving the labels now (the seed's `TrackOperation`).
/// For an operation that runs often, keep an [`Operation`] and call [`Operation::track`].
pub fn track_operation<F, T, E>(
    collector: &MetricsCollector,
    component_type: &str,
    component_id: &str,
    operation: &str,
    future: F,
) -> TrackedResult<F>
where
    F: Future<Output = Result<T, E>>,
    E: Classify,
{
    collector
        .operation(component_type, component_id, operation)
        .track(future)
}

/// Operations, made from the collector: `collector.operation(...)`.
impl MetricsCollector {
    /// An operation with its labels resolved once: start trackers from it on the hot path.
    ///
    /// ```
    /// use tmc_metrics::{ErrorKind, Metrics, TmcError};
    ///
    /// let metrics = Metrics::builder().build()?;
    /// let sync = metrics.collector().operation("SyncTargetController", "syncer-1", "sync-deployment");
    /// sync.start().success();
    /// let err = TmcError::from_http_status(404, "syncer", "sync-deployment", "gone");
    /// sync.start().error(&err);
    /// drop(sync.start()); // neither: counted as cancelled
    /// let text = metrics.render();
    /// for status in ["success", "error", "cancelled"] {
    ///     assert!(text.contains(&format!(
    ///         "tmc_component_operations_total{{component_type=\"SyncTargetController\",\
    ///          component_id=\"syncer-1\",operation=\"sync-deployment\",status=\"{status}\"}} 1"
    ///     )));
    /// }
    /// # Ok::<(), tmc_metrics::MetricsError>(())
    /// ```
    #[must_use]
    pub fn operation(
        &self,
        component_type: &str,
        component_id: &str,
        operation: &str,
    ) -> Operation {
        Operation::new(self, component_type, component_id, operation)
    }

    /// Starts tracking one operation, resolving its labels now (the seed's
    /// `NewOperationTracker`). Prefer [`operation`](Self::operation) when the same operation
    /// runs often.
    #[must_use]
    pub fn new_operation_tracker(
        &self,
        component_type: &str,
        component_id: &str,
        operation: &str,
    ) -> OperationTracker {
        self.operation(component_type, component_id, operation)
            .start()
    }
}
