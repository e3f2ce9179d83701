//! The embedded store's disk, as the operator shows it: `/readyz` is not ready while the
//! store cannot write (saying why), failed writes count in
//! `datamover_store_write_errors_total`, and a task reopens the store every
//! [`RETRY_EVERY`] while writes fail, so the operator turns ready again once the data dir
//! has room, whether or not anything is written meanwhile; once it writes again, every
//! DataMover, schedule and PVC is reconciled at once (their failed writes had backed off
//! for up to five minutes). `/healthz` stays a liveness answer: the process serves, and
//! reads go on.

use axum::http::StatusCode;
use datamover::schedule::DataMoverSchedule;
use datamover::types::{DataMover, PersistentVolumeClaim};
use datamover_embedded::store::{EmbeddedStore, StoreError, WriteErrorKind};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::MetricsCollector;
use tmc_runtime::{CancellationToken, ControllerHandle, Resource};
use tmc_server::health::HealthMonitor;

/// How often a store whose writes fail is reopened: each failed attempt counts in
/// `datamover_store_write_errors_total`, so the alert holds while the disk stays full.
pub(crate) const RETRY_EVERY: Duration = Duration::from_secs(5);

/// The readiness gate's name: `/readyz` answers `not ready: store writable: <why>`.
pub(crate) const GATE: &str = "store writable";

/// Makes both series of `datamover_store_write_errors_total` exist at 0 (so the alert sees
/// the first failure) and gates readiness on the store's writes.
pub(crate) fn watch(
    store: &Arc<EmbeddedStore>,
    health: &HealthMonitor,
    metrics: &MetricsCollector,
    data_dir: &Path,
) {
    for kind in [WriteErrorKind::NoSpace, WriteErrorKind::Io] {
        metrics.datamover_store_write_errors(kind.as_str(), 0);
    }
    let store = Arc::clone(store);
    let data_dir = data_dir.to_path_buf();
    health.readiness_reason(GATE, move || {
        store.write_failure().map(|f| {
            format!(
                "{} ({}); nothing new is stored, retried every {}s",
                f,
                what(f.kind, &data_dir),
                RETRY_EVERY.as_secs()
            )
        })
    });
}

/// What the kind of failure means for the data dir, for people.
fn what(kind: WriteErrorKind, data_dir: &Path) -> String {
    match kind {
        WriteErrorKind::NoSpace => format!("the data dir {} is full", data_dir.display()),
        WriteErrorKind::Io => format!("the data dir {} cannot be written", data_dir.display()),
    }
}

/// The controllers to wake once the store writes again.
pub(crate) struct Handles {
    /// The DataMover controller.
    pub(crate) datamovers: ControllerHandle,
    /// The schedule controller.
    pub(crate) schedules: ControllerHandle,
    /// The restore controller (over PVCs).
    pub(crate) restores: ControllerHandle,
}

impl Handles {
    /// Enqueues every stored object of each controller's kind.
    fn wake_all(&self, store: &EmbeddedStore) {
        for dm in store.objects::<DataMover>(None) {
            self.datamovers.enqueue(dm.key());
        }
        for schedule in store.objects::<DataMoverSchedule>(None) {
            self.schedules.enqueue(schedule.key());
        }
        for pvc in store.objects::<PersistentVolumeClaim>(None) {
            self.restores.enqueue(pvc.key());
        }
    }
}

/// Reopens the store every [`RETRY_EVERY`] while its writes fail, until `stop`; once it
/// writes again, wakes every controller's objects through `handles`.
pub(crate) async fn recover(store: Arc<EmbeddedStore>, handles: Handles, stop: CancellationToken) {
    let mut tick = tokio::time::interval(RETRY_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = store.write_failures();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if store.write_failure().is_some() {
            // The store logs the reopen, and counts a failed one.
            let _ = store.write(|s| s.recover()).await;
        }
        // Writes failed since the last look and work again now, whether this reopen or
        // another write reopened the database.
        let failures = store.write_failures();
        if failures != seen && store.write_failure().is_none() {
            seen = failures;
            tracing::info!("the store writes again: reconciling every object now");
            handles.wake_all(&store);
        }
    }
}

/// The API's answer to a write the store refused: 507 when the data dir is full, 503 for
/// another I/O error (both name the data dir, the file and the cause, say `nothing`, e.g.
/// `nothing was stored`, and what to do), 500 for anything else.
pub(crate) fn status_and_message(
    e: &StoreError,
    data_dir: &Path,
    nothing: &str,
) -> (StatusCode, String) {
    match e.write_failure() {
        Some(f) if f.kind == WriteErrorKind::NoSpace => (
            StatusCode::INSUFFICIENT_STORAGE,
            format!(
                "{}: {f}; {nothing}: free space there, then try again (no restart needed)",
                what(f.kind, data_dir)
            ),
        ),
        Some(f) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{}: {f}; {nothing}: the operator reopens its store every {}s; try again once the disk is fixed",
                what(f.kind, data_dir),
                RETRY_EVERY.as_secs()
            ),
        ),
        None => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}
