//! Exporter setup: one call configures the Prometheus recorder from the catalog.
//!
//! [`Metrics::builder`] configures `metrics-exporter-prometheus` with every catalog family's
//! help text and every histogram's buckets, so each histogram renders as a Prometheus
//! histogram with `_bucket` series and never as a summary. [`MetricsBuilder::build`] gives a
//! private recorder (tests, several registries in one process); [`MetricsBuilder::install`]
//! makes it the process-global recorder of the `metrics` facade and starts the upkeep thread
//! that keeps histogram memory bounded between scrapes.

use crate::catalog::{CATALOG, LATENCY_BUCKETS, MetricKind};
use crate::collector::MetricsCollector;
use crate::custom::CustomMetrics;
use crate::recorder::TmcRecorder;
use crate::validate::{self, NameError};
use metrics::{KeyName, Recorder, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use thiserror::Error;

/// Why the exporter could not be set up.
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
    /// The Prometheus exporter refused its configuration.
    #[error("the Prometheus exporter refused its configuration: {0}")]
    Exporter(#[from] metrics_exporter_prometheus::BuildError),
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
        }
    }
}

impl MetricsBuilder {
    /// How often the upkeep thread folds recorded histogram samples into their buckets, so
    /// memory stays bounded however rarely Prometheus scrapes. Default: 5 seconds. `None`
    /// starts no thread; then call [`Metrics::run_upkeep`] (rendering also folds samples).
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

