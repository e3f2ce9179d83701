//! The schedule gauges: `datamover_schedule_seconds_since_last_success` and
//! `datamover_schedule_interval_seconds`, from the schedules' status, refreshed every
//! period, so the staleness alert compares one with twice the other.

use super::DataMoverSchedule;
use super::clock::Clock;
use super::cron::CronSchedule;
use crate::time;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::MetricsCollector;
use tmc_runtime::Store;

/// Per schedule (namespace, name): seconds since its last successful run (since it was
/// created when none succeeded yet), and the interval between its runs; `None` for a
/// suspended schedule or one whose pattern does not parse.
#[must_use]
pub fn freshness(schedule: &DataMoverSchedule, now_ms: u64) -> Option<(f64, f64)> {
    if schedule.spec.suspend {
        return None;
    }
    let cron = CronSchedule::parse(&schedule.spec.schedule).ok()?;
    let since = time::parse_rfc3339(&schedule.status.last_successful_time)
        .or_else(|| time::parse_rfc3339(&schedule.metadata.creation_timestamp))?;
    let interval = cron.interval_after(now_ms)?;
    #[allow(clippy::cast_precision_loss)] // seconds, exact below 2^53
    Some((
        now_ms.saturating_sub(since) as f64 / 1000.0,
        interval as f64 / 1000.0,
    ))
}

/// Sets the gauges from `schedules` every `period`, until dropped. A schedule deleted or
/// suspended reads 0 seconds since success (so nothing alerts on it), then is left to the
/// exporter's retention.
pub async fn run(
    schedules: impl Store<DataMoverSchedule>,
    clock: Arc<dyn Clock>,
    metrics: MetricsCollector,
    period: Duration,
) {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = clock.now_ms();
        let mut live = BTreeSet::new();
        for s in schedules.list() {
            let key = (s.metadata.namespace.clone(), s.metadata.name.clone());
            if let Some((since, interval)) = freshness(&s, now) {
                metrics.datamover_schedule_freshness(&key.1, &key.0, since, interval);
                live.insert(key);
            }
        }
        for (ns, name) in seen.difference(&live) {
            metrics.datamover_schedule_freshness(name, ns, 0.0, 0.0);
        }
        seen = live;
    }
}
