//! The live sync census: `datamover_syncs_running` and `datamover_running_sync_bytes`,
//! from the Jobs' status, the same way on both backends.

use crate::job::Job;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::MetricsCollector;
use tmc_runtime::Store;

/// Per namespace: Jobs with a pod running, and the bytes those pods moved so far.
#[must_use]
pub fn count(jobs: &[Arc<Job>]) -> BTreeMap<String, (u64, u64)> {
    let mut by_ns: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for job in jobs {
        let entry = by_ns.entry(job.metadata.namespace.clone()).or_default();
        // Restore Jobs fill PVCs, prune Jobs delete old backups: neither is a sync.
        if crate::populator::job::is_restore(job) || crate::schedule::retention::is_prune(job) {
            continue;
        }
        if job.status.active > 0 && job.outcome().is_none() {
            entry.0 += 1;
            entry.1 += job.status.progress.map_or(0, |p| p.bytes);
        }
    }
    by_ns
}

/// Sets the census gauges from `jobs` every `period`, until dropped. A namespace whose
/// syncs all ended reads 0, not its last value.
pub async fn run(jobs: impl Store<Job>, metrics: MetricsCollector, period: Duration) {
    let mut seen: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = count(&jobs.list());
        for ns in seen.keys() {
            if !now.contains_key(ns) {
                metrics.datamover_running_syncs(ns, 0, 0);
            }
        }
        for (ns, (running, bytes)) in &now {
            metrics.datamover_running_syncs(ns, *running, *bytes);
        }
        seen = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::DataMoverSchedule;
    use crate::schedule::retention::{Retention, prune_job};
    use crate::types::DataMover;

    #[test]
    fn a_running_prune_job_is_not_a_running_sync() {
        let mut dm = DataMover::default();
        dm.metadata.namespace = "prod".into();
        let mut sync = crate::job::sync_job(&dm);
        sync.status.active = 1;
        let mut schedule = DataMoverSchedule::default();
        schedule.metadata.namespace = "prod".into();
        let mut prune = prune_job(
            &schedule,
            &Retention::default(),
            &dm,
            &std::collections::BTreeSet::new(),
        );
        prune.status.active = 1;
        let counted = count(&[Arc::new(sync), Arc::new(prune)]);
        assert_eq!(counted.get("prod"), Some(&(1, 0)));
    }
}
