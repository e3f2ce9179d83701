#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

//! The sync script with the real `sh`, `awk` and rclone over temp dirs: a clean copy
//! passes and says how long its check took; a byte changed at the destination fails the
//! check naming the path, in the core's words.

use super::{SOURCE, sync_command, sync_script};
use datamover::types::Verify;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use tmc_test_support::tempdir;

/// A source of two files (one in a subdirectory, one empty directory) in `dir`.
fn source(dir: &Path) -> PathBuf {
    let source = dir.join("source");
    std::fs::create_dir_all(source.join("a")).unwrap();
    std::fs::create_dir_all(source.join("empty")).unwrap();
    std::fs::write(source.join("a/big.bin"), vec![1u8; 50_000]).unwrap();
    std::fs::write(source.join("small.txt"), "small\n").unwrap();
    source
}

/// Runs the script for `mode` as the Job's container would (the Job's statistics
/// variables, the destination from the secret's `DESTINATION`), reading `source`; its
/// output and its termination message.
fn run(mode: Verify, source: &Path, dest: &Path, prefixed: bool) -> (Output, String) {
    run_with(mode, source, dest, prefixed, &[])
}

/// [`run`] with `env` on top.
fn run_with(
    mode: Verify,
    source: &Path,
    dest: &Path,
    prefixed: bool,
    env: &[(&str, &str)],
) -> (Output, String) {
    let log = source.with_file_name("termination-log");
    let _ = std::fs::remove_file(&log);
    let mut command = Command::new("/bin/sh");
    command
        .args(["-c", &sync_script(mode), "datamover-sync"])
        .arg(format!("{}/", source.display()))
        .env("DESTINATION", dest)
        .env("ADD_TIMESTAMP_PREFIX", prefixed.to_string())
        .env("VERIFY", mode.as_str())
        .env_remove("RCLONE_CONFIG")
        .env_remove("AWS_CA_BUNDLE")
        .env_remove(datamover::job::TIMESTAMP_FOLDER_ENV);
    for (k, v) in datamover::job::STATS_ENV {
        command.env(k, v);
    }
    command
        .env("RCLONE_LOG_FILE", &log)
        .envs(env.iter().copied());
    let out = command.output().expect("/bin/sh runs");
    let message = std::fs::read_to_string(&log).unwrap_or_default();
    (out, message)
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "the script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_clean_copy_passes_and_reports_its_check_after_the_syncs_statistics() {
    let dir = tempdir();
    let source = source(&dir);
    for mode in [Verify::Size, Verify::Checksum] {
        let dest = dir.join(format!("dest-{}", mode.as_str()));
        let (out, message) = run(mode, &source, &dest, false);
        ok(&out);
        assert_eq!(
            std::fs::read(dest.join("a/big.bin")).unwrap(),
            vec![1u8; 50_000]
        );
        assert!(dest.join("empty").is_dir(), "empty directories too");
        // The termination message: rclone's final statistics (the sync's, not the
        // check's), then the check's line, last.
        let stats = datamover::progress::final_stats(&message).unwrap();
        assert_eq!((stats.bytes, stats.files), (50_006, 2), "{message}");
        let last = message.lines().last().unwrap();
        let ms = datamover::verify::verified_ms(&message).unwrap();
        assert_eq!(last, datamover::verify::verified_line(mode, ms));
        assert_eq!(datamover::progress::last_error(&message), None, "{message}");
    }
}

/// Silent damage at the destination: the same size and modification time, one byte
/// different. The sync does not see it (sizes and times match); `size` does not either;
/// `checksum` fails the pod naming the path, in the core's words.
#[test]
fn a_changed_byte_at_the_destination_fails_the_checksum_check_naming_the_path() {
    let dir = tempdir();
    let source = source(&dir);
    let dest = dir.join("dest");
    let (out, _) = run(Verify::Size, &source, &dest, false);
    ok(&out);
    let damaged = dest.join("a/big.bin");
    let mtime = std::fs::metadata(&damaged).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[25_000] = 2;
    std::fs::write(&damaged, bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&damaged)
        .unwrap()
        .set_modified(mtime)
        .unwrap();

    let (out, message) = run(Verify::Size, &source, &dest, false);
    ok(&out);
    assert!(datamover::verify::verified_ms(&message).is_some());

    let (out, message) = run(Verify::Checksum, &source, &dest, false);
    assert_eq!(out.status.code(), Some(1), "{message}");
    let expected = datamover::verify::failure(Verify::Checksum, 1, &["a/big.bin differs".into()]);
    assert_eq!(
        expected,
        "verification (checksum) found 1 difference between what was read and what landed: a/big.bin differs"
    );
    assert_eq!(
        datamover::progress::last_error(&message).as_deref(),
        Some(expected.as_str()),
        "{message}"
    );
    assert_eq!(datamover::verify::verified_ms(&message), None);
    // The sync's statistics are still there, for the bytes it moved.
    assert!(datamover::progress::final_stats(&message).is_some());
}

