//! What each reflector cache holds and how its objects convert to the reconciler's types
//! ([`Cached`]): DataMovers, schedules, populators, PVCs, Secrets and sync Jobs.

#[allow(clippy::wildcard_imports)] // the parent's types and helpers, as if written there
use super::*;

/// The DataMovers: [`Controller::new`](tmc_runtime::Controller::new)'s store.
impl Cached for DataMover {
    type Object = crd::DataMover;
    const LIST: &'static str = "list-datamovers";
    const WATCH: &'static str = "watch-datamovers";

    fn reflected(cluster: &KubeCluster) -> &Reflected<Self> {
        &cluster.inner.datamovers
    }

    fn convert(object: &crd::DataMover, _: &KubeCluster) -> Option<Self> {
        Some(crd::to_datamover(object))
    }
}

/// The DataMoverSchedules: [`Controller::new`](tmc_runtime::Controller::new)'s store of the
/// schedule controller.
impl Cached for DataMoverSchedule {
    type Object = crd::DataMoverSchedule;
    const LIST: &'static str = "list-datamoverschedules";
    const WATCH: &'static str = "watch-datamoverschedules";

    fn reflected(cluster: &KubeCluster) -> &Reflected<Self> {
        &cluster.inner.schedules
    }

    fn convert(object: &crd::DataMoverSchedule, _: &KubeCluster) -> Option<Self> {
        Some(object.into())
    }
}

/// The DataMoverPopulators a restoring PVC's `spec.dataSourceRef` names.
impl Cached for DataMoverPopulator {
    type Object = crd::DataMoverPopulator;
    const LIST: &'static str = "list-datamoverpopulators";
    const WATCH: &'static str = "watch-datamoverpopulators";

    fn reflected(cluster: &KubeCluster) -> &Reflected<Self> {
        &cluster.inner.populators
    }

    fn convert(object: &crd::DataMoverPopulator, _: &KubeCluster) -> Option<Self> {
        Some(object.into())
    }
}

/// The PVCs: a clone's watch event (it binds) brings its owning DataMover back, for
/// [`Controller::owns`](tmc_runtime::Controller::owns).
impl Cached for PersistentVolumeClaim {
    type Object = core::PersistentVolumeClaim;
    const LIST: &'static str = "list-persistentvolumeclaims";
    const WATCH: &'static str = "watch-persistentvolumeclaims";

    fn reflected(cluster: &KubeCluster) -> &Reflected<Self> {
        &cluster.inner.pvcs
    }

    fn convert(object: &core::PersistentVolumeClaim, _: &KubeCluster) -> Option<Self> {
        convert(object)
    }
}

/// The Secrets a DataMover names (its destination and credentials).
impl Cached for Secret {
    type Object = core::Secret;
    const LIST: &'static str = "list-secrets";
    const WATCH: &'static str = "watch-secrets";

    fn reflected(cluster: &KubeCluster) -> &Reflected<Self> {
        &cluster.inner.secrets
    }

    fn convert(object: &core::Secret, _: &KubeCluster) -> Option<Self> {
        convert(object)
    }

    /// Service-account tokens and Helm releases are never a DataMover's destination, and are
    /// the most numerous (and, for Helm, the largest) Secrets of a cluster: left out.
    fn config(config: watcher::Config) -> watcher::Config {
        config.fields(SECRET_FIELD_SELECTOR)
    }
}

/// The field selector of the Secret watch.
pub const SECRET_FIELD_SELECTOR: &str =
    "type!=kubernetes.io/service-account-token,type!=helm.sh/release.v1";

/// The sync Jobs: a Job's status change reaches the controller and brings its owner back
/// ([`Controller::owns`](tmc_runtime::Controller::owns)); nothing polls a Job. A finished
/// Job its owner waits for carries its final statistics in `status.progress`, read from its
/// last pod by a task of its own while the Job reads as running (never in the Job watch).
impl Cached for SyncJob {
    type Object = Job;
    const LIST: &'static str = "list-jobs";
    const WATCH: &'static str = "watch-jobs";

    fn reflected(cluster: &KubeCluster) -> &Reflected<Self> {
        &cluster.inner.jobs
    }

    fn convert(object: &Job, cluster: &KubeCluster) -> Option<Self> {
        let mut job: Self = convert(object)?;
        cluster.inner.reports.apply(&object.metadata, &mut job);
        Some(job)
    }

    fn observe(object: &Job, cluster: &KubeCluster) {
        cluster.observe_job(object);
    }

    fn held(object: &Job, cluster: &KubeCluster) -> bool {
        cluster.inner.reports.holds(&object.metadata)
    }

    fn gone(key: &ObjectKey, cluster: &KubeCluster) {
        cluster.inner.reports.remove(key);
    }
}
