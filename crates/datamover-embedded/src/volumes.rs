//! The volume layout: where a PVC's data lives on disk. Nothing else in the operator
//! spells these paths.
//!
//! ```text
//! <data-dir>/volumes/<namespace>/<name>                   a PVC's data
//! <data-dir>/volumes/<namespace>/.<name>.partial          a clone being copied
//! <data-dir>/volumes/<namespace>/.<name>.restore-partial  a restore being copied
//! ```
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
    ///
    /// # Errors
    /// A message naming the directory and the I/O error.
    pub async fn remove(&self, namespace: &str, name: &str) -> Result<(), String> {
        let dir = self.dir(namespace, name);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("removing {}: {e}", dir.display())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datamover::types::ObjectMeta;

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
