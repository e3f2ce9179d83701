//! The workers: take a key, reconcile it once, classify the outcome, hand it back.

use crate::backoff::{Backoff, Jitter};
use crate::metrics::ControllerMetrics;
use crate::panic::CatchUnwind;
use crate::queue::Ticket;
use crate::scheduler::Scheduler;
use crate::{Action, ErrorPolicy, ObjectKey, ReconcileRequest, Resource, Retry, Store};
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::metrics::Gauge;
use tokio::time::Instant;
use tower::{Service, ServiceExt};
use tracing::Instrument;

/// What every worker of one controller shares. The reconciler is not in here: each worker
/// owns a clone, so it need only be `Send`.
pub(crate) struct Shared<K, P> {
    pub(crate) name: Arc<str>,
    pub(crate) store: Arc<dyn Store<K>>,
    pub(crate) scheduler: Arc<Scheduler>,
    pub(crate) policy: P,
    pub(crate) backoff: Backoff,
    pub(crate) jitter: Jitter,
    pub(crate) timeout: Option<Duration>,
    pub(crate) metrics: ControllerMetrics,
}

enum Outcome<E> {
    Done(Action),
    Failed(E),
    Panicked(String),
    TimedOut(Duration),
}

impl<E> Outcome<E> {
    /// The span's `outcome`: the `result` label of `controller_runtime_reconcile_total`,
    /// with panics and timeouts told apart from errors.
    fn label(&self) -> &'static str {
        match self {
            Self::Done(a) if a.requeue_after().is_some() => "requeue_after",
            Self::Done(_) => "success",
            Self::Failed(_) => "error",
            Self::Panicked(_) => "panic",
            Self::TimedOut(_) => "timeout",
        }
    }
}

impl<E> From<Result<Result<Action, E>, String>> for Outcome<E> {
    fn from(r: Result<Result<Action, E>, String>) -> Self {
        match r {
            Ok(Ok(action)) => Self::Done(action),
            Ok(Err(e)) => Self::Failed(e),
            Err(message) => Self::Panicked(message),
        }
    }
}

/// Holds `controller_runtime_active_workers` up for its lifetime, so a reconcile cut off
/// at shutdown still brings it down.
struct Active<'a>(&'a Gauge);

impl<'a> Active<'a> {
    fn new(gauge: &'a Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// One worker: reconciles keys one at a time until the queue closes.
pub(crate) async fn worker<K, S, P, E>(shared: Arc<Shared<K, P>>, svc: S)
where
    K: Resource,
    S: Service<ReconcileRequest<K>, Response = Action, Error = E> + Clone,
    P: ErrorPolicy<K, E>,
    E: Display,
{
    while let Some(ticket) = shared.scheduler.next().await {
        shared.reconcile(svc.clone(), ticket).await;
    }
}

impl<K: Resource, P> Shared<K, P> {
    async fn reconcile<S, E>(&self, svc: S, ticket: Ticket)
    where
        S: Service<ReconcileRequest<K>, Response = Action, Error = E> + Clone,
        P: ErrorPolicy<K, E>,
        E: Display,
    {
        let Ticket { key, attempt } = ticket;
        let Some(object) = self.store.get(&key) else {
            tracing::debug!(controller = %self.name, key = %key, "object gone; key dropped");
            self.scheduler.finish(&key, 0, None);
            return;
        };
        let span = tracing::info_span!(
            "reconcile",
            controller = %self.name,
            key = %key,
            attempt,
            outcome = tracing::field::Empty,
        );
        let request = ReconcileRequest {
            object: Arc::clone(&object),
            key: key.clone(),
            attempt,
        };
        let call = CatchUnwind::new(svc.oneshot(request)).instrument(span.clone());
        let active = Active::new(&self.metrics.active_workers);
        let started = Instant::now();
        let outcome = match self.timeout {
            Some(limit) => match tokio::time::timeout(limit, call).await {
                Ok(r) => Outcome::from(r),
                Err(_) => Outcome::TimedOut(limit),
            },
            None => Outcome::from(call.await),
        };
        drop(active);
        span.record("outcome", outcome.label());
        // Inside the span, so an exemplar of the reconcile time points at this reconcile.
        let seconds = started.elapsed().as_secs_f64();
        span.in_scope(|| self.metrics.reconcile_time.record(seconds));
        let (failures, requeue) = span.in_scope(|| self.settle(object, &key, attempt, outcome));
        self.scheduler.finish(&key, failures, requeue);
    }

    /// Counts the outcome and decides the key's failure count and next run.
    fn settle<E>(
        &self,
        object: Arc<K>,
        key: &ObjectKey,
        attempt: u32,
        outcome: Outcome<E>,
    ) -> (u32, Option<Duration>)
    where
        P: ErrorPolicy<K, E>,
        E: Display,
    {
        let m = &self.metrics;
        match outcome {
            Outcome::Done(action) => {
                match action.requeue_after() {
                    Some(_) => m.requeue_after.increment(1),
                    None => m.success.increment(1),
                }
                (0, action.requeue_after())
            }
            Outcome::Failed(error) => {
                let retry = self.failed(attempt);
                tracing::warn!(error = %error, failures = retry.failures, "reconcile failed");
                // A panicking policy must not take the worker down: fall back to backoff.
                let decided = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.policy.on_error(object, &error, retry)
                }));
                let action = decided.unwrap_or_else(|_| {
                    tracing::error!(key = %key, "error policy panicked; retrying with backoff");
                    Action::requeue(retry.backoff)
                });
                (retry.failures, action.requeue_after())
            }
            Outcome::Panicked(message) => {
                m.panics.increment(1);
                let retry = self.failed(attempt);
                tracing::error!(
                    controller = %self.name,
                    key = %key,
                    panic = %message,
                    backoff = ?retry.backoff,
                    "reconciler panicked; retrying with backoff",
                );
                (retry.failures, Some(retry.backoff))
            }
            Outcome::TimedOut(limit) => {
                m.timeouts.increment(1);
                let retry = self.failed(attempt);
                tracing::warn!(
                    key = %key,
                    timeout = ?limit,
                    backoff = ?retry.backoff,
                    "reconcile timed out; retrying with backoff",
                );
                (retry.failures, Some(retry.backoff))
            }
        }
    }

    /// Counts an error (panics and timeouts too, as in Go) and computes the backoff.
    fn failed(&self, attempt: u32) -> Retry {
        self.metrics.errors.increment(1);
        self.metrics.error.increment(1);
        let failures = attempt.saturating_add(1);
        Retry {
            failures,
            backoff: self.backoff.jittered(failures, self.jitter.sample()),
        }
    }
}

