//! DataMover: back up a volume to any rclone destination, as the original Go operator does,
//! on one machine (the embedded backend) or on Kubernetes.
//!
//! - [`types`]: the `DataMover` resource (group `datamover.a-cup-of.coffee`, version
//!   `v1alpha1`, the original spec unchanged) and the PVC and Secret shapes.
//! - [`manifest`]: multi-document YAML parsed and validated with field paths.
//! - [`store`]: the embedded, crash-safe object store (redb), feeding the controller runtime.
//! - [`backend`]: the [`backend::Cluster`] trait the reconciler talks through, and the
//!   embedded backend (volumes as directories, the real rclone as the sync job).
//! - [`reconciler`]: the phase machine and its `datamover_*` metrics.
//! - [`job`]: the sync Job (`batch/v1`-shaped, owned by its DataMover), the same object on
//!   both backends.
//! - [`executor`]: the embedded backend's stand-in for the Job controller and the kubelet:
//!   runs each Job's pods as rclone child processes, with backoff and live progress.

pub mod backend;
mod base64;
pub mod census;
pub mod executor;
pub mod job;
pub mod manifest;
pub mod rclone;
pub mod reconciler;
pub mod store;
pub mod time;
pub mod types;

pub use base64::{decode as base64_decode, encode as base64_encode};
