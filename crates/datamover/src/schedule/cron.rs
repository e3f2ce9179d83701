//! Cron patterns: the 5 fields of Kubernetes' CronJob `schedule` (minute, hour, day of
//! month, month, day of week), and the `@hourly`-style nicknames, always in UTC.
//!
//! Parsing and matching are [`croner`]'s: a maintained crate (releases through 2025 and
//! 2026), with vixie-cron semantics (a day matches when day-of-month *or* day-of-week
//! matches, as in Kubernetes' robfig/cron), strict OCPS step syntax, and a `jiff` backend,
//! which this workspace already builds. The older `cron` crate wants 6 or 7 fields (seconds
//! first) and pulls in `chrono`. Seconds and years are refused here, so a pattern means what
//! it means to `kubectl create cronjob`.

use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::Offset;

/// A parsed 5-field cron pattern.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    cron: croner::Cron,
}

impl CronSchedule {
    /// Parses a 5-field pattern (`*/5 * * * *`, `0 3 * * MON-FRI`, `@daily`, ...).
    ///
    /// ```
    /// use datamover::schedule::cron::CronSchedule;
    /// let every_minute = CronSchedule::parse("* * * * *").unwrap();
    /// // 2026-11-30T12:00:30Z -> 12:01:00Z
    /// assert_eq!(every_minute.next_after(1_796_040_030_000), Some(1_796_040_060_000));
    /// assert!(CronSchedule::parse("0 0 * * * *").is_err());
    /// ```
    ///
    /// # Errors
    /// A message saying what is wrong and what is accepted.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let fields = pattern.split_whitespace().count();
        let nickname = pattern.trim_start().starts_with('@');
        if !nickname && fields != 5 {
            return Err(format!(
                "{pattern:?} has {fields} fields: give 5 (minute hour day-of-month month day-of-week, UTC), e.g. \"0 3 * * *\" for 03:00 every day, or @hourly, @daily, @weekly, @monthly, @yearly"
            ));
        }
        let parser = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(pattern).map_err(|e| {
            format!(
                "{pattern:?} is not a valid cron pattern ({e}): give 5 fields (minute hour day-of-month month day-of-week, UTC), e.g. \"*/15 * * * *\""
            )
        })?;
        // A pattern that never matches (e.g. 30 February) is refused now, not at run time.
        let schedule = Self { cron };
        if schedule.next_after(0).is_none() {
            return Err(format!("{pattern:?} never matches a real date"));
        }
        Ok(schedule)
    }

    /// The first scheduled time strictly after `after_ms` (Unix milliseconds, UTC), in
    /// Unix milliseconds (whole minutes); `None` if there is none.
    #[must_use]
    pub fn next_after(&self, after_ms: u64) -> Option<u64> {
        let secs = i64::try_from(after_ms / 1000).ok()?;
        let civil = Offset::UTC.to_datetime(Timestamp::from_second(secs).ok()?);
        let next = self.cron.find_next_occurrence(&civil, false).ok()?;
        let ts = Offset::UTC.to_timestamp(next).ok()?;
        u64::try_from(ts.as_second()).ok().map(|s| s * 1000)
    }

    /// The scheduled times in `(after_ms, until_ms]`, the latest last, at most `limit` of the
    /// latest (so a schedule left for a year does not list half a million minutes), and how
    /// many there were in all.
    #[must_use]
    pub fn due_between(&self, after_ms: u64, until_ms: u64, limit: usize) -> (Vec<u64>, u64) {
        let mut due = std::collections::VecDeque::new();
        let mut count = 0u64;
        let mut at = after_ms;
        while let Some(next) = self.next_after(at).filter(|n| *n <= until_ms) {
            count += 1;
            due.push_back(next);
            if due.len() > limit {
                due.pop_front();
            }
            at = next;
            if count >= 1_000_000 {
                break;
            }
        }
        (due.into(), count)
    }

    /// The interval between two runs from `after_ms` on (the next run to the one after):
    /// what "twice its interval" means for the staleness alert.
    #[must_use]
    pub fn interval_after(&self, after_ms: u64) -> Option<u64> {
        let first = self.next_after(after_ms)?;
        let second = self.next_after(first)?;
        Some(second - first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOON: u64 = 1_796_040_000_000; // 2026-11-30T12:00:00Z

    #[test]
    fn a_schedule_should_run_at_the_next_matching_minute_in_utc() {
        assert_eq!(crate::time::rfc3339(NOON), "2026-11-30T12:00:00Z");
        let daily = CronSchedule::parse("30 3 * * *").unwrap();
        assert_eq!(
            daily.next_after(NOON).map(crate::time::rfc3339).as_deref(),
            Some("2026-12-01T03:30:00Z")
        );
        let hourly = CronSchedule::parse("@hourly").unwrap();
        assert_eq!(hourly.next_after(NOON), Some(NOON + 3_600_000));
        assert_eq!(hourly.interval_after(NOON), Some(3_600_000));
        // On the minute itself, the next one is the following minute.
        let every = CronSchedule::parse("* * * * *").unwrap();
        assert_eq!(every.next_after(NOON), Some(NOON + 60_000));
    }

    #[test]
    fn due_times_keep_the_latest_and_count_all() {
        let every = CronSchedule::parse("* * * * *").unwrap();
        let (due, count) = every.due_between(NOON, NOON + 10 * 60_000 + 5, 1);
        assert_eq!((due, count), (vec![NOON + 10 * 60_000], 10));
        assert_eq!(every.due_between(NOON, NOON + 59_000, 1), (vec![], 0));
    }

    #[test]
    fn bad_patterns_are_refused_with_the_fix() {
        for (pattern, wanted) in [
            ("0 0 * * * *", "has 6 fields: give 5"),
            ("61 * * * *", "is not a valid cron pattern"),
            ("", "has 0 fields"),
            ("0 0 30 2 *", "never matches"),
        ] {
            let err = CronSchedule::parse(pattern).unwrap_err();
            assert!(err.contains(wanted), "{pattern}: {err}");
        }
    }
}
