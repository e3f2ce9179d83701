//! Which host directories the embedded backend may read and write.
//!
//! A PVC's `datamover.a-cup-of.coffee/host-path` annotation is accepted only under the roots
//! given by `--allow-host-path` (none by default); a secret's local `DESTINATION` only under
//! the roots given by `--allow-local-destination` (`<data-dir>/backups` by default). Paths
//! are compared after `..` and symlinks are resolved, so neither escapes a root. Whatever the
//! roots, a destination is refused when it is `/`, contains the operator's data dir, lies in
//! the data dir outside `<data-dir>/backups`, or overlaps the source: `rclone sync` deletes
//! what the destination holds.
//!
//! The API checks every applied object ([`Policy::check_objects`]); the sync path checks
//! again right before rclone runs ([`check_local_destination`]), so a root removed across a
//! restart, or a symlink swapped in since, is still refused.

use crate::store::EmbeddedStore;
use crate::volumes::Volumes;
use datamover::manifest::Object;
use datamover::overlap::Location;
use datamover::types::{DataMover, HOST_PATH_ANNOTATION, Kind, Secret};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod env;
mod path;

pub use env::check_env;
pub use path::resolve;

/// The flag (and variable) that adds host-path roots.
pub const HOST_PATH_FLAG: &str = "--allow-host-path DIR (or DATAMOVER_ALLOW_HOST_PATHS)";
/// The flag (and variable) that adds local-destination roots.
pub const DESTINATION_FLAG: &str =
    "--allow-local-destination DIR (or DATAMOVER_ALLOW_LOCAL_DESTINATIONS)";

/// rclone backends that can reach the local filesystem through a named remote.
const LOCAL_CAPABLE: &[&str] = &[
    "local", "alias", "union", "combine", "chunker", "crypt", "compress", "hasher", "cache",
];

/// The roots the operator was given, resolved once at start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    data_dir: PathBuf,
    backups: PathBuf,
    host_paths: Vec<PathBuf>,
    destinations: Vec<PathBuf>,
}

impl Policy {
    /// The policy for `data_dir` with the given roots; no destination roots means the
    /// default, `<data-dir>/backups` (created here).
    ///
    /// # Errors
    /// A message naming the flag when the data dir or a root cannot be resolved.
    pub fn new(
        data_dir: &Path,
        host_paths: &[PathBuf],
        destinations: &[PathBuf],
    ) -> Result<Self, String> {
        let data_dir = std::fs::canonicalize(data_dir)
            .map_err(|e| format!("--data-dir {}: {e}", data_dir.display()))?;
        let backups = data_dir.join("backups");
        std::fs::create_dir_all(&backups)
            .map_err(|e| format!("--data-dir: cannot create {}: {e}", backups.display()))?;
        let root = |flag: &str, dir: &PathBuf| {
            std::fs::canonicalize(dir)
                .map_err(|e| format!("{flag} {}: {e} (give an existing directory)", dir.display()))
        };
        let host_paths = host_paths
            .iter()
            .map(|d| root("--allow-host-path", d))
            .collect::<Result<Vec<_>, _>>()?;
        let mut destinations = destinations
            .iter()
            .map(|d| root("--allow-local-destination", d))
            .collect::<Result<Vec<_>, _>>()?;
        if destinations.is_empty() {
            destinations.push(backups.clone());
        }
        for r in &destinations {
            if r.parent().is_none() {
                return Err(
                    "--allow-local-destination /: the root directory is never a destination root"
                        .into(),
                );
            }
        }
        Ok(Self {
            data_dir,
            backups,
            host_paths,
            destinations,
        })
    }

    /// The resolved data dir.
    #[must_use]
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The resolved host-path roots.
    #[must_use]
    pub fn host_path_roots(&self) -> &[PathBuf] {
        &self.host_paths
    }

    /// The resolved local-destination roots.
    #[must_use]
    pub fn destination_roots(&self) -> &[PathBuf] {
        &self.destinations
    }

    /// Resolves a host-path annotation and checks it is under a host-path root and apart
    /// from the data dir.
    ///
    /// # Errors
    /// A message naming the annotation and [`HOST_PATH_FLAG`].
    pub fn check_host_path(&self, host_path: &str) -> Result<PathBuf, String> {
        let what = format!("annotation {HOST_PATH_ANNOTATION}: {host_path:?}");
        let resolved = resolve(Path::new(host_path)).map_err(|e| format!("{what}: {e}"))?;
        if overlaps(&resolved, &self.data_dir) {
            return Err(format!(
                "{what} (resolved {}) overlaps the operator's data dir {}: never allowed",
                resolved.display(),
                self.data_dir.display()
            ));
        }
        if !self.host_paths.iter().any(|r| resolved.starts_with(r)) {
            return Err(format!(
                "{what} (resolved {}) is outside the allowed host-path roots ({}); start the operator with {HOST_PATH_FLAG} to allow it",
                resolved.display(),
                list(&self.host_paths)
            ));
        }
        Ok(resolved)
    }

