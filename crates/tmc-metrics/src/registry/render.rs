//! The renderer: the registry's state written directly as sorted exposition text, in the
//! Prometheus text format 0.0.4 or OpenMetrics 1.0.
//!
//! Families come sorted by name and series by their label text, so two renders of the same
//! state are byte-identical. Nothing is parsed back.

use super::family::{Cell, Family, Series};
use super::{Registry, text};
use crate::catalog::MetricKind;
use crate::exposition::TextFormat;

/// The unit OpenMetrics' `# UNIT` line names for a family, from its name's last word.
pub(crate) fn unit_of(family: &str) -> Option<&'static str> {
    const UNITS: &[&str] = &[
        "seconds", "bytes", "ratio", "celsius", "meters", "grams", "volts", "amperes", "joules",
    ];
    let last = family.rsplit('_').next()?;
    UNITS.iter().copied().find(|u| *u == last)
}

impl Registry {
    /// Renders every live series in `format`.
    pub(crate) fn render(&self, format: TextFormat) -> String {
        let now = self.tick();
        let period = self.retention();
        let families = self.sorted_families();
        // Sized from the last render, so a large exposition is not copied as it grows.
        let mut out = String::with_capacity(self.last_len().saturating_add(4096));
        let mut scratch = Vec::new();
        for family in &families {
            family.with_live_series(now, period, |series| {
                if !series.is_empty() {
                    write_family(&mut out, family, series, format, &mut scratch);
                }
            });
        }
        if format == TextFormat::OpenMetrics {
            out.push_str("# EOF\n");
        }
        self.set_last_len(out.len());
        out
    }
}

fn write_family(
    out: &mut String,
    family: &Family,
    series: &[&Series],
    format: TextFormat,
    scratch: &mut Vec<u64>,
) {
    let name = family.name();
    let om = format == TextFormat::OpenMetrics;
    // OpenMetrics names a counter family without `_total`; its samples carry the suffix.
    let (family_name, sample_suffix) = match (om, family.kind()) {
        (true, MetricKind::Counter) => match name.strip_suffix("_total") {
            Some(base) => (base, "_total"),
            None => (name, "_total"),
        },
        _ => (name, ""),
    };
    let help = family.help();
    if !help.is_empty() {
        out.push_str("# HELP ");
        out.push_str(family_name);
        out.push(' ');
        text::help(out, &help, om);
        out.push('\n');
    }
    out.push_str("# TYPE ");
    out.push_str(family_name);
    out.push(' ');
    out.push_str(family.kind().as_str());
    out.push('\n');
    if om && let Some(unit) = unit_of(family_name) {
        out.push_str("# UNIT ");
        out.push_str(family_name);
        out.push(' ');
        out.push_str(unit);
        out.push('\n');
    }
    for s in series {
        match s.cell() {
            Cell::Counter(c) => {
                head(out, family_name, sample_suffix, s.labels());
                text::uint(out, c.get());
                #[cfg(feature = "opentelemetry")]
                if om && let Some(e) = c.exemplar() {
                    super::exemplar::write(out, &e);
                }
                out.push('\n');
            }
            Cell::Gauge(g) => {
                head(out, name, "", s.labels());
                text::float(out, g.get());
                out.push('\n');
            }
            Cell::Histogram(h) => {
                let sum = h.snapshot(scratch);
                let mut cumulative = 0u64;
                #[cfg_attr(not(feature = "opentelemetry"), allow(unused_variables))]
                for (index, (le, count)) in family.les().iter().zip(scratch.iter()).enumerate() {
                    cumulative += count;
                    out.push_str(name);
                    out.push_str("_bucket{");
                    out.push_str(s.labels());
                    if !s.labels().is_empty() {
                        out.push(',');
                    }
                    out.push_str("le=\"");
                    out.push_str(le);
                    out.push_str("\"} ");
                    text::uint(out, cumulative);
                    #[cfg(feature = "opentelemetry")]
                    if om && let Some(e) = h.exemplar(index) {
                        super::exemplar::write(out, &e);
                    }
                    out.push('\n');
                }
                head(out, name, "_sum", s.labels());
                text::float(out, sum);
                out.push('\n');
                head(out, name, "_count", s.labels());
                text::uint(out, cumulative);
                out.push('\n');
            }
        }
    }
}

/// Writes `name` `suffix` `{labels}` and the space before the value.
#[inline]
fn head(out: &mut String, name: &str, suffix: &str, labels: &str) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
    out.push(' ');
}

#[cfg(test)]
mod tests {
    use super::unit_of;

    #[test]
    fn units_come_from_the_last_word_of_the_name() {
        assert_eq!(unit_of("datamover_phase_duration_seconds"), Some("seconds"));
        assert_eq!(unit_of("datamover_bytes_transferred"), None);
        assert_eq!(unit_of("tmc_memory_usage_bytes"), Some("bytes"));
    }
}
