//! The generated metrics reference (`docs/metrics.md`).

use super::{CATALOG, MetricKind, NATIVE_HISTOGRAMS, NativeHistogram, Subsystem};
use std::fmt::Write as _;

/// What the OpenTelemetry naming's labels hold, under its table.
const HTTP_NOTE: &str = "\n`ApiMetricsLayer::naming(Naming::OpenTelemetry)` records these in place of the \
    `tmc_api_*` families, `Naming::Both` beside them; the default records only `tmc_api_*`. \
    The attributes of OpenTelemetry's HTTP server semantic conventions become labels with \
    underscores. `http_request_method` is one of the nine standard methods or `_OTHER`; \
    `http_route` is the route template (the groups, cap and `__overflow__` of `endpoint`), \
    left out on requests that matched no route; `url_scheme` is `http` or `https`; \
    `network_protocol_version` is `1.0`, `1.1`, `2` or `3`. `error_type` is set only on \
    failures: the status code on a 5xx, `_OTHER` when the service or the response body \
    failed, `cancelled` when the request was dropped first (these two have no \
    `http_response_status_code`). The body sizes are labelled by method and route only.\n";

/// Renders the metrics reference as Markdown: one table per subsystem with every family's
/// name, type, labels, buckets and help text, then the native histograms and the names that
/// differ from the seeds.
///
/// `docs/metrics.md` is this function's output; a test fails when the file is stale.
#[must_use]
pub fn render_markdown() -> String {
    let mut out = String::from(
        "# Metrics reference\n\n\
         <!-- Generated from the catalog in crates/tmc-metrics/src/catalog. Do not edit: run\n     \
         `TMC_BLESS=1 cargo test -p tmc-metrics --lib docs_reference` to regenerate. -->\n\n\
         Every family the project records, declared once in `tmc_metrics::catalog`. Histograms\n\
         render as Prometheus histograms (`_bucket{le=...}`, `_sum`, `_count`) with the buckets\n\
         listed here; `+Inf` is always added.\n",
    );
    let mut subsystems: Vec<Subsystem> = Vec::new();
    for def in CATALOG {
        if !subsystems.contains(&def.subsystem) {
            subsystems.push(def.subsystem);
        }
    }
    for subsystem in subsystems {
        let _ = write!(
            out,
            "\n## {}\n\n| name | type | labels | buckets | help |\n| --- | --- | --- | --- | --- |\n",
            subsystem.title()
        );
        for def in CATALOG.iter().filter(|d| d.subsystem == subsystem) {
            let labels = if def.labels.is_empty() {
                "none".to_owned()
            } else {
                def.labels
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let buckets = if def.kind == MetricKind::Histogram {
                def.buckets
                    .iter()
                    .map(f64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                "-".to_owned()
            };
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                def.name, def.kind, labels, buckets, def.help
            );
        }
        if subsystem == Subsystem::Http {
            out.push_str(HTTP_NOTE);
        }
    }
    out.push_str(
        "\n## Native histograms\n\n\
         A scrape that asks for the protobuf exposition (`application/vnd.google.protobuf; \
         proto=io.prometheus.client.MetricFamily; encoding=delimited`, what Prometheus sends \
         first with native histograms on) gets these families' native histograms beside their \
         classic buckets: sparse exponential buckets where bucket `i` holds \
         `(2^((i-1)/2^schema), 2^(i/2^schema)]`, a zero bucket, and the classic buckets' \
         exemplars. Past the bucket budget the schema drops by one, merging buckets in pairs. \
         The text format and OpenMetrics are unchanged. `MetricsBuilder::native_histogram` \
         sets or removes one for any histogram. Recording stays lock-free: one observation \
         into a family with a native histogram costs about 1.7× one into a family without \
         (10.7 ns against 6.4 ns on the 2-core test machine, `docs/benchmarks.md`).\n\n\
         | name | schema | bucket growth | zero threshold | bucket budget |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for (def, native) in NATIVE_HISTOGRAMS {
        let _ = writeln!(
            out,
            "| `{}` | {} | {:.4}× | {:e} | {} |",
            def.name,
            native.schema,
            NativeHistogram::growth(native.schema),
            native.zero_threshold,
            native.max_buckets
        );
    }
    out.push_str("\n## Names that differ from the seeds\n\n| seed name | name here | why |\n| --- | --- | --- |\n");
    for def in CATALOG {
        if let Some((seed, why)) = def.seed_name {
            let _ = writeln!(out, "| `{seed}` | `{}` | {why} |", def.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render_markdown;
    use std::path::PathBuf;

    /// `docs/metrics.md` must be the catalog's current rendering.
    #[test]
    fn docs_reference_is_up_to_date() {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/metrics.md");
        let fresh = render_markdown();
        if std::env::var_os("TMC_BLESS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
            return;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == fresh,
            "docs/metrics.md is stale: run `TMC_BLESS=1 cargo test -p tmc-metrics --lib docs_reference`"
        );
    }

    #[test]
    fn reference_lists_every_family_and_every_seed_rename() {
        let md = render_markdown();
        for def in super::CATALOG {
            assert!(md.contains(&format!("| `{}` |", def.name)), "{}", def.name);
        }
        assert!(md.contains("| `tmc_placements_total` | `tmc_placements` |"));
        assert!(md.contains("| `tmc_goroutines_total` | `tmc_runtime_tasks` |"));
    }
}
