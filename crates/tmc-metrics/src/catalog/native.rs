//! Native histograms: which catalog families get them, at what resolution.
//!
//! A native histogram (Prometheus's sparse, exponential histogram) is rendered beside the
//! classic buckets in the protobuf exposition only; the text format and OpenMetrics keep the
//! classic buckets alone. The latency families listed in [`NATIVE_HISTOGRAMS`] get one by
//! default; `MetricsBuilder::native_histogram` sets or removes one for any family.

use super::{
    CONTROLLER_RUNTIME_RECONCILE_TIME_SECONDS, DATAMOVER_PHASE_DURATION_SECONDS,
    HTTP_SERVER_REQUEST_DURATION_SECONDS, MetricDef, TMC_API_REQUEST_DURATION_SECONDS,
    TMC_COMPONENT_OPERATION_DURATION_SECONDS,
};

/// The shape of a native histogram: its resolution, its zero bucket and its bucket budget.
///
/// Bucket `i` of schema `s` holds the observations in `(2^((i-1)/2^s), 2^(i/2^s)]` (and their
/// negatives in the negative buckets); the zero bucket holds `[-zero_threshold,
/// zero_threshold]`. When more than `max_buckets` buckets are populated, the schema is
/// lowered by one, merging neighbours in pairs, as `client_golang` does with
/// `NativeHistogramMaxBucketNumber`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NativeHistogram {
    /// The resolution, -4 (each bucket 65,536 times as wide as the previous) to 8 (2^(1/256)):
    /// each step up halves the bucket width. Default: 3 (buckets grow by 2^(1/8) ≈ 9 %).
    pub schema: i8,
    /// Observations with an absolute value up to this land in the zero bucket. Default:
    /// 2^-128, `client_golang`'s default.
    pub zero_threshold: f64,
    /// The most populated buckets (positive and negative together) before the schema is
    /// lowered. Default: 160, `client_golang`'s usual setting.
    pub max_buckets: u32,
}

impl NativeHistogram {
    /// Schema 3, zero threshold 2^-128, 160 buckets at most.
    pub const DEFAULT: Self = Self {
        schema: 3,
        zero_threshold: 2.938_735_877_055_719e-39,
        max_buckets: 160,
    };

    /// The lowest schema: each bucket 2^16 times as wide as the previous.
    pub const MIN_SCHEMA: i8 = -4;
    /// The highest schema: each bucket 2^(1/256) times as wide as the previous.
    pub const MAX_SCHEMA: i8 = 8;

    /// The ratio of a bucket's upper bound to its lower bound at `schema`: `2^(2^-schema)`.
    #[must_use]
    pub fn growth(schema: i8) -> f64 {
        2f64.powf(2f64.powi(-i32::from(schema)))
    }
}

impl Default for NativeHistogram {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The catalog families with a native histogram by default: the latencies of API requests,
/// operations, reconciles and DataMover phases, and OpenTelemetry's
/// `http_server_request_duration_seconds`.
pub static NATIVE_HISTOGRAMS: &[(&MetricDef, NativeHistogram)] = &[
    (&TMC_API_REQUEST_DURATION_SECONDS, NativeHistogram::DEFAULT),
    (
        &HTTP_SERVER_REQUEST_DURATION_SECONDS,
        NativeHistogram::DEFAULT,
    ),
    (
        &TMC_COMPONENT_OPERATION_DURATION_SECONDS,
        NativeHistogram::DEFAULT,
    ),
    (
        &CONTROLLER_RUNTIME_RECONCILE_TIME_SECONDS,
        NativeHistogram::DEFAULT,
    ),
    (&DATAMOVER_PHASE_DURATION_SECONDS, NativeHistogram::DEFAULT),
];

impl MetricDef {
    /// The native histogram this family has by default in the protobuf exposition, if any.
    ///
    /// ```
    /// use tmc_metrics::catalog::{self, NativeHistogram};
    /// let api = catalog::find("tmc_api_request_duration_seconds").unwrap();
    /// assert_eq!(api.native_histogram(), Some(NativeHistogram::DEFAULT));
    /// assert_eq!(catalog::find("tmc_api_requests_total").unwrap().native_histogram(), None);
    /// ```
    #[must_use]
    pub fn native_histogram(&self) -> Option<NativeHistogram> {
        NATIVE_HISTOGRAMS
            .iter()
            .find(|(def, _)| def.name == self.name)
            .map(|(_, native)| *native)
    }
}