/// More differences than a reason names: the first five, and how many more; paths with
/// quotes and spaces stay JSON.
#[test]
fn many_differences_name_the_first_five_in_the_cores_words() {
    let dir = tempdir();
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    let names: Vec<String> = (1..=7).map(|i| format!("f \"{i}\".txt")).collect();
    for name in &names {
        std::fs::write(source.join(name), "abc").unwrap();
    }
    let dest = dir.join("dest");
    ok(&run(Verify::Checksum, &source, &dest, false).0);
    for name in &names {
        let path = dest.join(name);
        std::fs::write(&path, "abd").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(
                std::fs::metadata(source.join(name))
                    .unwrap()
                    .modified()
                    .unwrap(),
            )
            .unwrap();
    }
    // One checker: rclone reports the paths in the order it lists them.
    let (out, message) = run_with(
        Verify::Checksum,
        &source,
        &dest,
        false,
        &[("RCLONE_CHECKERS", "1")],
    );
    assert_eq!(out.status.code(), Some(1));
    let shown: Vec<String> = names[..5].iter().map(|n| format!("{n} differs")).collect();
    assert_eq!(
        datamover::progress::last_error(&message).unwrap(),
        datamover::verify::failure(Verify::Checksum, 7, &shown)
    );
}

/// With `ADD_TIMESTAMP_PREFIX=true`, the sync and its check go to the same
/// `YYYY-MM-DD-HHMMSS` folder.
#[test]
fn a_prefixed_sync_checks_its_own_folder() {
    let dir = tempdir();
    let source = source(&dir);
    let dest = dir.join("dest");
    let (out, message) = run(Verify::Checksum, &source, &dest, true);
    ok(&out);
    let folders: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders.len(), 1, "{folders:?}");
    assert!(datamover::time::is_prefix(&folders[0]), "{folders:?}");
    assert!(dest.join(&folders[0]).join("small.txt").is_file());
    assert!(datamover::verify::verified_ms(&message).is_some());
}

/// The folder the operator decided (the Job's `TIMESTAMP_FOLDER`, the one
/// `status.destination` names) is the folder written and checked, whatever the pod's clock
/// says: a second in 2020 that no clock running this test names.
#[test]
fn a_prefixed_sync_writes_and_checks_the_folder_the_job_names() {
    let dir = tempdir();
    let source = source(&dir);
    let dest = dir.join("dest");
    let folder = [(datamover::job::TIMESTAMP_FOLDER_ENV, "2020-01-02-030405")];
    let (out, message) = run_with(Verify::Checksum, &source, &dest, true, &folder);
    ok(&out);
    let folders: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders, ["2020-01-02-030405"]);
    assert_eq!(
        std::fs::read_to_string(dest.join("2020-01-02-030405/small.txt")).unwrap(),
        "small\n"
    );
    assert_eq!(
        std::fs::read(dest.join("2020-01-02-030405/a/big.bin")).unwrap(),
        vec![1u8; 50_000]
    );
    assert!(
        datamover::verify::verified_ms(&message).is_some(),
        "{message}"
    );

    // The check reads that folder: a byte changed there (same size and time, so the sync
    // leaves it) fails the next run's check, naming the file.
    let damaged = dest.join("2020-01-02-030405/a/big.bin");
    let mtime = std::fs::metadata(&damaged).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[25_000] = 2;
    std::fs::write(&damaged, bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&damaged)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (out, message) = run_with(Verify::Checksum, &source, &dest, true, &folder);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert_eq!(
        datamover::progress::last_error(&message).as_deref(),
        Some(
            "verification (checksum) found 1 difference between what was read and what landed: a/big.bin differs"
        ),
        "{message}"
    );
    let folders: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(folders, ["2020-01-02-030405"]);
}

#[test]
fn the_command_runs_the_script_on_the_mount_only_when_a_check_is_asked() {
    assert_eq!(sync_command(Verify::None), None);
    let command = sync_command(Verify::Size).unwrap();
    assert_eq!(command[..2], ["/bin/sh", "-c"]);
    assert_eq!(command[3..], ["datamover-sync", SOURCE]);
    assert_eq!(SOURCE, "/data/");
    for mode in [Verify::Size, Verify::Checksum] {
        let script = sync_script(mode);
        for placeholder in ["@MARKS@", "@SHOWN@", "@FAILED@", "@MODE@", "@FLAGS@"] {
            assert!(!script.contains(placeholder), "{placeholder}");
        }
    }
    assert!(sync_script(Verify::Size).contains("check \"$src\" \"$dest\" \"$@\""));
    assert!(sync_script(Verify::Size).contains("outcome=$(check --combined - --size-only)"));
    assert!(sync_script(Verify::Checksum).contains("outcome=$(check --combined - --download)"));
}

