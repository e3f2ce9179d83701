//! `MetricsConfig`: the seed's knobs plus bind address, TLS and authentication, loaded from
//! flags, environment and an optional YAML file, and validated with clear errors.
//!
//! | field | default | environment | accepts |
//! |---|---|---|---|
//! | `enabled` | `true` | `TMC_METRICS_ENABLED` | `true`/`false` (also `1`/`0`) |
//! | `prometheus_enabled` | `true` | `TMC_METRICS_PROMETHEUS_ENABLED` | as above |
//! | `bind_address` | `127.0.0.1` | `TMC_METRICS_BIND_ADDRESS` | an IP address (`0.0.0.0`, `::`) |
//! | `port` | `8080` | `TMC_METRICS_PORT` | 1 to 65535 |
//! | `path` | `/metrics` | `TMC_METRICS_PATH` | a path starting with `/` |
//! | `collection_interval` | `30s` | `TMC_METRICS_COLLECTION_INTERVAL` | a duration > 0 ([`parse_duration`]) |
//! | `retention_period` | `24h` | `TMC_METRICS_RETENTION_PERIOD` | a duration > 0 |
//! | `tls_cert_file` | none | `TMC_METRICS_TLS_CERT_FILE` | a readable PEM certificate chain |
//! | `tls_key_file` | none | `TMC_METRICS_TLS_KEY_FILE` | a readable PEM private key |
//! | `token_file` | none | `TMC_METRICS_TOKEN_FILE` | a readable file holding the bearer token |
//! | `allow_unauthenticated_probes` | `false` | `TMC_METRICS_ALLOW_UNAUTHENTICATED_PROBES` | `true`/`false` |
//!
//! Precedence: [`ConfigOverrides`] (the binary's flags) over environment over file over
//! defaults, field by field. The file is YAML with the field names above as keys; an unknown
//! key is an error. An empty environment variable for a file field means unset.
//!
//! **Enabled.** With `enabled: false` the [server](crate::MetricsServer) binds nothing; a
//! binary should then not install a recorder either, so recording costs nothing.
//!
//! **Retention.** A series not updated for `retention_period` is left out of the
//! exposition; see [`MetricsConfig::retention_period`] for how counters, gauges and
//! histograms behave.

mod duration;
mod load;

pub use duration::{format_duration, parse_duration};
pub use load::{ConfigLoader, ConfigOverrides, ENV_PREFIX, Origin};

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;
use thiserror::Error;

/// Liveness probe path.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Readiness probe path.
pub const READYZ_PATH: &str = "/readyz";
/// The metrics summary's path, whatever the exposition's path.
pub const SUMMARY_PATH: &str = "/metrics/summary";
/// Paths the exposition may not take.
pub(crate) const RESERVED_PATHS: [&str; 3] = [HEALTHZ_PATH, READYZ_PATH, SUMMARY_PATH];

/// Default `port`: 8080, where the seed's scrape configuration looks.
pub const DEFAULT_PORT: u16 = 8080;
/// Default `path`: `/metrics`.
pub const DEFAULT_PATH: &str = "/metrics";
/// Default `bind_address`: loopback only.
pub const DEFAULT_BIND_ADDRESS: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// Default `collection_interval`: 30 seconds.
pub const DEFAULT_COLLECTION_INTERVAL: Duration = Duration::from_secs(30);
/// Default `retention_period`: 24 hours.
pub const DEFAULT_RETENTION_PERIOD: Duration = Duration::from_secs(24 * 3_600);

/// The field names, in documentation order: the file's keys, and the environment variables
/// uppercased with the `TMC_METRICS_` prefix.
pub const FIELDS: [&str; 11] = [
    "enabled",
    "prometheus_enabled",
    "bind_address",
    "port",
    "path",
    "collection_interval",
    "retention_period",
    "tls_cert_file",
    "tls_key_file",
    "token_file",
    "allow_unauthenticated_probes",
];

