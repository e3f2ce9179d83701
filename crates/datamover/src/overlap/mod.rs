//! No backup deletes another: the rule that keeps two live objects' syncs apart.
//!
//! `rclone sync` makes its target equal to the source, deleting whatever else the target
//! holds. So a DataMover (or a schedule, for the DataMovers it creates) is refused when its
//! sync target overlaps where another DataMover or schedule that still exists writes: the
//! same place, one containing the other, or one inside the other.
//!
//! - The **target** is the destination itself without `addTimestampPrefix` (a *mirror*),
//!   and a new `YYYY-MM-DD-HHMMSS` folder under it with the prefix. Two timestamp-prefixed
//!   objects sharing a base write distinct folders and are fine; a mirror into that base (or
//!   around it, or inside it) is not, and neither is a prefixed base inside another's
//!   timestamp folder.
//! - **Locations** are compared resolved ([`Location`]): local paths after `.` and `..`
//!   (the embedded backend also resolves symlinks first), remotes by their storage (backend
//!   type and endpoint, credentials left out) and path, so the original S3 keys
//!   (`BUCKET_NAME`, `BUCKET_HOST`, ...) and an equivalent `DESTINATION` are one place.
//! - **Re-runs are not conflicts**: the runs of one schedule (and the schedule itself), and
//!   a DataMover with the same source PVC, destination and prefix setting as another in its
//!   namespace.
//!
//! Both backends apply the rule through [`check`]: the embedded API at `apply`, and the
//! reconciler of either backend right before it creates a sync Job.
//!
//! ```
//! use datamover::overlap::Location;
//! use std::collections::BTreeMap;
//!
//! let keys = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
//!     pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
//! };
//! // The original operator's S3 keys and an rclone remote naming the same bucket path.
//! let original = Location::locate(
//!     &keys(&[("BUCKET_NAME", "backups"), ("BUCKET_HOST", "minio"), ("BUCKET_PORT", "9000")]),
//!     &[],
//! )
//! .unwrap();
//! let remote = Location::locate(
//!     &keys(&[
//!         ("DESTINATION", "store:backups/team"),
//!         ("RCLONE_CONFIG_STORE_TYPE", "s3"),
//!         ("RCLONE_CONFIG_STORE_ENDPOINT", "http://minio:9000/"),
//!     ]),
//!     &[],
//! )
//! .unwrap();
//! assert!(original.contains(&remote));
//! ```

mod location;
#[cfg(test)]
mod tests;

pub use location::{Location, clean, env_name};

use crate::schedule::KIND as SCHEDULE_KIND;
use crate::types::{DataMover, Secret};
use std::collections::BTreeMap;

/// Where one DataMover or schedule writes: what [`check`] compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Claim {
    /// `DataMover` or `DataMoverSchedule`.
    pub kind: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// `spec.sourcePvc`.
    pub source_pvc: String,
    /// The schedule it belongs to (`namespace/name`): the schedule's own, or its owner's.
    pub lineage: Option<String>,
    /// The destination's base, resolved.
    pub location: Location,
    /// `spec.addTimestampPrefix`: it writes new timestamp folders under `location`.
    pub timestamped: bool,
}

impl Claim {
    /// The claim of `dm` (a DataMover, or a schedule as
    /// [`as_datamover`](crate::schedule::reconciler::as_datamover) shows it) writing to
    /// `location`.
    #[must_use]
    pub fn new(dm: &DataMover, location: Location) -> Self {
        let (ns, name) = (&dm.metadata.namespace, &dm.metadata.name);
        let lineage = if dm.kind == SCHEDULE_KIND {
            Some(format!("{ns}/{name}"))
        } else {
            dm.metadata
                .owner_references
                .iter()
                .find(|o| o.kind == SCHEDULE_KIND)
                .map(|o| format!("{ns}/{}", o.name))
        };
        Self {
            kind: Self::kind_of(dm).to_owned(),
            namespace: ns.clone(),
            name: name.clone(),
            source_pvc: dm.spec.source_pvc.clone(),
            lineage,
            location,
            timestamped: dm.spec.add_timestamp_prefix,
        }
    }

    /// `dm`'s kind: `DataMover` unless it says otherwise.
    #[must_use]
    pub fn kind_of(dm: &DataMover) -> &str {
        if dm.kind.is_empty() {
            crate::types::Kind::DataMover.as_str()
        } else {
            &dm.kind
        }
    }

    /// `Kind namespace/name`.
    #[must_use]
    pub fn who(&self) -> String {
        format!("{} {}/{}", self.kind, self.namespace, self.name)
    }

    fn same_object(&self, other: &Self) -> bool {
        (&self.kind, &self.namespace, &self.name) == (&other.kind, &other.namespace, &other.name)
    }

