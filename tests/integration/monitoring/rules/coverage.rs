//! Coverage of the unit tests (every alert tested firing and silent, every recording rule
//! tested) and of the catalog (rules name only its metrics).

use super::*;
use crate::monitoring::promql::{Allow, check_names};
use crate::monitoring::support::{read_yaml, recorded_names, rule_test_files, rules};
use std::collections::BTreeSet;
use std::path::Path;

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
