//! Custom metrics: counter, gauge and histogram families registered by name at run time.
//!
//! ```
//! use tmc_metrics::Metrics;
//!
//! let metrics = Metrics::builder().build()?;
//! let ops = metrics.custom().register_counter(
//!     "tmc_custom_operations_total",
//!     "Total number of custom operations.",
//!     &["operation_type", "cluster"],
//! )?;
//! ops.counter(&["special-sync", "prod-cluster"])?.increment(1);
//!
//! // Later, anywhere that has the registry:
//! let same = metrics.custom().get("tmc_custom_operations_total").unwrap();
//! same.counter(&["batch-operation", "staging-cluster"])?.increment(5);
//!
//! let text = metrics.render();
//! assert!(text.contains(
//!     r#"tmc_custom_operations_total{operation_type="batch-operation",cluster="staging-cluster"} 5"#
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::catalog::{self, MetricKind};
use crate::registry::Registry;
use crate::validate::{self, NameError};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Recorder, SharedString};
use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use thiserror::Error;

/// Why a custom metric was refused.
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum CustomMetricError {
    /// The metric name, a label name or the buckets break the Prometheus data model.
    #[error("custom metric `{name}`: {source}")]
    Invalid {
        /// The metric concerned.
        name: String,
        /// What was wrong.
        #[source]
        source: NameError,
    },
    /// The name belongs to a catalog family or one of its series.
    #[error(
        "custom metric `{name}` clashes with the catalog family `{family}`: choose a name of \
         your own, e.g. prefixed with your component (`myapp_...`)"
    )]
    InCatalog {
        /// The refused name.
        name: String,
        /// The catalog family it clashes with.
        family: &'static str,
    },
    /// The help text is empty.
    #[error("custom metric `{name}`: help text is empty; say what the metric counts or measures")]
    EmptyHelp {
        /// The metric concerned.
        name: String,
    },
    /// A counter name without `_total`, or another kind with it.
    #[error(
        "custom metric `{name}`: a {kind} {rule} (Prometheus naming; promtool check metrics \
         rejects it)"
    )]
    Suffix {
        /// The metric concerned.
        name: String,
        /// Its kind.
        kind: MetricKind,
        /// The rule it breaks.
        rule: &'static str,
    },
    /// The name is already registered with another type, labels or buckets.
    #[error(
        "custom metric `{name}` is already registered as {existing}; a second registration must \
         give the same type, labels and buckets (asked for {requested})"
    )]
    Conflict {
        /// The metric concerned.
        name: String,
        /// What is registered.
        existing: String,
        /// What was asked for.
        requested: String,
    },
    /// The metric was used as another kind than it was registered as.
    #[error("custom metric `{name}` is a {actual}, not a {requested}")]
    WrongKind {
        /// The metric concerned.
        name: String,
        /// Its registered kind.
        actual: MetricKind,
        /// The kind asked for.
        requested: MetricKind,
    },
    /// The wrong number of label values.
    #[error("custom metric `{name}` takes {expected} label values ({labels}), got {got}")]
    LabelCount {
        /// The metric concerned.
        name: String,
        /// How many it takes.
        expected: usize,
        /// Its label names, comma-separated.
        labels: String,
        /// How many were given.
        got: usize,
    },
}

/// A registered custom metric family. Cheap to clone.
#[derive(Clone, Debug)]
pub struct CustomMetric {
    inner: Arc<Family>,
}

#[derive(Debug)]
struct Family {
    name: SharedString,
    kind: MetricKind,
    help: String,
    labels: Vec<SharedString>,
    buckets: Vec<f64>,
    /// The one registry every family records into.
    registry: Arc<Registry>,
}

impl Family {
    fn describe(&self) -> String {
        let mut s = format!("a {} with labels [{}]", self.kind, self.labels.join(", "));
        if self.kind == MetricKind::Histogram {
            s.push_str(&format!(" and buckets {:?}", self.buckets));
        }
        s
    }
}

impl CustomMetric {
    /// The exposition name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Counter, gauge or histogram.
    #[must_use]
    pub fn kind(&self) -> MetricKind {
        self.inner.kind
    }

    /// The help text.
    #[must_use]
    pub fn help(&self) -> &str {
        &self.inner.help
    }

    /// The label names, in order.
    #[must_use]
    pub fn label_names(&self) -> Vec<&str> {
        self.inner.labels.iter().map(|l| &**l).collect()
    }

    /// The histogram buckets (empty for counters and gauges).
    #[must_use]
    pub fn buckets(&self) -> &[f64] {
        &self.inner.buckets
    }

    fn key(&self, requested: MetricKind, values: &[&str]) -> Result<Key, CustomMetricError> {
        let f = &*self.inner;
        if f.kind != requested {
            return Err(CustomMetricError::WrongKind {
                name: f.name.to_string(),
                actual: f.kind,
                requested,
            });
        }
        if values.len() != f.labels.len() {
            return Err(CustomMetricError::LabelCount {
                name: f.name.to_string(),
                expected: f.labels.len(),
                labels: f.labels.join(", "),
                got: values.len(),
            });
        }
        let labels: Vec<Label> = f
            .labels
            .iter()
            .zip(values)
            .map(|(k, v)| Label::new(k.clone(), (*v).to_owned()))
            .collect();
        Ok(Key::from_parts(KeyName::from(f.name.clone()), labels))
    }

    /// The counter for these label values; keep it to record without a lookup.
    ///
    /// # Errors
    /// [`CustomMetricError::WrongKind`] or [`CustomMetricError::LabelCount`].
    pub fn counter(&self, label_values: &[&str]) -> Result<Counter, CustomMetricError> {
        let key = self.key(MetricKind::Counter, label_values)?;
        Ok(self
            .inner
            .registry
            .register_counter(&key, &crate::collector::METADATA))
    }

