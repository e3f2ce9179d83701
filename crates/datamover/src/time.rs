//! Wall-clock helpers: RFC 3339 and the timestamp prefix, formatted and parsed by `jiff`.

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn timestamp(ms: u64) -> jiff::Timestamp {
    i64::try_from(ms)
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .unwrap_or(jiff::Timestamp::MAX)
}

/// RFC 3339 UTC to the second, e.g. `2026-11-22T01:38:28Z`.
#[must_use]
pub fn rfc3339(ms: u64) -> String {
    timestamp(ms).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The `addTimestampPrefix` folder name, `YYYY-MM-DD-HHMMSS`.
#[must_use]
pub fn prefix(ms: u64) -> String {
    timestamp(ms).strftime("%Y-%m-%d-%H%M%S").to_string()
}

/// Whether `name` is a folder name [`prefix`] writes (`YYYY-MM-DD-HHMMSS`).
///
/// ```
/// assert!(datamover::time::is_prefix("2026-12-06-051209"));
/// assert!(!datamover::time::is_prefix("team-a"));
/// ```
#[must_use]
pub fn is_prefix(name: &str) -> bool {
    name.len() == 17 && jiff::civil::DateTime::strptime("%Y-%m-%d-%H%M%S", name).is_ok()
}

/// The RFC 3339 time a [`prefix`] folder name stands for.
///
/// ```
/// assert_eq!(
///     datamover::time::prefix_time("2026-12-06-051209").as_deref(),
///     Some("2026-12-06T05:12:09Z")
/// );
/// assert_eq!(datamover::time::prefix_time("team-a"), None);
/// ```
#[must_use]
pub fn prefix_time(name: &str) -> Option<String> {
    if !is_prefix(name) {
        return None;
    }
    let at = jiff::civil::DateTime::strptime("%Y-%m-%d-%H%M%S", name).ok()?;
    Some(at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Unix milliseconds of an RFC 3339 time (as [`rfc3339`] writes it, or any RFC 3339
/// timestamp with an offset); `None` for anything else or a time before 1970.
#[must_use]
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let ts: jiff::Timestamp = text.parse().ok()?;
    u64::try_from(ts.as_millisecond()).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_what_it_formats() {
        for ms in [0, 951_782_400_000, 1_640_995_200_000, 1_795_311_508_000] {
            assert_eq!(super::parse_rfc3339(&super::rfc3339(ms)), Some(ms));
        }
        assert_eq!(super::parse_rfc3339("2026-13-01T00:00:00Z"), None);
        assert_eq!(super::parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_640_995_200_000), "2022-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_795_311_508_000), "2026-11-22T01:38:28Z");
        assert_eq!(
            super::prefix(951_782_400_000 + 3_723_000),
            "2000-02-29-010203"
        );
    }
}
