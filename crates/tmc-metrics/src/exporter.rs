//! Registry setup: one call builds the registry that knows the catalog.
//!
//! [`Metrics::builder`] configures the registry: every catalog family gets its help text and
//! every histogram its buckets, so each histogram renders as a Prometheus histogram with
//! `_bucket` series. [`MetricsBuilder::build`] gives a private registry (tests, several
//! registries in one process); [`MetricsBuilder::install`] makes it the process-global
//! recorder of the `metrics` facade. Both start the upkeep thread that advances the
//! retention clock.

use crate::catalog::{LATENCY_BUCKETS, NativeHistogram};
use crate::collector::MetricsCollector;
use crate::custom::CustomMetrics;
use crate::exposition::{Format, TextFormat};
use crate::registry::{Config, Registry};
use crate::validate::{self, NameError};
use metrics::Recorder;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use thiserror::Error;

/// Why the registry could not be set up.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// A recorder is already installed for this process.
    #[error(
        "a metrics recorder is already installed in this process: install once at start-up and \
         share the returned `Metrics`, or use `Metrics::builder().build()` for a private registry"
    )]
    AlreadyInstalled,
    /// A bucket list or a name given to the builder was refused.
    #[error("{field}: {source}")]
    Invalid {
        /// The builder setting that was refused.
        field: String,
        /// What was wrong.
        #[source]
        source: NameError,
    },
    /// The upkeep thread could not be started.
    #[error("could not start the metrics upkeep thread: {0}")]
    Upkeep(#[source] std::io::Error),
}

/// Configures and builds [`Metrics`]. Every setting has a documented default.
#[derive(Debug, Clone)]
#[must_use]
pub struct MetricsBuilder {
    upkeep_interval: Option<Duration>,
    default_buckets: Vec<f64>,
    overrides: Vec<(String, Vec<f64>)>,
    global_labels: Vec<(String, String)>,
    max_series_per_family: usize,
    retention: Option<Duration>,
    clock: Option<crate::retention::Clock>,
    exemplars: bool,
    native: Vec<(String, Option<NativeHistogram>)>,
}

/// The default cap on distinct label sets per family; see [`MetricsBuilder::max_series_per_family`].
pub const DEFAULT_MAX_SERIES_PER_FAMILY: usize = 2_000;

impl Default for MetricsBuilder {
    fn default() -> Self {
        Self {
            upkeep_interval: Some(Duration::from_secs(5)),
            default_buckets: LATENCY_BUCKETS.to_vec(),
            overrides: Vec::new(),
            global_labels: Vec::new(),
            max_series_per_family: DEFAULT_MAX_SERIES_PER_FAMILY,
            retention: None,
            clock: None,
            exemplars: false,
            native: Vec::new(),
        }
    }
}

impl MetricsBuilder {
    /// How often the upkeep thread advances the coarse clock that retention stamps updates
    /// with, so idleness is measured to within this interval however rarely Prometheus
    /// scrapes. Default: 5 seconds. `None` starts no thread; then call
    /// [`Metrics::run_upkeep`] (every render advances the clock too).
    pub fn upkeep_interval(mut self, interval: Option<Duration>) -> Self {
        self.upkeep_interval = interval.filter(|d| !d.is_zero());
        self
    }

    /// Buckets for histograms that are neither in the catalog nor registered as custom metrics
    /// (for example recorded with `metrics::histogram!` by other libraries), so that they too
    /// render as histograms. Default: [`LATENCY_BUCKETS`], 1 ms to 60 s.
    ///
    /// # Errors
    /// [`MetricsError::Invalid`] when the buckets are empty, not finite or not increasing.
    pub fn default_buckets(mut self, buckets: &[f64]) -> Result<Self, MetricsError> {
        validate::buckets(buckets).map_err(|source| MetricsError::Invalid {
            field: "default_buckets".into(),
            source,
        })?;
        self.default_buckets = buckets.to_vec();
        Ok(self)
    }

    /// Buckets for one histogram recorded outside the catalog, by its full name.
    ///
    /// # Errors
    /// [`MetricsError::Invalid`] for an invalid name or bucket list.
    pub fn histogram_buckets(mut self, name: &str, buckets: &[f64]) -> Result<Self, MetricsError> {
        let field = format!("histogram_buckets({name})");
        validate::metric_name(name)
            .and_then(|()| validate::buckets(buckets))
            .map_err(|source| MetricsError::Invalid { field, source })?;
        self.overrides.push((name.to_owned(), buckets.to_vec()));
        Ok(self)
    }

