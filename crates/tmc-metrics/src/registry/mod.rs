//! The registry behind [`crate::Metrics`]: families that know the catalog, series capped at
//! registration, handles stamped for retention, rendered directly in both formats.
//!
//! Registration (cold) finds or creates the family, applies the per-family series cap and
//! builds the series' label text once, escaped. Recording (hot) touches only the atomics of
//! one [`cell`]. Rendering ([`render`]) reads the cells and writes sorted text; it never
//! parses text.

pub(crate) mod cell;
#[cfg(feature = "opentelemetry")]
pub(crate) mod exemplar;
mod family;
mod histogram;
pub(crate) mod native;
mod protobuf;
pub(crate) mod render;
pub(crate) mod text;

pub(crate) use family::{Family, Series};

use crate::catalog::{self, MetricKind, NativeHistogram, TMC_METRICS_SERIES_FOLDED_TOTAL};
use crate::retention::Clock;
use cell::{CounterCell, GaugeCell, Stamp};
use histogram::AnyHistogramCell;
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use crate::OVERFLOW_LABEL_VALUE;

/// The settings a registry is built with.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) max_series: usize,
    pub(crate) global_labels: Vec<(String, String)>,
    pub(crate) default_buckets: Arc<[f64]>,
    pub(crate) overrides: HashMap<String, Arc<[f64]>>,
    /// Retention period in whole seconds.
    pub(crate) retention: Option<u64>,
    /// Whether counters and histogram buckets keep exemplars (feature `opentelemetry`).
    pub(crate) exemplars: bool,
    /// Native histograms set (`Some`) or removed (`None`) by name, over the catalog's.
    pub(crate) native: HashMap<String, Option<NativeHistogram>>,
}

/// A registry of families, a `metrics` [`Recorder`].
#[derive(Debug)]
pub(crate) struct Registry {
    families: RwLock<HashMap<String, Arc<Family>>>,
    config: Config,
    clock: Clock,
    /// The coarse clock (whole seconds) the cells stamp updates with.
    now: Arc<AtomicU64>,
    /// The length of the last render, to size the next one.
    last_len: AtomicUsize,
}

/// Why a family could not be declared.
#[derive(Debug)]
pub(crate) struct KindClash(pub(crate) MetricKind);

impl Registry {
    pub(crate) fn new(config: Config, clock: Clock) -> Self {
        let now = Arc::new(AtomicU64::new(clock.now().as_secs()));
        Self {
            families: RwLock::default(),
            config,
            clock,
            now,
            last_len: AtomicUsize::new(0),
        }
    }

    fn last_len(&self) -> usize {
        self.last_len.load(Ordering::Relaxed)
    }

    fn set_last_len(&self, len: usize) {
        self.last_len.store(len, Ordering::Relaxed);
    }

    /// Advances the coarse clock; called on upkeep and render.
    pub(crate) fn tick(&self) -> u64 {
        let now = self.clock.now().as_secs();
        self.now.store(now, Ordering::Relaxed);
        now
    }

    pub(crate) fn retention(&self) -> Option<u64> {
        self.config.retention
    }

    /// Every family, sorted by name.
    pub(crate) fn sorted_families(&self) -> Vec<Arc<Family>> {
        let families = self.families.read().unwrap_or_else(PoisonError::into_inner);
        let mut all: Vec<Arc<Family>> = families.values().cloned().collect();
        drop(families);
        all.sort_unstable_by(|a, b| a.name().cmp(b.name()));
        all
    }

    /// Declares a family with its help text (and buckets for a histogram): custom metrics.
    pub(crate) fn declare(
        &self,
        name: &str,
        kind: MetricKind,
        help: &str,
        buckets: &[f64],
    ) -> Result<Arc<Family>, KindClash> {
        let family = self.family(name, kind, Some(buckets))?;
        family.set_help(Cow::Owned(help.to_owned()));
        Ok(family)
    }

    /// The family `name` of `kind`, created on first use with the catalog's help and buckets
    /// (or `buckets`, or the configured ones for a histogram outside the catalog).
    fn family(
        &self,
        name: &str,
        kind: MetricKind,
        buckets: Option<&[f64]>,
    ) -> Result<Arc<Family>, KindClash> {
        let found = self
            .families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned();
        let family = match found {
            Some(family) => family,
            None => {
                let mut families = self
                    .families
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                families
                    .entry(name.to_owned())
                    .or_insert_with(|| Arc::new(self.new_family(name, kind, buckets)))
                    .clone()
            }
        };
        if family.kind() == kind {
            Ok(family)
        } else {
            Err(KindClash(family.kind()))
        }
    }