    /// The gauge for these label values.
    ///
    /// # Errors
    /// [`CustomMetricError::WrongKind`] or [`CustomMetricError::LabelCount`].
    pub fn gauge(&self, label_values: &[&str]) -> Result<Gauge, CustomMetricError> {
        let key = self.key(MetricKind::Gauge, label_values)?;
        Ok(self
            .inner
            .registry
            .register_gauge(&key, &crate::collector::METADATA))
    }

    /// The histogram for these label values.
    ///
    /// # Errors
    /// [`CustomMetricError::WrongKind`] or [`CustomMetricError::LabelCount`].
    pub fn histogram(&self, label_values: &[&str]) -> Result<Histogram, CustomMetricError> {
        let key = self.key(MetricKind::Histogram, label_values)?;
        Ok(self
            .inner
            .registry
            .register_histogram(&key, &crate::collector::METADATA))
    }
}

/// The run-time registry of custom metrics, reached through [`crate::Metrics::custom`].
#[derive(Debug)]
pub struct CustomMetrics {
    registry: Arc<Registry>,
    default_buckets: Vec<f64>,
    families: RwLock<BTreeMap<String, CustomMetric>>,
}

impl CustomMetrics {
    pub(crate) fn new(registry: Arc<Registry>, default_buckets: Vec<f64>) -> Self {
        Self {
            registry,
            default_buckets,
            families: RwLock::default(),
        }
    }

    /// Registers a counter family. The name must end in `_total`.
    ///
    /// Registering the same name again with the same labels returns the existing family.
    ///
    /// # Errors
    /// See [`CustomMetricError`]: invalid or reserved names, a catalog name, empty help,
    /// a conflicting earlier registration.
    pub fn register_counter(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<CustomMetric, CustomMetricError> {
        self.register(name, help, labels, MetricKind::Counter, &[])
    }

    /// Registers a gauge family. The name must not end in `_total`.
    ///
    /// # Errors
    /// As [`register_counter`](Self::register_counter).
    pub fn register_gauge(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<CustomMetric, CustomMetricError> {
        self.register(name, help, labels, MetricKind::Gauge, &[])
    }

    /// Registers a histogram family with its own buckets (empty: the builder's default
    /// buckets). It renders with `_bucket`, `_sum` and `_count` series.
    ///
    /// # Errors
    /// As [`register_counter`](Self::register_counter), and for buckets that are not finite and
    /// strictly increasing, or a label named `le`.
    pub fn register_histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<CustomMetric, CustomMetricError> {
        let buckets = if buckets.is_empty() {
            &self.default_buckets[..]
        } else {
            buckets
        };
        self.register(name, help, labels, MetricKind::Histogram, buckets)
    }

    /// The family registered under `name`.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<CustomMetric> {
        self.families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// The names of every registered family, sorted.
    #[must_use]
    pub fn names(&self) -> Vec<String> {
        self.families
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    fn register(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        kind: MetricKind,
        buckets: &[f64],
    ) -> Result<CustomMetric, CustomMetricError> {
        let invalid = |source| CustomMetricError::Invalid {
            name: name.to_owned(),
            source,
        };
        validate::metric_name(name).map_err(invalid)?;
        for label in labels {
            validate::label_name(label).map_err(invalid)?;
            if *label == "le" || *label == "quantile" {
                return Err(invalid(NameError::ReservedLabel((*label).to_owned())));
            }
        }
        if let Some(family) = catalog::family_of_series(name) {
            return Err(CustomMetricError::InCatalog {
                name: name.to_owned(),
                family: family.name,
            });
        }
        if kind == MetricKind::Histogram {
            validate::buckets(buckets).map_err(invalid)?;
        }
        if help.trim().is_empty() {
            return Err(CustomMetricError::EmptyHelp {
                name: name.to_owned(),
            });
        }
        let total = name.ends_with("_total");
        if (kind == MetricKind::Counter) != total {
            let rule = if total {
                "must not end in `_total`"
            } else {
                "must end in `_total`"
            };
            return Err(CustomMetricError::Suffix {
                name: name.to_owned(),
                kind,
                rule,
            });
        }

        let mut families = self
            .families
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = families.get(name) {
            let e = &existing.inner;
            if e.kind == kind
                && e.labels.iter().map(|l| &**l).eq(labels.iter().copied())
                && (kind != MetricKind::Histogram || e.buckets == buckets)
            {
                return Ok(existing.clone());
            }
            let requested = Family {
                name: SharedString::from(name.to_owned()),
                kind,
                help: String::new(),
                labels: labels
                    .iter()
                    .map(|l| SharedString::from((*l).to_owned()))
                    .collect(),
                buckets: buckets.to_vec(),
                registry: self.registry.clone(),
            };
            return Err(CustomMetricError::Conflict {
                name: name.to_owned(),
                existing: e.describe(),
                requested: requested.describe(),
            });
        }

        self.registry
            .declare(name, kind, help, buckets)
            .map_err(|clash| CustomMetricError::Conflict {
                name: name.to_owned(),
                existing: format!("a {} recorded through the `metrics` facade", clash.0),
                requested: format!("a {kind}"),
            })?;
        let metric = CustomMetric {
            inner: Arc::new(Family {
                name: SharedString::from(name.to_owned()),
                kind,
                help: help.to_owned(),
                labels: labels
                    .iter()
                    .map(|l| SharedString::from((*l).to_owned()))
                    .collect(),
                buckets: buckets.to_vec(),
                registry: self.registry.clone(),
            }),
        };
        families.insert(name.to_owned(), metric.clone());
        Ok(metric)
    }
}
