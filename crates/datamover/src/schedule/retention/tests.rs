#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn rules(f: impl FnOnce(&mut Retention)) -> Retention {
    let mut r = Retention::default();
    f(&mut r);
    r
}

fn pick(r: &Retention, folders: &[&str]) -> (Vec<String>, Vec<String>) {
    let s = select(r, &names(folders), &BTreeSet::new(), None);
    (s.kept, s.pruned)
}

#[test]
fn keep_last_keeps_the_newest_whatever_the_order_given() {
    let r = rules(|r| r.keep_last = Some(2));
    let (kept, pruned) = pick(
        &r,
        &[
            "2026-12-01-030000",
            "2026-12-04-030000",
            "2026-12-02-030000",
            "2026-12-05-030000",
            "2026-12-03-030000",
        ],
    );
    assert_eq!(kept, ["2026-12-05-030000", "2026-12-04-030000"]);
    assert_eq!(
        pruned,
        [
            "2026-12-03-030000",
            "2026-12-02-030000",
            "2026-12-01-030000"
        ]
    );
}

#[test]
fn folders_not_named_as_timestamps_are_never_candidates() {
    let r = rules(|r| r.keep_last = Some(1));
    let (kept, pruned) = pick(
        &r,
        &[
            "keep-me",
            "2026-12-01-030000",
            "2026-12-02-030000",
            "2026-12-02-03000",
            "2026-13-02-030000",
            "x2026-12-02-030000",
            "2026-12-02-030000-old",
        ],
    );
    assert_eq!(kept, ["2026-12-02-030000"]);
    assert_eq!(pruned, ["2026-12-01-030000"]);
}

#[test]
fn keep_daily_keeps_the_newest_of_each_of_the_n_latest_days_with_backups() {
    let r = rules(|r| r.keep_daily = Some(3));
    let (kept, pruned) = pick(
        &r,
        &[
            "2026-11-28-230000",
            "2026-11-30-010000",
            "2026-11-30-235959",
            "2026-12-02-000000",
            "2026-12-02-120000",
            "2026-12-03-060000",
            "2026-12-03-070000",
        ],
    );
    // Dec 1 and Nov 29 have no backups: the three latest days that do are Dec 3, Dec 2,
    // Nov 30.
    assert_eq!(
        kept,
        [
            "2026-12-03-070000",
            "2026-12-02-120000",
            "2026-11-30-235959"
        ]
    );
    assert_eq!(
        pruned,
        [
            "2026-12-03-060000",
            "2026-12-02-000000",
            "2026-11-30-010000",
            "2026-11-28-230000"
        ]
    );
}

#[test]
fn keep_hourly_buckets_by_utc_hour() {
    let r = rules(|r| r.keep_hourly = Some(2));
    let (kept, pruned) = pick(
        &r,
        &[
            "2026-12-06-045959",
            "2026-12-06-050000",
            "2026-12-06-053000",
            "2026-12-06-055959",
        ],
    );
    assert_eq!(kept, ["2026-12-06-055959", "2026-12-06-045959"]);
    assert_eq!(pruned, ["2026-12-06-053000", "2026-12-06-050000"]);
}

#[test]
fn keep_weekly_buckets_by_iso_week_monday_to_sunday_across_a_year_end() {
    let r = rules(|r| r.keep_weekly = Some(3));
    // 2026-12-28 is a Monday; 2027-01-03 the Sunday of that ISO week (2026-W53).
    let (kept, pruned) = pick(
        &r,
        &[
            "2026-12-20-100000", // Sunday of W51
            "2026-12-21-100000", // Monday of W52
            "2026-12-27-100000", // Sunday of W52
            "2026-12-28-000000", // Monday of W53
            "2027-01-01-100000", // Friday of W53
            "2027-01-03-235959", // Sunday of W53
        ],
    );
    assert_eq!(
        kept,
        [
            "2027-01-03-235959",
            "2026-12-27-100000",
            "2026-12-20-100000"
        ]
    );
    assert_eq!(
        pruned,
        [
            "2027-01-01-100000",
            "2026-12-28-000000",
            "2026-12-21-100000"
        ]
    );
}

#[test]
fn keep_monthly_buckets_by_calendar_month() {
    let r = rules(|r| r.keep_monthly = Some(2));
    let (kept, pruned) = pick(
        &r,
        &[
            "2026-09-30-235959",
            "2026-10-01-000000",
            "2026-10-31-235959",
            "2026-12-01-000000",
        ],
    );
    assert_eq!(kept, ["2026-12-01-000000", "2026-10-31-235959"]);
    assert_eq!(pruned, ["2026-10-01-000000", "2026-09-30-235959"]);
}

