//! Humane durations: `500ms`, `30s`, `5m`, `24h`, `7d`, and sums such as `1h30m`.

use std::fmt::Write as _;
use std::time::Duration;

/// What a duration string is expected to look like, for error messages.
pub(crate) const DURATION_EXPECTED: &str =
    "a duration such as `500ms`, `30s`, `5m`, `24h` or `1h30m` (units ms, s, m, h, d)";

/// Parses a humane duration: one or more `<integer><unit>` parts, units `ms`, `s`, `m`, `h`
/// and `d`, e.g. `30s`, `5m`, `24h`, `1h30m`. Whitespace around the string is ignored.
/// `None` for anything else (a bare number, an unknown unit, a fraction, an overflow).
///
/// ```
/// use std::time::Duration;
/// use tmc_server::config::parse_duration;
///
/// assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
/// assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
/// assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
/// assert_eq!(parse_duration("30"), None);
/// ```
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let value: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let part = match &rest[..unit_len] {
            "ms" => Duration::from_millis(value),
            "s" => Duration::from_secs(value),
            "m" => Duration::from_secs(value.checked_mul(60)?),
            "h" => Duration::from_secs(value.checked_mul(3_600)?),
            "d" => Duration::from_secs(value.checked_mul(86_400)?),
            _ => return None,
        };
        rest = &rest[unit_len..];
        total = total.checked_add(part)?;
    }
    Some(total)
}

/// Formats a duration the way [`parse_duration`] reads it, largest units first and zero
/// parts left out (`1h30m`, `1m500ms`); zero is `0s`. Below a millisecond is dropped.
///
/// ```
/// use std::time::Duration;
/// use tmc_server::config::format_duration;
///
/// assert_eq!(format_duration(Duration::from_secs(86_400)), "1d");
/// assert_eq!(format_duration(Duration::from_secs(5_400)), "1h30m");
/// assert_eq!(format_duration(Duration::from_millis(1_500)), "1s500ms");
/// assert_eq!(format_duration(Duration::ZERO), "0s");
/// ```
#[must_use]
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    let millis = duration.subsec_millis();
    if secs == 0 && millis == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)] {
        if secs >= size {
            let _ = write!(out, "{}{unit}", secs / size);
            secs %= size;
        }
    }
    if millis > 0 {
        let _ = write!(out, "{millis}ms");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_duration_should_read_every_unit_and_sums() {
        for (text, secs) in [
            ("1d", 86_400),
            ("24h", 86_400),
            ("5m", 300),
            (" 30s ", 30),
            ("1h30m", 5_400),
            ("2m30s", 150),
        ] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
        }
        assert_eq!(parse_duration("0s"), Some(Duration::ZERO));
        assert_eq!(
            parse_duration("1s500ms"),
            Some(Duration::from_millis(1_500))
        );
    }

    #[test]
    fn parse_duration_should_refuse_anything_else() {
        for text in [
            "",
            "30",
            "s",
            "1.5s",
            "-1s",
            "30 s",
            "1w",
            "1h 30m",
            "99999999999999999999s",
            "18446744073709551615d",
        ] {
            assert_eq!(parse_duration(text), None, "{text}");
        }
    }

    #[test]
    fn format_duration_should_round_trip() {
        for secs in [1, 59, 60, 61, 3_599, 3_600, 86_399, 86_400, 90_061] {
            let d = Duration::from_secs(secs);
            assert_eq!(parse_duration(&format_duration(d)), Some(d));
        }
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
    }
}
