//! Where a destination lives, resolved far enough to compare two of them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

/// Parts of a remote's configuration that say who is asking, not where: left out of
/// [`Location::Remote`]'s storage.
const CREDENTIAL_WORDS: &[&str] = &["KEY", "SECRET", "PASS", "TOKEN", "SESSION", "USER_AGENT"];

/// Where a destination lives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Location {
    /// A local directory with `.` and `..` removed (the embedded backend resolves it
    /// further: absolute, symlinks followed).
    Local(PathBuf),
    /// A path on remote storage.
    Remote {
        /// The storage: `s3 <endpoint>` (`s3 aws` without an endpoint), `<type>` and its
        /// non-credential options for other backends, `remote <name>` for a remote
        /// configured elsewhere (an rclone config file).
        storage: String,
        /// The path's components; for S3 the bucket first.
        path: Vec<String>,
    },
}

impl Location {
    /// The base destination of a secret's `values` with `extra` variables on top (a pod's
    /// `env` over its `envFrom`): `DESTINATION` (a local path, or `remote:path` of a remote
    /// configured by `RCLONE_CONFIG_<NAME>_*`), else the original operator's S3 keys.
    ///
    /// # Errors
    /// The secret names no destination.
    pub fn locate(
        values: &BTreeMap<String, String>,
        extra: &[(String, String)],
    ) -> Result<Self, String> {
        let mut env: BTreeMap<String, String> = values.clone();
        env.extend(extra.iter().cloned());
        if let Some(dest) = env.get("DESTINATION").filter(|d| !d.is_empty()) {
            return Ok(Self::parse(dest, &env));
        }
        let Some(bucket) = env.get("BUCKET_NAME").filter(|b| !b.is_empty()) else {
            return Err(
                "names no destination: set DESTINATION, or the S3 keys BUCKET_NAME and BUCKET_HOST"
                    .into(),
            );
        };
        let host = env
            .get("BUCKET_HOST")
            .ok_or("has BUCKET_NAME but no BUCKET_HOST")?;
        let tls = env.get("TLS_HOST").is_some_and(|t| t == "true" || t == "1");
        let scheme = if tls { "https" } else { "http" };
        let endpoint = match env.get("BUCKET_PORT").filter(|p| !p.is_empty()) {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        Ok(Self::Remote {
            storage: format!("s3 {}", endpoint_key(&endpoint)),
            path: components(bucket),
        })
    }

    /// `destination` (`DESTINATION` as written) against the remotes `env` configures.
    #[must_use]
    pub fn parse(destination: &str, env: &BTreeMap<String, String>) -> Self {
        if let Some(spec) = destination.strip_prefix(':') {
            // An on-the-fly remote, `:backend,option=value:path`.
            let (backend, path) = spec.split_once(':').unwrap_or((spec, ""));
            return Self::Remote {
                storage: format!(":{backend}"),
                path: components(path),
            };
        }
        match destination.split_once(':') {
            Some((remote, path)) if !remote.is_empty() && !remote.contains(['/', '\\']) => {
                Self::Remote {
                    storage: storage(remote, env),
                    path: components(path),
                }
            }
            _ => Self::Local(clean(Path::new(destination))),
        }
    }

    /// `self` is `other` or one of its ancestors.
    #[must_use]
    pub fn contains(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Local(a), Self::Local(b)) => b.starts_with(a),
            (
                Self::Remote { storage, path },
                Self::Remote {
                    storage: s,
                    path: p,
                },
            ) => storage == s && p.starts_with(path),
            _ => false,
        }
    }

    /// One contains the other.
    #[must_use]
    pub fn overlaps(&self, other: &Self) -> bool {
        self.contains(other) || other.contains(self)
    }

    /// The first component of `self` below `ancestor`, when `ancestor` contains it and is
    /// not it.
    #[must_use]
    pub fn first_below(&self, ancestor: &Self) -> Option<&str> {
        match (self, ancestor) {
            (Self::Local(a), Self::Local(b)) => a
                .strip_prefix(b)
                .ok()?
                .components()
                .next()?
                .as_os_str()
                .to_str(),
            (Self::Remote { path, .. }, Self::Remote { path: p, .. })
                if ancestor.contains(self) =>
            {
                path.get(p.len()).map(String::as_str)
            }
            _ => None,
        }
    }

    /// The same location with local paths mapped by `f` (a backend's symlink resolution).
    ///
    /// # Errors
    /// `f`'s.
    pub fn map_local(
        self,
        f: impl FnOnce(&Path) -> Result<PathBuf, String>,
    ) -> Result<Self, String> {
        match self {
            Self::Local(p) => f(&p).map(Self::Local),
            remote @ Self::Remote { .. } => Ok(remote),
        }
    }
}

