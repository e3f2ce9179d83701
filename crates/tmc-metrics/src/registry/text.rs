//! Escaping and number formatting, shared by both exposition formats.
//!
//! Everything a scrape parses back is written here, so escaping is correct by construction:
//! label values escape `\`, `"` and newline; help text escapes `\` and newline (and `"` in
//! OpenMetrics); names are sanitised to the data model when they come from outside the
//! catalog.

/// Appends `value` as the inside of a quoted label value.
pub(crate) fn label_value(out: &mut String, value: &str) {
    if !value.contains(['\\', '"', '\n']) {
        out.push_str(value);
        return;
    }
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Appends help text, escaped for the format (`quote`: OpenMetrics also escapes `"`).
pub(crate) fn help(out: &mut String, text: &str, quote: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// A metric name in the data model: `[a-zA-Z_:][a-zA-Z0-9_:]*`, other characters replaced by `_`.
pub(crate) fn metric_name(name: &str) -> String {
    sanitize(name, true)
}

/// A label name in the data model: `[a-zA-Z_][a-zA-Z0-9_]*`, other characters replaced by `_`.
pub(crate) fn label_name(name: &str) -> String {
    sanitize(name, false)
}

fn sanitize(name: &str, colon: bool) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    for (i, c) in name.chars().enumerate() {
        let ok = c.is_ascii_alphabetic() || c == '_' || (colon && c == ':');
        if ok || (i > 0 && c.is_ascii_digit()) {
            out.push(c);
        } else if i == 0 && c.is_ascii_digit() {
            out.push('_');
            out.push(c);
        } else {
            out.push('_');
        }
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

/// Appends a `u64` sample value.
#[inline]
pub(crate) fn uint(out: &mut String, value: u64) {
    out.push_str(itoa::Buffer::new().format(value));
}

/// Appends an `f64` sample value: integers without a fraction, `+Inf`, `-Inf`, `NaN`, and
/// otherwise the shortest decimal that reads back as the same `f64`.
pub(crate) fn float(out: &mut String, value: f64) {
    use std::fmt::Write as _;
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        // Exact: |value| < 2^53, so the cast keeps every digit.
        #[allow(clippy::cast_possible_truncation)]
        let int = value as i64;
        if int == 0 && value.is_sign_negative() {
            out.push_str("-0");
        } else {
            out.push_str(itoa::Buffer::new().format(int));
        }
    } else {
        // Writing to a `String` cannot fail.
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: f64) -> String {
        let mut s = String::new();
        float(&mut s, v);
        s
    }

    #[test]
    fn floats_render_as_display_does_with_prometheus_infinities() {
        for v in [
            0.0,
            1.0,
            2.5,
            0.001,
            1e-9,
            123_456_789.125,
            1e20,
            -3.0,
            86_400.0,
        ] {
            assert_eq!(f(v), format!("{v}"));
        }
        assert_eq!(f(f64::INFINITY), "+Inf");
        assert_eq!(f(f64::NEG_INFINITY), "-Inf");
        assert_eq!(f(f64::NAN), "NaN");
    }

    #[test]
    fn names_are_sanitised_to_the_data_model() {
        assert_eq!(metric_name("a.b-c:d"), "a_b_c:d");
        assert_eq!(metric_name("9lives"), "_9lives");
        assert_eq!(label_name("a:b"), "a_b");
        assert_eq!(label_name(""), "_");
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline_only() {
        let mut s = String::new();
        label_value(&mut s, "a\\b\"c\nd☃");
        assert_eq!(s, "a\\\\b\\\"c\\nd☃");
    }
}
