//! Configuration: invalid settings are refused, naming the field.

use crate::helpers::*;
use std::time::Duration;
use tmc_runtime::{Backoff, Controller};

#[test]
fn invalid_settings_should_be_refused_naming_the_field() {
    let c = || Controller::new("config", store(&[]));
    let message = |e: tmc_runtime::ConfigError| e.to_string();
    assert_eq!(
        message(c().concurrency(0).unwrap_err()),
        "invalid `concurrency`: must be at least 1"
    );
    assert!(message(c().timeout(Some(Duration::ZERO)).unwrap_err()).contains("`timeout`"));
    assert!(message(c().resync(Some(Duration::ZERO)).unwrap_err()).contains("`resync`"));
    let bad = Backoff {
        factor: 0.5,
        ..Backoff::default()
    };
    assert!(message(c().backoff(bad).unwrap_err()).contains("`backoff.factor`"));
    assert!(c().timeout(None).is_ok());
}