    /// Checks a destination (`DESTINATION` as given, or a sync's full destination): a named
    /// remote must not be configured in `env` as a local-capable backend; a local path must
    /// be under a destination root, not `/`, not the data dir outside `backups`, and apart
    /// from `source` when given.
    ///
    /// # Errors
    /// A message naming the `DESTINATION` key and, when a root would allow it,
    /// [`DESTINATION_FLAG`].
    pub fn check_destination(
        &self,
        destination: &str,
        env: &[(String, String)],
        source: Option<&Path>,
    ) -> Result<(), String> {
        let what = format!("DESTINATION {destination:?}");
        if destination.starts_with(':') {
            return Err(format!(
                "{what}: on-the-fly remotes (:backend:path) are not accepted; configure a named remote with RCLONE_CONFIG_<NAME>_TYPE"
            ));
        }
        let local = match destination.split_once(':') {
            Some((remote, _)) if !remote.contains(['/', '\\']) => {
                let wanted = format!(
                    "RCLONE_CONFIG_{}_TYPE",
                    datamover::overlap::env_name(remote)
                );
                if let Some((_, kind)) = env
                    .iter()
                    .find(|(k, _)| datamover::overlap::env_name(k) == wanted)
                {
                    let kind = kind.trim().to_ascii_lowercase();
                    if LOCAL_CAPABLE.contains(&kind.as_str()) {
                        return Err(format!(
                            "{what}: the remote {remote:?} is of type {kind}, which reaches local directories; give a local DESTINATION as a path so it can be checked"
                        ));
                    }
                }
                return Ok(());
            }
            _ => Path::new(destination),
        };
        let resolved = resolve(local).map_err(|e| format!("{what}: {e}"))?;
        let shown = format!("{what} (resolved {})", resolved.display());
        if resolved.parent().is_none() {
            return Err(format!(
                "{shown} is the root directory: never a destination (rclone sync deletes what it holds)"
            ));
        }
        if self.data_dir.starts_with(&resolved) {
            return Err(format!(
                "{shown} contains the operator's data dir {}: never a destination",
                self.data_dir.display()
            ));
        }
        if resolved.starts_with(&self.data_dir) && !resolved.starts_with(&self.backups) {
            return Err(format!(
                "{shown} is inside the operator's data dir: only {} is a destination there",
                self.backups.display()
            ));
        }
        if let Some(source) = source {
            let source = resolve(source).map_err(|e| format!("the source: {e}"))?;
            if overlaps(&resolved, &source) {
                return Err(format!(
                    "{shown} overlaps the source {}: a sync would delete it; choose a destination apart from the source",
                    source.display()
                ));
            }
        }
        if !self.destinations.iter().any(|r| resolved.starts_with(r)) {
            return Err(format!(
                "{shown} is outside the allowed local-destination roots ({}); start the operator with {DESTINATION_FLAG} to allow it",
                list(&self.destinations)
            ));
        }
        Ok(())
    }

