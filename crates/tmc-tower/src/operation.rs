//! Operation metrics for any tower `Service`, async function or reconcile function.
//!
//! [`OperationLayer`] wraps a service (a client, a reconciler) and records, per call,
//! `tmc_component_operations_total{component_type,component_id,operation,status}`
//! (`success`, `error`, `cancelled`), `tmc_component_errors_total{...,error_type,severity}`
//! and `tmc_component_operation_duration_seconds`. Labels are resolved once per operation
//! name. A [`ClassifyOutcome`] decides what is an error; by default `Ok` is a success and
//! `Err` is classified through the error taxonomy ([`tmc_metrics::Classify`]).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//! use tmc_metrics::{Metrics, TmcError};
//! use tmc_tower::operation::OperationLayer;
//!
//! let metrics = Metrics::builder().build()?;
//! let client = ServiceBuilder::new()
//!     .layer(OperationLayer::new(&metrics, "syncer", "cluster-1", "get-deployment"))
//!     .service(service_fn(|name: &'static str| async move { Ok::<_, TmcError>(name.len()) }));
//! assert_eq!(client.oneshot("web").await.unwrap(), 3);
//! assert!(metrics.render().contains(
//!     r#"tmc_component_operations_total{component_type="syncer",component_id="cluster-1",operation="get-deployment",status="success"} 1"#
//! ));
//! # Ok::<(), tmc_metrics::MetricsError>(()) }).unwrap();
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, PoisonError, RwLock};
use std::task::{Context, Poll};
use tmc_metrics::{Classify, MetricsCollector, Operation};
use tower::{Layer, Service};

pub use tmc_metrics::{ClassifyOutcome, DefaultClassifier};

/// The future of [`OperationMetrics`]: records the outcome when it completes, and a
/// cancelled operation when dropped first.
pub type ResponseFuture<F, C> = tmc_metrics::Tracked<F, C>;

/// Names a request's operation and returns its handles.
type NameFn<R> = dyn Fn(&R, &OperationsByName) -> Operation + Send + Sync;

/// How the layer names the operation of a request.
enum Naming<R> {
    Fixed(Operation),
    PerRequest {
        name: Arc<NameFn<R>>,
        ops: Arc<OperationsByName>,
    },
}

impl<R> Clone for Naming<R> {
    fn clone(&self) -> Self {
        match self {
            Self::Fixed(op) => Self::Fixed(op.clone()),
            Self::PerRequest { name, ops } => Self::PerRequest {
                name: name.clone(),
                ops: ops.clone(),
            },
        }
    }
}

struct OperationsByName {
    collector: MetricsCollector,
    component_type: String,
    component_id: String,
    by_name: RwLock<HashMap<Box<str>, Operation>>,
}

impl OperationsByName {
    fn get(&self, name: &str) -> Operation {
        if let Some(op) = self
            .by_name
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
        {
            return op.clone();
        }
        let op = self
            .collector
            .operation(&self.component_type, &self.component_id, name);
        self.by_name
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(name.into())
            .or_insert(op)
            .clone()
    }
}

impl<R> std::fmt::Debug for Naming<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fixed(op) => f.debug_tuple("Fixed").field(op).finish(),
            Self::PerRequest { .. } => f.write_str("PerRequest"),
        }
    }
}

/// Adds [`OperationMetrics`] to a service.
#[derive(Debug)]
#[must_use]
pub struct OperationLayer<R, C = DefaultClassifier> {
    naming: Naming<R>,
    classifier: C,
}

