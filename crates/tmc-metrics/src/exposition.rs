//! Exposition formats and the trait a `/metrics` route renders through.
//!
//! The format is chosen from the scrape's `Accept` header ([`Format::from_accept`]); a
//! registry that can render both implements [`Exposition`]. Both live here, outside the
//! `registry` feature, so HTTP glue (such as `tmc_tower::axum::metrics_route`) can serve any
//! [`Exposition`] without pulling in the registry.

/// The content type of [`Format::Text`], the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An exposition format, chosen from a scrape's `Accept` header with [`Format::from_accept`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// The Prometheus text format, version 0.0.4 ([`CONTENT_TYPE`]).
    #[default]
    Text,
    /// OpenMetrics 1.0 ([`OPENMETRICS_CONTENT_TYPE`]): counters' samples end in `_total`
    /// under a family name without it, `# UNIT` where the name ends in a unit, `# EOF` last.
    OpenMetrics,
}

/// The content type of [`Format::OpenMetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

impl Format {
    /// The `Content-Type` of a response in this format.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Text => CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }

    /// The format a scrape asks for in its `Accept` header: OpenMetrics when
    /// `application/openmetrics-text` (version 1.0.0 or unversioned) has the highest quality
    /// among the types offered, else the text format, which is also the answer to a missing,
    /// empty or unparsable header.
    ///
    /// ```
    /// use tmc_metrics::Format;
    /// // What Prometheus sends by default.
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
    ///     version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::from_accept(Some(prometheus)), Format::OpenMetrics);
    /// assert_eq!(Format::from_accept(Some("text/plain;version=0.0.4")), Format::Text);
    /// assert_eq!(Format::from_accept(None), Format::Text);
    /// ```
    #[must_use]
    pub fn from_accept(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Text;
        };
        let mut best = (0.0_f64, Self::Text);
        let mut text_q = 0.0_f64;
        for item in accept.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let mut q = 1.0;
            let mut version = None;
            for param in parts {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.trim().parse().unwrap_or(0.0),
                    "version" => version = Some(v.trim().trim_matches('"').to_owned()),
                    _ => {}
                }
            }
            match media.as_str() {
                "application/openmetrics-text"
                    if matches!(version.as_deref(), None | Some("1.0.0")) && q > best.0 =>
                {
                    best = (q, Self::OpenMetrics);
                }
                "text/plain" | "*/*" | "text/*" => text_q = text_q.max(q),
                _ => {}
            }
        }
        if best.1 == Self::OpenMetrics && best.0 >= text_q {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }
}

/// Something that renders an exposition in either [`Format`], such as
/// [`Metrics`](crate::Metrics) (feature `registry`).
pub trait Exposition: Clone + Send + Sync + 'static {
    /// Renders every series in `format`.
    fn render_format(&self, format: Format) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_choose_the_format() {
        let f = |a: &str| Format::from_accept(Some(a));
        assert_eq!(f("application/openmetrics-text"), Format::OpenMetrics);
        assert_eq!(
            f("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            Format::OpenMetrics
        );
        assert_eq!(
            f("application/openmetrics-text;version=0.0.1"),
            Format::Text
        );
        assert_eq!(
            f("text/plain;q=0.9,application/openmetrics-text;q=0.5"),
            Format::Text
        );
        assert_eq!(f("*/*"), Format::Text);
        assert_eq!(f(""), Format::Text);
        assert_eq!(f("application/json"), Format::Text);
        assert_eq!(f("application/openmetrics-text;q=0"), Format::Text);
    }
}
