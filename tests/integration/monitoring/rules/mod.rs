//! The Prometheus rules, their promtool unit tests, `prometheus.yml`, the ServiceMonitor and
//! the Alertmanager example.

// The tests below name `super::support::…`, as they did in one file.
use super::support;
use std::path::Path;

mod alerting;
mod coverage;
mod mutations;
mod promtool;
mod seed_alerts;

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}
