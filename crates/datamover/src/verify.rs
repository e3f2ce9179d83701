//! The check after a sync (`spec.verify`), one description for both backends: `rclone
//! check` between the directory the sync read and what landed, both ways, so a missing,
//! extra or different file fails the pod with its path.
//!
//! - [`flags`]: what rclone is asked (`--combined -`, and `--size-only` for `size`;
//!   `--download` for a `checksum` whose two sides share no hash, [`NO_COMMON_HASH`]).
//! - [`difference`]: how a line of rclone's `--combined` report reads in a reason.
//! - [`failure`] and [`could_not_run`]: the reason a failed check gives (it starts with
//!   [`FAILED`], so the reconciler counts it as a failed check).
//! - [`verified_line`] and [`verified_ms`]: how a Kubernetes sync pod says in its
//!   termination message that its check passed, and how long it took.
//!
//! The embedded executor runs rclone as a child process with these
//! (`datamover_embedded::verify`); on Kubernetes the sync Job's shell script
//! (`datamover_kube::verify`) is written from them and tested to say exactly the same.

use crate::types::Verify;

/// How a failed check's reason starts.
pub const FAILED: &str = "verification";

/// The paths a failed check names at most.
pub const SHOWN: usize = 5;

/// What rclone logs when the two sides of a `checksum` check share no hash: the check is
/// run again comparing the bytes themselves (`--download`).
pub const NO_COMMON_HASH: &str = "No common hash found";

/// The marks of rclone's `--combined` report that say a path differs, and how: `*`
/// differs, `+` only in the source, `-` only in the destination, `!` an error reading it
/// (`=`, equal, is none).
pub const MARKS: [(char, &str); 4] = [
    ('*', "differs"),
    ('+', "is missing at the destination"),
    ('-', "is only at the destination"),
    ('!', "could not be read"),
];

/// The flags of `rclone check <source>/ <destination>` for `mode`: the combined report on
/// stdout, and `--size-only` (`size`) or `--download` (`checksum` run again where the two
/// sides share no hash).
///
/// ```
/// use datamover::types::Verify;
/// assert_eq!(datamover::verify::flags(Verify::Size, false), ["--combined", "-", "--size-only"]);
/// assert_eq!(datamover::verify::flags(Verify::Checksum, false), ["--combined", "-"]);
/// assert_eq!(datamover::verify::flags(Verify::Checksum, true), ["--combined", "-", "--download"]);
/// ```
#[must_use]
pub fn flags(mode: Verify, download: bool) -> Vec<&'static str> {
    let mut flags = vec!["--combined", "-"];
    match (mode, download) {
        (Verify::Size, _) => flags.push("--size-only"),
        (_, true) => flags.push("--download"),
        _ => {}
    }
    flags
}

/// One line of the `--combined` report as a reason names it (`a/b.bin differs`); `None`
/// for an equal path (`= path`) or anything else.
///
/// ```
/// assert_eq!(datamover::verify::difference("* a/b.bin").as_deref(), Some("a/b.bin differs"));
/// assert_eq!(datamover::verify::difference("= same.txt"), None);
/// ```
#[must_use]
pub fn difference(line: &str) -> Option<String> {
    let (mark, path) = line.split_once(' ')?;
    let mut chars = mark.chars();
    let (Some(mark), None) = (chars.next(), chars.next()) else {
        return None;
    };
    let (_, how) = MARKS.iter().find(|(m, _)| *m == mark)?;
    Some(format!("{path} {how}"))
}

/// The reason of a check that found `count` differences, the first of them (at most
/// [`SHOWN`]) in `shown`.
///
/// ```
/// use datamover::types::Verify;
/// assert_eq!(
///     datamover::verify::failure(Verify::Checksum, 1, &["a/b.bin differs".into()]),
///     "verification (checksum) found 1 difference between what was read and what landed: a/b.bin differs"
/// );
/// ```
#[must_use]
pub fn failure(mode: Verify, count: usize, shown: &[String]) -> String {
    let mut named: Vec<&str> = shown.iter().take(SHOWN).map(String::as_str).collect();
    let more = format!("and {} more", count.saturating_sub(SHOWN));
    if count > SHOWN {
        named.push(&more);
    }
    format!(
        "{FAILED} ({}) found {count} difference{} between what was read and what landed: {}",
        mode.as_str(),
        if count == 1 { "" } else { "s" },
        named.join(", ")
    )
}

/// The reason of a check rclone could not run: its exit `status` (`exit status: 3`) and
/// the last error it printed.
///
/// ```
/// assert_eq!(
///     datamover::verify::could_not_run("exit status: 3", "directory not found"),
///     "verification could not run: rclone check exited with exit status: 3: directory not found"
/// );
/// ```
#[must_use]
pub fn could_not_run(status: &str, last_error: &str) -> String {
    format!("{FAILED} could not run: rclone check exited with {status}: {last_error}")
}

/// The `msg` of the line a Kubernetes sync pod appends to its termination message once
/// its check passed.
pub const VERIFIED_MSG: &str = "verified";

/// The line a Kubernetes sync pod appends to its termination message once its `mode`
/// check passed in `ms` milliseconds (its script prints the same).
///
/// ```
/// use datamover::types::Verify;
/// assert_eq!(
///     datamover::verify::verified_line(Verify::Size, 1200),
///     r#"{"level":"notice","msg":"verified","verify":{"mode":"size","ms":1200}}"#
/// );
/// ```
#[must_use]
pub fn verified_line(mode: Verify, ms: u64) -> String {
    serde_json::json!({"level": "notice", "msg": VERIFIED_MSG,
                       "verify": {"mode": mode.as_str(), "ms": ms}})
    .to_string()
}

/// The milliseconds of the passed check a termination message reports (its last
/// [`verified_line`]); `None` when it reports none.
///
/// ```
/// let message = "{\"level\":\"notice\",\"stats\":{\"bytes\":3}}\n{\"level\":\"notice\",\"msg\":\"verified\",\"verify\":{\"mode\":\"checksum\",\"ms\":42}}\n";
/// assert_eq!(datamover::verify::verified_ms(message), Some(42));
/// assert_eq!(datamover::verify::verified_ms("{\"stats\":{}}"), None);
/// ```
#[must_use]
pub fn verified_ms(message: &str) -> Option<u64> {
    message
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l.trim()).ok())
        .filter(|v| v["msg"] == VERIFIED_MSG)
        .find_map(|v| v["verify"]["ms"].as_u64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mark_names_how_the_path_differs() {
        let lines = ["* a", "+ b c", "- d", "! e", "= f", "x g", "** h", ""];
        let read: Vec<String> = lines.iter().filter_map(|l| difference(l)).collect();
        assert_eq!(
            read,
            [
                "a differs",
                "b c is missing at the destination",
                "d is only at the destination",
                "e could not be read"
            ]
        );
    }

    #[test]
    fn a_failure_names_the_first_five_and_counts_the_rest() {
        let shown: Vec<String> = (1..=7).map(|i| format!("f{i} differs")).collect();
        assert_eq!(
            failure(Verify::Size, 7, &shown),
            "verification (size) found 7 differences between what was read and what landed: f1 differs, f2 differs, f3 differs, f4 differs, f5 differs, and 2 more"
        );
        assert_eq!(
            failure(Verify::Size, 2, &shown[..2]),
            "verification (size) found 2 differences between what was read and what landed: f1 differs, f2 differs"
        );
        assert!(failure(Verify::Checksum, 1, &shown[..1]).starts_with(FAILED));
    }
}
