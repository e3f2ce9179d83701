//! The schedule and restore controllers, beside the DataMover one: on the embedded backend
//! ([`run`]) and on Kubernetes ([`run_kubernetes`]). The schedule controller is the same
//! reconciler on both; restores are the embedded restore reconciler, or on Kubernetes the
//! volume-populator pattern ([`datamover_kube::restore`]).

use datamover::job::Job;
use datamover::schedule::DataMoverSchedule;
use datamover::schedule::clock::{Clock, SystemClock};
use datamover::schedule::reconciler::{self as schedule, ScheduleCluster, ScheduleContext};
use datamover::types::{DataMover, PersistentVolumeClaim};
use datamover_embedded::Embedded;
use datamover_embedded::restore::{self as restore, PopulatorContext};
use datamover_kube::KubeCluster;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::Metrics;
use tmc_runtime::{Backoff, Controller, Store, reconciler_fn};

fn backoff() -> Backoff {
    Backoff {
        initial: Duration::from_millis(50),
        max: Duration::from_secs(300),
        factor: 2.0,
        jitter: 0.1,
    }
}

/// Spawns the `DataMoverSchedule` controller over `schedules`, owning the DataMovers in
/// `runs` (a run's completion wakes its schedule; it requeues itself at each next run
/// time), until `stop`.
fn spawn_schedules<C: ScheduleCluster>(
    schedules: impl Store<DataMoverSchedule>,
    runs: impl Store<DataMover>,
    cluster: Arc<C>,
    clock: Arc<dyn Clock>,
    metrics: &Metrics,
    stop: impl Future<Output = ()> + Send + 'static,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let ctx = Arc::new(ScheduleContext {
        cluster,
        clock,
        metrics: metrics.collector(),
    });
    let controller = Controller::new("datamoverschedule", schedules)
        .owns(runs)
        .reconciler(reconciler_fn(
            tmc_tower::operation::instrument_reconcile(
                metrics.collector().operation(
                    "DataMoverScheduleController",
                    "datamoverschedule",
                    "reconcile",
                ),
                schedule::reconcile::<C>,
            ),
            ctx,
        ))
        .backoff(backoff())
        .map_err(|e| e.to_string())?
        .metrics(metrics.collector())
        .shutdown_deadline(Duration::from_secs(5));
    Ok(tokio::spawn(async move {
        controller.run(stop).await;
    }))
}

/// A stop signal for several controllers: `stop()` futures end once `shutdown` has.
struct Stop(tokio::sync::watch::Sender<bool>);

impl Stop {
    fn new() -> Self {
        Self(tokio::sync::watch::Sender::new(false))
    }

    fn stop(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }

    /// Waits for `shutdown`, stops the controllers, and waits for `tasks`.
    async fn after(
        self,
        shutdown: impl Future<Output = ()>,
        tasks: Vec<tokio::task::JoinHandle<()>>,
    ) {
        shutdown.await;
        self.0.send_replace(true);
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Runs the `DataMoverSchedule` controller, the schedule gauges, and the restore
/// controller (over PVCs, owning their restore Jobs) of the embedded backend, until
/// `shutdown`.
pub(crate) async fn run(
    cluster: Arc<Embedded>,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let store = Arc::clone(&cluster.store);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let census = tokio::spawn(datamover::schedule::census::run(
        store.of::<DataMoverSchedule>(),
        Arc::clone(&clock),
        metrics.collector(),
        Duration::from_secs(5),
    ));
    let stop = Stop::new();
    let schedules = spawn_schedules(
        store.of::<DataMoverSchedule>(),
        store.of::<DataMover>(),
        Arc::clone(&cluster),
        clock,
        &metrics,
        stop.stop(),
    )?;
    let restore_ctx = Arc::new(PopulatorContext {
        cluster,
        metrics: metrics.collector(),
    });
    let restores = Controller::new("datamoverpopulator", store.of::<PersistentVolumeClaim>())
        .owns(store.of::<Job>())
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
    let stopped = stop.stop();
    let restores = tokio::spawn(async move {
        restores.run(stopped).await;
    });
    stop.after(shutdown, vec![schedules, restores]).await;
    census.abort();
    Ok(())
}

/// Runs the same `DataMoverSchedule` controller on Kubernetes (its store the schedule
/// cache, owning the DataMover cache), the schedule gauges, and the volume-populator
/// restore controller (over PVCs, owning their restore Jobs and prime PVCs: a Job's
/// completion or a prime's binding brings the PVC back), until `shutdown`. The schedule
/// and populator watches are started here.
pub(crate) async fn run_kubernetes(
    cluster: KubeCluster,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let watches = cluster.spawn_schedule_watches();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let census = tokio::spawn(datamover::schedule::census::run(
        cluster.clone(),
        Arc::clone(&clock),
        metrics.collector(),
        Duration::from_secs(5),
    ));
    let stop = Stop::new();
    let schedules = spawn_schedules::<KubeCluster>(
        cluster.clone(),
        cluster.clone(),
        Arc::new(cluster.clone()),
        clock,
        &metrics,
        stop.stop(),
    )?;
    let restore_ctx = Arc::new(datamover_kube::restore::RestoreContext {
        cluster: Arc::new(cluster.clone()),
        metrics: metrics.collector(),
    });
    let restores = Controller::<PersistentVolumeClaim>::new("datamoverpopulator", cluster.clone())
        .owns::<Job>(cluster.clone())
        .owns::<PersistentVolumeClaim>(cluster.clone())
        .reconciler(reconciler_fn(
            tmc_tower::operation::instrument_reconcile(
                metrics.collector().operation(
                    "DataMoverPopulatorController",
                    "datamoverpopulator",
                    "reconcile",
                ),
                datamover_kube::restore::reconcile,
            ),
            restore_ctx,
        ))
        .backoff(backoff())
        .map_err(|e| e.to_string())?
        .metrics(metrics.collector())
        .shutdown_deadline(Duration::from_secs(5));
    let stopped = stop.stop();
    let restores = tokio::spawn(async move {
        restores.run(stopped).await;
    });
    stop.after(shutdown, vec![schedules, restores]).await;
    census.abort();
    watches.abort();
    Ok(())
}
