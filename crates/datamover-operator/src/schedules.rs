//! The schedule and restore controllers of the embedded backend, beside the DataMover one.

use datamover::backend::Embedded;
use datamover::populator::reconciler::{self as restore, PopulatorContext};
use datamover::schedule::clock::{Clock, SystemClock};
use datamover::schedule::reconciler::{self as schedule, ScheduleContext};
use datamover::store::{DataMovers, Jobs, Pvcs, Schedules};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::Metrics;
use tmc_runtime::{Backoff, Controller, reconciler_fn};

fn backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_secs(300),
        factor: 2.0,
        jitter: 0.1,
    }
}

/// Runs the `DataMoverSchedule` controller (it owns the DataMovers it creates, so their
/// completion wakes it; it requeues itself at each next run time), the schedule gauges, and
/// the restore controller (over PVCs, owning their restore Jobs), until `shutdown`.
pub(crate) async fn run(
    cluster: Arc<Embedded>,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let store = Arc::clone(&cluster.store);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let census = tokio::spawn(datamover::schedule::census::run(
        Schedules(Arc::clone(&store)),
        Arc::clone(&clock),
        metrics.collector(),
        Duration::from_secs(5),
    ));
    let schedule_ctx = Arc::new(ScheduleContext {
        cluster: Arc::clone(&cluster),
        clock,
        metrics: metrics.collector(),
    });
    let schedules = Controller::new("datamoverschedule", Schedules(Arc::clone(&store)))
        .owns(DataMovers(Arc::clone(&store)))
        .reconciler(reconciler_fn(
            tmc_tower::operation::instrument_reconcile(
                metrics.collector().operation(
                    "DataMoverScheduleController",
                    "datamoverschedule",
                    "reconcile",
                ),
                schedule::reconcile::<Embedded>,
            ),
            schedule_ctx,
        ))
        .backoff(backoff())
        .map_err(|e| e.to_string())?
        .metrics(metrics.collector())
        .shutdown_deadline(Duration::from_secs(5));
    let restore_ctx = Arc::new(PopulatorContext {
        cluster,
        metrics: metrics.collector(),
    });
    let restores = Controller::new("datamoverpopulator", Pvcs(Arc::clone(&store)))
        .owns(Jobs(Arc::clone(&store)))
        .reconciler(reconciler_fn(
            tmc_tower::operation::instrument_reconcile(
                metrics.collector().operation(
                    "DataMoverPopulatorController",
                    "datamoverpopulator",
                    "reconcile",
                ),
                restore::reconcile,
            ),
            restore_ctx,
        ))
        .backoff(backoff())
        .map_err(|e| e.to_string())?
        .metrics(metrics.collector())
        .shutdown_deadline(Duration::from_secs(5));
    let (tx, rx) = tokio::sync::watch::channel(false);
    let wait = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let a = tokio::spawn(schedules.run(wait(rx.clone())));
    let b = tokio::spawn(restores.run(wait(rx)));
    shutdown.await;
    let _ = tx.send(true);
    let _ = a.await;
    let _ = b.await;
    census.abort();
    Ok(())
}
