//! The DataMover operator's one-machine backend: no Kubernetes, the same reconcilers.
//!
//! - [`store`]: the embedded, crash-safe object store (redb), feeding the controller runtime.
//! - [`cluster`]: [`Embedded`], the [`Cluster`](datamover::backend::Cluster) the DataMover
//!   reconciler talks through on one machine; [`schedules`] the same for schedules.
//! - [`volumes`]: the volume layout, the only place that knows where a PVC lives on disk.
//! - [`executor`]: the stand-in for the Job controller and the kubelet: runs each Job's pods
//!   as rclone child processes ([`rclone`]), with backoff and live progress.
//! - [`clones`]: what a clone PVC says of its source and its copy.
//! - [`provisioner`]: the stand-in for a CSI driver's volume cloning: copies a clone's
//!   source directory outside any reconcile, then binds the clone.
//! - [`restore`]: the restore reconciler, filling a PVC from a `DataMoverPopulator`.
//! - [`policy`]: which host directories the backend may read and write.
//! - [`catalogue`]: the backups (timestamp folders) a destination holds.
//! - [`verify`]: the check after a sync (`spec.verify`).

pub mod catalogue;
pub mod clones;
pub mod cluster;
pub mod executor;
pub mod policy;
pub mod provisioner;
pub mod rclone;
pub mod restore;
pub mod schedules;
pub mod store;
pub mod verify;
pub mod volumes;

pub use cluster::Embedded;
