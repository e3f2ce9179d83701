//! The controllers, registered on one [`Manager`] per backend: the DataMover controller and
//! the sync census, the `DataMoverSchedule` controller and its gauges (the same reconcilers
//! on both backends), and the restore controller (the embedded restore reconciler, or on
//! Kubernetes the volume-populator pattern, [`datamover_kube::restore`]). The Manager
//! starts each controller once its caches are ready and stops them all on one token.

use datamover::backend::Cluster;
use datamover::job::Job;
use datamover::reconciler::{self, Context};
use datamover::schedule::DataMoverSchedule;
use datamover::schedule::clock::{Clock, SystemClock};
use datamover::schedule::reconciler::{self as schedule, ScheduleCluster, ScheduleContext};
use datamover::types::{DataMover, PersistentVolumeClaim};
use datamover_embedded::Embedded;
use datamover_embedded::restore::{self, PopulatorContext};
use datamover_kube::KubeCluster;
use std::sync::Arc;
use std::time::Duration;
use tmc_metrics::Metrics;
use tmc_runtime::{Backoff, ControllerHandle, Manager, Store, reconciler_fn};

/// `reconcile` under the operation layer: counted and timed as `operation` `reconcile` of
/// `component` (`component_type` `kind`).
fn instrumented<K, Ctx, F, Fut, A, E>(
    metrics: &Metrics,
    component: &'static str,
    kind: &'static str,
    reconcile: F,
) -> impl Fn(Arc<K>, Arc<Ctx>) -> tmc_metrics::TrackedResult<Fut> + Clone + use<K, Ctx, F, Fut, A, E>
where
    F: Fn(Arc<K>, Arc<Ctx>) -> Fut + Clone,
    Fut: std::future::Future<Output = Result<A, E>>,
    E: tmc_metrics::Classify,
{
    tmc_tower::operation::instrument_reconcile(
        metrics.collector().operation(component, kind, "reconcile"),
        reconcile,
    )
}

/// How long in-flight reconciles and tasks get at shutdown.
pub(crate) const GRACE: Duration = Duration::from_secs(5);

/// A Manager with what every controller shares: the retry backoff (50 ms doubling to
/// 5 minutes, 10 % jitter), the metrics, the [`GRACE`] deadline.
pub(crate) fn manager(metrics: &Metrics) -> Result<Manager, String> {
    Ok(Manager::new()
        .grace(GRACE)
        .backoff(Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(300),
            factor: 2.0,
            jitter: 0.1,
        })
        .map_err(|e| e.to_string())?
        .metrics(metrics.collector()))
}

/// The DataMover controller over `datamovers`, owning the Jobs in `jobs` (a Job's change
/// brings its DataMover back) and the PVCs in `pvcs` (a clone binding does), reconciling
/// through `cluster` under the operation layer; and the live sync census beside it.
pub(crate) fn datamovers<C: Cluster>(
    manager: &mut Manager,
    stores: (
        impl Store<DataMover>,
        impl Store<Job> + Clone,
        impl Store<PersistentVolumeClaim>,
    ),
    cluster: Arc<C>,
    metrics: &Metrics,
    concurrency: usize,
) -> Result<ControllerHandle, String> {
    let (datamovers, jobs, pvcs) = stores;
    let collector = metrics.collector();
    let census_jobs = jobs.clone();
    manager.task("census", move |stop| async move {
        stop.run_until_cancelled(datamover::census::run(
            census_jobs,
            collector,
            Duration::from_secs(1),
        ))
        .await;
    });
    let ctx = Arc::new(Context {
        cluster,
        metrics: metrics.collector(),
    });
    let reconcile = instrumented(
        metrics,
        "DataMoverController",
        "datamover",
        reconciler::reconcile::<C>,
    );
    let controller = manager
        .controller("datamover", datamovers)
        .owns(jobs)
        .owns(pvcs)
        .reconciler(reconciler_fn(reconcile, ctx))
        .error_policy(reconciler::RetryAfterPolicy)
        .concurrency(concurrency)
        .map_err(|e| e.to_string())?;
    let handle = controller.handle();
    manager.add(controller);
    Ok(handle)
}

/// The `DataMoverSchedule` controller over `schedules`, owning the DataMovers in `runs` (a
/// run's completion wakes its schedule; it requeues itself at each next run time) and its
/// prune Jobs in `jobs` (a prune's end does), and the schedule gauges refreshed every 5 s.
pub(crate) fn schedules<C: ScheduleCluster>(
    manager: &mut Manager,
    schedules: impl Store<DataMoverSchedule> + Clone,
    (runs, jobs): (impl Store<DataMover>, impl Store<Job>),
    cluster: Arc<C>,
    metrics: &Metrics,
) -> ControllerHandle {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let (gauges, census_clock, collector) =
        (schedules.clone(), Arc::clone(&clock), metrics.collector());
    manager.task("schedule-census", move |stop| async move {
        stop.run_until_cancelled(datamover::schedule::census::run(
            gauges,
            census_clock,
            collector,
            Duration::from_secs(5),
        ))
        .await;
    });
    let ctx = Arc::new(ScheduleContext {
        cluster,
        clock,
        metrics: metrics.collector(),
    });
    let controller = manager
        .controller("datamoverschedule", schedules)
        .owns(runs)
        .owns(jobs)
        .reconciler(reconciler_fn(
            instrumented(
                metrics,
                "DataMoverScheduleController",
                "datamoverschedule",
                schedule::reconcile::<C>,
            ),
            ctx,
        ));
    let handle = controller.handle();
    manager.add(controller);
    handle
}

/// The embedded restore controller: over PVCs, owning their restore Jobs.
pub(crate) fn embedded_restores(
    manager: &mut Manager,
    cluster: Arc<Embedded>,
    metrics: &Metrics,
) -> ControllerHandle {
    let store = Arc::clone(&cluster.store);
    let ctx = Arc::new(PopulatorContext {
        cluster,
        metrics: metrics.collector(),
    });
    let controller = manager
        .controller("datamoverpopulator", store.of::<PersistentVolumeClaim>())
        .owns(store.of::<Job>())
        .reconciler(reconciler_fn(
            instrumented(
                metrics,
                "DataMoverPopulatorController",
                "datamoverpopulator",
                restore::reconcile,
            ),
            ctx,
        ));
    let handle = controller.handle();
    manager.add(controller);
    handle
}

/// The volume-populator restore controller on Kubernetes: over PVCs, owning their restore
/// Jobs and prime PVCs (a Job's completion or a prime's binding brings the PVC back).
pub(crate) fn kube_restores(manager: &mut Manager, cluster: &KubeCluster, metrics: &Metrics) {
    let ctx = Arc::new(datamover_kube::restore::RestoreContext {
        cluster: Arc::new(cluster.clone()),
        metrics: metrics.collector(),
    });
    let controller = manager
        .controller::<PersistentVolumeClaim>("datamoverpopulator", cluster.clone())
        .owns::<Job>(cluster.clone())
        .owns::<PersistentVolumeClaim>(cluster.clone())
        .reconciler(reconciler_fn(
            instrumented(
                metrics,
                "DataMoverPopulatorController",
                "datamoverpopulator",
                datamover_kube::restore::reconcile,
            ),
            ctx,
        ));
    manager.add(controller);
}
