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
//! - [`provisioner`]: the embedded backend's stand-in for a CSI driver's volume cloning:
//!   copies a clone's source directory outside any reconcile, then binds the clone.

pub mod backend;
pub mod census;
pub mod conditions;
pub mod executor;
pub mod job;
pub mod manifest;
pub mod policy;
pub mod populator;
pub mod provisioner;
pub mod rclone;
pub mod reconciler;
pub mod schedule;
pub mod store;
pub mod time;
pub mod types;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Encodes bytes as padded standard base64 (RFC 4648), as Secret `data` holds them.
#[must_use]
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes Secret `data` as the Kubernetes API server does: padded standard base64, line
/// breaks ignored; `None` for bad padding, a bad character or trailing garbage.
#[must_use]
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let joined: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    STANDARD.decode(joined).ok()
}

#[cfg(test)]
mod base64_tests {
    #[test]
    fn base64_should_round_trip_and_refuse_what_the_api_server_refuses() {
        for s in ["", "f", "fo", "foo", "foob", "fooba", "foobar", "☃ snow"] {
            assert_eq!(
                super::base64_decode(&super::base64_encode(s.as_bytes())).as_deref(),
                Some(s.as_bytes())
            );
        }
        assert_eq!(super::base64_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(super::base64_decode("Zm9v\nYg=="), Some(b"foob".to_vec()));
        for bad in ["Zm9vY", "Zm9v=junk", "Zm9vYg", "Zm9v!", "Zm9vYg==Zg=="] {
            assert_eq!(super::base64_decode(bad), None, "{bad}");
        }
    }
}
