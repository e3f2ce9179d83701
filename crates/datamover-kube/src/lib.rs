//! The Kubernetes backend of the DataMover operator: the same reconciler
//! ([`datamover::reconciler`]) on a real cluster through kube-rs.
//!
//! - [`crd`]: the `DataMover` CRD (status subresource, PHASE and AGE columns), generated
//!   from the `datamover` crate's own spec and status types (its `kube` feature derives
//!   `kube::CustomResource` on them: one declaration for the reconciler, the embedded
//!   backend and the API server), and [`crd_yaml`] for `deploy/crd/datamover.yaml`.
//! - [`KubeCluster`]: [`datamover::backend::Cluster`] (clone PVC with a `dataSource`,
//!   `batch/v1` Job running the rclone image, status merge patches on the status
//!   subresource, owner references, an Event per phase change through kube-runtime's
//!   `Recorder` ([`events`]); nothing in a reconcile waits: a clone's and a Job's watch
//!   events bring their owner back) and [`tmc_runtime::Store`] of DataMovers, Jobs, PVCs
//!   and Secrets.
//! - Schedules and restores: `impl ScheduleCluster for KubeCluster` runs the very schedule
//!   reconciler of the embedded backend ([`datamover::schedule::reconciler`]) over the
//!   DataMoverSchedule and DataMover caches ([`KubeCluster::spawn_schedule_watches`]);
//!   [`restore`] fills a PVC whose `dataSourceRef` names a DataMoverPopulator as a volume
//!   populator (a prime PVC, the restore Job, then the PersistentVolume's `claimRef`
//!   patched to the claim). The CRDs are [`crd::crd_files`].
//! - [`verify`]: the sync Job's script when `spec.verify` asks for a check after the sync
//!   (the sync, then `rclone check`, in the same pod).
//! - [`reflect`]: the caches under it: kube-runtime's `watcher` (paged lists with
//!   `limit`/`continue`, watches resumed from the last resourceVersion with bookmarks,
//!   relists on 410 Gone, jittered backoff through `WatchStreamExt::default_backoff`) into
//!   `reflector` stores, and one generic `Store` implementation over them. A relist sends the
//!   controller the difference against the previous cache (new or changed objects applied,
//!   vanished ones deleted), so nothing that happened while no watch ran is lost.
//! - [`leader::LeaderElector`]: a `coordination.k8s.io/v1` Lease and
//!   `leader_election_master_status{name}`.
//! - [`auth::TokenReviewAuthorizer`]: `TokenReview` + `SubjectAccessReview` for the
//!   metrics endpoint, with a short cache.
//!
//! # Wiring (what `datamover-operator run --backend kubernetes` does)
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use datamover::{job::Job, types::{DataMover, PersistentVolumeClaim}};
//! use datamover_kube::{KubeCluster, Options, leader::LeaderElector};
//! let metrics = tmc_metrics::Metrics::builder().install()?;
//! let cluster = datamover_kube::connect(metrics.collector(), Options::default()).await?;
//! let _watches = cluster.spawn_watches();
//! let elector = LeaderElector::new(cluster.client().clone(), "datamover-operator-system",
//!     "datamover-operator-leader", "pod-name_uuid", metrics.collector());
//! elector.acquire().await;
//! let ctx = Arc::new(datamover::reconciler::Context {
//!     cluster: Arc::new(cluster.clone()),
//!     metrics: metrics.collector(),
//! });
//! // The cluster is the store of DataMovers and of the Jobs and clones they own: a Job's
//! // status change, or a clone binding, brings its DataMover back.
//! let controller = tmc_runtime::Controller::<DataMover>::new("datamover", cluster.clone())
//!     .owns::<Job>(cluster.clone())
//!     .owns::<PersistentVolumeClaim>(cluster)
//!     .reconciler(tmc_runtime::reconciler_fn(datamover::reconciler::reconcile, ctx))
//!     .error_policy(datamover::reconciler::RetryAfterPolicy)
//!     .metrics(metrics.collector());
//! tokio::select! {
//!     _ = controller.run(std::future::pending::<()>()) => {}
//!     lost = elector.hold() => return Err(lost.into()),
//! }
//! elector.release().await?;
//! # Ok(()) }
//! ```
//!
//! # What is tested, and how
//!
//! No Kubernetes API server runs in this crate's tests. They test the *contract*: a
//! kube-rs `Client` over a `tower_test` mock service, answering scripted responses, and
//! assertions on the exact requests (method, path, query, body fields) the operator sends
//! and the metrics it records; the watchers' lists and watches are kube-runtime's own
//! requests, answered with pages, watch events, bookmarks and 410 errors as the API server
//! sends them. Behaviour of a real API server (admission, defaulting, garbage collection,
//! the CSI clone itself, the actual expiry of resourceVersions, the PV controller binding a
//! claim to a rebound volume) is not exercised.

/// The lines every script the rclone image runs for the operator starts with (the sync
/// with a check, [`verify`]; the prune, [`prune`]; the restore, [`restore`]): the
/// destination read from the secret as the embedded backend reads it (`DESTINATION`, or
/// the original operator's S3 keys as the remote `DATAMOVERS3`), in `$base`.
macro_rules! destination_script {
    () => {
        r#"set -eu
if [ -n "${DESTINATION:-}" ]; then
  base="${DESTINATION%/}"
else
  : "${BUCKET_NAME:?the secret names no destination: set DESTINATION or BUCKET_NAME}"
  scheme=http
  if [ "${TLS_HOST:-}" = true ] || [ "${TLS_HOST:-}" = 1 ]; then scheme=https; fi
  export RCLONE_CONFIG_DATAMOVERS3_TYPE=s3 RCLONE_CONFIG_DATAMOVERS3_PROVIDER=Other
  export RCLONE_CONFIG_DATAMOVERS3_ENDPOINT="$scheme://${BUCKET_HOST:?BUCKET_HOST is missing}${BUCKET_PORT:+:$BUCKET_PORT}"
  export RCLONE_CONFIG_DATAMOVERS3_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-}"
  export RCLONE_CONFIG_DATAMOVERS3_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-}"
  export RCLONE_CONFIG_DATAMOVERS3_REGION="${AWS_REGION:-}"
  base="DATAMOVERS3:$BUCKET_NAME"
fi
"#
    };
}

pub mod api;
pub mod auth;
mod cluster;
pub mod crd;
pub mod events;
pub mod leader;
pub mod objects;
pub mod reflect;
pub mod verify;

pub use cluster::{
    FIELD_MANAGER, KubeCluster, Options, SECRET_FIELD_SELECTOR, connect, prune, restore,
    schedule_status_patch, status_patch,
};
pub use crd::crd_yaml;
