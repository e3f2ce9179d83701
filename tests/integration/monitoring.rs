//! The monitoring pack under `deploy/`: Prometheus rules and their unit tests, the scrape
//! configuration, the Alertmanager example, the ServiceMonitor, the Grafana dashboards and the
//! queries of `docs/monitoring.md`, all checked with Prometheus's own tools (`promtool`,
//! `amtool`) and a real Prometheus server scraping a DataMover run.
//!
//! On a developer machine without the tools each test prints a loud `SKIPPED` line and
//! passes; in CI (`CI=true`, where `.ci/run` installs the Debian packages `prometheus` and
//! `prometheus-alertmanager`) a missing tool fails the test.

mod dashboards;
mod promql;
mod rules;
mod server;
mod support;