    /// Checks what `apply` would store: every PVC's host path, every secret's destination,
    /// and every DataMover's destination against its source, looking up the objects not in
    /// `objects` in `store`. `volumes` is the layout under `<data-dir>/volumes`.
    ///
    /// # Errors
    /// The first refusal, prefixed with the object's kind, namespace and name.
    pub fn check_objects(
        &self,
        objects: &[Object],
        store: &EmbeddedStore,
        volumes: &Volumes,
    ) -> Result<(), String> {
        let find = |kind: Kind, ns: &str, name: &str| {
            objects
                .iter()
                .find(|o| {
                    let m = o.metadata();
                    o.kind() == kind && m.namespace == ns && m.name == name
                })
                .cloned()
                .or_else(|| store.get(kind, ns, name))
        };
        for o in objects {
            let m = o.metadata();
            let who = format!("{} {}/{}", o.kind().as_str(), m.namespace, m.name);
            match o {
                Object::PersistentVolumeClaim(pvc) => {
                    if let Some(host) = pvc.metadata.annotations.get(HOST_PATH_ANNOTATION) {
                        if datamover::populator::source_of(pvc).is_some() {
                            return Err(format!(
                                "{who}: a restore (spec.dataSourceRef to a DataMoverPopulator) fills a new volume; remove the annotation {HOST_PATH_ANNOTATION} or the dataSourceRef"
                            ));
                        }
                        self.check_host_path(host)
                            .map_err(|e| format!("{who}: {e}"))?;
                    }
                }
                Object::Secret(secret) => {
                    let env = secret_env(secret).map_err(|e| format!("{who}: {e}"))?;
                    check_env(&env).map_err(|e| format!("{who}: key {e}"))?;
                    if let Some((_, dest)) = env.iter().find(|(k, _)| k == "DESTINATION") {
                        self.check_destination(dest, &env, None)
                            .map_err(|e| format!("{who}: {e}"))?;
                    }
                }
                Object::DataMover(dm) => check_additional_env(&dm.spec.additional_env)
                    .map_err(|e| format!("{who}: {e}"))?,
                Object::DataMoverSchedule(sched) => {
                    check_additional_env(&sched.spec.additional_env)
                        .map_err(|e| format!("{who}: {e}"))?;
                }
                Object::DataMoverPopulator(pop) => {
                    check_additional_env(&pop.spec.additional_env)
                        .map_err(|e| format!("{who}: {e}"))?;
                    datamover::populator::check_path(&pop.spec.path)
                        .map_err(|e| format!("{who}: spec.path: {e}"))?;
                }
                // Made by the operator from what was checked above.
                Object::Job(_) => {}
            }
        }
        // Every DataMover (and schedule, which makes DataMovers) touched by this apply, with
        // its source and destination.
        let mut movers: Vec<DataMover> = store
            .list(Kind::DataMover, None)
            .into_iter()
            .chain(store.list(Kind::DataMoverSchedule, None))
            .chain(objects.iter().cloned())
            .filter_map(|o| match o {
                Object::DataMover(dm) => Some(dm),
                Object::DataMoverSchedule(s) => {
                    Some(datamover::schedule::reconciler::as_datamover(&s))
                }
                _ => None,
            })
            .collect();
        movers.reverse(); // the applied version first
        let mut seen = std::collections::BTreeSet::new();
        movers.retain(|dm| {
            seen.insert((
                dm.kind.clone(),
                dm.metadata.namespace.clone(),
                dm.metadata.name.clone(),
            ))
        });
        let touched = |dm: &DataMover| {
            let (ns, name) = (&dm.metadata.namespace, &dm.metadata.name);
            objects.iter().any(|o| {
                let m = o.metadata();
                m.namespace == *ns
                    && match o.kind() {
                        Kind::DataMover | Kind::DataMoverSchedule => {
                            m.name == *name && o.kind().as_str() == dm.kind
                        }
                        Kind::PersistentVolumeClaim => m.name == dm.spec.source_pvc,
                        Kind::Secret => m.name == dm.spec.secret_name,
                        Kind::Job | Kind::DataMoverPopulator => false,
                    }
            })
        };
        for dm in movers.iter().filter(|dm| touched(dm)) {
            let (ns, name) = (&dm.metadata.namespace, &dm.metadata.name);
            let (Some(Object::PersistentVolumeClaim(pvc)), Some(Object::Secret(secret))) = (
                find(Kind::PersistentVolumeClaim, ns, &dm.spec.source_pvc),
                find(Kind::Secret, ns, &dm.spec.secret_name),
            ) else {
                continue;
            };
            let who = format!("{} {ns}/{name}", dm.kind);
            let mut env = secret_env(&secret).map_err(|e| format!("{who}: {e}"))?;
            env.extend(
                dm.spec
                    .additional_env
                    .iter()
                    .map(|e| (e.name.clone(), e.value.clone())),
            );
            let source = volumes.of(&pvc);
            if let Some((_, dest)) = env.iter().rev().find(|(k, _)| k == "DESTINATION") {
                self.check_destination(dest, &env, Some(&source))
                    .map_err(|e| format!("{who} (secret {}): {e}", dm.spec.secret_name))?;
            }
        }
        // No sync may delete what another live DataMover or schedule wrote.
        let secret = |ns: &str, name: &str| match find(Kind::Secret, ns, name) {
            Some(Object::Secret(s)) => Some(s),
            _ => None,
        };
        let claims = datamover::overlap::claims(&movers, secret, locate);
        for dm in movers.iter().filter(|dm| touched(dm)) {
            let mine = |c: &&datamover::overlap::Claim| {
                (&c.kind, &c.namespace, &c.name)
                    == (&dm.kind, &dm.metadata.namespace, &dm.metadata.name)
            };
            if let Some(candidate) = claims.iter().find(mine) {
                datamover::overlap::check(candidate, &claims).map_err(|e| {
                    format!(
                        "{} {}/{}: {e}",
                        dm.kind, dm.metadata.namespace, dm.metadata.name
                    )
                })?;
            }
        }
        Ok(())
    }
}

