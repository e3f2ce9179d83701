//! The Grafana dashboards and the queries of `docs/monitoring.md`.

use super::promql::{Allow, Query, check_names, promtool_parses};
use super::support::{files, recorded_names, root, rules};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn dashboard_files() -> Vec<PathBuf> {
    files("grafana/dashboards", ".json")
}

fn load(path: &PathBuf) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for p in dashboard["panels"].as_array().unwrap() {
        all.push(p);
        all.extend(p["panels"].as_array().into_iter().flatten());
    }
    all
}

/// The value Grafana would put in place of `name` when checking a query.
fn substitute(expr: &str, variables: &BTreeSet<String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let braced = rest.starts_with('{');
        let name_start = usize::from(braced);
        let len = rest[name_start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len() - name_start);
        let name = &rest[name_start..name_start + len];
        let mut consumed = name_start + len;
        if braced {
            if !rest[consumed..].starts_with('}') {
                return Err(format!("unterminated ${{{name}"));
            }
            consumed += 1;
        }
        let value = match name {
            "__rate_interval" => "5m",
            "__interval" => "1m",
            "__range" => "1h",
            _ if variables.contains(name) => "x",
            _ => return Err(format!("unknown variable ${name}")),
        };
        out.push_str(value);
        rest = &rest[consumed..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `label_values(selector, label)` of a query variable: the selector.
fn label_values_selector(query: &str) -> Result<&str, String> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .ok_or_else(|| format!("{query}: only label_values(metric, label) is used"))?;
    let (selector, label) = inner
        .rsplit_once(',')
        .ok_or_else(|| format!("{query}: label_values needs a metric"))?;
    if label.trim().is_empty() {
        return Err(format!("{query}: no label"));
    }
    Ok(selector.trim())
}

fn dashboard_queries() -> Vec<Query> {
    let mut queries = Vec::new();
    for path in dashboard_files() {
        let d = load(&path);
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        let variables: BTreeSet<String> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect();
        for v in d["templating"]["list"].as_array().unwrap() {
            if v["type"] == "query" {
                let query = v["query"].as_str().unwrap();
                let selector = label_values_selector(query).unwrap();
                queries.push(Query {
                    source: format!("{file}: variable {}", v["name"]),
                    expr: substitute(selector, &variables).unwrap(),
                });
            }
        }
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap();
                queries.push(Query {
                    source: format!("{file}: panel {} ({})", p["title"], t["refId"]),
                    expr: substitute(expr, &variables)
                        .unwrap_or_else(|e| panic!("{file}: {}: {e}", p["title"])),
                });
            }
        }
    }
    queries
}

fn docs() -> String {
    std::fs::read_to_string(root().join("docs/monitoring.md")).unwrap()
}