impl<R, C: Clone> Clone for OperationLayer<R, C> {
    fn clone(&self) -> Self {
        Self {
            naming: self.naming.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<R> OperationLayer<R> {
    /// Every call is one run of `operation` of the component. `collector` is a `&Metrics`,
    /// a `Metrics` or a `MetricsCollector`, as for every layer.
    pub fn new(
        collector: impl Into<MetricsCollector>,
        component_type: &str,
        component_id: &str,
        operation: &str,
    ) -> Self {
        let collector = collector.into();
        Self {
            naming: Naming::Fixed(collector.operation(component_type, component_id, operation)),
            classifier: DefaultClassifier,
        }
    }

    /// Each call's operation is named by `name(&request)`: a function or a closure returning
    /// a `&str` or a `String`. Labels are resolved once per name, so `name` must return a
    /// bounded set of names (an RPC method, never an id).
    ///
    /// ```
    /// use tmc_tower::operation::OperationLayer;
    ///
    /// let metrics = tmc_metrics::Metrics::builder().build()?;
    /// let prefix = String::from("kube-");
    /// let layer = OperationLayer::per_request(&metrics, "client", "apiserver", move |verb: &&str| {
    ///     format!("{prefix}{verb}")
    /// });
    /// # let _ = layer;
    /// # Ok::<(), tmc_metrics::MetricsError>(())
    /// ```
    pub fn per_request<F, N>(
        collector: impl Into<MetricsCollector>,
        component_type: &str,
        component_id: &str,
        name: F,
    ) -> Self
    where
        F: Fn(&R) -> N + Send + Sync + 'static,
        N: AsRef<str>,
    {
        let ops = OperationsByName {
            collector: collector.into(),
            component_type: component_type.to_owned(),
            component_id: component_id.to_owned(),
            by_name: RwLock::default(),
        };
        Self {
            naming: Naming::PerRequest {
                name: Arc::new(move |request: &R, ops: &OperationsByName| {
                    ops.get(name(request).as_ref())
                }),
                ops: Arc::new(ops),
            },
            classifier: DefaultClassifier,
        }
    }
}

impl<R, C> OperationLayer<R, C> {
    /// Decides success and error with `classifier` instead of [`DefaultClassifier`].
    pub fn classify<C2>(self, classifier: C2) -> OperationLayer<R, C2> {
        OperationLayer {
            naming: self.naming,
            classifier,
        }
    }
}

impl<S, R, C: Clone> Layer<S> for OperationLayer<R, C> {
    type Service = OperationMetrics<S, R, C>;

    fn layer(&self, inner: S) -> Self::Service {
        OperationMetrics {
            inner,
            naming: self.naming.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

/// Records one operation per call of the inner service. Built by [`OperationLayer`].
#[derive(Debug)]
pub struct OperationMetrics<S, R, C = DefaultClassifier> {
    inner: S,
    naming: Naming<R>,
    classifier: C,
}

impl<S: Clone, R, C: Clone> Clone for OperationMetrics<S, R, C> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            naming: self.naming.clone(),
            classifier: self.classifier.clone(),
        }
    }
}

impl<S, R, C> OperationMetrics<S, R, C> {
    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, R, C> Service<R> for OperationMetrics<S, R, C>
where
    S: Service<R>,
    C: ClassifyOutcome<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future, C>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        match &self.naming {
            Naming::Fixed(op) => {
                op.track_outcome(self.inner.call(request), self.classifier.clone())
            }
            Naming::PerRequest { name, ops } => {
                let op = name(&request, ops);
                op.track_outcome(self.inner.call(request), self.classifier.clone())
            }
        }
    }
}

/// Wraps a reconcile function `(Arc<K>, Arc<Ctx>) -> Result<A, E>` so every call is recorded
/// as one run of `operation`: wrapping a reconciler is one line.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use std::sync::Arc;
/// use tmc_metrics::{Metrics, TmcError};
/// use tmc_tower::operation::instrument_reconcile;
///
/// async fn reconcile(obj: Arc<String>, _ctx: Arc<()>) -> Result<usize, TmcError> { Ok(obj.len()) }
///
/// let metrics = Metrics::builder().build()?;
/// let reconcile = instrument_reconcile(metrics.collector().operation("DataMoverController", "datamover", "reconcile"), reconcile);
/// assert_eq!(reconcile(Arc::new("backup".into()), Arc::new(())).await.unwrap(), 6);
/// assert!(metrics.render().contains(r#"operation="reconcile",status="success"} 1"#));
/// # Ok::<(), tmc_metrics::MetricsError>(()) }).unwrap();
/// ```
pub fn instrument_reconcile<K, Ctx, F, Fut, A, E>(
    operation: Operation,
    reconcile: F,
) -> impl Fn(Arc<K>, Arc<Ctx>) -> tmc_metrics::TrackedResult<Fut> + Clone
where
    F: Fn(Arc<K>, Arc<Ctx>) -> Fut + Clone,
    Fut: Future<Output = Result<A, E>>,
    E: Classify,
{
    move |object, ctx| operation.track(reconcile(object, ctx))
}
