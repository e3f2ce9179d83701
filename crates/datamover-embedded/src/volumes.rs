//! The volume layout: where a PVC's data lives on disk. Nothing else in the operator
//! spells these paths.
//!
//! ```text
//! <data-dir>/volumes/<namespace>/<name>                   a PVC's data
//! <data-dir>/volumes/<namespace>/.<name>.partial          a clone being copied
//! <data-dir>/volumes/<namespace>/.<name>.restore-partial  a restore being copied
//! <data-dir>/volumes/<namespace>/.<name>.deleted-<n>      a deleted PVC's data, going
//! ```
//!
//! Removing a volume is what a PV's reclaim is on Kubernetes: out of band. [`Volumes::remove`]
//! renames the directory aside (one `rename`, so the name is free at once and a reconcile
//! that deletes a clone never waits for a large tree to go) and removes it on a blocking
//! thread; [`Volumes::sweep`] removes what a stopped operator left aside.
//!
//! A PVC annotated with `datamover.a-cup-of.coffee/host-path` lives in that host directory
//! instead (checked against the [`Policy`](crate::policy::Policy) before any use).
//!
//! ```
//! use datamover_embedded::volumes::Volumes;
//! let volumes = Volumes::new("/var/lib/datamover/volumes");
//! assert_eq!(
//!     volumes.dir("prod", "data"),
//!     std::path::Path::new("/var/lib/datamover/volumes/prod/data")
//! );
//! ```

use datamover::types::{HOST_PATH_ANNOTATION, PersistentVolumeClaim};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a deleted volume's directory is renamed to contain: `.<name>.deleted-<n>`.
const DELETED: &str = ".deleted-";

/// The volumes root, `<data-dir>/volumes`, and the layout under it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Volumes {
    root: PathBuf,
}

impl Volumes {
    /// The layout under `root` (`<data-dir>/volumes`).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The layout under `<data_dir>/volumes`.
    #[must_use]
    pub fn under_data_dir(data_dir: &Path) -> Self {
        Self::new(data_dir.join("volumes"))
    }

    /// The volumes root.
    #[must_use]
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of the operator-managed PVC `namespace/name` (never a host path).
    #[must_use]
    pub fn dir(&self, namespace: &str, name: &str) -> PathBuf {
        self.root.join(namespace).join(name)
    }

    /// The directory holding `pvc`'s data: its host-path annotation, or [`Volumes::dir`].
    #[must_use]
    pub fn of(&self, pvc: &PersistentVolumeClaim) -> PathBuf {
        match pvc.metadata.annotations.get(HOST_PATH_ANNOTATION) {
            Some(host) => PathBuf::from(host),
            None => self.dir(&pvc.metadata.namespace, &pvc.metadata.name),
        }
    }

    /// Where a clone of `namespace/name` is copied before it is renamed into place.
    #[must_use]
    pub fn clone_staging(&self, namespace: &str, name: &str) -> PathBuf {
        self.root.join(namespace).join(format!(".{name}.partial"))
    }

    /// Where a restore into `namespace/name` is copied before it is renamed into place.
    #[must_use]
    pub fn restore_staging(&self, namespace: &str, name: &str) -> PathBuf {
        self.root
            .join(namespace)
            .join(format!(".{name}.restore-partial"))
    }

    /// Removes the operator-managed PVC `namespace/name`'s directory; a missing one is fine.
    /// The directory is renamed aside at once and removed on a blocking thread: the call
    /// never waits for the tree to be deleted (see the [module docs](self)).
    ///
    /// # Errors
    /// A message naming the directory and the I/O error, when it cannot be renamed.
    pub async fn remove(&self, namespace: &str, name: &str) -> Result<(), String> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = self.dir(namespace, name);
        let unique = format!(
            "{}-{}-{}",
            std::process::id(),
            datamover::time::now_ms(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let aside = self
            .root
            .join(namespace)
            .join(format!(".{name}{DELETED}{unique}"));
        match tokio::fs::rename(&dir, &aside).await {
            Ok(()) => {
                tokio::task::spawn_blocking(move || purge(&aside));
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("removing {}: {e}", dir.display())),
        }
    }

    /// Removes, on a blocking thread, the deleted volumes a stopped operator left renamed
    /// aside; returns at once. Called at start.
    pub fn sweep(&self) {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || {
            let Ok(namespaces) = std::fs::read_dir(&root) else {
                return;
            };
            for ns in namespaces.flatten() {
                let Ok(entries) = std::fs::read_dir(ns.path()) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let name = entry.file_name();
                    let name = name.to_string_lossy();
                    if name.starts_with('.') && name.contains(DELETED) {
                        purge(&entry.path());
                    }
                }
            }
        });
    }
}

/// Deletes a volume's tree renamed aside; a failure is logged (the next start's sweep tries
/// again).
fn purge(aside: &Path) {
    match std::fs::remove_dir_all(aside) {
        Ok(()) => tracing::debug!(dir = %aside.display(), "deleted volume removed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(dir = %aside.display(), error = %e, "cannot remove a deleted volume's data; the next start tries again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datamover::types::ObjectMeta;

    #[allow(clippy::unwrap_used)] // test code
    #[tokio::test]
    async fn a_removed_volume_should_free_its_name_at_once_and_go_in_the_background() {
        let dir = tmc_test_support::tempdir();
        let volumes = Volumes::new(dir.join("volumes"));
        let data = volumes.dir("prod", "clone");
        std::fs::create_dir_all(data.join("sub")).unwrap();
        std::fs::write(data.join("sub/file"), b"data").unwrap();
        volumes.remove("prod", "clone").await.unwrap();
        assert!(!data.exists(), "the name is free at once");
        // Removed in the background: poll, bounded.
        let ns = dir.join("volumes/prod");
        let left = || std::fs::read_dir(&ns).unwrap().count();
        for _ in 0..500 {
            if left() == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(left(), 0, "the data went");
        // Missing: fine. Left aside by a stopped operator: the sweep removes it, and nothing
        // else.
        volumes.remove("prod", "clone").await.unwrap();
        std::fs::create_dir_all(ns.join(".old.deleted-1-2-3/x")).unwrap();
        std::fs::create_dir_all(ns.join("kept")).unwrap();
        std::fs::create_dir_all(ns.join(".kept.partial")).unwrap();
        volumes.sweep();
        for _ in 0..500 {
            if left() == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let mut names: Vec<String> = std::fs::read_dir(&ns)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, [".kept.partial", "kept"]);
    }

    #[test]
    fn a_pvc_lives_under_its_namespace_unless_it_names_a_host_path() {
        let volumes = Volumes::new("/v");
        let mut pvc = PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: "data".into(),
                namespace: "prod".into(),
                ..ObjectMeta::default()
            },
            ..PersistentVolumeClaim::default()
        };
        assert_eq!(volumes.of(&pvc), Path::new("/v/prod/data"));
        assert_eq!(
            volumes.clone_staging("prod", "c"),
            Path::new("/v/prod/.c.partial")
        );
        assert_eq!(
            volumes.restore_staging("prod", "r"),
            Path::new("/v/prod/.r.restore-partial")
        );
        pvc.metadata
            .annotations
            .insert(HOST_PATH_ANNOTATION.into(), "/srv/photos".into());
        assert_eq!(volumes.of(&pvc), Path::new("/srv/photos"));
    }
}