    /// The most distinct label sets one family may hold. Past it, a new label set is folded
    /// into the family's overflow series (every label value `__overflow__`) and counted in
    /// `tmc_metrics_series_folded_total{metric}`, so no traffic pattern grows memory without
    /// bound. Default: [`DEFAULT_MAX_SERIES_PER_FAMILY`] (2,000).
    ///
    /// # Errors
    /// [`MetricsError::Invalid`] for 0.
    pub fn max_series_per_family(mut self, max: usize) -> Result<Self, MetricsError> {
        if max == 0 {
            return Err(MetricsError::Invalid {
                field: "max_series_per_family".into(),
                source: NameError::Zero("the series cap"),
            });
        }
        self.max_series_per_family = max;
        Ok(self)
    }

    /// Leaves out of the exposition every series nothing has recorded into for `period`
    /// (an increment, a set, even to the same value, an observation). Nothing is deleted:
    /// handles kept by layers and operations keep working, and a series recorded into again
    /// comes back with its accumulated value, so a counter is never reset and `rate()` sees
    /// no restart; a gauge comes back with the value it was last set to. Memory stays bounded
    /// by [`max_series_per_family`](Self::max_series_per_family). Default: `None`, every
    /// series stays. Idleness is measured in whole seconds, advanced on upkeep and render.
    pub fn retention(mut self, period: Option<Duration>) -> Self {
        self.retention = period.filter(|p| !p.is_zero());
        self
    }