    fn retention_for(
        &self,
        global_labels: Vec<(String, String)>,
        clock: &crate::retention::Clock,
    ) -> Option<crate::retention::Retention> {
        self.retention
            .map(|p| crate::retention::Retention::new(p, clock.clone(), global_labels))
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

    fn prometheus_recorder(&self) -> Result<PrometheusRecorder, MetricsError> {
        let mut builder = PrometheusBuilder::new().set_buckets(&self.default_buckets)?;
        for def in CATALOG.iter().filter(|d| d.kind == MetricKind::Histogram) {
            builder =
                builder.set_buckets_for_metric(Matcher::Full(def.name.into()), def.buckets)?;
        }
        for (name, buckets) in &self.overrides {
            builder = builder.set_buckets_for_metric(Matcher::Full(name.clone()), buckets)?;
        }
        for (k, v) in &self.global_labels {
            builder = builder.add_global_label(k, v);
        }
        Ok(builder.build_recorder())
    }

    /// Builds a private registry: nothing is installed, nothing global changes.
    ///
    /// Record through [`Metrics::collector`], or through the `metrics` macros inside
    /// `metrics::with_local_recorder(&*metrics.recorder(), ...)`.
    ///
    /// # Errors
    /// [`MetricsError::Exporter`] if the exporter refuses the configuration, or
    /// [`MetricsError::Upkeep`] if the upkeep thread cannot start.
    pub fn build(self) -> Result<Metrics, MetricsError> {
        let metrics = self.assemble()?;
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
        let metrics = self.assemble()?;
        metrics::set_global_recorder(metrics.inner.recorder.clone())
            .map_err(|_| MetricsError::AlreadyInstalled)?;
        // Only the one successful `set_global_recorder` reaches this line, so `set` succeeds;
        // the stored clone keeps the registry (and its upkeep thread) alive for the process.
        let _ = INSTALLED.set(metrics.clone());
        if let Some(interval) = self.upkeep_interval {
            spawn_upkeep(Arc::downgrade(&metrics.inner), interval)?;
        }
        Ok(metrics)
    }

    fn assemble(&self) -> Result<Metrics, MetricsError> {
        let prometheus = self.prometheus_recorder()?;
        let handle = prometheus.handle();
        let clock = self
            .clock
            .clone()
            .unwrap_or_else(crate::retention::real_clock);
        let retention = self.retention_for(self.global_labels.clone(), &clock);
        let recorder = Arc::new(TmcRecorder::new(
            prometheus,
            self.max_series_per_family,
            retention,
        ));
        for def in CATALOG {
            let help = SharedString::const_str(def.help);
            let name = KeyName::from_const_str(def.name);
            match def.kind {
                MetricKind::Counter => recorder.describe_counter(name, None, help),
                MetricKind::Gauge => recorder.describe_gauge(name, None, help),
                MetricKind::Histogram => recorder.describe_histogram(name, None, help),
            }
        }
        let custom = CustomMetrics::new(
            recorder.clone(),
            self.default_buckets.clone(),
            self.max_series_per_family,
            self.retention.map(|p| (p, clock)),
        );
        Ok(Metrics {
            inner: Arc::new(Inner {
                recorder,
                handle,
                custom,
            }),
        })
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

/// The metric system: the Prometheus registry configured from the catalog, its collector
/// and its custom metrics. Cheap to clone; clones share one registry.
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
    recorder: Arc<TmcRecorder>,
    handle: PrometheusHandle,
    custom: CustomMetrics,
}

impl Inner {
    fn run_upkeep(&self) {
        self.recorder.tick();
        self.handle.run_upkeep();
        self.custom.run_upkeep();
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
        MetricsCollector::new(self.inner.recorder.clone())
    }

    /// The custom metrics registered at run time.
    #[must_use]
    pub fn custom(&self) -> &CustomMetrics {
        &self.inner.custom
    }

    /// The recorder, for `metrics::with_local_recorder` or a tower layer.
    #[must_use]
    pub fn recorder(&self) -> Arc<dyn Recorder + Send + Sync> {
        self.inner.recorder.clone()
    }

    /// Renders every series in the Prometheus text format (version 0.0.4), families sorted
    /// by name so two scrapes of the same state are identical.
    #[must_use]
    pub fn render(&self) -> String {
        self.inner.recorder.tick();
        let mut raw = self.inner.handle.render();
        self.inner.custom.render_into(&mut raw);
        let mut stale = std::collections::HashSet::new();
        self.inner.recorder.stale(&mut stale);
        self.inner.custom.stale(&mut stale);
        if !stale.is_empty() {
            raw = raw
                .split_inclusive('\n')
                .filter(|l| {
                    l.starts_with('#')
                        || l.trim().is_empty()
                        || !stale.contains(&crate::retention::series_id(l.trim_end()))
                })
                .collect();
        }
        sort_families(&raw)
    }

    /// Folds recorded histogram samples into their buckets now.
    pub fn run_upkeep(&self) {
        self.inner.run_upkeep();
    }
}

/// The exposition content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Sorts the blank-line-separated family blocks of an exposition by family name, and the
/// series inside each family by their labels (a histogram's bucket, sum and count lines move
/// together), so that two renders of the same state are byte-identical.
fn sort_families(raw: &str) -> String {
    let mut blocks: Vec<(&str, &str)> = raw
        .split("\n\n")
        .filter(|b| {
            b.lines()
                .any(|l| !l.trim().is_empty() && !l.starts_with('#'))
        })
        .map(|b| (family_name(b), b))
        .collect();
    blocks.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(raw.len() + 2);
    let mut groups: Vec<Vec<&str>> = Vec::new();
    for (_, block) in blocks {
        groups.clear();
        let mut open = false;
        let histogram = block
            .lines()
            .any(|l| l.starts_with("# TYPE ") && l.ends_with(" histogram"));
        for line in block.trim_start_matches('\n').lines() {
            if line.starts_with('#') {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            if open {
                if let Some(group) = groups.last_mut() {
                    group.push(line);
                }
            } else {
                groups.push(vec![line]);
            }
            // A histogram's lines for one label set run from its first bucket to its count.
            open = histogram
                && !line
                    .split(['{', ' '])
                    .next()
                    .unwrap_or_default()
                    .ends_with("_count");
        }
        groups.sort_unstable();
        for line in groups.iter().flatten() {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

fn family_name(block: &str) -> &str {
    let first = block
        .trim_start_matches('\n')
        .lines()
        .next()
        .unwrap_or_default();
    if let Some(rest) = first
        .strip_prefix("# HELP ")
        .or_else(|| first.strip_prefix("# TYPE "))
    {
        rest.split(' ').next().unwrap_or_default()
    } else {
        first.split(['{', ' ']).next().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_sorted_by_name() {
        let raw =
            "# TYPE b counter\nb 1\n\n# HELP a x\n# TYPE a gauge\na 2\n\nc_bucket{le=\"1\"} 1\n\n";
        assert_eq!(
            sort_families(raw),
            "# HELP a x\n# TYPE a gauge\na 2\n\n# TYPE b counter\nb 1\n\nc_bucket{le=\"1\"} 1\n\n"
        );
        let raw = "# TYPE h histogram\nh_bucket{x=\"b\",le=\"1\"} 1\nh_bucket{x=\"b\",le=\"+Inf\"} 1\nh_sum{x=\"b\"} 1\nh_count{x=\"b\"} 1\n\
                   h_bucket{x=\"a\",le=\"1\"} 0\nh_bucket{x=\"a\",le=\"+Inf\"} 2\nh_sum{x=\"a\"} 9\nh_count{x=\"a\"} 2\n\n\
                   # TYPE g gauge\ng{x=\"z\"} 1\ng{x=\"y\"} 2\n\n";
        assert_eq!(
            sort_families(raw),
            "# TYPE g gauge\ng{x=\"y\"} 2\ng{x=\"z\"} 1\n\n# TYPE h histogram\n\
             h_bucket{x=\"a\",le=\"1\"} 0\nh_bucket{x=\"a\",le=\"+Inf\"} 2\nh_sum{x=\"a\"} 9\nh_count{x=\"a\"} 2\n\
             h_bucket{x=\"b\",le=\"1\"} 1\nh_bucket{x=\"b\",le=\"+Inf\"} 1\nh_sum{x=\"b\"} 1\nh_count{x=\"b\"} 1\n\n"
        );
    }

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
