//! The Prometheus rules, their promtool unit tests, `prometheus.yml`, the ServiceMonitor and
//! the Alertmanager example.

use super::promql::{Allow, check_names};
use super::support::{
    TempDir, deploy, read_yaml, recorded_names, rule_files, rule_test_files, rules, run,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use yaml_serde::Value;

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn promtool_check_rules_passes_on_every_rule_file() {
    let promtool = super::support::promtool();
    for file in rule_files() {
        let (ok, report) = run(
            promtool,
            &["check", "rules", file.to_str().unwrap()],
            &deploy("prometheus"),
        );
        assert!(ok, "promtool check rules {}:\n{report}", file.display());
        assert!(report.contains("SUCCESS"), "{report}");
    }
}

#[test]
fn promtool_check_config_accepts_prometheus_yml_which_loads_every_rule_file() {
    let config = read_yaml(&deploy("prometheus/prometheus.yml"));
    let listed: BTreeSet<String> = config["rule_files"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    let shipped: BTreeSet<String> = rule_files()
        .iter()
        .map(|p| format!("rules/{}", file_name(p)))
        .collect();
    assert_eq!(listed, shipped, "prometheus.yml must load every rule file");
    let promtool = super::support::promtool();
    // promtool checks that the CA and token files the operator's job reads exist: the
    // shipped configuration with those in a temporary directory, and its rule files by
    // absolute path (they are relative to the configuration file).
    let dir = TempDir::new("config");
    let mut derived = config;
    for job in derived["scrape_configs"].as_sequence_mut().unwrap() {
        let job = job.as_mapping_mut().unwrap();
        for (section, key, name) in [
            ("tls_config", "ca_file", "ca.crt"),
            ("authorization", "credentials_file", "token"),
        ] {
            if let Some(file) = job
                .get_mut(section)
                .and_then(|s| s.as_mapping_mut())
                .and_then(|s| s.get_mut(key))
            {
                *file = dir.write(name, "placeholder").to_str().unwrap().into();
            }
        }
    }
    derived["rule_files"] = Value::Sequence(
        listed
            .iter()
            .map(|f| {
                let path = deploy("prometheus").join(f).canonicalize().unwrap();
                Value::from(path.to_str().unwrap())
            })
            .collect(),
    );
    let path = dir.write("prometheus.yml", &yaml_serde::to_string(&derived).unwrap());
    let (ok, report) = run(
        promtool,
        &["check", "config", path.to_str().unwrap()],
        dir.path(),
    );
    assert!(ok, "promtool check config:\n{report}");
    assert!(
        report.contains(&format!("SUCCESS: {} rule files found", shipped.len())),
        "{report}"
    );
}

#[test]
fn promtool_unit_tests_pass() {
    let promtool = super::support::promtool();
    for file in rule_test_files() {
        let (ok, report) = run(
            promtool,
            &["test", "rules", file.to_str().unwrap()],
            &deploy("prometheus/tests"),
        );
        assert!(ok, "promtool test rules {}:\n{report}", file.display());
    }
}

/// What the unit tests of one rule file check.
#[derive(Debug, Default)]
struct Coverage {
    /// Alert names with an expectation that they fire.
    fires: BTreeSet<String>,
    /// Alert names with an expectation that they stay silent.
    silent: BTreeSet<String>,
    /// Expressions of `promql_expr_test` entries with expected samples.
    exprs: Vec<String>,
}

/// The unit-test coverage of each rule file, by file name.
fn coverage() -> std::collections::BTreeMap<String, Coverage> {
    let mut by_file: std::collections::BTreeMap<String, Coverage> = Default::default();
    for test_file in rule_test_files() {
        let doc = read_yaml(&test_file);
        let mut cov = Coverage::default();
        for group in doc["tests"].as_sequence().unwrap() {
            for t in group["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = t["alertname"].as_str().unwrap().to_owned();
                let empty = t["exp_alerts"].as_sequence().is_none_or(Vec::is_empty);
                if empty {
                    cov.silent.insert(name);
                } else {
                    cov.fires.insert(name);
                }
            }
            for t in group["promql_expr_test"]
                .as_sequence()
                .into_iter()
                .flatten()
            {
                if t["exp_samples"]
                    .as_sequence()
                    .is_some_and(|s| !s.is_empty())
                {
                    cov.exprs.push(t["expr"].as_str().unwrap().to_owned());
                }
            }
        }
        for rule_file in doc["rule_files"].as_sequence().unwrap() {
            let name = file_name(Path::new(rule_file.as_str().unwrap()));
            let entry = by_file.entry(name).or_default();
            entry.fires.extend(cov.fires.iter().cloned());
            entry.silent.extend(cov.silent.iter().cloned());
            entry.exprs.extend(cov.exprs.iter().cloned());
        }
    }
    by_file
}

#[test]
fn every_alert_is_tested_firing_and_silent_and_every_recording_rule_is_tested() {
    let coverage = coverage();
    let mut missing = Vec::new();
    for rule in rules() {
        let Some(cov) = coverage.get(&rule.file) else {
            missing.push(format!("{}: no unit-test file loads it", rule.file));
            continue;
        };
        if rule.is_alert {
            if !cov.fires.contains(&rule.name) {
                missing.push(format!("{}: no test where it fires", rule.name));
            }
            if !cov.silent.contains(&rule.name) {
                missing.push(format!("{}: no test where it stays silent", rule.name));
            }
        } else if !cov.exprs.iter().any(|e| e.contains(&rule.name)) {
            missing.push(format!("{}: no promql_expr_test with samples", rule.name));
        }
    }
    assert!(
        missing.is_empty(),
        "untested rules:\n{}",
        missing.join("\n")
    );
}

/// The seeds' alerts: name, severity and summary.
const SEED_ALERTS: &[(&str, &str, &str)] = &[
    (
        "DataMoverHighFailureRate",
        "warning",
        "DataMover high failure rate",
    ),
    (
        "DataMoverLongRunningOperation",
        "warning",
        "DataMover operations taking too long",
    ),
    (
        "DataMoverCleanupFailures",
        "warning",
        "DataMover cleanup operations failing",
    ),
    (
        "DataMoverNoOperations",
        "info",
        "No DataMover operations detected",
    ),
    (
        "DataMoverJobRetriesExhausted",
        "critical",
        "DataMover jobs exhausting retries",
    ),
    (
        "TMCComponentUnhealthy",
        "critical",
        "TMC component {{ $labels.component_type }} is unhealthy",
    ),
    (
        "TMCHighErrorRate",
        "warning",
        "High error rate in TMC component {{ $labels.component_type }}",
    ),
    ("TMCSyncLagHigh", "warning", "High sync lag detected"),
    (
        "TMCClusterDisconnected",
        "critical",
        "TMC cluster {{ $labels.cluster }} is disconnected",
    ),
    (
        "TMCMigrationFailed",
        "warning",
        "TMC migration failure detected",
    ),
    (
        "TMCSyncBacklogHigh",
        "warning",
        "High sync backlog in cluster {{ $labels.cluster }}",
    ),
];

#[test]
fn the_seeds_alerts_ship_with_their_severities_and_summaries() {
    let rules = rules();
    for (name, severity, summary) in SEED_ALERTS {
        let found: Vec<_> = rules.iter().filter(|r| r.name == *name).collect();
        assert_eq!(found.len(), 1, "{name} must be defined once");
        assert!(found[0].is_alert, "{name} is an alert");
        assert_eq!(found[0].severity.as_deref(), Some(*severity), "{name}");
        assert_eq!(found[0].summary.as_deref(), Some(*summary), "{name}");
    }
    let mut names = BTreeSet::new();
    for rule in &rules {
        assert!(names.insert(&rule.name), "{} is defined twice", rule.name);
        if rule.is_alert {
            assert!(
                matches!(
                    rule.severity.as_deref(),
                    Some("critical" | "warning" | "info")
                ),
                "{}: severity",
                rule.name
            );
            assert!(rule.summary.is_some(), "{}: summary", rule.name);
        }
    }
}

#[test]
fn rule_expressions_name_only_catalog_metrics() {
    let recorded = recorded_names();
    for name in &recorded {
        assert!(
            name.starts_with("datamover:") && name.split(':').count() == 3,
            "{name}: recording rules are named level:metric:operation"
        );
    }
    for rule in rules() {
        check_names(&rule.expr, &recorded, Allow::CatalogAndUp)
            .unwrap_or_else(|e| panic!("{} ({}): {e}\n{}", rule.name, rule.file, rule.expr));
    }
}

/// How a mutation changes a shipped rule.
#[derive(Debug, Clone, Copy)]
enum Change {
    /// Replaces every occurrence of `.0` in the expression by `.1`.
    Replace(&'static str, &'static str),
    /// Replaces the expression.
    Expr(&'static str),
}

/// A mistake (the seeds', or the obvious way to write the rule) the unit tests must catch.
struct Mutation {
    file: &'static str,
    rule: &'static str,
    mistake: &'static str,
    change: Change,
}

const MUTATIONS: &[Mutation] = &[
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverHighFailureRate",
        mistake: "the seed's denominator: every status, started included",
        change: Change::Replace(r#"status=~"success|failure""#, r#"status=~".+""#),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverHighFailureRate",
        mistake: "the seed's unaggregated division (each series divided by itself)",
        change: Change::Expr(
            r#"(rate(datamover_operations_total{status="failure"}[5m]) / rate(datamover_operations_total[5m])) > 0.1"#,
        ),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverHighFailureRate",
        mistake: "plain increase(): blind to a failure series' first failure",
        change: Change::Expr(
            r#"sum by (namespace) (increase(datamover_operations_total{status="failure"}[5m])) / sum by (namespace) (increase(datamover_operations_total{status=~"success|failure"}[5m])) > 0.1"#,
        ),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverLongRunningOperation",
        mistake: "the seed's 5-minute window with for: 5m (a finished phase never fires)",
        change: Change::Replace("1h", "5m"),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverLongRunningOperation",
        mistake: "plain increase(): blind to a histogram's first observation",
        change: Change::Expr(
            "histogram_quantile(0.95, sum by (le, namespace, phase) (increase(datamover_phase_duration_seconds_bucket[1h]))) > 1800",
        ),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverCleanupFailures",
        mistake: "plain increase() (the seed's rate() > 0, aggregated)",
        change: Change::Expr(
            r#"sum by (namespace) (increase(datamover_cleanup_operations_total{status="failure"}[5m])) > 0"#,
        ),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverCleanupFailures",
        mistake: "no `up` guard: old failures fire when Prometheus starts",
        change: Change::Replace("(up offset 5m == 1)", "datamover_cleanup_operations_total"),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverNoOperations",
        mistake: "the seed's per-series rate() == 0",
        change: Change::Expr("rate(datamover_operations_total[1h]) == 0"),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverNoOperations",
        mistake: "plain increase(): a first DataMover in a namespace is no activity",
        change: Change::Expr(
            "(sum(increase(datamover_operations_total[1h])) == 0) or absent(datamover_operations_total)",
        ),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverJobRetriesExhausted",
        mistake: "the seed's key: pod creation failures",
        change: Change::Replace(
            "datamover_data_sync_operations_total",
            "datamover_pod_creation_operations_total",
        ),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverJobRetriesExhausted",
        mistake: "plain increase(): blind to the first failure after a restart",
        change: Change::Expr(
            r#"sum by (namespace) (increase(datamover_data_sync_operations_total{status="failure"}[5m])) > 0"#,
        ),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverJobRetriesExhausted",
        mistake: "no `up` guard: old failures page when Prometheus starts",
        change: Change::Replace(
            "(up offset 5m == 1)",
            "datamover_data_sync_operations_total",
        ),
    },
    Mutation {
        file: "datamover-alerts.rules.yml",
        rule: "DataMoverPodCreationFailures",
        mistake: "plain increase()",
        change: Change::Expr(
            r#"sum by (namespace) (increase(datamover_pod_creation_operations_total{status="failure"}[5m])) > 0"#,
        ),
    },
    Mutation {
        file: "tmc-alerts.rules.yml",
        rule: "TMCComponentUnhealthy",
        mistake: "the seed's < 0.5, which pages for unknown (0.25)",
        change: Change::Expr("tmc_component_health < 0.5"),
    },
    Mutation {
        file: "tmc-alerts.rules.yml",
        rule: "TMCHighErrorRate",
        mistake: "the seed's division of families with different labels (matches nothing)",
        change: Change::Expr(
            "(rate(tmc_component_errors_total[5m]) / rate(tmc_component_operations_total[5m])) > 0.1",
        ),
    },
    Mutation {
        file: "tmc-alerts.rules.yml",
        rule: "TMCMigrationFailed",
        mistake: "the seed's plain increase()",
        change: Change::Expr(
            "sum by (source_cluster, target_cluster, phase, error_type) (increase(tmc_migration_errors_total[10m])) > 0",
        ),
    },
    Mutation {
        file: "tmc-alerts.rules.yml",
        rule: "TMCMetricsSeriesFolded",
        mistake: "plain increase()",
        change: Change::Expr(
            "sum by (metric) (increase(tmc_metrics_series_folded_total[10m])) > 0",
        ),
    },
    Mutation {
        file: "api-alerts.rules.yml",
        rule: "TMCAPIHighErrorRate",
        mistake: "cancelled requests counted as answered",
        change: Change::Replace(
            r#"status_code!~"cancelled|grpc_CANCELLED""#,
            r#"status_code=~".+""#,
        ),
    },
    Mutation {
        file: "api-alerts.rules.yml",
        rule: "TMCAPIHighErrorRate",
        mistake: "cancelled gRPC calls counted as answered",
        change: Change::Replace(
            r#"status_code!~"cancelled|grpc_CANCELLED""#,
            r#"status_code!="cancelled""#,
        ),
    },
    Mutation {
        file: "api-alerts.rules.yml",
        rule: "TMCAPIHighErrorRate",
        mistake: "gRPC server failures (HTTP 200 with a grpc-status) not counted",
        change: Change::Replace(
            r#"status_code=~"5..|error|grpc_(UNKNOWN|DEADLINE_EXCEEDED|UNIMPLEMENTED|INTERNAL|UNAVAILABLE|DATA_LOSS)""#,
            r#"status_code=~"5..|error""#,
        ),
    },
    Mutation {
        file: "datamover-recording.rules.yml",
        rule: "datamover:operations_success_rate:1h",
        mistake: "the seed's denominator: every status, started included",
        change: Change::Replace(r#"status=~"success|failure""#, r#"status=~".+""#),
    },
    Mutation {
        file: "datamover-recording.rules.yml",
        rule: "datamover:operations_success_rate:1h",
        mistake: "plain increase() and no 0 without a success series",
        change: Change::Expr(
            r#"sum by (namespace, phase) (increase(datamover_operations_total{status="success"}[1h])) / sum by (namespace, phase) (increase(datamover_operations_total{status=~"success|failure"}[1h]))"#,
        ),
    },
    Mutation {
        file: "datamover-recording.rules.yml",
        rule: "datamover:phase_duration_p95:1d",
        mistake: "plain increase(): blind to a histogram's first observation",
        change: Change::Expr(
            "histogram_quantile(0.95, sum by (le, namespace, phase) (increase(datamover_phase_duration_seconds_bucket[1d])))",
        ),
    },
];

/// `doc`'s rule named `name`, mutably.
fn rule_mut<'a>(doc: &'a mut Value, name: &str) -> &'a mut Value {
    doc["groups"]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .flat_map(|g| g["rules"].as_sequence_mut().unwrap().iter_mut())
        .find(|r| r["alert"].as_str() == Some(name) || r["record"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no rule {name}"))
}

/// Runs the unit tests of `m.rule` against the rule file with `m` applied; returns
/// promtool's report if the tests (wrongly) pass.
fn survives(promtool: &str, m: &Mutation) -> Option<String> {
    let dir = TempDir::new("mutation");
    let original = deploy("prometheus/rules").join(m.file);
    let mut doc = read_yaml(&original);
    let rule = rule_mut(&mut doc, m.rule);
    let expr = rule["expr"].as_str().unwrap().to_owned();
    let mutated = match m.change {
        Change::Replace(from, to) => {
            assert!(expr.contains(from), "{}: no {from:?} to replace", m.rule);
            expr.replace(from, to)
        }
        Change::Expr(e) => e.to_owned(),
    };
    rule["expr"] = Value::String(mutated);
    let rules_path = dir.write(m.file, &yaml_serde::to_string(&doc).unwrap());
    let (ok, report) = run(
        promtool,
        &["check", "rules", rules_path.to_str().unwrap()],
        dir.path(),
    );
    assert!(ok, "{} ({}) must stay valid:\n{report}", m.rule, m.mistake);

    // The test files loading this rule file, reduced to the test groups about this rule.
    let mut tests: Vec<PathBuf> = Vec::new();
    for (i, test_file) in rule_test_files().iter().enumerate() {
        let mut doc = read_yaml(test_file);
        let loads = doc["rule_files"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().ends_with(m.file));
        if !loads {
            continue;
        }
        doc["rule_files"] = Value::Sequence(vec![rules_path.to_str().unwrap().into()]);
        doc["tests"]
            .as_sequence_mut()
            .unwrap()
            .retain(|group| yaml_serde::to_string(group).unwrap().contains(m.rule));
        tests.push(dir.write(
            &format!("{i}.test.yml"),
            &yaml_serde::to_string(&doc).unwrap(),
        ));
    }
    assert!(!tests.is_empty(), "no unit test loads {}", m.file);
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(|p| p.to_str().unwrap()));
    let (ok, report) = run(promtool, &args, dir.path());
    ok.then_some(report)
}

/// Each seed mistake (and each plain-`increase()` shortcut the rules avoid), put back into
/// the shipped rule, makes its unit tests fail: the tests check meaning, not only syntax.
#[test]
fn the_unit_tests_catch_the_seeds_mistakes() {
    let promtool = super::support::promtool();
    let survivors: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = MUTATIONS
            .chunks(MUTATIONS.len().div_ceil(2))
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .filter_map(|m| {
                            survives(promtool, m)
                                .map(|report| format!("{}: {}\n{report}", m.rule, m.mistake))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    assert!(
        survivors.is_empty(),
        "the unit tests pass with these mistakes:\n{}",
        survivors.join("\n")
    );
}

#[test]
fn amtool_accepts_the_alertmanager_example_and_routes_every_severity() {
    let path = deploy("alertmanager/alertmanager.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    let config: Value = yaml_serde::from_str(&text).unwrap();
    // Secrets come from files, never from the example itself.
    for receiver in config["receivers"].as_sequence().unwrap() {
        for slack in receiver["slack_configs"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            assert!(slack["api_url"].is_null() && slack["api_url_file"].is_string());
        }
        for pd in receiver["pagerduty_configs"]
            .as_sequence()
            .into_iter()
            .flatten()
        {
            assert!(pd["routing_key"].is_null() && pd["routing_key_file"].is_string());
        }
    }
    let amtool = super::support::tool("amtool", "prometheus-alertmanager");
    let dir = deploy("alertmanager");
    let (ok, report) = run(amtool, &["check-config", "alertmanager.yml"], &dir);
    assert!(ok, "amtool check-config:\n{report}");
    assert!(report.contains("SUCCESS"), "{report}");
    let route = |labels: &[&str]| {
        let mut args = vec!["config", "routes", "test", "--config.file=alertmanager.yml"];
        args.extend(labels);
        let (ok, out) = run(amtool, &args, &dir);
        assert!(ok, "amtool config routes test {labels:?}:\n{out}");
        out.lines()
            .next()
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        route(&[
            "alertname=DataMoverJobRetriesExhausted",
            "severity=critical",
            "namespace=default",
        ]),
        ["datamover-critical", "datamover-alerts"],
        "critical alerts page (PagerDuty) and reach Slack"
    );
    for severity in ["warning", "info"] {
        assert_eq!(
            route(&[
                "alertname=DataMoverCleanupFailures",
                &format!("severity={severity}")
            ]),
            ["datamover-alerts"],
            "{severity} alerts go to Slack only"
        );
    }
}

#[test]
fn the_servicemonitor_and_the_scrape_config_target_the_operator_metrics_service() {
    let sm = read_yaml(&deploy("prometheus/servicemonitor.yaml"));
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["kind"], "ServiceMonitor");
    assert_eq!(sm["metadata"]["namespace"], "datamover-operator-system");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"]["control-plane"],
        "controller-manager"
    );
    let endpoint = &sm["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], "https");
    assert_eq!(endpoint["scheme"], "https");
    assert_eq!(endpoint["path"], "/metrics");
    // The datamover_* namespace label must survive the target's own namespace label.
    assert_eq!(endpoint["honorLabels"], true);

    let config = read_yaml(&deploy("prometheus/prometheus.yml"));
    let job = config["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "datamover-operator")
        .expect("a datamover-operator scrape job");
    assert_eq!(job["metrics_path"], "/metrics");
    let target = job["static_configs"][0]["targets"][0].as_str().unwrap();
    assert!(
        target.starts_with("datamover-operator-controller-manager-metrics-service")
            && target.ends_with(":8080"),
        "{target}"
    );
    // Keys the seed had that Prometheus rejects.
    assert!(config["global"]["retention_time"].is_null());
    assert!(config["recording_rules"].is_null());
}

/// The checks above can fail: the seeds' `prometheus.yml` keys and Alertmanager placeholders
/// are rejected by the same tools.
#[test]
fn the_tools_reject_the_seeds_configurations() {
    let dir = TempDir::new("seeds");
    {
        let promtool = super::support::promtool();
        let seed = dir.write(
            "prometheus.yml",
            "global:\n  retention_time: 30d\nrecording_rules:\n  - name: datamover.aggregations\n    rules: []\n",
        );
        let (ok, report) = run(
            promtool,
            &["check", "config", seed.to_str().unwrap()],
            dir.path(),
        );
        assert!(!ok, "{report}");
        assert!(
            report.contains("field retention_time not found")
                && report.contains("field recording_rules not found"),
            "{report}"
        );
    }
    {
        let amtool = super::support::tool("amtool", "prometheus-alertmanager");
        let seed = dir.write(
            "alertmanager.yml",
            "route:\n  receiver: datamover-alerts\nreceivers:\n- name: datamover-alerts\n  slack_configs:\n  - api_url: 'YOUR_SLACK_WEBHOOK_URL'\n    channel: '#operations'\n",
        );
        let (ok, report) = run(
            amtool,
            &["check-config", seed.to_str().unwrap()],
            dir.path(),
        );
        assert!(!ok, "{report}");
        assert!(report.contains("unsupported scheme"), "{report}");
    }
}
