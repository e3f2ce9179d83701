//! PromQL checks: every query parses (promtool, through a recording-rule wrapper) and names
//! only metrics the catalog declares, with their labels, and `rate()` only over counters.
//!
//! The names come from a small PromQL lexer: identifiers that are not keywords, functions,
//! aggregations or label lists are metric names; a `{...}` right after one holds its label
//! matchers.

use super::support::{TempDir, run};
use std::collections::BTreeSet;
use tmc_metrics::catalog::{self, MetricKind};
use yaml_serde::{Mapping, Value};

/// A metric selector found in a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Selector {
    pub(crate) name: String,
    /// Label names of its matchers.
    pub(crate) labels: Vec<String>,
    /// The innermost function or aggregation around it (`rate`, `sum`, ...), if any.
    pub(crate) within: Option<String>,
}

const KEYWORDS: &[&str] = &[
    "and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "start", "end",
];
const GROUPING: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
const AGGREGATIONS: &[&str] = &[
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
];
/// Functions that only make sense over counters.
const COUNTER_FUNCTIONS: &[&str] = &["rate", "irate", "increase", "resets"];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
}

impl Lexer {
    fn peek_significant(&self) -> Option<char> {
        self.chars[self.i..]
            .iter()
            .copied()
            .find(|c| !c.is_whitespace())
    }

    fn skip_ws(&mut self) {
        while self.i < self.chars.len() && self.chars[self.i].is_whitespace() {
            self.i += 1;
        }
    }

    fn ident(&mut self) -> String {
        let start = self.i;
        while self.i < self.chars.len() && is_ident(self.chars[self.i]) {
            self.i += 1;
        }
        self.chars[start..self.i].iter().collect()
    }

    fn string(&mut self) -> Result<(), String> {
        let quote = self.chars[self.i];
        self.i += 1;
        while self.i < self.chars.len() {
            match self.chars[self.i] {
                '\\' if quote != '`' => self.i += 2,
                c if c == quote => {
                    self.i += 1;
                    return Ok(());
                }
                _ => self.i += 1,
            }
        }
        Err("unterminated string".to_owned())
    }

    /// Skips from an opening bracket to its matching closing one (strings skipped).
    fn skip_group(&mut self, open: char, close: char) -> Result<(), String> {
        let mut depth = 0usize;
        while self.i < self.chars.len() {
            match self.chars[self.i] {
                '"' | '\'' | '`' => {
                    self.string()?;
                    continue;
                }
                c if c == open => depth += 1,
                c if c == close => {
                    depth -= 1;
                    if depth == 0 {
                        self.i += 1;
                        return Ok(());
                    }
                }
                _ => {}
            }
            self.i += 1;
        }
        Err(format!("unbalanced {open}{close}"))
    }

    /// The label names of a `{...}` matcher block starting at the current `{`.
    fn matchers(&mut self) -> Result<Vec<String>, String> {
        self.i += 1;
        let mut labels = Vec::new();
        loop {
            self.skip_ws();
            match self.chars.get(self.i) {
                None => return Err("unterminated {".to_owned()),
                Some('}') => {
                    self.i += 1;
                    return Ok(labels);
                }
                Some(',') => self.i += 1,
                Some(&c) if is_ident_start(c) => {
                    labels.push(self.ident());
                    self.skip_ws();
                    while matches!(self.chars.get(self.i), Some('=' | '!' | '~')) {
                        self.i += 1;
                    }
                    self.skip_ws();
                    match self.chars.get(self.i) {
                        Some('"' | '\'' | '`') => self.string()?,
                        _ => return Err("a label matcher without a quoted value".to_owned()),
                    }
                }
                Some(c) => return Err(format!("unexpected {c:?} in label matchers")),
            }
        }
    }
}