#[test]
fn a_backup_kept_by_any_rule_stays_and_rules_overlap_as_in_restic() {
    let r = rules(|r| {
        r.keep_last = Some(2);
        r.keep_daily = Some(2);
        r.keep_monthly = Some(3);
    });
    let (kept, pruned) = pick(
        &r,
        &[
            "2026-10-15-030000",
            "2026-11-20-030000",
            "2026-11-21-030000",
            "2026-12-04-030000",
            "2026-12-05-010000",
            "2026-12-05-030000",
        ],
    );
    // keepLast: Dec 5 03:00 and 01:00; keepDaily: Dec 5 03:00, Dec 4; keepMonthly: Dec 5
    // 03:00, Nov 21, Oct 15.
    assert_eq!(
        kept,
        [
            "2026-12-05-030000",
            "2026-12-05-010000",
            "2026-12-04-030000",
            "2026-11-21-030000",
            "2026-10-15-030000"
        ]
    );
    assert_eq!(pruned, ["2026-11-20-030000"]);
}

#[test]
fn the_newest_successful_backup_is_kept_and_counts_for_keep_last() {
    let r = rules(|r| r.keep_last = Some(1));
    let folders = names(&[
        "2026-12-04-030000",
        "2026-12-05-030000",
        "2026-12-06-030000",
    ]);
    // The newest folder is a failed run's partial copy; the newest successful backup is
    // the one before: both stay.
    let s = select(&r, &folders, &BTreeSet::new(), Some("2026-12-05-030000"));
    assert_eq!(s.kept, ["2026-12-06-030000", "2026-12-05-030000"]);
    assert_eq!(s.pruned, ["2026-12-04-030000"]);
    // The same folder as the rules' newest: kept once.
    let s = select(&r, &folders, &BTreeSet::new(), Some("2026-12-06-030000"));
    assert_eq!(s.kept, ["2026-12-06-030000"]);
    assert_eq!(s.pruned, ["2026-12-05-030000", "2026-12-04-030000"]);
}

#[test]
fn folders_of_other_datamovers_are_in_neither_list() {
    let r = rules(|r| r.keep_last = Some(1));
    let folders = names(&[
        "2026-12-04-030000",
        "2026-12-05-030000",
        "2026-12-06-030000",
    ]);
    let excluded = BTreeSet::from(["2026-12-05-030000".to_owned()]);
    let s = select(&r, &folders, &excluded, None);
    assert_eq!(s.kept, ["2026-12-06-030000"]);
    assert_eq!(s.pruned, ["2026-12-04-030000"]);
}

#[test]
fn ties_and_duplicates_count_once() {
    let r = rules(|r| r.keep_last = Some(2));
    let (kept, pruned) = pick(
        &r,
        &[
            "2026-12-05-030000",
            "2026-12-05-030000",
            "2026-12-04-030000",
            "2026-12-03-030000",
        ],
    );
    assert_eq!(kept, ["2026-12-05-030000", "2026-12-04-030000"]);
    assert_eq!(pruned, ["2026-12-03-030000"]);
    // Two backups in one second's bucket of every rule: the newest of each bucket only.
    let r = rules(|r| r.keep_daily = Some(1));
    let (kept, pruned) = pick(&r, &["2026-12-05-030000", "2026-12-05-030001"]);
    assert_eq!(kept, ["2026-12-05-030001"]);
    assert_eq!(pruned, ["2026-12-05-030000"]);
}

#[test]
fn nothing_to_choose_from_selects_nothing() {
    let r = rules(|r| r.keep_last = Some(3));
    assert_eq!(pick(&r, &[]), (vec![], vec![]));
    assert_eq!(
        pick(&r, &["keep-me"]),
        (vec![], vec![]),
        "a folder with another name is neither kept nor pruned"
    );
}

#[test]
fn rules_round_trip_through_the_job_and_are_checked() {
    let r = rules(|r| {
        r.keep_last = Some(2);
        r.keep_weekly = Some(4);
        r.dry_run = true;
    });
    assert_eq!(r.encode(), "keepLast=2,keepWeekly=4");
    let back = Retention::decode(&r.encode()).unwrap();
    assert_eq!((back.keep_last, back.keep_weekly), (Some(2), Some(4)));
    assert_eq!(
        Retention::decode("keepYearly=1").unwrap_err(),
        "unknown rule \"keepYearly\""
    );
    assert_eq!(r.check(), Ok(()));
    assert_eq!(
        Retention::default().check().unwrap_err().0,
        "spec.retention"
    );
    assert_eq!(
        rules(|r| r.keep_daily = Some(0)).check().unwrap_err(),
        (
            "spec.retention.keepDaily".to_owned(),
            "expected a whole number from 1 to 10000, got 0: leave a rule out rather than give 0"
                .to_owned()
        )
    );
}

#[test]
fn the_folder_a_datamover_wrote_is_the_last_part_of_its_destination() {
    let mut dm = DataMover::default();
    for (dest, folder) in [
        ("/backups/team/2026-12-06-051209", Some("2026-12-06-051209")),
        (
            "DATAMOVERS3:bucket/2026-12-06-051209/",
            Some("2026-12-06-051209"),
        ),
        ("remote:2026-12-06-051209", Some("2026-12-06-051209")),
        ("/backups/team", None),
        ("", None),
    ] {
        dm.status.destination = dest.into();
        assert_eq!(job::folder_of(&dm), folder, "{dest}");
    }
}
use crate::types::DataMover;