// The span test lives here, not in the integration tests: tracing caches callsite interest
// process-wide, and a scoped subscriber races with other test threads hitting the same
// callsite. No other unit test reconciles.
#[cfg(test)]
mod tests {
    use crate::{Action, ShutdownReport};
    use crate::{Backoff, Controller, MemoryStore, ObjectKey, ReconcileRequest, Resource};
    use std::fmt;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tmc_metrics::{ErrorKind, MetricsCollector, TmcError};
    use tokio::sync::mpsc;
    use tracing::span::{Attributes, Id, Record};
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::{Context, SubscriberExt as _};

    struct Obj;
    impl Resource for Obj {
        fn key(&self) -> ObjectKey {
            ObjectKey::namespaced("ns", "a")
        }
    }

    /// Captures every span as it closes: `name<parent: k=v ...`, fields in the order they
    /// were given a value.
    #[derive(Clone, Default)]
    struct Spans(Arc<Mutex<Vec<String>>>);

    #[derive(Default)]
    struct Fields(Vec<(&'static str, String)>);

    impl tracing::field::Visit for Fields {
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            self.record_debug(field, &format_args!("{value}"));
        }
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
            let value = format!("{value:?}");
            match self.0.iter_mut().find(|(n, _)| *n == field.name()) {
                Some(slot) => slot.1 = value,
                None => self.0.push((field.name(), value)),
            }
        }
    }

    impl<S> Layer<S> for Spans
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
            let mut fields = Fields::default();
            attrs.record(&mut fields);
            ctx.span(id).unwrap().extensions_mut().insert(fields);
        }
        fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
            let span = ctx.span(id).unwrap();
            values.record(span.extensions_mut().get_mut::<Fields>().unwrap());
        }
        fn on_close(&self, id: Id, ctx: Context<'_, S>) {
            let span = ctx.span(&id).unwrap();
            let ext = span.extensions();
            let fields: Vec<String> = ext
                .get::<Fields>()
                .unwrap()
                .0
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let parent = span.parent().map_or("", |p| p.name());
            self.0
                .lock()
                .unwrap()
                .push(format!("{}<{parent}: {}", span.name(), fields.join(" ")));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn reconcile_span_should_carry_controller_key_attempt_and_outcome_around_operations() {
        let spans = Spans::default();
        let _default =
            tracing::subscriber::set_default(tracing_subscriber::registry().with(spans.clone()));
        let store = MemoryStore::new();
        store.apply(Obj);
        let (tx, mut rx) = mpsc::unbounded_channel();
        // Each reconcile runs one tracked operation, which fails the first time.
        let get = MetricsCollector::facade().operation("syncer", "cluster-1", "get");
        let svc = tower::service_fn(move |req: ReconcileRequest<Obj>| {
            let (tx, get) = (tx.clone(), get.clone());
            async move {
                get.track(async {
                    match req.attempt {
                        0 => Err(TmcError::new(ErrorKind::Timeout, "syncer", "get", "slow")),
                        _ => Ok(()),
                    }
                })
                .await?;
                let _ = tx.send(());
                Ok::<_, TmcError>(Action::await_change())
            }
        });
        let backoff = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(1),
            factor: 2.0,
            jitter: 0.0,
        };
        let report: ShutdownReport = Controller::new("traced", store)
            .reconciler(svc)
            .backoff(backoff)
            .unwrap()
            .run(async move {
                rx.recv().await;
            })
            .await;
        assert!(report.is_clean());
        let op = "component_type=syncer component_id=cluster-1 operation=get";
        assert_eq!(
            *spans.0.lock().unwrap(),
            [
                format!("operation<reconcile: {op} outcome=error error_kind=Timeout"),
                "reconcile<: controller=traced key=ns/a attempt=0 outcome=error".to_owned(),
                format!("operation<reconcile: {op} outcome=success"),
                "reconcile<: controller=traced key=ns/a attempt=1 outcome=success".to_owned(),
            ]
        );
    }
}