/// The metric selectors of `expr`.
pub(crate) fn selectors(expr: &str) -> Result<Vec<Selector>, String> {
    let mut lx = Lexer {
        chars: expr.chars().collect(),
        i: 0,
    };
    let mut found = Vec::new();
    // The function or aggregation each open parenthesis belongs to ("" for plain ones).
    let mut stack: Vec<String> = Vec::new();
    let mut pending: Option<String> = None;
    while lx.i < lx.chars.len() {
        let c = lx.chars[lx.i];
        match c {
            _ if c.is_whitespace() => lx.i += 1,
            '#' => {
                while lx.i < lx.chars.len() && lx.chars[lx.i] != '\n' {
                    lx.i += 1;
                }
            }
            '"' | '\'' | '`' => lx.string()?,
            '[' => lx.skip_group('[', ']')?,
            '{' => return Err("a selector without a metric name".to_owned()),
            '(' => {
                stack.push(pending.take().unwrap_or_default());
                lx.i += 1;
            }
            ')' => {
                stack.pop().ok_or("unbalanced ()")?;
                lx.i += 1;
            }
            _ if c.is_ascii_digit()
                || (c == '.' && lx.chars.get(lx.i + 1).is_some_and(char::is_ascii_digit)) =>
            {
                while lx.i < lx.chars.len()
                    && (lx.chars[lx.i].is_ascii_alphanumeric() || lx.chars[lx.i] == '.')
                {
                    lx.i += 1;
                }
            }
            _ if is_ident_start(c) => {
                let word = lx.ident();
                if KEYWORDS.contains(&word.as_str()) {
                    continue;
                }
                if GROUPING.contains(&word.as_str()) {
                    if lx.peek_significant() == Some('(') {
                        lx.skip_ws();
                        lx.skip_group('(', ')')?;
                    }
                    continue;
                }
                if AGGREGATIONS.contains(&word.as_str()) || lx.peek_significant() == Some('(') {
                    pending = Some(word);
                    continue;
                }
                let labels = if lx.peek_significant() == Some('{') {
                    lx.skip_ws();
                    lx.matchers()?
                } else {
                    Vec::new()
                };
                let within = stack.iter().rev().find(|f| !f.is_empty()).cloned();
                found.push(Selector {
                    name: word,
                    labels,
                    within,
                });
            }
            _ => lx.i += 1,
        }
    }
    if !stack.is_empty() {
        return Err("unbalanced ()".to_owned());
    }
    Ok(found)
}

/// What a query may name besides catalog metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allow {
    /// Catalog metrics and recording-rule names only (dashboards).
    Catalog,
    /// Also Prometheus's own `up{job, instance}` (rules and docs).
    CatalogAndUp,
}

/// Checks that every selector of `expr` names a catalog series (or a shipped recording
/// rule), with only that family's labels (plus `job` and `instance`, and `le` on a
/// `_bucket` series), and that `rate()`-like functions only see counters.
pub(crate) fn check_names(
    expr: &str,
    recorded: &BTreeSet<String>,
    allow: Allow,
) -> Result<(), String> {
    let selectors = selectors(expr)?;
    if selectors.is_empty() {
        return Err("names no metric".to_owned());
    }
    for sel in selectors {
        let name = sel.name.as_str();
        if recorded.contains(name) {
            continue;
        }
        let mut allowed: Vec<&str> = vec!["job", "instance"];
        let counter_like = if name == "up" && allow == Allow::CatalogAndUp {
            false
        } else {
            let def = catalog::family_of_series(name).ok_or_else(|| {
                format!("`{name}` is neither in the catalog nor a shipped recording rule")
            })?;
            if def.kind == MetricKind::Histogram && def.name == name {
                return Err(format!(
                    "`{name}` is a histogram: query its _bucket, _sum or _count series"
                ));
            }
            allowed.extend(def.labels);
            if name.ends_with("_bucket") {
                allowed.push("le");
            }
            // A histogram's _bucket, _sum and _count series are counters.
            def.kind != MetricKind::Gauge
        };
        if let Some(label) = sel.labels.iter().find(|l| !allowed.contains(&l.as_str())) {
            return Err(format!("`{name}` has no label `{label}`"));
        }
        if let Some(f) = &sel.within
            && COUNTER_FUNCTIONS.contains(&f.as_str())
            && !counter_like
        {
            return Err(format!("{f}() over `{name}`, which is not a counter"));
        }
    }
    Ok(())
}

/// A query to check, and where it comes from.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub(crate) source: String,
    pub(crate) expr: String,
}