    fn new_family(&self, name: &str, kind: MetricKind, buckets: Option<&[f64]>) -> Family {
        let def = catalog::find(name).filter(|d| d.kind == kind);
        let bounds: Arc<[f64]> = match (kind, def, buckets) {
            (MetricKind::Histogram, Some(def), _) => def.buckets.into(),
            (MetricKind::Histogram, None, Some(b)) if !b.is_empty() => b.into(),
            (MetricKind::Histogram, None, _) => self
                .config
                .overrides
                .get(name)
                .unwrap_or(&self.config.default_buckets)
                .clone(),
            _ => Arc::from(&[][..]),
        };
        let help = def.map_or(Cow::Borrowed(""), |d| Cow::Borrowed(d.help));
        let native = match self.config.native.get(name) {
            _ if kind != MetricKind::Histogram => None,
            Some(set) => *set,
            None => def.and_then(catalog::MetricDef::native_histogram),
        };
        Family::new(text::metric_name(name), kind, help, bounds, native)
    }

    fn describe(&self, key: &KeyName, kind: MetricKind, help: SharedString) {
        // A clash is reported when the series is registered; a description alone is ignored.
        if let Ok(family) = self.family(key.as_str(), kind, None)
            && catalog::find(key.as_str()).is_none()
        {
            family.set_help(help.into_owned().into());
        }
    }

    /// The series of `key` in `family`, registered on first use: past the cap, the overflow
    /// series instead, and the fold counted.
    fn series(&self, family: &Family, key: &Key) -> Arc<Series> {
        if let Some(series) = family.get(key) {
            return series;
        }
        let admitted =
            family.insert_with(key, self.config.max_series, || self.new_series(family, key));
        if let Some(series) = admitted {
            return series;
        }
        if family.name() != TMC_METRICS_SERIES_FOLDED_TOTAL.name {
            self.count_fold(family.name());
        }
        let labels: Vec<Label> = key
            .labels()
            .map(|l| Label::new(l.key().to_owned(), OVERFLOW_LABEL_VALUE))
            .collect();
        let folded = Key::from_parts(key.name_shared(), labels);
        family
            .insert_with(&folded, usize::MAX, || self.new_series(family, &folded))
            .unwrap_or_else(|| Arc::new(self.new_series(family, &folded)))
    }

    fn count_fold(&self, family: &str) {
        let key = Key::from_parts(
            TMC_METRICS_SERIES_FOLDED_TOTAL.name,
            vec![Label::new("metric", family.to_owned())],
        );
        self.register_counter(&key, &crate::collector::METADATA)
            .increment(1);
    }

    fn new_series(&self, family: &Family, key: &Key) -> Series {
        let mut labels = String::new();
        let mut first = true;
        let mut push = |out: &mut String, k: &str, v: &str| {
            if !std::mem::take(&mut first) {
                out.push(',');
            }
            out.push_str(&text::label_name(k));
            out.push_str("=\"");
            text::label_value(out, v);
            out.push('"');
        };
        let mut names = Vec::new();
        for (k, v) in &self.config.global_labels {
            if !key.labels().any(|l| l.key() == k) {
                push(&mut labels, k, v);
                names.push((text::label_name(k), v.as_str()));
            }
        }
        for l in key.labels() {
            push(&mut labels, l.key(), l.value());
            names.push((text::label_name(l.key()), l.value()));
        }
        let label_pairs = Self::label_pairs(names.iter().map(|(k, v)| (k.as_str(), *v)));
        let stamp = Stamp::new(self.now.clone());
        let cell = match family.kind() {
            MetricKind::Counter => {
                family::Cell::Counter(Arc::new(CounterCell::new(stamp, self.config.exemplars)))
            }
            MetricKind::Gauge => family::Cell::Gauge(Arc::new(GaugeCell::new(stamp))),
            MetricKind::Histogram => family::Cell::Histogram(AnyHistogramCell::new(
                family.bounds().clone(),
                family.native(),
                stamp,
                self.config.exemplars,
            )),
        };
        Series::new(labels.into_boxed_str(), label_pairs, cell)
    }

    fn handle(&self, key: &Key, kind: MetricKind) -> Option<Arc<Series>> {
        let family = self.family(key.name(), kind, None).ok()?;
        Some(self.series(&family, key))
    }
}

impl Recorder for Registry {
    fn describe_counter(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(&key, MetricKind::Counter, description);
    }

    fn describe_gauge(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(&key, MetricKind::Gauge, description);
    }

    fn describe_histogram(&self, key: KeyName, _unit: Option<Unit>, description: SharedString) {
        self.describe(&key, MetricKind::Histogram, description);
    }

    /// A name already registered as another kind gets a handle that records nowhere.
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        match self.handle(key, MetricKind::Counter).map(|s| s.counter()) {
            Some(Some(cell)) => Counter::from_arc(cell),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        match self.handle(key, MetricKind::Gauge).map(|s| s.gauge()) {
            Some(Some(cell)) => Gauge::from_arc(cell),
            _ => Gauge::noop(),
        }
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match self
            .handle(key, MetricKind::Histogram)
            .map(|s| s.histogram())
        {
            Some(Some(cell)) => cell,
            _ => Histogram::noop(),
        }
    }
}
