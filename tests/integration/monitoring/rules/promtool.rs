//! `promtool check rules` on every rule file, `promtool check config` on `prometheus.yml`
//! (which loads every rule file), and the rules' unit tests.

use super::*;
use crate::monitoring::support::{TempDir, deploy, read_yaml, rule_files, rule_test_files, run};
use std::collections::BTreeSet;
use yaml_serde::Value;

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