    /// The time source retention measures idleness with (default: the monotonic clock).
    /// For tests: a clock they advance by hand.
    pub fn clock(mut self, clock: crate::retention::Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Keeps exemplars (feature `opentelemetry`): every counter and every histogram bucket
    /// holds the latest observation made inside a `tracing` span with a sampled
    /// OpenTelemetry context (a `tracing_opentelemetry` layer in the subscriber), with its
    /// trace and span ids, and the OpenMetrics rendering writes it after the sample:
    /// `tmc_api_request_duration_seconds_bucket{…,le="0.005"} 3 # {trace_id="…",span_id="…"} 0.0012 1764540000.123`.
    /// The text format 0.0.4 never carries exemplars. Default: off (no slot, no lookup).
    ///
    /// ```
    /// use tmc_metrics::{Metrics, TextFormat};
    ///
    /// let metrics = Metrics::builder().exemplars(true).build()?;
    /// metrics.collector().operation("syncer", "a", "get").call(|| Ok::<_, tmc_metrics::TmcError>(()))?;
    /// // No OpenTelemetry span here: no exemplar, the same lines as without.
    /// assert!(!metrics.render_as(TextFormat::OpenMetrics).contains(" # {"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "opentelemetry")]
    pub fn exemplars(mut self, on: bool) -> Self {
        self.exemplars = on;
        self
    }

    /// Sets (`Some`) or removes (`None`) the native histogram of the histogram family
    /// `name`, in the catalog or not. A native histogram is rendered beside the classic
    /// buckets in the protobuf exposition ([`Format::Protobuf`]), which Prometheus asks for
    /// with native histograms on; the text format and OpenMetrics are unchanged. Default: the
    /// catalog's ([`NATIVE_HISTOGRAMS`](crate::catalog::NATIVE_HISTOGRAMS): the latencies of
    /// API requests, operations, reconciles and DataMover phases, at
    /// [`NativeHistogram::DEFAULT`]). A later call for the same name wins.
    ///
    /// ```
    /// use tmc_metrics::Metrics;
    /// use tmc_metrics::catalog::NativeHistogram;
    /// let metrics = Metrics::builder()
    ///     .native_histogram("datamover_phase_duration_seconds", None)?
    ///     .native_histogram("my_job_duration_seconds", Some(NativeHistogram { schema: 5, ..NativeHistogram::DEFAULT }))?
    ///     .build()?;
    /// # Ok::<(), tmc_metrics::MetricsError>(())
    /// ```
    ///
    /// # Errors
    /// [`MetricsError::Invalid`] for an invalid name, or a schema, zero threshold or bucket
    /// budget out of range ([`validate::native_histogram`]).
    pub fn native_histogram(
        mut self,
        name: &str,
        native: Option<NativeHistogram>,
    ) -> Result<Self, MetricsError> {
        let field = format!("native_histogram({name})");
        validate::metric_name(name)
            .and_then(|()| native.as_ref().map_or(Ok(()), validate::native_histogram))
            .map_err(|source| MetricsError::Invalid { field, source })?;
        self.native.push((name.to_owned(), native));
        Ok(self)
    }

    /// A label added to every series, e.g. `cluster="prod-1"`.
    ///
    /// # Errors
    /// [`MetricsError::Invalid`] for a label name outside the data model.
    pub fn global_label(mut self, name: &str, value: &str) -> Result<Self, MetricsError> {
        validate::label_name(name).map_err(|source| MetricsError::Invalid {
            field: format!("global_label({name})"),
            source,
        })?;
        self.global_labels.push((name.to_owned(), value.to_owned()));
        Ok(self)
    }

    /// Builds a private registry: nothing is installed, nothing global changes.
    ///
    /// Record through [`Metrics::collector`], or through the `metrics` macros inside
    /// `metrics::with_local_recorder(&*metrics.recorder(), ...)`.
    ///
    /// # Errors
    /// [`MetricsError::Upkeep`] if the upkeep thread cannot start.
    pub fn build(self) -> Result<Metrics, MetricsError> {
        let metrics = self.assemble();
        if let Some(interval) = self.upkeep_interval {
            spawn_upkeep(Arc::downgrade(&metrics.inner), interval)?;
        }
        Ok(metrics)
    }

    /// Builds the registry and installs it as the process-global recorder of the `metrics`
    /// facade, so `metrics::counter!` and friends anywhere in the process record into it.
    /// [`Metrics::installed`] returns it from then on.
    ///
    /// # Errors
    /// [`MetricsError::AlreadyInstalled`] when this process already has a global recorder
    /// (from this function or any other), and the errors of [`build`](Self::build).
    pub fn install(self) -> Result<Metrics, MetricsError> {
        let metrics = self.assemble();
        metrics::set_global_recorder(metrics.inner.registry.clone())
            .map_err(|_| MetricsError::AlreadyInstalled)?;
        // Only the one successful `set_global_recorder` reaches this line, so `set` succeeds;
        // the stored clone keeps the registry (and its upkeep thread) alive for the process.
        let _ = INSTALLED.set(metrics.clone());
        if let Some(interval) = self.upkeep_interval {
            spawn_upkeep(Arc::downgrade(&metrics.inner), interval)?;
        }
        Ok(metrics)
    }

    fn assemble(&self) -> Metrics {
        let clock = self
            .clock
            .clone()
            .unwrap_or_else(crate::retention::real_clock);
        let config = Config {
            max_series: self.max_series_per_family,
            global_labels: self.global_labels.clone(),
            default_buckets: self.default_buckets.as_slice().into(),
            overrides: self
                .overrides
                .iter()
                .map(|(name, b)| (name.clone(), Arc::from(b.as_slice())))
                .collect::<HashMap<_, _>>(),
            retention: self.retention.map(|p| p.as_secs().max(1)),
            exemplars: self.exemplars,
            native: self.native.iter().cloned().collect(),
        };
        let registry = Arc::new(Registry::new(config, clock));
        let custom = CustomMetrics::new(registry.clone(), self.default_buckets.clone());
        Metrics {
            inner: Arc::new(Inner { registry, custom }),
        }
    }
}

static INSTALLED: OnceLock<Metrics> = OnceLock::new();

fn spawn_upkeep(inner: Weak<Inner>, interval: Duration) -> Result<(), MetricsError> {
    std::thread::Builder::new()
        .name("tmc-metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(interval);
                match inner.upgrade() {
                    Some(inner) => inner.run_upkeep(),
                    None => return,
                }
            }
        })
        .map(drop)
        .map_err(MetricsError::Upkeep)
}

/// The metric system: a registry that knows the catalog, its collector and its custom
/// metrics. Cheap to clone; clones share one registry.
///
/// ```
/// use tmc_metrics::{HealthStatus, Metrics};
///
/// let metrics = Metrics::builder().build()?;
/// metrics.collector().record_component_health("syncer", "syncer-1", "prod", HealthStatus::Healthy);
/// assert!(metrics.render().contains(
///     r#"tmc_component_health{component_type="syncer",component_id="syncer-1",cluster="prod"} 1"#
/// ));
/// # Ok::<(), tmc_metrics::MetricsError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Arc<Registry>,
    custom: CustomMetrics,
}

impl Inner {
    fn run_upkeep(&self) {
        self.registry.tick();
    }
}

impl Metrics {
    /// A builder with every default.
    pub fn builder() -> MetricsBuilder {
        MetricsBuilder::default()
    }

