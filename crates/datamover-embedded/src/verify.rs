//! The check after a sync (`spec.verify`) on one machine: `rclone check` between the
//! directory the sync read and what landed at the destination, both ways, as a child
//! process. What rclone is asked and how its report reads are the core's
//! ([`datamover::verify`]), so the Kubernetes sync Job's script says the same.
//!
//! `size` compares sizes only (`--size-only`); `checksum` compares hashes, and when the two
//! sides share no hash (rclone says `No common hash found`), compares the bytes themselves
//! (`--download`).

use crate::rclone::{self, Plan};
use datamover::types::Verify;
use datamover::verify::{NO_COMMON_HASH, SHOWN};
use std::path::Path;
use std::process::Stdio;
use std::time::Instant;
use tokio::process::Command;

/// How a failed check's reason starts.
pub const FAILED: &str = datamover::verify::FAILED;

/// Checks `source` against `plan`'s destination for the Job with `uid`; the milliseconds it
/// took when they match.
///
/// # Errors
/// `verification (checksum) found 2 differences between what was read and what landed:
/// a/b.bin differs, c.txt is missing at the destination`, or rclone's own error.
pub async fn check(
    rclone_bin: &Path,
    source: &Path,
    plan: &Plan,
    mode: Verify,
    uid: &str,
) -> Result<u64, String> {
    let started = Instant::now();
    let mut outcome = run(rclone_bin, source, plan, mode, uid, false).await?;
    if mode == Verify::Checksum && outcome.no_common_hash {
        outcome = run(rclone_bin, source, plan, mode, uid, true).await?;
    }
    if outcome.differences.is_empty() {
        return Ok(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    }
    let n = outcome.differences.len();
    outcome.differences.truncate(SHOWN);
    Err(plan.scrub(&datamover::verify::failure(mode, n, &outcome.differences)))
}

struct Outcome {
    differences: Vec<String>,
    no_common_hash: bool,
}

async fn run(
    rclone_bin: &Path,
    source: &Path,
    plan: &Plan,
    mode: Verify,
    uid: &str,
    download: bool,
) -> Result<Outcome, String> {
    let mut command = Command::new(rclone_bin);
    command
        .arg("check")
        .arg(format!("{}/", source.display()))
        .arg(&plan.destination)
        .args(datamover::verify::flags(mode, download))
        .args(["--contimeout", "5s", "--timeout", "60s"])
        .arg(rclone::marker(uid));
    rclone::environment(&mut command, plan);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let out = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", rclone_bin.display()))?
        .wait_with_output()
        .await
        .map_err(|e| format!("rclone check: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let differences: Vec<String> = stdout
        .lines()
        .filter_map(datamover::verify::difference)
        .collect();
    if !out.status.success() && differences.is_empty() {
        let last = datamover::progress::last_error(&stderr).unwrap_or_default();
        return Err(plan.scrub(&datamover::verify::could_not_run(
            &out.status.to_string(),
            &last,
        )));
    }
    Ok(Outcome {
        differences,
        no_common_hash: stderr.contains(NO_COMMON_HASH),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::collections::BTreeMap;

    fn rclone_bin() -> std::path::PathBuf {
        which("rclone").expect("rclone is needed: scripts/deps.sh test (apt-get install rclone)")
    }

    fn which(name: &str) -> Option<std::path::PathBuf> {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
    }

    /// The check between a synced copy and its source, and after a byte of the copy was
    /// changed (the executor's moment between sync and check).
    #[tokio::test]
    async fn a_changed_byte_fails_the_check_naming_the_path() {
        let dir = tmc_test_support::tempdir();
        let (source, dest) = (dir.join("source"), dir.join("dest"));
        std::fs::create_dir_all(source.join("a")).unwrap();
        std::fs::write(source.join("a/big.bin"), vec![1u8; 50_000]).unwrap();
        std::fs::write(source.join("small.txt"), "small\n").unwrap();
        let values = BTreeMap::from([("DESTINATION".to_owned(), dest.display().to_string())]);
        let plan = Plan::new(&values, &[], None).unwrap();
        let synced = std::process::Command::new(rclone_bin())
            .args(["sync", &format!("{}/", source.display()), &plan.destination])
            .status()
            .unwrap();
        assert!(synced.success());
        for mode in [Verify::Size, Verify::Checksum] {
            check(&rclone_bin(), &source, &plan, mode, "uid")
                .await
                .unwrap();
        }
        // The same size, one byte different: only the checksum sees it.
        let mut bytes = std::fs::read(dest.join("a/big.bin")).unwrap();
        bytes[25_000] = 2;
        std::fs::write(dest.join("a/big.bin"), bytes).unwrap();
        check(&rclone_bin(), &source, &plan, Verify::Size, "uid")
            .await
            .unwrap();
        assert_eq!(
            check(&rclone_bin(), &source, &plan, Verify::Checksum, "uid")
                .await
                .unwrap_err(),
            "verification (checksum) found 1 difference between what was read and what landed: a/big.bin differs"
        );
        // A file gone and one added: both checks name them.
        std::fs::remove_file(dest.join("small.txt")).unwrap();
        std::fs::write(dest.join("extra.txt"), "x").unwrap();
        let err = check(&rclone_bin(), &source, &plan, Verify::Size, "uid")
            .await
            .unwrap_err();
        assert!(
            err.starts_with("verification (size) found 2 differences"),
            "{err}"
        );
        assert!(
            err.contains("small.txt is missing at the destination"),
            "{err}"
        );
        assert!(
            err.contains("extra.txt is only at the destination"),
            "{err}"
        );
    }
}
