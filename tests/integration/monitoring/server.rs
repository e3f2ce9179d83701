//! A real Prometheus server scrapes a DataMover run with the shipped scrape configuration and
//! loads the shipped rules.
//!
//! One test serves `/metrics` from a private registry on a loopback port and scripts runs
//! with exact values; the other scrapes the real `datamover-operator` binary after a real
//! backup. Both start `prometheus` on a loopback port with a configuration derived from
//! `deploy/prometheus/prometheus.yml` and read the results back through its HTTP API.

use super::support::{TempDir, deploy, read_yaml, rule_files, tool};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tmc_metrics::{DataMoverStatus, Metrics, MetricsCollector, Outcome};
use tmc_test_support::http::{self, encode_query as percent_encode};
use tmc_test_support::operator::Operator;
pub(super) use tmc_test_support::prometheus::{Poll, Prometheus, again};
use yaml_serde::{Mapping, Value};

/// How long Prometheus gets to start, scrape and evaluate, in all.
pub(super) const DEADLINE: Duration = Duration::from_secs(60);

/// The instant vector `query` as (label values of `keys`) -> value.
fn vector(p: &Prometheus, query: &str, keys: &[&str]) -> Result<BTreeMap<String, f64>, String> {
    let data = p.api(&format!("/api/v1/query?query={}", percent_encode(query)))?;
    let mut out = BTreeMap::new();
    for sample in data["result"].as_array().ok_or("no result")? {
        let key = keys
            .iter()
            .map(|k| sample["metric"][k].as_str().unwrap_or("-"))
            .collect::<Vec<_>>()
            .join(" ");
        let value: f64 = sample["value"][1]
            .as_str()
            .ok_or("no value")?
            .parse()
            .map_err(|e| format!("{e}"))?;
        out.insert(key, value);
    }
    Ok(out)
}

/// The last evaluation time of every rule group, once the loaded groups are the shipped
/// ones (name and number of rules) and every rule has been evaluated with health ok. A
/// rule reporting an error fails at once.
fn rules(
    p: &Prometheus,
    shipped: &BTreeMap<String, usize>,
) -> Result<BTreeMap<String, String>, Poll> {
    let data = p.api("/api/v1/rules").map_err(again)?;
    let mut loaded = BTreeMap::new();
    let mut evaluated = BTreeMap::new();
    let mut pending = Vec::new();
    for group in data["groups"]
        .as_array()
        .ok_or_else(|| again(data.to_string()))?
    {
        let name = group["name"].as_str().unwrap().to_owned();
        let rules = group["rules"].as_array().unwrap();
        loaded.insert(name.clone(), rules.len());
        evaluated.insert(name, group["lastEvaluation"].to_string());
        for rule in rules {
            match rule["health"].as_str() {
                Some("ok") => {}
                Some("err") => {
                    return Err(Poll::Fatal(format!(
                        "rule {} fails: {}",
                        rule["name"], rule["lastError"]
                    )));
                }
                other => pending.push(format!("{} ({other:?})", rule["name"])),
            }
        }
    }
    if loaded != *shipped {
        return Err(Poll::Fatal(format!(
            "loaded groups {loaded:?}, shipped {shipped:?}"
        )));
    }
    if pending.is_empty() {
        Ok(evaluated)
    } else {
        Err(again(format!("not evaluated yet: {}", pending.join(", "))))
    }
}

/// The shipped `prometheus.yml`, pointed at `target`: the `datamover-operator` job alone
/// (its `metrics_path` kept; plain HTTP without CA or token, as the in-process exporter
/// serves: the shipped HTTPS, CA and token are pinned against `deploy/` by
/// `crates/datamover-kube/tests/deploy.rs`), scraped and evaluated every second, with the
/// shipped rule files by absolute path and no Alertmanager.
fn derived_config(target: SocketAddr) -> String {
    let shipped = read_yaml(&deploy("prometheus/prometheus.yml"));
    let mut job = shipped["scrape_configs"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|j| j["job_name"] == "datamover-operator")
        .expect("the shipped datamover-operator job")
        .clone();
    job["static_configs"] = yaml_serde::from_str(&format!("[{{targets: ['{target}']}}]")).unwrap();
    job["scheme"] = "http".into();
    let job_map = job.as_mapping_mut().unwrap();
    job_map.remove("tls_config");
    job_map.remove("authorization");
    job["scrape_interval"] = "1s".into();
    job["scrape_timeout"] = "1s".into();
    let rule_files: Vec<Value> = shipped["rule_files"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|f| {
            let path = deploy("prometheus").join(f.as_str().unwrap());
            path.canonicalize().unwrap().to_str().unwrap().into()
        })
        .collect();
    let mut config = Mapping::new();
    config.insert(
        "global".into(),
        yaml_serde::from_str("{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}")
            .unwrap(),
    );
    config.insert("rule_files".into(), Value::Sequence(rule_files));
    config.insert("scrape_configs".into(), Value::Sequence(vec![job]));
    yaml_serde::to_string(&config).unwrap()
}

