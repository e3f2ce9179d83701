//! Loading: defaults, then an optional YAML file, then environment, then flags.

use super::duration::{DURATION_EXPECTED, parse_duration};
use super::{ConfigError, FIELDS, MetricsConfig};
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The prefix of every environment variable.
pub const ENV_PREFIX: &str = "TMC_METRICS_";

/// Where a configuration value came from, for error messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The YAML file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(f, "from file `{}`", path.display()),
            Self::Env(name) => write!(f, "from environment variable `{name}`"),
        }
    }
}

/// Values given explicitly, typically the binary's command-line flags: each set field wins
/// over the environment and the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigOverrides {
    /// See [`MetricsConfig::enabled`].
    pub enabled: Option<bool>,
    /// See [`MetricsConfig::prometheus_enabled`].
    pub prometheus_enabled: Option<bool>,
    /// See [`MetricsConfig::bind_address`].
    pub bind_address: Option<IpAddr>,
    /// See [`MetricsConfig::port`].
    pub port: Option<u16>,
    /// See [`MetricsConfig::path`].
    pub path: Option<String>,
    /// See [`MetricsConfig::collection_interval`].
    pub collection_interval: Option<Duration>,
    /// See [`MetricsConfig::retention_period`].
    pub retention_period: Option<Duration>,
    /// See [`MetricsConfig::tls_cert_file`].
    pub tls_cert_file: Option<PathBuf>,
    /// See [`MetricsConfig::tls_key_file`].
    pub tls_key_file: Option<PathBuf>,
    /// See [`MetricsConfig::token_file`].
    pub token_file: Option<PathBuf>,
    /// See [`MetricsConfig::allow_unauthenticated_probes`].
    pub allow_unauthenticated_probes: Option<bool>,
}

/// Loads a [`MetricsConfig`]: defaults, then the file, then the environment, then the
/// overrides, field by field; then [validates](MetricsConfig::validate) the result.
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ConfigLoader {
    file: Option<PathBuf>,
    env: Vec<(String, String)>,
    overrides: ConfigOverrides,
}

impl ConfigLoader {
    /// Reads this YAML file (keys are the field names; an unknown key is an error).
    /// Default: no file.
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.file = Some(path.into());
        self
    }

    /// Reads the `TMC_METRICS_*` variables among `vars`, e.g. `std::env::vars()`; others
    /// are ignored. Default: none, so tests never see the process environment.
    pub fn env(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env = vars
            .into_iter()
            .filter(|(name, _)| name.starts_with(ENV_PREFIX))
            .collect();
        self
    }

    /// Reads the process environment's `TMC_METRICS_*` variables (those that are UTF-8).
    pub fn process_env(self) -> Self {
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        self.env(vars)
    }

    /// The explicit values, typically flags. Default: none.
    pub fn overrides(mut self, overrides: ConfigOverrides) -> Self {
        self.overrides = overrides;
        self
    }

    /// Loads and validates.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the field, the value, where it came from and what is
    /// accepted: the file cannot be read or parsed or has an unknown key, a value cannot be
    /// parsed, or [`MetricsConfig::validate`] refuses the result.
    pub fn load(&self) -> Result<MetricsConfig, ConfigError> {
        let mut config = MetricsConfig::default();
        if let Some(path) = &self.file {
            for (field, value) in read_file(path)? {
                set(&mut config, field, &value, &Origin::File(path.clone()))?;
            }
        }
        for field in FIELDS {
            let name = format!("{ENV_PREFIX}{}", field.to_ascii_uppercase());
            if let Some((_, value)) = self.env.iter().rev().find(|(k, _)| *k == name) {
                set(&mut config, field, value, &Origin::Env(name))?;
            }
        }
        self.apply_overrides(&mut config);
        config.validate()?;
        Ok(config)
    }

    fn apply_overrides(&self, config: &mut MetricsConfig) {
        let o = &self.overrides;
        fn take<T: Clone>(target: &mut T, value: Option<&T>) {
            if let Some(value) = value {
                *target = value.clone();
            }
        }
        take(&mut config.enabled, o.enabled.as_ref());
        take(
            &mut config.prometheus_enabled,
            o.prometheus_enabled.as_ref(),
        );
        take(&mut config.bind_address, o.bind_address.as_ref());
        take(&mut config.port, o.port.as_ref());
        take(&mut config.path, o.path.as_ref());
        take(
            &mut config.collection_interval,
            o.collection_interval.as_ref(),
        );
        take(&mut config.retention_period, o.retention_period.as_ref());
        take(
            &mut config.allow_unauthenticated_probes,
            o.allow_unauthenticated_probes.as_ref(),
        );
        for (target, value) in [
            (&mut config.tls_cert_file, &o.tls_cert_file),
            (&mut config.tls_key_file, &o.tls_key_file),
            (&mut config.token_file, &o.token_file),
        ] {
            if value.is_some() {
                target.clone_from(value);
            }
        }
    }
}

