//! One family: its metadata and its series, keyed by the `metrics` key they were registered
//! with.

use super::cell::{CounterCell, GaugeCell, Stamp};
use super::histogram::AnyHistogramCell;
use crate::catalog::{MetricKind, NativeHistogram};
use metrics::Key;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// A family: name, kind, help, buckets, and its series.
#[derive(Debug)]
pub(crate) struct Family {
    name: String,
    kind: MetricKind,
    help: RwLock<Cow<'static, str>>,
    bounds: Arc<[f64]>,
    /// The native histogram beside the classic buckets (protobuf only), if any.
    native: Option<NativeHistogram>,
    /// The `le` label text of each bucket, `+Inf` last.
    les: Box<[Box<str>]>,
    series: RwLock<Index>,
}

/// A family's series: by key for registration, and sorted by label text for rendering, so
/// a render never sorts.
#[derive(Debug, Default)]
struct Index {
    by_key: HashMap<Key, Arc<Series>>,
    sorted: Vec<Arc<Series>>,
}

/// One series: its label text (escaped, without braces), its labels encoded as protobuf
/// `LabelPair` fields of a `Metric`, and its cell.
#[derive(Debug)]
pub(crate) struct Series {
    labels: Box<str>,
    label_pairs: Box<[u8]>,
    cell: Cell,
}

#[derive(Debug)]
pub(crate) enum Cell {
    Counter(Arc<CounterCell>),
    Gauge(Arc<GaugeCell>),
    Histogram(AnyHistogramCell),
}

impl Family {
    pub(crate) fn new(
        name: String,
        kind: MetricKind,
        help: Cow<'static, str>,
        bounds: Arc<[f64]>,
        native: Option<NativeHistogram>,
    ) -> Self {
        let mut les: Vec<Box<str>> = bounds
            .iter()
            .map(|b| {
                let mut s = String::new();
                super::text::float(&mut s, *b);
                s.into_boxed_str()
            })
            .collect();
        les.push("+Inf".into());
        Self {
            name,
            kind,
            help: RwLock::new(help),
            bounds,
            native,
            les: les.into_boxed_slice(),
            series: RwLock::default(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn kind(&self) -> MetricKind {
        self.kind
    }

    pub(crate) fn help(&self) -> Cow<'static, str> {
        self.help
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn set_help(&self, help: Cow<'static, str>) {
        *self.help.write().unwrap_or_else(PoisonError::into_inner) = help;
    }

    pub(crate) fn bounds(&self) -> &Arc<[f64]> {
        &self.bounds
    }

    pub(crate) fn native(&self) -> Option<NativeHistogram> {
        self.native
    }

    pub(crate) fn les(&self) -> &[Box<str>] {
        &self.les
    }

    pub(crate) fn get(&self, key: &Key) -> Option<Arc<Series>> {
        self.series
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .by_key
            .get(key)
            .cloned()
    }

    /// The series of `key`, made by `make` when the family holds fewer than `max` series;
    /// `None` when it is full. A label-less series is always admitted.
    pub(crate) fn insert_with(
        &self,
        key: &Key,
        max: usize,
        make: impl FnOnce() -> Series,
    ) -> Option<Arc<Series>> {
        let mut index = self.series.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = index.by_key.get(key) {
            return Some(found.clone());
        }
        if index.by_key.len() >= max && key.labels().len() > 0 {
            return None;
        }
        let made = Arc::new(make());
        index.by_key.insert(key.clone(), made.clone());
        let at = index
            .sorted
            .partition_point(|s| s.labels.as_ref() < made.labels.as_ref());
        index.sorted.insert(at, made.clone());
        Some(made)
    }

    /// Calls `f` with the live series (updated within `period` of `now`), sorted by labels.
    pub(crate) fn with_live_series<R>(
        &self,
        now: u64,
        period: Option<u64>,
        f: impl FnOnce(&[&Series]) -> R,
    ) -> R {
        let index = self.series.read().unwrap_or_else(PoisonError::into_inner);
        let live: Vec<&Series> = index
            .sorted
            .iter()
            .map(|s| &**s)
            .filter(|s| s.stamp().live(now, period))
            .collect();
        f(&live)
    }
}

impl Series {
    pub(crate) fn new(labels: Box<str>, label_pairs: Box<[u8]>, cell: Cell) -> Self {
        Self {
            labels,
            label_pairs,
            cell,
        }
    }

    /// The series' labels as the encoded `label` fields of a protobuf `Metric`.
    pub(crate) fn label_pairs(&self) -> &[u8] {
        &self.label_pairs
    }

    pub(crate) fn labels(&self) -> &str {
        &self.labels
    }

    pub(crate) fn cell(&self) -> &Cell {
        &self.cell
    }

    fn stamp(&self) -> &Stamp {
        match &self.cell {
            Cell::Counter(c) => &c.stamp,
            Cell::Gauge(g) => &g.stamp,
            Cell::Histogram(h) => h.stamp(),
        }
    }

    pub(crate) fn counter(&self) -> Option<Arc<CounterCell>> {
        match &self.cell {
            Cell::Counter(c) => Some(c.clone()),
            _ => None,
        }
    }

    pub(crate) fn gauge(&self) -> Option<Arc<GaugeCell>> {
        match &self.cell {
            Cell::Gauge(g) => Some(g.clone()),
            _ => None,
        }
    }

    /// A `metrics` handle on the series' histogram cell, if it is one.
    pub(crate) fn histogram(&self) -> Option<metrics::Histogram> {
        match &self.cell {
            Cell::Histogram(h) => Some(h.handle()),
            _ => None,
        }
    }
}