/// The metrics endpoint's configuration (the seed's `MetricsConfig`). Every field has the
/// documented default of the [module](self); build one with `..Default::default()` or load
/// one with [`MetricsConfig::loader`].
///
/// ```
/// use std::time::Duration;
/// use tmc_server::MetricsConfig;
///
/// let config = MetricsConfig { port: 9090, ..MetricsConfig::default() };
/// config.validate()?;
/// assert_eq!(config.socket_addr().to_string(), "127.0.0.1:9090");
/// assert_eq!(config.collection_interval, Duration::from_secs(30));
/// # Ok::<(), tmc_server::config::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsConfig {
    /// Serve the metrics listener at all. Default `true`.
    pub enabled: bool,
    /// Serve the Prometheus exposition on `path`. Default `true`; when `false` the listener
    /// still serves the probes and the summary.
    pub prometheus_enabled: bool,
    /// The address to listen on. Default `127.0.0.1`; `0.0.0.0` or `::` to be scraped from
    /// other hosts (then configure TLS and a token).
    pub bind_address: IpAddr,
    /// The port to listen on. Default 8080.
    pub port: u16,
    /// Where the exposition is served. Default `/metrics`.
    pub path: String,
    /// How often the [reporter](crate::MetricsReporter) collects. Default 30 s.
    pub collection_interval: Duration,
    /// How long a series may go without an update before it is left out of the
    /// exposition. Default 24 h. Pass it to `tmc_metrics::MetricsBuilder::retention`.
    ///
    /// A counter, gauge or histogram series that nothing has recorded into for this long
    /// (an increment, a set, even to the same value, an observation) disappears from
    /// `/metrics`. Nothing is deleted: recording into it again brings it back with its
    /// accumulated value (a counter or histogram is not reset, so `rate()` sees no restart;
    /// a gauge shows the value it was last set to), and handles kept by layers keep
    /// working. The reporter refreshes its gauges on every interval, so they never go idle
    /// while it runs; a removed component's do.
    pub retention_period: Duration,
    /// The PEM certificate chain to serve TLS with; TLS is on when this and the key are
    /// set. Reloaded when the file changes.
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key matching `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// A file holding the bearer token scrapers must send; authentication is on when set.
    pub token_file: Option<PathBuf>,
    /// Let `/healthz` and `/readyz` through without a token (for kubelet probes, which send
    /// none). Default `false`. A 503 from `/readyz` names the components that are unhealthy.
    pub allow_unauthenticated_probes: bool,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            prometheus_enabled: true,
            bind_address: DEFAULT_BIND_ADDRESS,
            port: DEFAULT_PORT,
            path: DEFAULT_PATH.to_owned(),
            collection_interval: DEFAULT_COLLECTION_INTERVAL,
            retention_period: DEFAULT_RETENTION_PERIOD,
            tls_cert_file: None,
            tls_key_file: None,
            token_file: None,
            allow_unauthenticated_probes: false,
        }
    }
}

/// Why a configuration could not be loaded or was refused. Every message names the field,
/// the bad value and what is accepted.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value could not be read as its field's type.
    #[error("metrics config `{field}` = `{value}` ({origin}) is invalid: expected {expected}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// The value as given.
        value: String,
        /// Where it came from.
        origin: Origin,
        /// What the field accepts.
        expected: &'static str,
    },
    /// The configuration file could not be read.
    #[error("cannot read metrics config file `{}`: {source}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The configuration file is not YAML.
    #[error("metrics config file `{}` is not valid YAML: {source}", path.display())]
    ParseFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: yaml_serde::Error,
    },
    /// The configuration file is YAML but not a mapping.
    #[error(
        "metrics config file `{}` is invalid: expected a mapping of field names to values, \
         such as `port: 8080`",
        path.display()
    )]
    NotAMapping {
        /// The file.
        path: PathBuf,
    },
    /// The configuration file names a field that does not exist.
    #[error(
        "metrics config file `{}` has an unknown field `{field}`: expected one of {}",
        path.display(),
        FIELDS.join(", ")
    )]
    UnknownField {
        /// The file.
        path: PathBuf,
        /// The unknown key.
        field: String,
    },
    /// Port 0.
    #[error("metrics config `port` = `0` is invalid: expected a port number from 1 to 65535")]
    PortZero,
    /// A path the router cannot serve the exposition on.
    #[error("metrics config `path` = `{value}` is invalid: expected {expected}")]
    Path {
        /// The path.
        value: String,
        /// What is accepted.
        expected: &'static str,
    },
    /// A zero duration.
    #[error(
        "metrics config `{field}` = `0s` is invalid: expected a duration greater than zero, \
         such as `30s`"
    )]
    ZeroDuration {
        /// `collection_interval` or `retention_period`.
        field: &'static str,
    },
    /// One of the two TLS files without the other.
    #[error(
        "metrics config `{missing}` is not set but `{present}` is: expected both \
         `tls_cert_file` and `tls_key_file` for TLS, or neither"
    )]
    TlsIncomplete {
        /// The field not set.
        missing: &'static str,
        /// The field set.
        present: &'static str,
    },
    /// A configured file cannot be read.
    #[error(
        "metrics config `{field}` = `{}` cannot be read ({source}): expected a readable {what}",
        path.display()
    )]
    UnreadableFile {
        /// The field.
        field: &'static str,
        /// The file.
        path: PathBuf,
        /// What the file should hold.
        what: &'static str,
        /// Why it cannot be read.
        #[source]
        source: io::Error,
    },
}

pub(crate) const PATH_SLASH: &str = "a path starting with `/`, such as `/metrics`";
pub(crate) const PATH_CHARS: &str =
    "a path without whitespace, `?`, `#`, `{`, `}` or `*`, such as `/metrics`";