/// The variables of every dashboard: the docs show panel queries as they are.
fn all_variables() -> BTreeSet<String> {
    dashboard_files()
        .iter()
        .flat_map(|p| {
            load(p)["templating"]["list"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The `promql` code blocks of `docs/monitoring.md`, one query each, as written.
fn docs_blocks() -> Vec<Query> {
    let docs = docs();
    let mut queries = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for (n, line) in docs.lines().enumerate() {
        match &mut block {
            None if line.trim() == "```promql" => block = Some((n + 1, String::new())),
            Some((start, text)) if line.trim() == "```" => {
                queries.push(Query {
                    source: format!("docs/monitoring.md:{start}"),
                    expr: std::mem::take(text),
                });
                block = None;
            }
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
            None => {}
        }
    }
    assert!(
        block.is_none(),
        "docs/monitoring.md: unterminated ```promql block"
    );
    queries
}

/// The `promql` code blocks of `docs/monitoring.md`, Grafana variables substituted.
fn docs_queries() -> Vec<Query> {
    let variables = all_variables();
    docs_blocks()
        .into_iter()
        .map(|q| Query {
            expr: substitute(&q.expr, &variables).unwrap_or_else(|e| panic!("{}: {e}", q.source)),
            source: q.source,
        })
        .collect()
}

fn normalize(expr: &str) -> String {
    expr.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn dashboards_have_a_stable_uid_a_datasource_variable_used_by_every_panel() {
    let ds = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    let mut uids = BTreeSet::new();
    let mut titles = BTreeSet::new();
    for path in dashboard_files() {
        let d = load(&path);
        let file = path.display();
        let uid = d["uid"].as_str().unwrap_or_default();
        assert!(
            !uid.is_empty()
                && uid.len() <= 40
                && uid
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{file}: uid {uid:?}"
        );
        assert!(uids.insert(uid.to_owned()), "{file}: uid {uid} is taken");
        assert!(
            titles.insert(d["title"].as_str().unwrap().to_owned()),
            "{file}: title"
        );
        assert!(d["id"].is_null(), "{file}: an id ties it to one Grafana");
        assert!(d["schemaVersion"].as_u64().unwrap() >= 36, "{file}");
        let vars = d["templating"]["list"].as_array().unwrap();
        let datasource: Vec<_> = vars.iter().filter(|v| v["type"] == "datasource").collect();
        assert_eq!(datasource.len(), 1, "{file}: one datasource variable");
        assert_eq!(datasource[0]["name"], "datasource", "{file}");
        assert_eq!(datasource[0]["query"], "prometheus", "{file}");
        for v in vars.iter().filter(|v| v["type"] == "query") {
            assert_eq!(v["datasource"], ds, "{file}: variable {}", v["name"]);
        }
        let mut ids = BTreeSet::new();
        let mut panel_titles = BTreeSet::new();
        for p in panels(&d) {
            let title = &p["title"];
            assert!(ids.insert(p["id"].as_u64().unwrap()), "{file}: panel id");
            assert!(
                panel_titles.insert(title.as_str().unwrap().to_owned()),
                "{file}: two panels are called {title}"
            );
            let pos = &p["gridPos"];
            assert!(
                pos["x"].as_u64().unwrap() + pos["w"].as_u64().unwrap() <= 24,
                "{file}: {title}"
            );
            if p["type"] == "row" {
                continue;
            }
            assert!(
                !p["description"].as_str().unwrap_or_default().is_empty(),
                "{file}: {title}: describe what it shows"
            );
            assert_eq!(p["datasource"], ds, "{file}: panel {title}");
            let targets = p["targets"].as_array().unwrap();
            assert!(!targets.is_empty(), "{file}: panel {title} has no query");
            let mut refs = BTreeSet::new();
            for t in targets {
                assert_eq!(t["datasource"], ds, "{file}: panel {title}");
                assert!(refs.insert(t["refId"].as_str().unwrap()), "{file}: {title}");
            }
        }
    }
}

/// The panels the issue asks for, by dashboard uid and title.
#[test]
fn dashboards_show_what_the_seeds_ask_for() {
    let wanted: &[(&str, &[&str])] = &[
        (
            "datamover-overview",
            &[
                "Success rate (time range)",
                "Success rate by phase (1h)",
                "Phase duration p50 / p95 (1h)",
                "Operations by phase (per hour)",
                "Cleanup success rate (time range)",
            ],
        ),
        (
            "tmc-overview",
            &[
                "Component health by type (worst)",
                "Operation rate",
                "Error rate by component",
            ],
        ),
        (
            "tmc-sync",
            &[
                "Sync success rate",
                "Sync duration p50 / p95",
                "Sync backlog",
            ],
        ),
        (
            "tmc-api",
            &[
                "Request rate by endpoint",
                "Error ratio by endpoint",
                "Latency p50 / p95 / p99",
            ],
        ),
        (
            "tmc-controller-runtime",
            &[
                "Reconciles by result",
                "Queue depth",
                "Reconcile error ratio",
            ],
        ),
    ];
    let dashboards: Vec<Value> = dashboard_files().iter().map(load).collect();
    for (uid, titles) in wanted {
        let d = dashboards
            .iter()
            .find(|d| d["uid"] == *uid)
            .unwrap_or_else(|| panic!("no dashboard {uid}"));
        let have: BTreeSet<&str> = panels(d)
            .iter()
            .filter_map(|p| p["title"].as_str())
            .collect();
        for title in *titles {
            assert!(have.contains(title), "{uid}: no panel {title:?}");
        }
    }
}

#[test]
fn every_dashboard_and_docs_query_names_only_catalog_metrics() {
    let recorded = recorded_names();
    let mut errors = Vec::new();
    for q in dashboard_queries() {
        if let Err(e) = check_names(&q.expr, &recorded, Allow::Catalog) {
            errors.push(format!("{}: {e}\n{}", q.source, q.expr));
        }
    }
    let docs = docs_queries();
    assert!(docs.len() >= 20, "docs/monitoring.md explains the queries");
    for q in docs {
        if let Err(e) = check_names(&q.expr, &recorded, Allow::CatalogAndUp) {
            errors.push(format!("{}: {e}\n{}", q.source, q.expr));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n\n"));
}

#[test]
fn every_dashboard_and_docs_query_parses() {
    let promtool = super::support::promtool();
    let mut queries = dashboard_queries();
    queries.extend(docs_queries());
    promtool_parses(promtool, &queries).unwrap_or_else(|e| panic!("{e}"));
}

/// Every rule and every panel query is shown, exactly as shipped, in `docs/monitoring.md`
/// (which explains it), and every rule and dashboard is named there.
#[test]
fn the_docs_show_and_explain_every_rule_and_panel_query() {
    let docs = docs();
    let blocks: BTreeSet<String> = docs_blocks().iter().map(|q| normalize(&q.expr)).collect();
    let mut missing = Vec::new();
    for rule in rules() {
        if !docs.contains(&format!("### `{}`", rule.name)) {
            missing.push(format!("no section for {}", rule.name));
        }
        if !blocks.contains(&normalize(&rule.expr)) {
            missing.push(format!("{}: its expression is not shown", rule.name));
        }
    }
    for path in dashboard_files() {
        let d = load(&path);
        let uid = d["uid"].as_str().unwrap();
        if !docs.contains(&format!("(`{uid}`)")) {
            missing.push(format!("no section for dashboard {uid}"));
        }
        for p in panels(&d) {
            for t in p["targets"].as_array().into_iter().flatten() {
                if !blocks.contains(&normalize(t["expr"].as_str().unwrap())) {
                    missing.push(format!("{uid}: panel {} is not shown", p["title"]));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/monitoring.md is out of date:\n{}",
        missing.join("\n")
    );
}

#[test]
fn variable_substitution_rejects_unknown_variables() {
    let vars = BTreeSet::from(["namespace".to_owned()]);
    assert_eq!(
        substitute(
            r#"rate(x{namespace=~"$namespace"}[$__rate_interval]) ${namespace}"#,
            &vars
        )
        .unwrap(),
        r#"rate(x{namespace=~"x"}[5m]) x"#
    );
    assert!(substitute("rate(x[$interval])", &vars).is_err());
}
