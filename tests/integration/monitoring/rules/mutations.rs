//! Mutation testing of the rules: each of the seed's mistakes, applied to a copy, is caught
//! by the unit tests.

use crate::monitoring::support::{TempDir, deploy, read_yaml, rule_test_files, run};
use std::path::PathBuf;
use yaml_serde::Value;

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
