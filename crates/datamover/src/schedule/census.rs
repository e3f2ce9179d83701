//! The schedule gauges: `datamover_schedule_seconds_since_last_success`,
//! `datamover_schedule_seconds_since_last_verified` and
//! `datamover_schedule_interval_seconds`, from the schedules' status, refreshed every
//! period, so the staleness alerts compare each age with twice the interval.

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

/// Seconds since a schedule's backups last passed their check (`spec.verify`; since the
/// schedule was created when none did yet); `None` when it verifies nothing, is suspended,
/// or its pattern does not parse.
#[must_use]
pub fn verification_age(schedule: &DataMoverSchedule, now_ms: u64) -> Option<f64> {
    if schedule.spec.verify.is_none() || schedule.spec.suspend {
        return None;
    }
    CronSchedule::parse(&schedule.spec.schedule).ok()?;
    let since = time::parse_rfc3339(&schedule.status.last_verified_time)
        .or_else(|| time::parse_rfc3339(&schedule.metadata.creation_timestamp))?;
    #[allow(clippy::cast_precision_loss)] // seconds, exact below 2^53
    Some(now_ms.saturating_sub(since) as f64 / 1000.0)
}

/// Sets the gauges from `schedules` every `period`, until dropped. A schedule deleted or
/// suspended reads 0 seconds since success and since verification (so nothing alerts on
/// it), then is left to the
/// exporter's retention. `datamover_schedule_backups_retained` is what the last prune kept
/// (`status.retention`); 0 once the schedule is deleted.
pub async fn run(
    schedules: impl Store<DataMoverSchedule>,
    clock: Arc<dyn Clock>,
    metrics: MetricsCollector,
    period: Duration,
) {
    let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
    let mut seen_retained: BTreeSet<(String, String)> = BTreeSet::new();
    let mut seen_verified: BTreeSet<(String, String)> = BTreeSet::new();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = clock.now_ms();
        let mut live = BTreeSet::new();
        let mut retained = BTreeSet::new();
        let mut verified = BTreeSet::new();
        for s in schedules.list() {
            let key = (s.metadata.namespace.clone(), s.metadata.name.clone());
            if let Some(age) = verification_age(&s, now) {
                metrics.datamover_schedule_verification_age(&key.1, &key.0, age);
                verified.insert(key.clone());
            }
            // The backups the last prune kept, from the status: right after a restart too.
            // A schedule with retention is remembered as soon as it is seen (its first prune
            // may come and be recorded between two ticks), so its deletion zeroes the gauge.
            if let Some(r) = s.status.retention.as_ref().filter(|r| r.error.is_empty()) {
                metrics.datamover_schedule_pruned(&key.1, &key.0, 0, r.kept.len() as u64);
            }
            if s.spec.retention.is_some() || s.status.retention.is_some() {
                retained.insert(key.clone());
            }
            if let Some((since, interval)) = freshness(&s, now) {
                metrics.datamover_schedule_freshness(&key.1, &key.0, since, interval);
                live.insert(key);
            }
        }
        for (ns, name) in seen.difference(&live) {
            metrics.datamover_schedule_freshness(name, ns, 0.0, 0.0);
        }
        for (ns, name) in seen_retained.difference(&retained) {
            metrics.datamover_schedule_pruned(name, ns, 0, 0);
        }
        // No longer verifying (or suspended, or deleted): 0, which never alerts.
        for (ns, name) in seen_verified.difference(&verified) {
            metrics.datamover_schedule_verification_age(name, ns, 0.0);
        }
        seen_verified = verified;
        seen = live;
        seen_retained = retained;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::schedule::clock::TokioClock;
    use crate::schedule::retention::RetentionStatus;
    use tmc_runtime::{MemoryStore, ObjectKey};

    #[test]
    fn verification_age_counts_from_the_last_verified_backup_only_when_verifying() {
        let mut s = DataMoverSchedule::default();
        s.metadata.creation_timestamp = "2026-11-30T00:00:00Z".into();
        s.spec.schedule = "@daily".into();
        let at = |t: &str| crate::time::parse_rfc3339(t).unwrap();
        let now = at("2026-12-02T00:00:00Z");
        assert_eq!(verification_age(&s, now), None, "verify: none");
        s.spec.verify = crate::types::Verify::Checksum;
        assert_eq!(
            verification_age(&s, now),
            Some(2.0 * 86_400.0),
            "since creation"
        );
        s.status.last_verified_time = "2026-12-01T23:00:00Z".into();
        assert_eq!(verification_age(&s, now), Some(3_600.0));
        s.spec.suspend = true;
        assert_eq!(verification_age(&s, now), None, "suspended");
    }

    #[tokio::test(start_paused = true)]
    async fn retained_reads_the_last_prune_and_zero_once_the_schedule_is_deleted() {
        let store = MemoryStore::<DataMoverSchedule>::new();
        let mut s = DataMoverSchedule::default();
        s.metadata.namespace = "prod".into();
        s.metadata.name = "nightly".into();
        s.metadata.creation_timestamp = "2026-11-30T00:00:00Z".into();
        s.spec.schedule = "@daily".into();
        s.status.retention = Some(RetentionStatus {
            kept: vec!["2026-11-30-030000".into(), "2026-11-29-030000".into()],
            ..RetentionStatus::default()
        });
        store.apply(s);
        let metrics = tmc_metrics::Metrics::builder().build().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(1_796_040_030_000));
        let task = tokio::spawn(run(
            store.clone(),
            clock,
            metrics.collector(),
            Duration::from_secs(5),
        ));
        let line = r#"datamover_schedule_backups_retained{schedule="nightly",namespace="prod"}"#;
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(
            metrics.render().contains(&format!("{line} 2")),
            "{}",
            metrics.render()
        );
        store.delete(&ObjectKey::namespaced("prod", "nightly"));
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(
            metrics.render().contains(&format!("{line} 0")),
            "{}",
            metrics.render()
        );
        task.abort();
    }

    /// The reconciler records a prune between two ticks and the schedule is deleted before
    /// the census reads that status: the gauge the reconciler set still reads 0 afterwards.
    #[tokio::test(start_paused = true)]
    async fn a_prune_recorded_between_two_ticks_is_zeroed_at_deletion() {
        let store = MemoryStore::<DataMoverSchedule>::new();
        let mut s = DataMoverSchedule::default();
        s.metadata.namespace = "prod".into();
        s.metadata.name = "nightly".into();
        s.metadata.creation_timestamp = "2026-11-30T00:00:00Z".into();
        s.spec.schedule = "@daily".into();
        s.spec.retention = Some(crate::schedule::retention::Retention {
            keep_last: Some(2),
            ..Default::default()
        });
        store.apply(s);
        let metrics = tmc_metrics::Metrics::builder().build().unwrap();
        let clock: Arc<dyn Clock> = Arc::new(TokioClock::starting_at(1_796_040_030_000));
        let task = tokio::spawn(run(
            store.clone(),
            clock,
            metrics.collector(),
            Duration::from_secs(5),
        ));
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The reconciler's record of the prune.
        metrics
            .collector()
            .datamover_schedule_pruned("nightly", "prod", 3, 2);
        store.delete(&ObjectKey::namespaced("prod", "nightly"));
        tokio::time::sleep(Duration::from_secs(6)).await;
        let line = r#"datamover_schedule_backups_retained{schedule="nightly",namespace="prod"} 0"#;
        assert!(metrics.render().contains(line), "{}", metrics.render());
        task.abort();
    }
}
