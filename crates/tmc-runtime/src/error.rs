//! Configuration errors.

use thiserror::Error;

/// A controller setting that was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The named setting has a value outside its range.
    #[error("invalid `{field}`: {problem}")]
    Invalid {
        /// The setting, e.g. `concurrency` or `backoff.factor`.
        field: &'static str,
        /// What is wrong with the value.
        problem: String,
    },
}

impl ConfigError {
    pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            problem: problem.into(),
        }
    }
}
