use super::*;
use crate::testing::TempDir;

fn env(vars: &[(&str, &str)]) -> Vec<(String, String)> {
    vars.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn load_env(vars: &[(&str, &str)]) -> Result<MetricsConfig, ConfigError> {
    MetricsConfig::loader().env(env(vars)).load()
}

fn err(result: Result<MetricsConfig, ConfigError>) -> String {
    result.unwrap_err().to_string()
}

#[test]
fn metrics_config_should_default_to_the_seeds_values_on_loopback() {
    let config = MetricsConfig::loader().load().unwrap();
    assert_eq!(config, MetricsConfig::default());
    assert!(config.enabled && config.prometheus_enabled);
    assert_eq!(config.socket_addr().to_string(), "127.0.0.1:8080");
    assert_eq!(config.path, "/metrics");
    assert_eq!(config.collection_interval, Duration::from_secs(30));
    assert_eq!(config.retention_period, Duration::from_secs(86_400));
    assert!(!config.tls_enabled() && config.token_file.is_none());
    assert!(!config.allow_unauthenticated_probes);
}

#[test]
fn metrics_config_should_take_flags_over_env_over_file_over_defaults() {
    let dir = TempDir::new("config-precedence");
    let token = dir.write("token", "t");
    let file = dir.write(
        "metrics.yaml",
        &format!(
            "enabled: true\nport: 1111\npath: /from-file\ncollection_interval: 10s\n\
             retention_period: 1h\nbind_address: 0.0.0.0\ntoken_file: {}\nprometheus_enabled: null\n",
            token.display()
        ),
    );
    let config = MetricsConfig::loader()
        .file(&file)
        .env(env(&[
            ("TMC_METRICS_PORT", "2222"),
            ("TMC_METRICS_PATH", "/from-env"),
            ("TMC_METRICS_RETENTION_PERIOD", "2h"),
            ("TMC_METRICS_TOKEN_FILE", ""),
            ("OTHER_PORT", "1"),
        ]))
        .overrides(ConfigOverrides {
            port: Some(3333),
            allow_unauthenticated_probes: Some(true),
            ..ConfigOverrides::default()
        })
        .load()
        .unwrap();
    assert_eq!(
        config,
        MetricsConfig {
            enabled: true,
            prometheus_enabled: true,
            bind_address: "0.0.0.0".parse().unwrap(),
            port: 3333,
            path: "/from-env".into(),
            collection_interval: Duration::from_secs(10),
            retention_period: Duration::from_secs(7_200),
            tls_cert_file: None,
            tls_key_file: None,
            token_file: None,
            allow_unauthenticated_probes: true,
        }
    );
}

#[test]
fn metrics_config_should_read_every_field_from_env() {
    let dir = TempDir::new("config-env");
    let cert = dir.write("cert.pem", "x");
    let key = dir.write("key.pem", "x");
    let token = dir.write("token", "x");
    let config = load_env(&[
        ("TMC_METRICS_ENABLED", "0"),
        ("TMC_METRICS_PROMETHEUS_ENABLED", "FALSE"),
        ("TMC_METRICS_BIND_ADDRESS", "::"),
        ("TMC_METRICS_PORT", "9443"),
        ("TMC_METRICS_PATH", "/custom/metrics"),
        ("TMC_METRICS_COLLECTION_INTERVAL", "1m30s"),
        ("TMC_METRICS_RETENTION_PERIOD", "7d"),
        ("TMC_METRICS_TLS_CERT_FILE", cert.to_str().unwrap()),
        ("TMC_METRICS_TLS_KEY_FILE", key.to_str().unwrap()),
        ("TMC_METRICS_TOKEN_FILE", token.to_str().unwrap()),
        ("TMC_METRICS_ALLOW_UNAUTHENTICATED_PROBES", "true"),
    ])
    .unwrap();
    assert!(!config.enabled && !config.prometheus_enabled && config.allow_unauthenticated_probes);
    assert_eq!(config.socket_addr().to_string(), "[::]:9443");
    assert_eq!(config.path, "/custom/metrics");
    assert_eq!(config.collection_interval, Duration::from_secs(90));
    assert_eq!(config.retention_period, Duration::from_secs(7 * 86_400));
    assert!(config.tls_enabled());
    assert_eq!(config.token_file.as_deref(), Some(token.as_path()));
}

#[test]
fn metrics_config_should_name_field_value_origin_and_accepted_values_of_a_bad_value() {
    let cases = [
        (
            "TMC_METRICS_ENABLED",
            "yes",
            "enabled",
            "`true` or `false` (or `1` or `0`)",
        ),
        (
            "TMC_METRICS_PORT",
            "70000",
            "port",
            "a port number from 1 to 65535",
        ),
        (
            "TMC_METRICS_PORT",
            "0",
            "port",
            "a port number from 1 to 65535",
        ),
        (
            "TMC_METRICS_PORT",
            "http",
            "port",
            "a port number from 1 to 65535",
        ),
        (
            "TMC_METRICS_BIND_ADDRESS",
            "localhost",
            "bind_address",
            "an IP address, such as `127.0.0.1`, `0.0.0.0` or `::`",
        ),
        (
            "TMC_METRICS_COLLECTION_INTERVAL",
            "30",
            "collection_interval",
            "a duration such as `500ms`, `30s`, `5m`, `24h` or `1h30m` (units ms, s, m, h, d)",
        ),
        (
            "TMC_METRICS_RETENTION_PERIOD",
            "1 day",
            "retention_period",
            "a duration such as `500ms`, `30s`, `5m`, `24h` or `1h30m` (units ms, s, m, h, d)",
        ),
    ];
    for (var, value, field, expected) in cases {
        assert_eq!(
            err(load_env(&[(var, value)])),
            format!(
                "metrics config `{field}` = `{value}` (from environment variable `{var}`) is \
                 invalid: expected {expected}"
            )
        );
    }
    let dir = TempDir::new("config-bad-file-value");
    let file = dir.write("m.yaml", "port: 8080\ntls_cert_file: ''\n");
    assert_eq!(
        err(MetricsConfig::loader().file(&file).load()),
        format!(
            "metrics config `tls_cert_file` = `` (from file `{}`) is invalid: expected a file path",
            file.display()
        )
    );
    let file = dir.write("list.yaml", "port: [1, 2]\n");
    assert_eq!(
        err(MetricsConfig::loader().file(&file).load()),
        format!(
            "metrics config `port` = `- 1 - 2` (from file `{}`) is invalid: expected a port \
             number from 1 to 65535",
            file.display()
        )
    );
}

#[test]
fn metrics_config_should_explain_a_bad_file() {
    let dir = TempDir::new("config-bad-file");
    let missing = dir.path().join("missing.yaml");
    assert_eq!(
        err(MetricsConfig::loader().file(&missing).load()),
        format!(
            "cannot read metrics config file `{}`: No such file or directory (os error 2)",
            missing.display()
        )
    );
    let yaml = dir.write("bad.yaml", "port: [8080\n");
    assert!(
        err(MetricsConfig::loader().file(&yaml).load()).starts_with(&format!(
            "metrics config file `{}` is not valid YAML: ",
            yaml.display()
        ))
    );
    let list = dir.write("list.yaml", "- port\n");
    assert_eq!(
        err(MetricsConfig::loader().file(&list).load()),
        format!(
            "metrics config file `{}` is invalid: expected a mapping of field names to values, \
             such as `port: 8080`",
            list.display()
        )
    );
    let unknown = dir.write("unknown.yaml", "port: 8080\nprometheusPort: 9090\n");
    assert_eq!(
        err(MetricsConfig::loader().file(&unknown).load()),
        format!(
            "metrics config file `{}` has an unknown field `prometheusPort`: expected one of \
             enabled, prometheus_enabled, bind_address, port, path, collection_interval, \
             retention_period, tls_cert_file, tls_key_file, token_file, \
             allow_unauthenticated_probes",
            unknown.display()
        )
    );
    let empty = dir.write("empty.yaml", "");
    assert_eq!(
        MetricsConfig::loader().file(&empty).load().unwrap(),
        MetricsConfig::default()
    );
}

#[test]
fn metrics_config_validate_should_explain_every_refusal() {
    let check = |config: MetricsConfig| config.validate().unwrap_err().to_string();
    let base = MetricsConfig::default;
    assert_eq!(
        check(MetricsConfig { port: 0, ..base() }),
        "metrics config `port` = `0` is invalid: expected a port number from 1 to 65535"
    );
    assert_eq!(
        check(MetricsConfig {
            path: "metrics".into(),
            ..base()
        }),
        "metrics config `path` = `metrics` is invalid: expected a path starting with `/`, such as `/metrics`"
    );
    assert_eq!(
        check(MetricsConfig {
            path: "/metrics?x=1".into(),
            ..base()
        }),
        "metrics config `path` = `/metrics?x=1` is invalid: expected a path without whitespace, \
         `?`, `#`, `{`, `}` or `*`, such as `/metrics`"
    );
    assert_eq!(
        check(MetricsConfig {
            path: "/healthz".into(),
            ..base()
        }),
        "metrics config `path` = `/healthz` is invalid: expected a path other than the listener's \
         own routes /healthz, /readyz and /metrics/summary, such as `/metrics`"
    );
    assert_eq!(
        check(MetricsConfig {
            collection_interval: Duration::ZERO,
            ..base()
        }),
        "metrics config `collection_interval` = `0s` is invalid: expected a duration greater than zero, such as `30s`"
    );
    assert_eq!(
        check(MetricsConfig {
            retention_period: Duration::ZERO,
            ..base()
        }),
        "metrics config `retention_period` = `0s` is invalid: expected a duration greater than zero, such as `30s`"
    );
    let dir = TempDir::new("config-validate");
    let present = dir.write("present.pem", "x");
    let missing = dir.path().join("missing.pem");
    assert_eq!(
        check(MetricsConfig {
            tls_cert_file: Some(present.clone()),
            ..base()
        }),
        "metrics config `tls_key_file` is not set but `tls_cert_file` is: expected both \
         `tls_cert_file` and `tls_key_file` for TLS, or neither"
    );
    assert_eq!(
        check(MetricsConfig {
            tls_key_file: Some(present.clone()),
            ..base()
        }),
        "metrics config `tls_cert_file` is not set but `tls_key_file` is: expected both \
         `tls_cert_file` and `tls_key_file` for TLS, or neither"
    );
    for (field, config, what) in [
        (
            "tls_cert_file",
            MetricsConfig {
                tls_cert_file: Some(missing.clone()),
                tls_key_file: Some(present.clone()),
                ..base()
            },
            "PEM certificate chain",
        ),
        (
            "tls_key_file",
            MetricsConfig {
                tls_cert_file: Some(present),
                tls_key_file: Some(missing.clone()),
                ..base()
            },
            "PEM private key",
        ),
        (
            "token_file",
            MetricsConfig {
                token_file: Some(missing.clone()),
                ..base()
            },
            "file holding the bearer token",
        ),
    ] {
        assert_eq!(
            check(config),
            format!(
                "metrics config `{field}` = `{}` cannot be read (No such file or directory (os \
                 error 2)): expected a readable {what}",
                missing.display()
            )
        );
    }
    assert_eq!(
        check(MetricsConfig {
            token_file: Some(dir.path().to_owned()),
            ..base()
        }),
        format!(
            "metrics config `token_file` = `{}` cannot be read (Is a directory (os error 21)): \
             expected a readable file holding the bearer token",
            dir.path().display()
        )
    );
}

#[test]
fn metrics_config_loader_should_validate_the_merged_result() {
    assert_eq!(
        err(MetricsConfig::loader()
            .overrides(ConfigOverrides {
                collection_interval: Some(Duration::ZERO),
                ..Default::default()
            })
            .load()),
        "metrics config `collection_interval` = `0s` is invalid: expected a duration greater than zero, such as `30s`"
    );
}