/// Runs `promtool check rules` on a rule file wrapping every query as a recording rule; the
/// report on failure names the queries promtool rejected.
pub(crate) fn promtool_parses(promtool: &str, queries: &[Query]) -> Result<(), String> {
    let dir = TempDir::new("queries");
    let rules: Vec<Value> = queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let mut rule = Mapping::new();
            rule.insert("record".into(), format!("query_{i}").into());
            rule.insert("expr".into(), q.expr.clone().into());
            Value::Mapping(rule)
        })
        .collect();
    let mut group = Mapping::new();
    group.insert("name".into(), "queries".into());
    group.insert("rules".into(), Value::Sequence(rules));
    let mut doc = Mapping::new();
    doc.insert(
        "groups".into(),
        Value::Sequence(vec![Value::Mapping(group)]),
    );
    let file = dir.write("queries.yml", &yaml_serde::to_string(&doc).unwrap());
    let (ok, report) = run(
        promtool,
        &["check", "rules", file.to_str().unwrap()],
        dir.path(),
    );
    if ok {
        return Ok(());
    }
    let culprits: Vec<String> = queries
        .iter()
        .enumerate()
        .filter(|(i, _)| report.contains(&format!("\"query_{i}\"")))
        .map(|(i, q)| format!("query_{i} ({}):\n{}", q.source, q.expr))
        .collect();
    Err(format!("{report}\n{}", culprits.join("\n\n")))
}

#[test]
fn the_lexer_finds_metric_names_labels_and_the_function_around_them() {
    let sels = selectors(
        r#"sum by (namespace, phase) (rate(datamover_operations_total{status=~"a|b", namespace="x"}[5m] offset 1h))
           / on (namespace) group_left(phase) max(tmc_x) # a comment naming not_a_metric
           or absent(up{job="j"}) > 1e-8 and histogram_quantile(0.95, sum by (le) (rate(h_bucket[$__x])))"#,
    )
    .unwrap();
    let got: Vec<(&str, Vec<&str>, Option<&str>)> = sels
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.labels.iter().map(String::as_str).collect(),
                s.within.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "datamover_operations_total",
                vec!["status", "namespace"],
                Some("rate")
            ),
            ("tmc_x", vec![], Some("max")),
            ("up", vec!["job"], Some("absent")),
            ("h_bucket", vec![], Some("rate")),
        ]
    );
}

#[test]
fn the_name_check_rejects_what_the_seeds_got_wrong() {
    let none = BTreeSet::new();
    let check = |e: &str| check_names(e, &none, Allow::Catalog);
    check(r#"sum by (phase) (rate(datamover_operations_total{status="failure"}[5m]))"#).unwrap();
    // A seed name the catalog renamed (gauges may not end in _total).
    assert!(
        check("tmc_goroutines_total")
            .unwrap_err()
            .contains("catalog")
    );
    // rate() over a gauge (the seed's migration success rate).
    let err = check(r#"rate(tmc_migrations{status="completed"}[10m])"#).unwrap_err();
    assert!(err.contains("not a counter"), "{err}");
    // A label the family does not have.
    let err = check(r#"datamover_cleanup_operations_total{phase="x"}"#).unwrap_err();
    assert!(err.contains("no label `phase`"), "{err}");
    // A histogram queried by its family name.
    assert!(check("datamover_phase_duration_seconds").is_err());
    // `up` is for rules and docs, not dashboards.
    assert!(check("up").is_err());
    check_names("up", &none, Allow::CatalogAndUp).unwrap();
    // Recording-rule names are allowed once shipped.
    let recorded = BTreeSet::from(["datamover:x:1h".to_owned()]);
    check_names("datamover:x:1h", &recorded, Allow::Catalog).unwrap();
    assert!(check("datamover:x:1h").is_err());
}

#[test]
fn the_parse_check_rejects_the_seeds_promql() {
    let promtool = super::support::promtool();
    let good = Query {
        source: "good".to_owned(),
        expr: "sum by (namespace, phase) (rate(datamover_operations_total[5m]))".to_owned(),
    };
    promtool_parses(promtool, std::slice::from_ref(&good)).unwrap();
    let seed = Query {
        source: "the seed's failure-rate query".to_owned(),
        expr: "rate(datamover_operations_total{status=\"failure\"}[5m]) by (namespace, phase)"
            .to_owned(),
    };
    let err = promtool_parses(promtool, &[good, seed]).unwrap_err();
    assert!(
        err.contains("query_1 (the seed's failure-rate query)") && !err.contains("query_0 ("),
        "{err}"
    );
}
