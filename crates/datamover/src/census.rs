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
        // Restore Jobs fill PVCs; they are not syncs.
        if crate::populator::job::is_restore(job) {
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
