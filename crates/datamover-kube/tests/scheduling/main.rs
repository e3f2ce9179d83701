//! Contract tests of the schedule reconciler and of the volume-populator restore on the
//! Kubernetes backend: a kube-rs `Client` over a scripted mock service answering as the API
//! server does (no API server runs here), with assertions on the exact requests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::needless_pass_by_value
)]

#[path = "../fake/mod.rs"]
mod fake;
mod restores;
mod retention;
mod schedules;

use datamover::reconciler::ReconcileError;
use datamover::schedule::DataMoverSchedule;
use datamover::schedule::clock::{Clock, TokioClock};
use datamover::schedule::reconciler::{ScheduleContext, reconcile as reconcile_schedule};
use datamover::types::PersistentVolumeClaim;
use datamover_kube::KubeCluster;
use datamover_kube::restore::{self, RestoreContext};
use fake::*;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tmc_runtime::{Action, ObjectKey, Store};

const SCHEDULES: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/datamoverschedules";
const POPULATORS: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/datamoverpopulators";
const NS_DM: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamovers";
const SCHEDULE_STATUS: &str =
    "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamoverschedules/nightly/status";
const SCHEDULE_UID: &str = "5c4ed01e-0000-4000-8000-000000000001";
/// 2026-11-30T12:00:30Z.
const NOW_MS: u64 = 1_796_040_030_000;

/// A cluster over `script`, with every watch (DataMovers, PVCs, Secrets, Jobs, schedules,
/// populators) listed once.
async fn boot(
    script: impl FnMut(&Req) -> Reply + Send + 'static,
) -> (KubeCluster, Log, tmc_metrics::Metrics) {
    let (client, log) = server(script);
    let m = metrics();
    let cluster = KubeCluster::new(client, m.collector(), options());
    let _core = cluster.spawn_watches();
    let _schedules = cluster.spawn_schedule_watches();
    cluster.wait_synced().await;
    cluster.wait_schedules_synced().await;
    (cluster, log, m)
}

/// The requests the reconcilers made: the watchers' lists and watches left out.
fn calls(log: &Log) -> Vec<Req> {
    fake::writes(log)
        .into_iter()
        .filter(|r| !(r.method == "GET" && (r.path == SCHEDULES || r.path == POPULATORS)))
        .collect()
}

/// `group/resource verb` of a request, as RBAC names it.
fn permission(r: &Req) -> String {
    let parts: Vec<&str> = r.path.trim_start_matches('/').split('/').collect();
    let (group, mut rest) = match parts.as_slice() {
        ["api", _version, rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("not an API path: {}", r.path),
    };
    if let ["namespaces", _ns, inner @ ..] = rest
        && !inner.is_empty()
    {
        rest = inner;
    }
    let resource = match rest {
        [resource] | [resource, _] => (*resource).to_owned(),
        [resource, _, sub] => format!("{resource}/{sub}"),
        _ => panic!("unexpected path {}", r.path),
    };
    let verb = match (r.method.as_str(), rest.len()) {
        ("GET", _) if r.is_watch() => "watch",
        ("GET", 1) => "list",
        ("GET", _) => "get",
        ("POST", _) => "create",
        ("PATCH", _) => "patch",
        ("PUT", _) => "update",
        ("DELETE", _) => "delete",
        (m, _) => panic!("unexpected method {m}"),
    };
    format!("{group}/{resource} {verb}")
}

/// Every request in `log` is granted by the manager's `ClusterRole` in
/// `deploy/manager/rbac.yaml` (what the deployed operator may do covers what it does).
fn assert_granted(log: &Log) {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/manager/rbac.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let mut granted = HashSet::new();
    for doc in yaml_serde::Deserializer::from_str(&text) {
        let v: Value = yaml_serde::from_value(
            <yaml_serde::Value as serde::Deserialize>::deserialize(doc).unwrap(),
        )
        .unwrap();
        if v["metadata"]["name"] != "datamover-operator-manager-role" {
            continue;
        }
        for rule in v["rules"].as_array().unwrap() {
            for g in rule["apiGroups"].as_array().unwrap() {
                for res in rule["resources"].as_array().unwrap() {
                    for verb in rule["verbs"].as_array().unwrap() {
                        granted.insert(format!(
                            "{}/{} {}",
                            g.as_str().unwrap(),
                            res.as_str().unwrap(),
                            verb.as_str().unwrap()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        !granted.is_empty(),
        "no manager role in deploy/manager/rbac.yaml"
    );
    for r in log.lock().unwrap().iter() {
        let needed = permission(r);
        assert!(
            granted.contains(&needed),
            "{} needs `{needed}`, which deploy/manager/rbac.yaml does not grant",
            r.line()
        );
    }
}
