//! Exposition formats and the trait a `/metrics` route renders through.
//!
//! The format is chosen from the scrape's `Accept` header ([`Format::negotiate`], or
//! [`Format::from_accept`] for the text formats alone); a registry that can render them
//! implements [`Exposition`]. Both live here, outside the `registry` feature, so HTTP glue
//! (such as `tmc_tower::axum::metrics_route`) can serve any [`Exposition`] without pulling in
//! the registry.

/// The content type of [`Format::Text`], the Prometheus text format 0.0.4.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An exposition format, chosen from a scrape's `Accept` header with [`Format::negotiate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// The Prometheus text format, version 0.0.4 ([`CONTENT_TYPE`]).
    #[default]
    Text,
    /// OpenMetrics 1.0 ([`OPENMETRICS_CONTENT_TYPE`]): counters' samples end in `_total`
    /// under a family name without it, `# UNIT` where the name ends in a unit, `# EOF` last.
    OpenMetrics,
    /// The Prometheus protobuf exposition ([`PROTOBUF_CONTENT_TYPE`]): length-delimited
    /// `io.prometheus.client.MetricFamily` messages, the only format that carries native
    /// histograms. Binary, so no [`TextFormat`]: render it with [`Exposition::render_bytes`].
    Protobuf,
}

/// A text exposition format: what a `String` can hold, so what [`Exposition::render_format`]
/// and `Metrics::render_as` render. [`Format::Protobuf`] is binary and has no variant here:
/// [`Exposition::render_bytes`] renders every [`Format`].
///
/// ```
/// use tmc_metrics::{Format, TextFormat};
/// assert_eq!(Format::from(TextFormat::OpenMetrics), Format::OpenMetrics);
/// assert_eq!(TextFormat::try_from(Format::Text), Ok(TextFormat::Text));
/// assert_eq!(TextFormat::try_from(Format::Protobuf), Err(Format::Protobuf));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TextFormat {
    /// [`Format::Text`], the Prometheus text format 0.0.4.
    #[default]
    Text,
    /// [`Format::OpenMetrics`], OpenMetrics 1.0.
    OpenMetrics,
}

impl TextFormat {
    /// The `Content-Type` of a response in this format.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Text => CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

impl From<TextFormat> for Format {
    fn from(format: TextFormat) -> Self {
        match format {
            TextFormat::Text => Self::Text,
            TextFormat::OpenMetrics => Self::OpenMetrics,
        }
    }
}

impl TryFrom<Format> for TextFormat {
    /// The format that is not text: [`Format::Protobuf`].
    type Error = Format;

    fn try_from(format: Format) -> Result<Self, Format> {
        match format {
            Format::Text => Ok(Self::Text),
            Format::OpenMetrics => Ok(Self::OpenMetrics),
            other => Err(other),
        }
    }
}

/// The content type of [`Format::OpenMetrics`].
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of [`Format::Protobuf`].
pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

impl Format {
    /// The `Content-Type` of a response in this format.
    #[must_use]
    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Text => CONTENT_TYPE,
            Self::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Self::Protobuf => PROTOBUF_CONTENT_TYPE,
        }
    }

    /// Prometheus's own order of preference, used to break a tie in quality: protobuf first
    /// (what it asks for when native histograms are on), then OpenMetrics, then text.
    const fn rank(self) -> u8 {
        match self {
            Self::Protobuf => 2,
            Self::OpenMetrics => 1,
            Self::Text => 0,
        }
    }

    /// The text format a scrape asks for in its `Accept` header: [`negotiate`](Self::negotiate)
    /// among [`Format::Text`] and [`Format::OpenMetrics`], for callers that render text.
    ///
    /// ```
    /// use tmc_metrics::{Format, TextFormat};
    /// // What Prometheus sends by default.
    /// let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
    ///     version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::from_accept(Some(prometheus)), TextFormat::OpenMetrics);
    /// assert_eq!(Format::from_accept(Some("text/plain;version=0.0.4")), TextFormat::Text);
    /// assert_eq!(Format::from_accept(None), TextFormat::Text);
    /// ```
    #[must_use]
    pub fn from_accept(accept: Option<&str>) -> TextFormat {
        match Self::negotiate(accept, &[Self::Text, Self::OpenMetrics]) {
            Self::OpenMetrics => TextFormat::OpenMetrics,
            _ => TextFormat::Text,
        }
    }

    /// The format among `offered` that a scrape's `Accept` header prefers: the highest
    /// quality (`q`), ties broken in Prometheus's order (protobuf, OpenMetrics 1.0, text).
    /// OpenMetrics counts only as version 1.0.0 or unversioned; protobuf only as
    /// `proto=io.prometheus.client.MetricFamily` with `encoding=delimited`; `*/*` and
    /// `text/*` count as text. The text format is the answer to a missing, empty or
    /// unparsable header, and whenever nothing offered is acceptable.
    ///
    /// ```
    /// use tmc_metrics::Format;
    /// // What Prometheus sends with native histograms on.
    /// let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
    ///     encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,\
    ///     text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(native), Format::ALL), Format::Protobuf);
    /// assert_eq!(Format::negotiate(Some(native), &[Format::Text, Format::OpenMetrics]), Format::OpenMetrics);
    /// ```
    #[must_use]
    pub fn negotiate(accept: Option<&str>, offered: &[Self]) -> Self {
        let Some(accept) = accept else {
            return Self::Text;
        };
        // The quality of each format, by rank.
        let mut quality = [0.0_f64; 3];
        for item in accept.split(',') {
            let mut parts = item.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let mut q = 1.0;
            let mut version = None;
            let mut proto = None;
            let mut encoding = None;
            for param in parts {
                let Some((k, v)) = param.split_once('=') else {
                    continue;
                };
                let v = v.trim().trim_matches('"');
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.parse().unwrap_or(0.0),
                    "version" => version = Some(v.to_owned()),
                    "proto" => proto = Some(v.to_owned()),
                    "encoding" => encoding = Some(v.to_ascii_lowercase()),
                    _ => {}
                }
            }
            let format = match media.as_str() {
                "application/openmetrics-text"
                    if matches!(version.as_deref(), None | Some("1.0.0")) =>
                {
                    Self::OpenMetrics
                }
                "application/vnd.google.protobuf"
                    if proto.as_deref() == Some("io.prometheus.client.MetricFamily")
                        && encoding.as_deref() == Some("delimited") =>
                {
                    Self::Protobuf
                }
                "text/plain" | "*/*" | "text/*" => Self::Text,
                _ => continue,
            };
            let slot = &mut quality[usize::from(format.rank())];
            *slot = slot.max(q);
        }
        let mut best = (0.0_f64, Self::Text);
        for format in offered {
            let q = quality[usize::from(format.rank())];
            if q > best.0 || (q == best.0 && q > 0.0 && format.rank() > best.1.rank()) {
                best = (q, *format);
            }
        }
        best.1
    }

    /// Every format, for [`negotiate`](Self::negotiate) by a registry that renders them all.
    pub const ALL: &'static [Self] = &[Self::Text, Self::OpenMetrics, Self::Protobuf];
}