/// The check the sync path makes right before rclone runs: `destination` is the sync's full
/// destination (timestamp folder included), `env` the child's environment on top of the
/// operator's, `source` the directory rclone reads (the clone). Checks `env` too
/// ([`check_env`]).
///
/// # Errors
/// The refusal, as [`check_env`] or [`Policy::check_destination`] words it.
pub fn check_local_destination(
    policy: &Policy,
    destination: &str,
    env: &[(String, String)],
    source: &Path,
) -> Result<(), String> {
    check_env(env)?;
    policy.check_destination(destination, env, Some(source))
}

/// Where a sync with a secret's `values` and `extra` variables writes on this machine:
/// [`Location::locate`], a local path resolved as rclone will see it ([`resolve`]: made
/// absolute, symlinks followed), so a symlink into another's destination is caught.
///
/// # Errors
/// The secret names no destination, or the path cannot be resolved.
pub fn locate(
    values: &BTreeMap<String, String>,
    extra: &[(String, String)],
) -> Result<Location, String> {
    Location::locate(values, extra)?.map_local(resolve)
}

/// How long [`locate_recent`] keeps a resolved local path.
pub const RESOLVED_FOR: std::time::Duration = std::time::Duration::from_secs(5);

/// [`locate`], with a local path's resolution kept for [`RESOLVED_FOR`]: every sync Job's
/// overlap check compares its destination (resolved afresh) with every other object's, and
/// resolving each of a thousand others' paths again (a `stat` per component) for each of a
/// thousand Jobs made the check cost more than the rest of a small backup. A symlink
/// swapped under another object's destination is seen within a few seconds, and always
/// by that object's own checks, which resolve afresh.
///
/// # Errors
/// As [`locate`].
pub fn locate_recent(
    values: &BTreeMap<String, String>,
    extra: &[(String, String)],
) -> Result<Location, String> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock, PoisonError};
    use std::time::Instant;
    type Cache = HashMap<PathBuf, (Instant, Result<PathBuf, String>)>;
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    Location::locate(values, extra)?.map_local(|path| {
        let cache = CACHE.get_or_init(Mutex::default);
        let now = Instant::now();
        if let Some((_, resolved)) = cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(path)
            .filter(|(at, _)| now.duration_since(*at) < RESOLVED_FOR)
        {
            return resolved.clone();
        }
        let resolved = resolve(path);
        let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() > 10_000 {
            cache.retain(|_, (at, _)| now.duration_since(*at) < RESOLVED_FOR);
        }
        cache.insert(path.to_owned(), (now, resolved.clone()));
        resolved
    })
}

/// Checks `spec.additionalEnv` for the embedded backend: no variable that lets rclone
/// reach past the roots, and no `valueFrom` (there are no Kubernetes Secrets, `ConfigMaps` or
/// fields to read it from on one machine, and an empty variable would be a silent surprise).
fn check_additional_env(env: &[datamover::types::EnvVar]) -> Result<(), String> {
    if let Some((i, e)) = env.iter().enumerate().find(|(_, e)| e.value_from.is_some()) {
        return Err(format!(
            "spec.additionalEnv[{i}].valueFrom ({}): not supported by the embedded backend, which has no Kubernetes Secrets, ConfigMaps or fields to read it from; give `value`, or put the variable in the secret named by secretName",
            e.name
        ));
    }
    check_env(&env_pairs(env)).map_err(|e| format!("spec.additionalEnv {e}"))
}

fn env_pairs(env: &[datamover::types::EnvVar]) -> Vec<(String, String)> {
    env.iter()
        .map(|e| (e.name.clone(), e.value.clone()))
        .collect()
}

/// The decoded values of a secret as environment pairs.
fn secret_env(secret: &Secret) -> Result<Vec<(String, String)>, String> {
    let values = secret
        .values()
        .map_err(|key| format!("data.{key} is not valid base64 of UTF-8 text"))?;
    Ok(values.into_iter().collect())
}

/// One contains the other (or they are the same).
fn overlaps(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn list(roots: &[PathBuf]) -> String {
    if roots.is_empty() {
        return "none".into();
    }
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests;
