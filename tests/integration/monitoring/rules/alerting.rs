//! The Alertmanager example (amtool routes every severity), the ServiceMonitor and the scrape
//! configuration target the operator's metrics service, and the tools reject the seed's
//! configurations.

use crate::monitoring::support::{TempDir, deploy, read_yaml, run};
use yaml_serde::Value;

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