/// Something that renders an exposition, such as [`Metrics`](crate::Metrics) (feature
/// `registry`).
pub trait Exposition: Clone + Send + Sync + 'static {
    /// Renders every series in a text `format`.
    fn render_format(&self, format: TextFormat) -> String;

    /// The formats this exposition renders, to negotiate among. Default: text and
    /// OpenMetrics.
    fn formats(&self) -> &'static [Format] {
        &[Format::Text, Format::OpenMetrics]
    }

    /// Renders every series in `format`, one of [`formats`](Self::formats), as the bytes of
    /// a response body. Default, for an exposition that renders text alone: the text of
    /// [`render_format`](Self::render_format), [`TextFormat::Text`] for a format that is not
    /// text (which [`formats`](Self::formats) does not offer).
    fn render_bytes(&self, format: Format) -> Vec<u8> {
        self.render_format(TextFormat::try_from(format).unwrap_or_default())
            .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_choose_the_format() {
        let f = |a: &str| Format::from(Format::from_accept(Some(a)));
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

    #[test]
    fn protobuf_is_chosen_as_prometheus_asks_for_it() {
        let all = |a: &str| Format::negotiate(Some(a), Format::ALL);
        // Prometheus 2.x with `--enable-feature=native-histograms`.
        let v2 = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                  encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,\
                  application/openmetrics-text;version=0.0.1;q=0.75,\
                  text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(all(v2), Format::Protobuf);
        // Prometheus 3.x: decreasing weights in its `scrape_protocols` order.
        let v3 = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                  encoding=delimited;q=0.6,application/openmetrics-text;version=1.0.0;q=0.5,\
                  application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;\
                  q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
        assert_eq!(all(v3), Format::Protobuf);
        // Prometheus's default, without protobuf: OpenMetrics, as before.
        let default = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                       version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
        assert_eq!(all(default), Format::OpenMetrics);
        // A tie goes to Prometheus's preference.
        assert_eq!(
            all(
                "text/plain,application/openmetrics-text,application/vnd.google.protobuf;\
                 proto=io.prometheus.client.MetricFamily;encoding=delimited"
            ),
            Format::Protobuf
        );
        // Protobuf without the delimited MetricFamily parameters is not ours to answer.
        assert_eq!(all("application/vnd.google.protobuf"), Format::Text);
        assert_eq!(
            all(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                 encoding=text,text/plain;q=0.1"
            ),
            Format::Text
        );
        // Quality wins over preference; a format not offered is never chosen.
        assert_eq!(
            all(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                 encoding=delimited;q=0.2,text/plain;q=0.3"
            ),
            Format::Text
        );
        assert_eq!(Format::negotiate(Some(v2), &[Format::Text]), Format::Text);
        assert_eq!(Format::negotiate(None, Format::ALL), Format::Text);
        assert_eq!(Format::Protobuf.content_type(), PROTOBUF_CONTENT_TYPE);
    }
}