impl fmt::Display for Location {
    /// A local path as is; `s3://bucket/path at <endpoint>`; `name:path` for a remote
    /// configured elsewhere; `type:path (options)` for other backends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (storage, path) = match self {
            Self::Local(p) => return write!(f, "{}", p.display()),
            Self::Remote { storage, path } => (storage, path.join("/")),
        };
        if let Some(endpoint) = storage.strip_prefix("s3 ") {
            return match endpoint {
                "aws" => write!(f, "s3://{path} on AWS"),
                _ => write!(f, "s3://{path} at {endpoint}"),
            };
        }
        if let Some(name) = storage.strip_prefix("remote ") {
            return write!(f, "{name}:{path}");
        }
        match storage.split_once(' ') {
            Some((kind, options)) => write!(f, "{kind}:{path} ({options})"),
            None => write!(f, "{storage}:{path}"),
        }
    }
}

/// The storage a named remote reaches, from its `RCLONE_CONFIG_<NAME>_*` variables.
fn storage(remote: &str, env: &BTreeMap<String, String>) -> String {
    let prefix = format!("RCLONE_CONFIG_{}_", env_name(remote));
    let options: BTreeMap<String, &str> = env
        .iter()
        .filter_map(|(k, v)| {
            let key = env_name(k);
            let option = key.strip_prefix(&prefix)?.to_owned();
            Some((option, v.as_str()))
        })
        .collect();
    let Some(kind) = options.get("TYPE").map(|t| t.trim().to_ascii_lowercase()) else {
        return format!("remote {remote}");
    };
    if kind == "s3" {
        return match options.get("ENDPOINT").filter(|e| !e.trim().is_empty()) {
            Some(endpoint) => format!("s3 {}", endpoint_key(endpoint)),
            None => "s3 aws".into(),
        };
    }
    let rest: Vec<String> = options
        .iter()
        .filter(|(k, _)| *k != "TYPE" && !CREDENTIAL_WORDS.iter().any(|w| k.contains(w)))
        .map(|(k, v)| format!("{}={}", k.to_ascii_lowercase(), v.trim()))
        .collect();
    if rest.is_empty() {
        kind
    } else {
        format!("{kind} {}", rest.join(","))
    }
}

/// An endpoint as a comparable key: scheme (https when none) and host in lower case, the
/// scheme's default port and trailing slashes dropped.
fn endpoint_key(endpoint: &str) -> String {
    let endpoint = endpoint.trim().trim_end_matches('/');
    let (scheme, rest) = endpoint.split_once("://").unwrap_or(("https", endpoint));
    let scheme = scheme.to_ascii_lowercase();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut host = host.to_ascii_lowercase();
    for (s, port) in [("http", ":80"), ("https", ":443")] {
        if scheme == s && host.ends_with(port) {
            host.truncate(host.len() - port.len());
        }
    }
    if path.is_empty() {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}/{path}")
    }
}

/// A remote path's non-empty components.
fn components(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(str::to_owned)
        .collect()
}

/// `path` with `.` and `..` removed lexically, as Go's `filepath.Clean` does (a relative
/// path stays relative).
#[must_use]
pub fn clean(path: &Path) -> PathBuf {
    let mut out = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        PathBuf::new()
    };
    for component in path.components() {
        match component {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::Prefix(_) | Component::CurDir => {}
        }
    }
    out
}

/// The name rclone derives a config variable from: upper case, `-` and other punctuation
/// as `_`.
#[must_use]
pub fn env_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}