    /// The registry installed by [`MetricsBuilder::install`], if any.
    #[must_use]
    pub fn installed() -> Option<&'static Metrics> {
        INSTALLED.get()
    }

    /// A collector that records into this registry.
    #[must_use]
    pub fn collector(&self) -> MetricsCollector {
        MetricsCollector::new(self.inner.registry.clone())
    }

    /// The custom metrics registered at run time.
    #[must_use]
    pub fn custom(&self) -> &CustomMetrics {
        &self.inner.custom
    }

    /// The recorder, for `metrics::with_local_recorder` or a tower layer.
    #[must_use]
    pub fn recorder(&self) -> Arc<dyn Recorder + Send + Sync> {
        self.inner.registry.clone()
    }

    /// Renders every series in the Prometheus text format (version 0.0.4): families sorted
    /// by name and series by labels, so two scrapes of the same state are identical.
    #[must_use]
    pub fn render(&self) -> String {
        self.render_as(TextFormat::Text)
    }

    /// Renders every series in a text `format`; choose it with [`Format::from_accept`] and
    /// answer with [`TextFormat::content_type`].
    ///
    /// ```
    /// use tmc_metrics::{Metrics, TextFormat};
    /// let metrics = Metrics::builder().build()?;
    /// metrics.collector().datamover_cleanup("default", tmc_metrics::Outcome::Success);
    /// let text = metrics.render_as(TextFormat::OpenMetrics);
    /// assert!(text.contains("# TYPE datamover_cleanup_operations counter\n"));
    /// assert!(text.contains(r#"datamover_cleanup_operations_total{status="success",namespace="default"} 1"#));
    /// assert!(text.ends_with("# EOF\n"));
    /// # Ok::<(), tmc_metrics::MetricsError>(())
    /// ```
    ///
    /// [`Format::Protobuf`] is binary, so it is no [`TextFormat`]:
    /// [`render_bytes`](Self::render_bytes) renders it.
    #[must_use]
    pub fn render_as(&self, format: TextFormat) -> String {
        self.inner.registry.render(format)
    }

    /// Renders every series in any `format` as the bytes of a response body: the text of
    /// [`render_as`](Self::render_as), or for [`Format::Protobuf`] length-delimited
    /// `io.prometheus.client.MetricFamily` messages, with the native histograms of the
    /// families that have one ([`MetricsBuilder::native_histogram`]) beside their classic
    /// buckets.
    ///
    /// ```
    /// use tmc_metrics::{Format, Metrics};
    /// let metrics = Metrics::builder().build()?;
    /// metrics.collector().datamover_cleanup("default", tmc_metrics::Outcome::Success);
    /// let body = metrics.render_bytes(Format::Protobuf);
    /// // One message: its length (a two-byte varint here), then field 1, the family name.
    /// let len = usize::from(body[0] & 0x7f) | usize::from(body[1]) << 7;
    /// assert_eq!(len + 2, body.len());
    /// assert_eq!(&body[2..4], &[0x0a, 34]);
    /// assert_eq!(&body[4..38], b"datamover_cleanup_operations_total");
    /// # Ok::<(), tmc_metrics::MetricsError>(())
    /// ```
    #[must_use]
    pub fn render_bytes(&self, format: Format) -> Vec<u8> {
        match format {
            Format::Protobuf => self.inner.registry.render_protobuf(),
            text => self
                .render_as(TextFormat::try_from(text).unwrap_or_default())
                .into_bytes(),
        }
    }

    /// Advances the retention clock now (the upkeep thread does it on its interval, and
    /// every render does it too).
    pub fn run_upkeep(&self) {
        self.inner.run_upkeep();
    }
}

impl crate::Exposition for Metrics {
    fn render_format(&self, format: TextFormat) -> String {
        self.render_as(format)
    }

    fn formats(&self) -> &'static [Format] {
        Format::ALL
    }

    fn render_bytes(&self, format: Format) -> Vec<u8> {
        Metrics::render_bytes(self, format)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_builder_settings_name_the_field() {
        let err = Metrics::builder().default_buckets(&[2.0, 1.0]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "default_buckets: buckets are not strictly increasing: give finite upper bounds in \
             strictly increasing order, e.g. [0.1, 1, 10]"
        );
        let err = Metrics::builder()
            .histogram_buckets("my-hist", &[1.0])
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("histogram_buckets(my-hist): metric name `my-hist`")
        );
        assert!(Metrics::builder().global_label("__x", "v").is_err());
    }
}
