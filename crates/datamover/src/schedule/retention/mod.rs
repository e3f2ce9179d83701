//! Retention: which timestamp folders of a schedule's destination stay.
//!
//! restic's and k8up's rules: a backup is kept if **any** rule keeps it.
//!
//! - `keepLast: N`: the N newest backups;
//! - `keepHourly` / `keepDaily` / `keepWeekly` / `keepMonthly: N`: the newest backup in each
//!   of the N most recent UTC hours / days / ISO weeks (Monday to Sunday) / months that have
//!   backups.
//!
//! The backups are the folders named `YYYY-MM-DD-HHMMSS` ([`time::is_prefix`]); a folder
//! named otherwise is never a candidate, and neither is a folder in `excluded` (the
//! folders live DataMovers of other schedules, or none, wrote). The schedule's newest
//! successful backup is a candidate (it counts for `keepLast`) that is always kept, and so
//! is the newest candidate: every rule keeps at least one backup ([`Retention::check`]),
//! and the newest is first in every bucket.
//!
//! [`select`] is pure: the prune Job lists the destination, asks it, and purges what it
//! says goes.

mod job;
pub(crate) mod reconcile;
#[cfg(test)]
mod tests;

pub use job::{
    AFTER_RUN_ANNOTATION, DRY_RUN_ENV, EXCLUDED_ENV, NEWEST_ENV, RETENTION_ENV, excluded,
    folder_of, is_prune, prune_job, prune_job_name,
};

use crate::time;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The largest number any rule accepts (a backup a day for over 27 years).
pub const MAX_KEEP: u32 = 10_000;

/// `spec.retention` of a schedule: the rules, and whether to delete at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// The newest N backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "kube", schemars(range(min = 1, max = 10_000)))]
    pub keep_last: Option<u32>,
    /// The newest backup of each of the N most recent UTC hours that have backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "kube", schemars(range(min = 1, max = 10_000)))]
    pub keep_hourly: Option<u32>,
    /// The newest backup of each of the N most recent UTC days that have backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "kube", schemars(range(min = 1, max = 10_000)))]
    pub keep_daily: Option<u32>,
    /// The newest backup of each of the N most recent ISO weeks that have backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "kube", schemars(range(min = 1, max = 10_000)))]
    pub keep_weekly: Option<u32>,
    /// The newest backup of each of the N most recent UTC months that have backups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "kube", schemars(range(min = 1, max = 10_000)))]
    pub keep_monthly: Option<u32>,
    /// Report what would be pruned; delete nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// The rules' field names, in order, as `spec.retention` spells them.
pub const RULES: [&str; 5] = [
    "keepLast",
    "keepHourly",
    "keepDaily",
    "keepWeekly",
    "keepMonthly",
];

impl Retention {
    /// The rules as `(field, N)`, in [`RULES`] order, those given only.
    #[must_use]
    pub fn rules(&self) -> Vec<(&'static str, u32)> {
        [
            self.keep_last,
            self.keep_hourly,
            self.keep_daily,
            self.keep_weekly,
            self.keep_monthly,
        ]
        .into_iter()
        .zip(RULES)
        .filter_map(|(n, field)| n.map(|n| (field, n)))
        .collect()
    }

