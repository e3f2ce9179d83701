//! The monitoring pack under `deploy/`: Prometheus rules and their unit tests, the scrape
//! configuration, the Alertmanager example, the ServiceMonitor, the Grafana dashboards and the
//! queries of `docs/monitoring.md`, all checked with Prometheus's own tools (`promtool`,
//! `amtool`) and a real Prometheus server scraping a DataMover run.
//!
//! Without the tools (the Debian packages `prometheus` and `prometheus-alertmanager`) each
//! test fails, naming the install command; `scripts/test.sh` installs them when run as root.

mod dashboards;
mod formats;
mod native;
mod promql;
mod rules;
mod semconv;
mod server;
mod support;
