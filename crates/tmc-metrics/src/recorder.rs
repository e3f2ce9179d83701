//! The recorder [`crate::Metrics`] installs: the Prometheus recorder, with exact label
//! escaping and a cap on the number of series per family.

use crate::catalog::TMC_METRICS_SERIES_FOLDED_TOTAL;
use crate::retention::Retention;
use crate::validate::NameError;
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use std::collections::{HashMap, HashSet};
use std::sync::{PoisonError, RwLock};

/// The label value every label of a folded series gets.
pub const OVERFLOW_LABEL_VALUE: &str = "__overflow__";

/// Wraps the Prometheus recorder with two guarantees.
///
/// **Exact label values.** `metrics-exporter-prometheus` 0.18 treats a backslash in a label
/// value as the start of an escape sequence that is already there, so `a\\b` would be
/// scraped as `a\b`. Doubling backslashes before the exporter sees them makes every value
/// render as itself.
///
/// **Bounded families.** Each family admits at most `max_series` distinct label sets. A new
/// label set beyond that is folded into one overflow series of the family (every label
/// value [`OVERFLOW_LABEL_VALUE`]) and the fold is counted in
/// `tmc_metrics_series_folded_total{metric}`. A label set once admitted stays admitted, so
/// a gauge raised and lowered through separate registrations stays consistent.
#[derive(Debug)]
pub(crate) struct TmcRecorder {
    inner: PrometheusRecorder,
    max_series: usize,
    /// Admitted label sets by family name, as `Key` hashes.
    admitted: RwLock<HashMap<String, HashSet<u64>>>,
    /// Idle series left out of the exposition, when configured.
    retention: Option<Retention>,
}

enum Admission {
    Admitted,
    Folded(Key),
}

impl TmcRecorder {
    pub(crate) fn new(
        inner: PrometheusRecorder,
        max_series: usize,
        retention: Option<Retention>,
    ) -> Self {
        Self {
            inner,
            max_series,
            admitted: RwLock::default(),
            retention,
        }
    }

    /// Advances the retention clock.
    pub(crate) fn tick(&self) {
        if let Some(r) = &self.retention {
            r.tick();
        }
    }

    /// Adds the identities of the series idle past the retention period.
    pub(crate) fn stale(&self, into: &mut HashSet<String>) {
        if let Some(r) = &self.retention {
            r.stale(into);
        }
    }

    /// A private recorder with `buckets` for every histogram, used for custom histograms.
    pub(crate) fn with_buckets(
        buckets: &[f64],
        max_series: usize,
        retention: Option<Retention>,
    ) -> Result<(Self, PrometheusHandle), NameError> {
        crate::validate::buckets(buckets)?;
        let inner = PrometheusBuilder::new()
            .set_buckets(buckets)
            .map_err(|_| NameError::Buckets("were refused by the exporter"))?
            .build_recorder();
        let handle = inner.handle();
        Ok((Self::new(inner, max_series, retention), handle))
    }

    fn admit(&self, key: &Key) -> Admission {
        if key.labels().len() == 0 {
            return Admission::Admitted;
        }
        let hash = key.get_hash();
        {
            let admitted = self.admitted.read().unwrap_or_else(PoisonError::into_inner);
            if admitted
                .get(key.name())
                .is_some_and(|set| set.contains(&hash))
            {
                return Admission::Admitted;
            }
        }
        let mut admitted = self
            .admitted
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let set = admitted.entry(key.name().to_owned()).or_default();
        if set.len() < self.max_series || set.contains(&hash) {
            set.insert(hash);
            return Admission::Admitted;
        }
        drop(admitted);
        let folded_total = Key::from_parts(
            TMC_METRICS_SERIES_FOLDED_TOTAL.name,
            vec![Label::new("metric", key.name().to_owned())],
        );
        self.inner
            .register_counter(&folded_total, &crate::collector::METADATA)
            .increment(1);
        let labels: Vec<Label> = key
            .labels()
            .map(|l| Label::new(l.key().to_owned(), OVERFLOW_LABEL_VALUE))
            .collect();
        Admission::Folded(Key::from_parts(key.name_shared(), labels))
    }

    /// The key to register: admitted or folded, with backslashes escaped.
    fn resolve(&self, key: &Key) -> Option<Key> {
        match self.admit(key) {
            Admission::Folded(folded) => Some(folded),
            Admission::Admitted => escaped(key),
        }
    }
}

fn escaped(key: &Key) -> Option<Key> {
    if !key.labels().any(|l| l.value().contains('\\')) {
        return None;
    }
    let labels: Vec<Label> = key
        .labels()
        .map(|l| {
            let value = l.value();
            if value.contains('\\') {
                Label::new(l.key().to_owned(), value.replace('\\', "\\\\"))
            } else {
                l.clone()
            }
        })
        .collect();
    Some(Key::from_parts(key.name_shared(), labels))
}

impl Recorder for TmcRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        let resolved = self.resolve(key);
        let key = resolved.as_ref().unwrap_or(key);
        let handle = self.inner.register_counter(key, metadata);
        match &self.retention {
            Some(r) => r.counter(key, handle),
            None => handle,
        }
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        let resolved = self.resolve(key);
        let key = resolved.as_ref().unwrap_or(key);
        let handle = self.inner.register_gauge(key, metadata);
        match &self.retention {
            Some(r) => r.gauge(key, handle),
            None => handle,
        }
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        let resolved = self.resolve(key);
        let key = resolved.as_ref().unwrap_or(key);
        let handle = self.inner.register_histogram(key, metadata);
        match &self.retention {
            Some(r) => r.histogram(key, handle),
            None => handle,
        }
    }
}