    /// The rules as the prune Job carries them: `keepLast=2,keepDaily=7`.
    #[must_use]
    pub fn encode(&self) -> String {
        self.rules()
            .iter()
            .map(|(f, n)| format!("{f}={n}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The rules from [`encode`](Self::encode)'s form (`dryRun` is not part of it).
    ///
    /// # Errors
    /// The part that is not `rule=N` with a known rule and a number.
    pub fn decode(text: &str) -> Result<Self, String> {
        let mut r = Self::default();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (field, n) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not rule=N"))?;
            let n: u32 = n
                .parse()
                .map_err(|_| format!("{part:?}: {n:?} is not a whole number"))?;
            let slot = match field {
                "keepLast" => &mut r.keep_last,
                "keepHourly" => &mut r.keep_hourly,
                "keepDaily" => &mut r.keep_daily,
                "keepWeekly" => &mut r.keep_weekly,
                "keepMonthly" => &mut r.keep_monthly,
                other => return Err(format!("unknown rule {other:?}")),
            };
            *slot = Some(n);
        }
        Ok(r)
    }

    /// Why these rules cannot be applied: no rule, or one out of `1..=`[`MAX_KEEP`]
    /// (`field`, the problem with the fix).
    ///
    /// # Errors
    /// The field path below `spec.retention` and what to give instead.
    pub fn check(&self) -> Result<(), (String, String)> {
        let rules = self.rules();
        if rules.is_empty() {
            return Err((
                "spec.retention".into(),
                format!(
                    "no rule given: set at least one of {} (e.g. keepLast: 7), or remove spec.retention to keep every backup",
                    RULES.join(", ")
                ),
            ));
        }
        for (field, n) in rules {
            if n == 0 || n > MAX_KEEP {
                return Err((
                    format!("spec.retention.{field}"),
                    format!(
                        "expected a whole number from 1 to {MAX_KEEP}, got {n}: leave a rule out rather than give 0"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// What [`select`] decided, newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct Selection {
    /// The candidates some rule keeps (the newest always among them).
    #[serde(default)]
    pub kept: Vec<String>,
    /// The candidates no rule keeps.
    #[serde(default)]
    pub pruned: Vec<String>,
}

/// A folder's UTC calendar buckets: hour, day, ISO week (its Monday), month.
fn buckets(name: &str) -> [String; 4] {
    let week = jiff::civil::DateTime::strptime("%Y-%m-%d-%H%M%S", name)
        .ok()
        .and_then(|dt| {
            let date = dt.date();
            let back = i64::from(date.weekday().to_monday_zero_offset());
            date.checked_sub(jiff::Span::new().days(back)).ok()
        })
        .map(|monday| monday.to_string())
        .unwrap_or_default();
    [
        name[..13].to_owned(),
        name[..10].to_owned(),
        week,
        name[..7].to_owned(),
    ]
}

/// Which of `folders` (names, any order, duplicates ignored) `retention` keeps and which
/// it prunes. Only names [`time::is_prefix`] accepts and not in `excluded` are candidates:
/// everything else is in neither list. `newest`, the schedule's newest successful backup,
/// is always kept. See the [module docs](self).
#[must_use]
pub fn select(
    retention: &Retention,
    folders: &[String],
    excluded: &BTreeSet<String>,
    newest: Option<&str>,
) -> Selection {
    // The prefix sorts as the time it names: newest first.
    let candidates: BTreeSet<&str> = folders
        .iter()
        .map(String::as_str)
        .filter(|f| time::is_prefix(f) && !excluded.contains(*f))
        .collect();
    let mut last = retention.keep_last.unwrap_or(0);
    let mut left = [
        retention.keep_hourly,
        retention.keep_daily,
        retention.keep_weekly,
        retention.keep_monthly,
    ]
    .map(|n| n.unwrap_or(0));
    let mut seen: [Option<String>; 4] = Default::default();
    let mut out = Selection::default();
    for (i, name) in candidates.into_iter().rev().enumerate() {
        let mut keep = i == 0 || newest == Some(name);
        if last > 0 {
            last -= 1;
            keep = true;
        }
        for (k, bucket) in buckets(name).into_iter().enumerate() {
            if left[k] > 0 && seen[k].as_ref() != Some(&bucket) {
                left[k] -= 1;
                seen[k] = Some(bucket);
                keep = true;
            }
        }
        if keep {
            out.kept.push(name.to_owned());
        } else {
            out.pruned.push(name.to_owned());
        }
    }
    out
}

/// `status.retention` of a schedule: the last prune.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "kube", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase")]
pub struct RetentionStatus {
    /// The run (DataMover) whose success the last prune followed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub after_run: String,
    /// RFC 3339 time the last prune ended.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub last_prune_time: String,
    /// Whether it was a dry run (`pruned` then names what would have gone).
    #[serde(default)]
    pub dry_run: bool,
    /// The backups it kept, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<String>,
    /// The backups it deleted (or, in a dry run, would have), newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pruned: Vec<String>,
    /// Why it failed, when it did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}