/// The file's settings as `(field, value as text)`, in file order. A null value is unset.
fn read_file(path: &PathBuf) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::ReadFile {
        path: path.clone(),
        source,
    })?;
    let yaml: yaml_serde::Value =
        yaml_serde::from_str(&text).map_err(|source| ConfigError::ParseFile {
            path: path.clone(),
            source,
        })?;
    let mapping = match yaml {
        yaml_serde::Value::Null => return Ok(Vec::new()),
        yaml_serde::Value::Mapping(mapping) => mapping,
        _ => return Err(ConfigError::NotAMapping { path: path.clone() }),
    };
    let mut settings = Vec::new();
    for (key, value) in mapping {
        let key = match key {
            yaml_serde::Value::String(key) => key,
            other => scalar(&other).unwrap_or_else(|| format!("{other:?}")),
        };
        let Some(field) = FIELDS.iter().copied().find(|f| *f == key) else {
            return Err(ConfigError::UnknownField {
                path: path.clone(),
                field: key,
            });
        };
        if value.is_null() {
            continue;
        }
        let text = scalar(&value).unwrap_or_else(|| {
            yaml_serde::to_string(&value)
                .unwrap_or_default()
                .trim()
                .replace('\n', " ")
        });
        settings.push((field, text));
    }
    Ok(settings)
}

fn scalar(value: &yaml_serde::Value) -> Option<String> {
    match value {
        yaml_serde::Value::Bool(b) => Some(b.to_string()),
        yaml_serde::Value::Number(n) => Some(n.to_string()),
        yaml_serde::Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

const BOOL_EXPECTED: &str = "`true` or `false` (or `1` or `0`)";
const PORT_EXPECTED: &str = "a port number from 1 to 65535";
const IP_EXPECTED: &str = "an IP address, such as `127.0.0.1`, `0.0.0.0` or `::`";
const PATH_FILE_EXPECTED: &str = "a file path";

/// Parses `value` into `field` of `config`.
fn set(
    config: &mut MetricsConfig,
    field: &'static str,
    value: &str,
    origin: &Origin,
) -> Result<(), ConfigError> {
    let invalid = |expected| ConfigError::Invalid {
        field,
        value: value.to_owned(),
        origin: origin.clone(),
        expected,
    };
    let boolean = || match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(invalid(BOOL_EXPECTED)),
    };
    let duration = || parse_duration(value).ok_or_else(|| invalid(DURATION_EXPECTED));
    let file = || -> Result<Option<PathBuf>, ConfigError> {
        match value.trim() {
            "" if matches!(origin, Origin::Env(_)) => Ok(None),
            "" => Err(invalid(PATH_FILE_EXPECTED)),
            path => Ok(Some(PathBuf::from(path))),
        }
    };
    match field {
        "enabled" => config.enabled = boolean()?,
        "prometheus_enabled" => config.prometheus_enabled = boolean()?,
        "allow_unauthenticated_probes" => config.allow_unauthenticated_probes = boolean()?,
        "bind_address" => {
            config.bind_address = value.trim().parse().map_err(|_| invalid(IP_EXPECTED))?;
        }
        "port" => {
            config.port = value
                .trim()
                .parse()
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| invalid(PORT_EXPECTED))?;
        }
        "path" => config.path = value.to_owned(),
        "collection_interval" => config.collection_interval = duration()?,
        "retention_period" => config.retention_period = duration()?,
        "tls_cert_file" => config.tls_cert_file = file()?,
        "tls_key_file" => config.tls_key_file = file()?,
        "token_file" => config.token_file = file()?,
        _ => unreachable!("every field of FIELDS is handled"),
    }
    Ok(())
}
