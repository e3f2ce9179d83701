//! Contract tests of the schedule reconciler and of the volume-populator restore on the
//! Kubernetes backend: a kube-rs `Client` over a scripted mock service answering as the API
//! server does (no API server runs here), with assertions on the exact requests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_pass_by_value
)]

#[path = "../fake/mod.rs"]
mod fake;
mod restores;
mod retention;
mod schedules;

use datamover::reconciler::ReconcileError;
use datamover::schedule::DataMoverSchedule;
use datamover::schedule::clock::{Clock, TokioClock};
use datamover::schedule::reconciler::{ScheduleContext, reconcile as reconcile_schedule};
use datamover::types::PersistentVolumeClaim;
use datamover_kube::KubeCluster;
use datamover_kube::restore::{self, RestoreContext};
use fake::*;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_runtime::{Action, ObjectKey, Store};

const SCHEDULES: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/datamoverschedules";
const POPULATORS: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/datamoverpopulators";
const NS_DM: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamovers";
const SCHEDULE_STATUS: &str =
    "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamoverschedules/nightly/status";
const SCHEDULE_UID: &str = "5c4ed01e-0000-4000-8000-000000000001";
/// 2026-11-30T12:00:30Z.
const NOW_MS: u64 = 1_796_040_030_000;

/// A cluster over `script`, with every watch (DataMovers, PVCs, Secrets, Jobs, schedules,
/// populators) listed once.
async fn boot(
    script: impl FnMut(&Req) -> Reply + Send + 'static,
) -> (KubeCluster, Log, tmc_metrics::Metrics) {
    let (client, log) = server(script);
    let m = metrics();
    let cluster = KubeCluster::new(client, m.collector(), options());
    let _core = cluster.spawn_watches();
    let _schedules = cluster.spawn_schedule_watches();
    cluster.wait_synced().await;
    cluster.wait_schedules_synced().await;
    (cluster, log, m)
}

/// The requests the reconcilers made: the watchers' lists and watches left out.
fn calls(log: &Log) -> Vec<Req> {
    fake::writes(log)
        .into_iter()
        .filter(|r| !(r.method == "GET" && (r.path == SCHEDULES || r.path == POPULATORS)))
        .collect()
}
