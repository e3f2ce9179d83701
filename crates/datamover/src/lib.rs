//! DataMover: back up a volume to any rclone destination, as the original Go operator does.
//! This crate is the backend-neutral core; the backends implement [`backend::Cluster`]:
//! `datamover-embedded` on one machine (redb, the real rclone), `datamover-kube` on
//! Kubernetes (kube-rs).
//!
//! - [`types`]: the `DataMover` resource (group `datamover.a-cup-of.coffee`, version
//!   `v1alpha1`, the original spec unchanged) and the PVC and Secret shapes.
//! - [`manifest`]: multi-document YAML parsed and validated with field paths.
//! - [`backend`]: the [`backend::Cluster`] trait the reconciler talks through, and its error.
//! - [`reconciler`]: the phase machine and its `datamover_*` metrics; [`schedule`] and
//!   [`populator`]: `DataMoverSchedule` and `DataMoverPopulator` and their reconcile rules.
//! - [`overlap`]: the rule that no backup's sync deletes what another live object wrote.
//! - [`job`]: the sync and restore Job (`batch/v1`-shaped, owned by its DataMover or PVC),
//!   the same object on both backends, and how a Job ended; [`progress`]: what a sync moved.
//! - [`verify`]: the check after a sync (`spec.verify`), one description for both backends.
//! - `crd` (feature `kube`): the Kubernetes objects of the same spec and status types.
//!
//! # Example
//!
//! A manifest, as a user would give `kubectl`, parsed into the objects the reconcilers read:
//!
//! ```
//! let objects = datamover::manifest::parse(
//!     "apiVersion: datamover.a-cup-of.coffee/v1alpha1\n\
//!      kind: DataMover\n\
//!      metadata: {name: nightly}\n\
//!      spec: {sourcePvc: data, secretName: creds}\n",
//! )
//! .unwrap();
//! assert_eq!(objects.len(), 1);
//! ```

pub mod backend;
pub mod census;
pub mod conditions;
#[cfg(feature = "kube")]
pub mod crd;
pub mod job;
pub mod manifest;
pub mod overlap;
pub mod populator;
pub mod progress;
pub mod reconciler;
pub mod schedule;
pub mod time;
pub mod types;
pub mod verify;

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