pub(crate) const PATH_RESERVED: &str = "a path other than the listener's own routes /healthz, \
                                         /readyz and /metrics/summary, such as `/metrics`";

impl MetricsConfig {
    /// A loader reading a file, the environment and flags, in that rising precedence.
    ///
    /// ```
    /// use tmc_server::MetricsConfig;
    /// use tmc_server::config::ConfigOverrides;
    ///
    /// let config = MetricsConfig::loader()
    ///     .env([("TMC_METRICS_PORT".to_owned(), "9090".to_owned())])
    ///     .overrides(ConfigOverrides { path: Some("/custom".into()), ..Default::default() })
    ///     .load()?;
    /// assert_eq!((config.port, config.path.as_str()), (9090, "/custom"));
    /// # Ok::<(), tmc_server::config::ConfigError>(())
    /// ```
    pub fn loader() -> ConfigLoader {
        ConfigLoader::default()
    }

    /// The address to listen on.
    #[must_use]
    pub fn socket_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind_address, self.port)
    }

    /// Whether TLS is configured (both files set).
    #[must_use]
    pub fn tls_enabled(&self) -> bool {
        self.tls_cert_file.is_some() && self.tls_key_file.is_some()
    }

    /// Checks every field: port 1 to 65535, a path starting with `/` that the router can
    /// serve, durations greater than zero, both TLS files or neither, and every configured
    /// file readable.
    ///
    /// # Errors
    /// The first [`ConfigError`] found, in field order.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.port == 0 {
            return Err(ConfigError::PortZero);
        }
        validate_path(&self.path)?;
        for (field, value) in [
            ("collection_interval", self.collection_interval),
            ("retention_period", self.retention_period),
        ] {
            if value.is_zero() {
                return Err(ConfigError::ZeroDuration { field });
            }
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => {
                return Err(ConfigError::TlsIncomplete {
                    missing: "tls_key_file",
                    present: "tls_cert_file",
                });
            }
            (None, Some(_)) => {
                return Err(ConfigError::TlsIncomplete {
                    missing: "tls_cert_file",
                    present: "tls_key_file",
                });
            }
            _ => {}
        }
        for (field, path, what) in [
            (
                "tls_cert_file",
                &self.tls_cert_file,
                "PEM certificate chain",
            ),
            ("tls_key_file", &self.tls_key_file, "PEM private key"),
            (
                "token_file",
                &self.token_file,
                "file holding the bearer token",
            ),
        ] {
            if let Some(path) = path {
                readable(field, path, what)?;
            }
        }
        Ok(())
    }
}

fn validate_path(path: &str) -> Result<(), ConfigError> {
    let refuse = |expected| {
        Err(ConfigError::Path {
            value: path.to_owned(),
            expected,
        })
    };
    if !path.starts_with('/') {
        return refuse(PATH_SLASH);
    }
    if path
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '?' | '#' | '{' | '}' | '*'))
    {
        return refuse(PATH_CHARS);
    }
    if RESERVED_PATHS.contains(&path) {
        return refuse(PATH_RESERVED);
    }
    Ok(())
}

fn readable(field: &'static str, path: &Path, what: &'static str) -> Result<(), ConfigError> {
    std::fs::read(path)
        .map(drop)
        .map_err(|source| ConfigError::UnreadableFile {
            field,
            path: path.to_owned(),
            what,
            source,
        })
}

#[cfg(test)]
mod tests;
