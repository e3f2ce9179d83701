//! Retention: series nothing has recorded into for a while are left out of the exposition.
//!
//! Each series' handle is wrapped once, on registration, to stamp a coarse clock on every
//! update. Rendering leaves out the series whose last update is older than the retention
//! period. Nothing is deleted: a handle kept by a layer or an operation keeps working, and a
//! series recorded into again comes back with its accumulated value (a counter is never
//! reset). Memory stays bounded by the per-family series cap.

use metrics::{Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key};
use metrics_exporter_prometheus::formatting::{sanitize_label_key, sanitize_label_value};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// A monotonic time source for retention: the time elapsed since some fixed start.
///
/// ```
/// use std::sync::{Arc, atomic::{AtomicU64, Ordering}};
/// use std::time::Duration;
///
/// // A clock a test advances by hand.
/// let secs = Arc::new(AtomicU64::new(0));
/// let now = secs.clone();
/// let clock = tmc_metrics::Clock::new(move || Duration::from_secs(now.load(Ordering::Relaxed)));
/// let metrics = tmc_metrics::Metrics::builder().retention(Some(Duration::from_secs(60))).clock(clock).build()?;
/// # Ok::<(), tmc_metrics::MetricsError>(())
/// ```
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Duration + Send + Sync>);

impl Clock {
    /// A clock reading `now`.
    pub fn new(now: impl Fn() -> Duration + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    fn now(&self) -> Duration {
        (self.0)()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// The monotonic clock: time since the recorder was built.
pub(crate) fn real_clock() -> Clock {
    let start = std::time::Instant::now();
    Clock::new(move || start.elapsed())
}

struct Activity {
    key: Key,
    histogram: bool,
    /// Coarse clock (seconds) of the last update.
    last: AtomicU64,
    now: Arc<AtomicU64>,
}

impl Activity {
    fn touch(&self) {
        self.last
            .store(self.now.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

struct Tracked<H> {
    inner: H,
    activity: Arc<Activity>,
}

impl CounterFn for Tracked<Counter> {
    fn increment(&self, value: u64) {
        self.activity.touch();
        self.inner.increment(value);
    }

    fn absolute(&self, value: u64) {
        self.activity.touch();
        self.inner.absolute(value);
    }
}

impl GaugeFn for Tracked<Gauge> {
    fn increment(&self, value: f64) {
        self.activity.touch();
        self.inner.increment(value);
    }

    fn decrement(&self, value: f64) {
        self.activity.touch();
        self.inner.decrement(value);
    }

    fn set(&self, value: f64) {
        self.activity.touch();
        self.inner.set(value);
    }
}

impl HistogramFn for Tracked<Histogram> {
    fn record(&self, value: f64) {
        self.activity.touch();
        self.inner.record(value);
    }
}

/// The retention of one recorder.
pub(crate) struct Retention {
    period: u64,
    clock: Clock,
    now: Arc<AtomicU64>,
    series: Mutex<HashMap<u64, Arc<Activity>>>,
    global_labels: Vec<(String, String)>,
}

impl fmt::Debug for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retention")
            .field("period_secs", &self.period)
            .finish_non_exhaustive()
    }
}

impl Retention {
    pub(crate) fn new(
        period: Duration,
        clock: Clock,
        global_labels: Vec<(String, String)>,
    ) -> Self {
        let now = Arc::new(AtomicU64::new(clock.now().as_secs()));
        Self {
            period: period.as_secs().max(1),
            clock,
            now,
            series: Mutex::default(),
            global_labels,
        }
    }

    /// Advances the coarse clock; called on upkeep and render.
    pub(crate) fn tick(&self) {
        self.now
            .store(self.clock.now().as_secs(), Ordering::Relaxed);
    }

    fn activity(&self, key: &Key, histogram: bool) -> Arc<Activity> {
        let mut series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        series
            .entry(key.get_hash())
            .or_insert_with(|| {
                Arc::new(Activity {
                    key: key.clone(),
                    histogram,
                    last: AtomicU64::new(self.now.load(Ordering::Relaxed)),
                    now: self.now.clone(),
                })
            })
            .clone()
    }

    pub(crate) fn counter(&self, key: &Key, inner: Counter) -> Counter {
        Counter::from_arc(Arc::new(Tracked {
            inner,
            activity: self.activity(key, false),
        }))
    }

    pub(crate) fn gauge(&self, key: &Key, inner: Gauge) -> Gauge {
        Gauge::from_arc(Arc::new(Tracked {
            inner,
            activity: self.activity(key, false),
        }))
    }

    pub(crate) fn histogram(&self, key: &Key, inner: Histogram) -> Histogram {
        Histogram::from_arc(Arc::new(Tracked {
            inner,
            activity: self.activity(key, true),
        }))
    }

    /// The rendered identities (see [`series_id`]) of every series idle past the period.
    pub(crate) fn stale(&self, into: &mut HashSet<String>) {
        let now = self.now.load(Ordering::Relaxed);
        let series = self.series.lock().unwrap_or_else(PoisonError::into_inner);
        for a in series.values() {
            if now.saturating_sub(a.last.load(Ordering::Relaxed)) <= self.period {
                continue;
            }
            let mut labels: Vec<(String, String)> = self.global_labels.clone();
            for l in a.key.labels() {
                match labels.iter_mut().find(|(k, _)| k == l.key()) {
                    Some(existing) => existing.1 = l.value().to_owned(),
                    None => labels.push((l.key().to_owned(), l.value().to_owned())),
                }
            }
            let text: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{}=\"{}\"", sanitize_label_key(k), sanitize_label_value(v)))
                .collect();
            let braces = if text.is_empty() {
                String::new()
            } else {
                format!("{{{}}}", text.join(","))
            };
            let name = a.key.name();
            if a.histogram {
                for suffix in ["_bucket", "_sum", "_count"] {
                    into.insert(format!("{name}{suffix}{braces}"));
                }
            } else {
                into.insert(format!("{name}{braces}"));
            }
        }
    }
}

/// The identity of an exposition line: its name and labels, without the value and without
/// a histogram bucket's `le` label.
pub(crate) fn series_id(line: &str) -> String {
    let head = match line.rfind("} ") {
        Some(end) if line.contains('{') => &line[..=end],
        _ => line.split(' ').next().unwrap_or_default(),
    };
    match head.rfind("le=\"") {
        Some(at) if head.ends_with("\"}") => {
            let before = &head[..at];
            match before.strip_suffix(',') {
                Some(rest) => format!("{rest}}}"),
                None => before.strip_suffix('{').unwrap_or(before).to_owned(),
            }
        }
        _ => head.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::series_id;

    #[test]
    fn series_ids_drop_the_value_and_the_bucket_bound() {
        assert_eq!(series_id("a_total 3"), "a_total");
        assert_eq!(series_id(r#"a_total{x="1 2"} 3"#), r#"a_total{x="1 2"}"#);
        assert_eq!(
            series_id(r#"h_bucket{x="y",le="0.5"} 3"#),
            r#"h_bucket{x="y"}"#
        );
        assert_eq!(series_id(r#"h_bucket{le="+Inf"} 3"#), "h_bucket");
        assert_eq!(series_id(r#"h_sum{x="y"} 0.5"#), r#"h_sum{x="y"}"#);
    }
}
