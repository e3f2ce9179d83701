//! Validation of names, label names and buckets against the Prometheus data model.

use thiserror::Error;

/// Why a metric name, label name or bucket list was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("{what} is empty: use letters, digits and underscores, e.g. `my_operations_total`")]
    Empty {
        /// `metric name` or `label name`.
        what: &'static str,
    },
    /// The name starts with `__`, which Prometheus reserves for internal use.
    #[error(
        "{what} `{name}` starts with `__`, which Prometheus reserves: drop the leading underscores"
    )]
    Reserved {
        /// `metric name` or `label name`.
        what: &'static str,
        /// The refused name.
        name: String,
    },
    /// The name has a character outside the data model.
    #[error(
        "{what} `{name}` has {found:?} at byte {at}: the name must match `{pattern}` \
         (ASCII letters, digits, underscores; no leading digit)"
    )]
    InvalidChar {
        /// `metric name` or `label name`.
        what: &'static str,
        /// The refused name.
        name: String,
        /// The offending character.
        found: char,
        /// Its byte offset.
        at: usize,
        /// The accepted pattern.
        pattern: &'static str,
    },
    /// A label name that exposition uses for its own purposes.
    #[error(
        "label name `{0}` is reserved for histogram buckets and summary quantiles: choose another"
    )]
    ReservedLabel(String),
    /// A count that must be at least 1.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// A bucket list that is empty, not finite or not strictly increasing.
    #[error(
        "buckets {0}: give finite upper bounds in strictly increasing order, e.g. [0.1, 1, 10]"
    )]
    Buckets(&'static str),
    /// A native histogram setting out of range.
    #[error("native histogram: {0}")]
    NativeHistogram(&'static str),
}

const METRIC_PATTERN: &str = "[a-zA-Z_][a-zA-Z0-9_]*";
const LABEL_PATTERN: &str = "[a-zA-Z_][a-zA-Z0-9_]*";

fn check(what: &'static str, name: &str, pattern: &'static str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty { what });
    }
    if name.starts_with("__") {
        return Err(NameError::Reserved {
            what,
            name: name.to_owned(),
        });
    }
    for (at, c) in name.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (at > 0 && c.is_ascii_digit());
        if !ok {
            return Err(NameError::InvalidChar {
                what,
                name: name.to_owned(),
                found: c,
                at,
                pattern,
            });
        }
    }
    Ok(())
}

/// Checks a metric name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
///
/// Colons are valid in the Prometheus data model but reserved for recording rules, so they
/// are refused here.
///
/// # Errors
/// A [`NameError`] naming the offending character or the reserved prefix.
///
/// ```
/// use tmc_metrics::validate::metric_name;
/// assert!(metric_name("jobs_done_total").is_ok());
/// let err = metric_name("jobs-done").unwrap_err();
/// assert!(err.to_string().contains("'-' at byte 4"));
/// ```
pub fn metric_name(name: &str) -> Result<(), NameError> {
    check("metric name", name, METRIC_PATTERN)
}

/// Checks a label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
///
/// # Errors
/// A [`NameError`] naming the offending character or the reserved prefix.
pub fn label_name(name: &str) -> Result<(), NameError> {
    check("label name", name, LABEL_PATTERN)
}

/// The most buckets a native histogram may be given before its schema is lowered.
pub const MAX_NATIVE_BUCKETS: u32 = 32_768;

/// Checks a native histogram's settings: schema -4 to 8, a finite zero threshold of at least
/// 0, and 1 to [`MAX_NATIVE_BUCKETS`] buckets.
///
/// # Errors
/// [`NameError::NativeHistogram`] saying which setting is out of range and what fits.
///
/// ```
/// use tmc_metrics::catalog::NativeHistogram;
/// use tmc_metrics::validate::native_histogram;
/// assert!(native_histogram(&NativeHistogram::DEFAULT).is_ok());
/// let err = native_histogram(&NativeHistogram { schema: 9, ..NativeHistogram::DEFAULT });
/// assert!(err.unwrap_err().to_string().contains("schema must be from -4 to 8"));
/// ```
pub fn native_histogram(spec: &crate::catalog::NativeHistogram) -> Result<(), NameError> {
    use crate::catalog::NativeHistogram as N;
    if !(N::MIN_SCHEMA..=N::MAX_SCHEMA).contains(&spec.schema) {
        return Err(NameError::NativeHistogram(
            "schema must be from -4 to 8 (each step up halves the bucket width; 3 is the default)",
        ));
    }
    if !(spec.zero_threshold.is_finite() && spec.zero_threshold >= 0.0) {
        return Err(NameError::NativeHistogram(
            "zero_threshold must be finite and at least 0 (default 2^-128)",
        ));
    }
    if !(1..=MAX_NATIVE_BUCKETS).contains(&spec.max_buckets) {
        return Err(NameError::NativeHistogram(
            "max_buckets must be from 1 to 32768 (default 160)",
        ));
    }
    Ok(())
}

/// Checks histogram buckets: non-empty, finite, strictly increasing.
///
/// # Errors
/// [`NameError::Buckets`] saying which rule the list breaks.
pub fn buckets(buckets: &[f64]) -> Result<(), NameError> {
    if buckets.is_empty() {
        return Err(NameError::Buckets("are empty"));
    }
    if buckets.iter().any(|b| !b.is_finite()) {
        return Err(NameError::Buckets(
            "include a NaN or infinite bound (+Inf is added for you)",
        ));
    }
    if buckets.windows(2).any(|w| w[0] >= w[1]) {
        return Err(NameError::Buckets("are not strictly increasing"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refuses_reserved_prefix_and_names_the_fix() {
        let err = metric_name("__name__").unwrap_err();
        assert_eq!(
            err.to_string(),
            "metric name `__name__` starts with `__`, which Prometheus reserves: drop the leading underscores"
        );
        assert!(matches!(
            label_name("__meta"),
            Err(NameError::Reserved { .. })
        ));
    }

    #[test]
    fn refuses_leading_digit_colon_and_unicode() {
        assert!(matches!(
            metric_name("1abc"),
            Err(NameError::InvalidChar {
                found: '1',
                at: 0,
                ..
            })
        ));
        assert!(matches!(
            metric_name("a:b"),
            Err(NameError::InvalidChar { found: ':', .. })
        ));
        assert!(matches!(
            label_name("café"),
            Err(NameError::InvalidChar { found: 'é', .. })
        ));
        assert!(matches!(label_name(""), Err(NameError::Empty { .. })));
    }

    #[test]
    fn bucket_rules() {
        assert!(buckets(&[0.1, 1.0]).is_ok());
        assert!(buckets(&[]).is_err());
        assert!(buckets(&[1.0, 1.0]).is_err());
        assert!(buckets(&[1.0, f64::INFINITY]).is_err());
        assert!(buckets(&[f64::NAN]).is_err());
    }

    proptest! {
        #[test]
        fn accepts_exactly_the_data_model(name in "\\PC{0,12}") {
            let model = {
                let mut chars = name.chars();
                match chars.next() {
                    Some(c) if c == '_' || c.is_ascii_alphabetic() => {
                        chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
                    }
                    _ => false,
                }
            } && !name.starts_with("__");
            prop_assert_eq!(metric_name(&name).is_ok(), model);
            prop_assert_eq!(label_name(&name).is_ok(), model);
        }

        #[test]
        fn accepts_generated_valid_names(name in "[a-zA-Z][a-zA-Z0-9_]{0,20}") {
            prop_assert!(metric_name(&name).is_ok());
            prop_assert!(label_name(&name).is_ok());
        }
    }
}