/// A check rclone cannot run (here: a report file it cannot open, an option only `check`
/// reads) fails the pod with rclone's own words, as the embedded backend words them
/// (`could_not_run` with the `last_error` of rclone's output); the sync itself went through.
#[test]
fn a_check_rclone_cannot_run_fails_with_rclones_words() {
    let dir = tempdir();
    let source = source(&dir);
    let dest = dir.join("dest");
    let missing = dir.join("no-such-dir/report.txt");
    let env = [("RCLONE_MISSING_ON_DST", missing.to_str().unwrap())];
    let (out, message) = run_with(Verify::Size, &source, &dest, false, &env);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert!(dest.join("small.txt").is_file(), "the sync ran");
    // What the embedded backend makes of the same rclone check.
    let embedded = Command::new("rclone")
        .arg("check")
        .arg(format!("{}/", source.display()))
        .arg(&dest)
        .args(datamover::verify::flags(Verify::Size, false))
        .env("RCLONE_USE_JSON_LOG", "true")
        .envs(env)
        .output()
        .unwrap();
    let expected = datamover::verify::could_not_run(
        &embedded.status.to_string(),
        &datamover::progress::last_error(&String::from_utf8_lossy(&embedded.stderr)).unwrap(),
    );
    assert_eq!(
        expected,
        format!(
            "verification could not run: rclone check exited with exit status: 1: Failed to check: open {}: no such file or directory",
            missing.display()
        )
    );
    assert_eq!(
        datamover::progress::last_error(&message).as_deref(),
        Some(expected.as_str()),
        "{message}"
    );
}

/// A destination that keeps no hash (an rclone `crypt` remote over a temp dir): rclone
/// says `No common hash found` and compares sizes only, so the script checks again
/// comparing the bytes (`--download`), and a changed byte of the same size is still found.
#[test]
fn a_destination_without_hashes_is_checked_byte_for_byte() {
    let dir = tempdir();
    let source = source(&dir);
    let vault = dir.join("vault");
    std::fs::create_dir_all(&vault).unwrap();
    let obscured = Command::new("rclone")
        .args(["obscure", "a test password"])
        .output()
        .unwrap();
    let password = String::from_utf8(obscured.stdout).unwrap();
    let env = [
        ("RCLONE_CONFIG_VAULT_TYPE", "crypt"),
        ("RCLONE_CONFIG_VAULT_REMOTE", vault.to_str().unwrap()),
        ("RCLONE_CONFIG_VAULT_PASSWORD", password.trim()),
    ];
    let remote = Path::new("VAULT:");
    let (out, message) = run_with(Verify::Checksum, &source, remote, false, &env);
    ok(&out);
    assert!(
        datamover::verify::verified_ms(&message).is_some(),
        "{message}"
    );
    // What was read changes after it landed, size and time kept: only the bytes tell.
    let changed = source.join("a/big.bin");
    let mtime = std::fs::metadata(&changed).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&changed).unwrap();
    bytes[10] = 9;
    std::fs::write(&changed, bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&changed)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let (out, message) = run_with(Verify::Checksum, &source, remote, false, &env);
    assert_eq!(out.status.code(), Some(1), "{message}");
    assert_eq!(
        datamover::progress::last_error(&message).unwrap(),
        datamover::verify::failure(Verify::Checksum, 1, &["a/big.bin differs".into()])
    );
}

/// Every script the rclone image runs for the operator starts with the one destination
/// block and parses (`sh -n`); the restore's, which writes to `/data/`, is not run here.
#[test]
fn every_script_of_the_rclone_image_parses_and_reads_the_destination_alike() {
    let scripts = [
        sync_script(Verify::Size),
        sync_script(Verify::Checksum),
        crate::prune::PRUNE_SCRIPT.to_owned(),
        crate::restore::RESTORE_SCRIPT.to_owned(),
    ];
    for script in &scripts {
        assert!(script.starts_with(destination_script!()), "{script}");
        let out = Command::new("/bin/sh")
            .args(["-n", "-c", script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}\n{script}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        crate::restore::RESTORE_SCRIPT
            .ends_with("exec rclone copy \"$base/$RESTORE_PATH\" /data/ --create-empty-src-dirs\n")
    );
}