/// A DataMover run as the operator records it: each phase counted as started, then ended with
/// its duration; the sync job's creation and its data sync; the cloned PVC's cleanup.
fn record_run(
    c: &MetricsCollector,
    namespace: &str,
    sync: Outcome,
    cleanup: Outcome,
    pod_phase: (Outcome, u64),
) {
    let secs = Duration::from_secs;
    c.datamover_phase_started("CreatingClonedPVC", namespace);
    c.datamover_phase_finished("CreatingClonedPVC", namespace, Outcome::Success, secs(42));
    c.datamover_phase_started("CreatingPod", namespace);
    c.datamover_pod_creation(namespace, DataMoverStatus::Started);
    c.datamover_pod_creation(namespace, DataMoverStatus::Success);
    c.datamover_data_sync(namespace, sync);
    c.datamover_phase_finished("CreatingPod", namespace, pod_phase.0, secs(pod_phase.1));
    c.datamover_phase_started("CleaningUp", namespace);
    c.datamover_cleanup(namespace, cleanup);
    c.datamover_phase_finished("CleaningUp", namespace, cleanup, secs(8));
}

fn expected(rows: &[(&str, f64)]) -> BTreeMap<String, f64> {
    rows.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

/// Every shipped rule group, with its number of rules.
fn shipped_groups() -> BTreeMap<String, usize> {
    let mut shipped = BTreeMap::new();
    for file in rule_files() {
        for group in read_yaml(&file)["groups"].as_sequence().unwrap() {
            shipped.insert(
                group["name"].as_str().unwrap().to_owned(),
                group["rules"].as_sequence().unwrap().len(),
            );
        }
    }
    shipped
}

/// Prometheus with the shipped configuration pointed at `target`: ready, the target up,
/// and every shipped rule loaded and evaluated without error. Returns it, when it started,
/// and the last evaluation time of each rule group.
fn running_prometheus(
    dir: &TempDir,
    target: SocketAddr,
) -> (Prometheus, Instant, BTreeMap<String, String>) {
    let started = Instant::now();
    let mut prom = Prometheus::start(dir, &derived_config(target), &[]);

    prom.wait_ready(started + DEADLINE);

    prom.poll(
        "the datamover-operator target up",
        started + DEADLINE,
        |p| {
            let data = p.api("/api/v1/targets").map_err(again)?;
            let targets = data["activeTargets"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ours = targets
                .iter()
                .find(|t| t["labels"]["job"] == "datamover-operator")
                .ok_or_else(|| again(format!("no datamover-operator target in {data}")))?;
            if ours["scrapeUrl"] != format!("http://{target}/metrics") {
                return Err(Poll::Fatal(format!("scrapes {}", ours["scrapeUrl"])));
            }
            match ours["health"].as_str() {
                Some("up") => Ok(()),
                other => Err(again(format!("health {other:?}: {}", ours["lastError"]))),
            }
        },
    );

    // Every shipped group and rule is loaded and evaluates without error.
    let shipped = shipped_groups();
    let loaded = prom.poll(
        "every shipped rule loaded and evaluated",
        started + DEADLINE,
        |p| rules(p, &shipped),
    );
    (prom, started, loaded)
}

#[test]
fn prometheus_scrapes_a_datamover_run_with_the_shipped_config_and_loads_the_shipped_rules() {
    tool("prometheus", "prometheus");
    // The exporter: a private registry served on a loopback port.
    let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
    let collector = metrics.collector();
    let app = axum::Router::new().route("/metrics", tmc_tower::axum::metrics_route(metrics));
    let (rt, target) = super::support::serve(app);

    // A successful backup in `default`, before Prometheus starts.
    record_run(
        &collector,
        "default",
        Outcome::Success,
        Outcome::Success,
        (Outcome::Success, 240),
    );

    let dir = TempDir::new("prometheus");
    let (mut prom, started, loaded) = running_prometheus(&dir, target);
    let shipped = shipped_groups();

    let ops = r#"datamover_operations_total{job="datamover-operator"}"#;
    let keys = ["namespace", "phase", "status"];
    let mut want = expected(&[
        ("default CreatingClonedPVC started", 1.0),
        ("default CreatingClonedPVC success", 1.0),
        ("default CreatingPod started", 1.0),
        ("default CreatingPod success", 1.0),
        ("default CleaningUp started", 1.0),
        ("default CleaningUp success", 1.0),
    ]);
    prom.poll("the first run in Prometheus", started + DEADLINE, |p| {
        let got = vector(p, ops, &keys).map_err(again)?;
        if got == want {
            Ok(())
        } else {
            Err(again(format!("{got:?}")))
        }
    });

    // A second run, in team-a, while Prometheus scrapes: the sync job fails for good (its 3
    // attempts), CreatingPod fails after 40 minutes, and so does the cleanup.
    record_run(
        &collector,
        "team-a",
        Outcome::Failure,
        Outcome::Failure,
        (Outcome::Failure, 2400),
    );
    want.extend(expected(&[
        ("team-a CreatingClonedPVC started", 1.0),
        ("team-a CreatingClonedPVC success", 1.0),
        ("team-a CreatingPod started", 1.0),
        ("team-a CreatingPod failure", 1.0),
        ("team-a CleaningUp started", 1.0),
        ("team-a CleaningUp failure", 1.0),
    ]));
    let families = [
        (
            r#"datamover_data_sync_operations_total{job="datamover-operator"}"#,
            &["namespace", "status"][..],
            expected(&[("default success", 1.0), ("team-a failure", 1.0)]),
        ),
        (
            r#"datamover_cleanup_operations_total{job="datamover-operator"}"#,
            &["namespace", "status"][..],
            expected(&[("default success", 1.0), ("team-a failure", 1.0)]),
        ),
        (
            r#"datamover_pod_creation_operations_total{job="datamover-operator"}"#,
            &["namespace", "status"][..],
            expected(&[
                ("default started", 1.0),
                ("default success", 1.0),
                ("team-a started", 1.0),
                ("team-a success", 1.0),
            ]),
        ),
        (
            r#"datamover_phase_duration_seconds_sum{job="datamover-operator"}"#,
            &["namespace", "phase"][..],
            expected(&[
                ("default CleaningUp", 8.0),
                ("default CreatingClonedPVC", 42.0),
                ("default CreatingPod", 240.0),
                ("team-a CleaningUp", 8.0),
                ("team-a CreatingClonedPVC", 42.0),
                ("team-a CreatingPod", 2400.0),
            ]),
        ),
        // The 40-minute phase lands in (1800, 3600]: the buckets go past the seed's 1200 s.
        (
            r#"datamover_phase_duration_seconds_bucket{job="datamover-operator", namespace="team-a", phase="CreatingPod", le=~"1200|1800|3600|\\+Inf"}"#,
            &["le"][..],
            expected(&[("1200", 0.0), ("1800", 0.0), ("3600", 1.0), ("+Inf", 1.0)]),
        ),
    ];
    prom.poll("the second run in Prometheus", started + DEADLINE, |p| {
        let got = vector(p, ops, &keys).map_err(again)?;
        if got != want {
            return Err(again(format!("{ops}: {got:?}")));
        }
        for (query, keys, want) in &families {
            let got = vector(p, query, keys).map_err(again)?;
            if got != *want {
                return Err(again(format!("{query}: {got:?}")));
            }
        }
        Ok(())
    });

    // Evaluated again now that the runs are in: every rule still reports health ok (a rule
    // can only fail on data, such as a many-to-many match).
    prom.poll(
        "every rule evaluated over the runs",
        started + DEADLINE,
        |p| {
            let now = rules(p, &shipped)?;
            if now.iter().all(|(group, at)| loaded.get(group) != Some(at)) {
                Ok(())
            } else {
                Err(again(format!("not evaluated again yet: {now:?}")))
            }
        },
    );
    drop(prom);
    rt.shutdown_background();
}

/// Chunked bodies are hyper's to decode now: `tmc-test-support`'s tests hold the two
/// dechunking checks that were here (`5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n` is
/// `hello world`; a cut chunk is an error), against the shared client.
#[test]
fn the_http_helpers_decode_chunks_and_encode_queries() {
    assert_eq!(
        percent_encode(r#"a_b{le=~"1|\+Inf"}"#),
        "a_b%7Ble%3D~%221%7C%5C%2BInf%22%7D"
    );
}

/// The `datamover-operator` binary `cargo test --workspace` built beside this test. When
/// only this package was built the test fails, naming the command that builds it.
fn operator_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("datamover-operator");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p datamover-operator` first, or `cargo test --workspace`, which builds it",
        bin.display()
    );
    bin
}

#[test]
fn prometheus_scrapes_the_running_operator_after_a_real_backup() {
    tool("prometheus", "prometheus");
    tool("rclone", "rclone");
    let bin = operator_binary();
    let dir = TempDir::new("operator");
    // The source and the destination are under the test's directory, the data dir's parent.
    let operator = Operator::options(&bin, dir.path().join("data"))
        .job_backoff_seconds(None)
        .spawn();
    let (metrics, api) = (operator.metrics, operator.api);
    let source = dir.path().join("source");
    std::fs::create_dir_all(source.join("nested")).unwrap();
    std::fs::write(source.join("nested/file.txt"), "backed up\n").unwrap();
    let manifests = format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\n  annotations: {{datamover.a-cup-of.coffee/host-path: \"{}\"}}\n---\n\
         apiVersion: v1\nkind: Secret\nmetadata: {{name: dest}}\nstringData: {{DESTINATION: \"{}\"}}\n---\n\
         apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: nightly}}\n\
         spec: {{sourcePvc: data, secretName: dest, deletePvcAfterBackup: true}}\n",
        source.display(),
        dir.path().join("dest").display()
    );
    let deadline = Instant::now() + DEADLINE;
    // The API's bearer token, written by the operator at start.
    let token = || {
        std::fs::read_to_string(dir.path().join("data/api-token"))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default()
    };
    // One request to the API with the token, as JSON; its status and body.
    let http_request = |method: &str, path: &str, body: &str| {
        http::request(api, method, path)
            .header("authorization", &format!("Bearer {}", token()))
            .header("accept", "application/json")
            .header("content-type", "application/yaml")
            .body(body.to_owned())
            .send()
            .map(|r| (r.status, r.bytes))
            .map_err(|e| e.to_string())
    };
    loop {
        match http_request("POST", "/apply", &manifests) {
            Ok((200, _)) => break,
            other if Instant::now() > deadline => {
                panic!("the operator never accepted the manifests: {other:?}")
            }
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    loop {
        let (_, body) = http_request(
            "GET",
            "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamovers/nightly",
            "",
        )
        .unwrap();
        let dm: Json = serde_json::from_slice(&body).unwrap();
        if dm["status"]["phase"] == "Completed" {
            break;
        }
        assert!(
            Instant::now() < deadline && dm["status"]["phase"] != "Failed",
            "the backup did not complete: {dm}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let prom_dir = TempDir::new("prometheus-operator");
    let (mut prom, started, _) = running_prometheus(&prom_dir, metrics);
    let want = expected(&[
        ("default CreatingClonedPVC started", 1.0),
        ("default CreatingClonedPVC success", 1.0),
        ("default CreatingPod started", 1.0),
        ("default CreatingPod success", 1.0),
        ("default CleaningUp started", 1.0),
        ("default CleaningUp success", 1.0),
    ]);
    prom.poll(
        "the operator's run in Prometheus",
        started + DEADLINE,
        |p| {
            let got = vector(
                p,
                r#"datamover_operations_total{job="datamover-operator"}"#,
                &["namespace", "phase", "status"],
            )
            .map_err(again)?;
            if got == want {
                Ok(())
            } else {
                Err(again(format!("{got:?}")))
            }
        },
    );
    let sync = vector(
        &prom,
        r#"datamover_data_sync_operations_total{job="datamover-operator"}"#,
        &["status"],
    )
    .unwrap();
    assert_eq!(sync, expected(&[("success", 1.0)]));
    let reconciles = vector(
        &prom,
        r#"controller_runtime_reconcile_total{job="datamover-operator",result="error"}"#,
        &["controller"],
    )
    .unwrap();
    // The operator runs three controllers: DataMovers, schedules and restores.
    assert_eq!(
        reconciles,
        expected(&[
            ("datamover", 0.0),
            ("datamoverpopulator", 0.0),
            ("datamoverschedule", 0.0)
        ])
    );
}