    /// A re-run of the same backup: one schedule's runs, or the same source, destination
    /// and prefix setting in one namespace.
    fn reruns(&self, other: &Self) -> bool {
        (self.lineage.is_some() && self.lineage == other.lineage)
            || (self.namespace == other.namespace
                && self.source_pvc == other.source_pvc
                && self.location == other.location
                && self.timestamped == other.timestamped)
    }

    /// Whether a sync of either could delete what the other wrote.
    #[must_use]
    pub fn conflicts(&self, other: &Self) -> bool {
        if self.same_object(other) || self.reruns(other) {
            return false;
        }
        let (a, b) = (&self.location, &other.location);
        match (self.timestamped, other.timestamped) {
            // A mirror deletes all it contains, and is deleted by a mirror around it; a
            // mirror around or inside a prefixed base mixes with its folders.
            (false, _) | (_, false) => a.overlaps(b),
            // New folders under one base never meet; under nested bases they meet only
            // when the inner base lies inside a timestamp folder of the outer.
            (true, true) => {
                let (outer, inner) = if a.contains(b) { (a, b) } else { (b, a) };
                outer != inner
                    && outer.contains(inner)
                    && inner.first_below(outer).is_some_and(crate::time::is_prefix)
            }
        }
    }
}

/// Checks `candidate` against every claim of `others`.
///
/// # Errors
/// The refusal, naming the other object and its destination and how to proceed:
/// `destination overlaps DataMover team/backup-a (/data/backups/team/a): ...`.
pub fn check<'a>(
    candidate: &Claim,
    others: impl IntoIterator<Item = &'a Claim>,
) -> Result<(), String> {
    let Some(other) = others.into_iter().find(|o| candidate.conflicts(o)) else {
        return Ok(());
    };
    let how = if candidate.timestamped && other.timestamped {
        "its base lies inside the other's timestamp folders"
    } else {
        "rclone sync makes its target equal to the source, so a sync of one would delete what the other wrote"
    };
    Err(format!(
        "destination {} overlaps {} ({}): {how}; choose a destination apart from it (two objects with addTimestampPrefix: true may share one base), or delete {} first",
        candidate.location,
        other.who(),
        other.location,
        other.who(),
    ))
}

/// The claims of `movers` (DataMovers, and schedules as
/// [`as_datamover`](crate::schedule::reconciler::as_datamover) shows them) whose secret
/// `secret` finds and whose destination resolves; `locate` turns a secret's values and
/// `additionalEnv` into a location (a backend resolves local paths its own way). A mover
/// whose secret is missing or names no destination claims nothing: it cannot sync.
pub fn claims<'a>(
    movers: impl IntoIterator<Item = &'a DataMover>,
    secret: impl Fn(&str, &str) -> Option<Secret>,
    locate: impl Fn(&BTreeMap<String, String>, &[(String, String)]) -> Result<Location, String>,
) -> Vec<Claim> {
    // Movers sharing a secret (and `additionalEnv`) share a location: each is read, decoded
    // and resolved once per call, not once per mover.
    let mut places: BTreeMap<Place<'_>, Option<Location>> = BTreeMap::new();
    movers
        .into_iter()
        .filter_map(|dm| {
            let ns = dm.metadata.namespace.as_str();
            let key = (ns, dm.spec.secret_name.as_str(), extra_env(dm));
            places
                .entry(key)
                .or_insert_with(|| {
                    let secret = secret(ns, &dm.spec.secret_name)?;
                    locate_mover(dm, &secret, &locate).ok()
                })
                .clone()
                .map(|location| Claim::new(dm, location))
        })
        .collect()
}

/// What decides a mover's location: its namespace, secret name and plain `additionalEnv`.
type Place<'a> = (&'a str, &'a str, Vec<(String, String)>);

/// `dm`'s `additionalEnv` with plain values (those from a secret or field cannot change a
/// destination this rule reads).
fn extra_env(dm: &DataMover) -> Vec<(String, String)> {
    dm.spec
        .additional_env
        .iter()
        .filter(|e| e.value_from.is_none())
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect()
}

/// Where `dm` writes, from its secret's values and `additionalEnv` (which override them,
/// as a pod's `env` overrides its `envFrom`).
///
/// # Errors
/// The secret's values do not decode, or name no destination.
pub fn locate_mover(
    dm: &DataMover,
    secret: &Secret,
    locate: impl Fn(&BTreeMap<String, String>, &[(String, String)]) -> Result<Location, String>,
) -> Result<Location, String> {
    let values = secret.values().map_err(|key| {
        format!(
            "secret {}: data.{key} is not valid base64 text",
            secret.metadata.name
        )
    })?;
    locate(&values, &extra_env(dm))
}
