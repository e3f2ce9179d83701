//! Full disks, on the real binary and real filesystems: small tmpfs mounts that fill up
//! (the tests need root to mount them, as CI runs them, and fail saying so without it).
//!
//! - The data dir fills: `apply` answers 507 naming the data dir and the cause, `/readyz`
//!   is not ready and says why, `/healthz` stays ok; once space returns the next `apply`
//!   succeeds without a restart, `/readyz` is ready again, and everything applied before
//!   is still there.
//! - A destination fills mid-sync: the DataMover fails with rclone's cause, and the
//!   operator goes on (the next DataMover, to a roomy destination, completes).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod support;

use std::time::Duration;
use support::{http, noise, operator, pvc, require_rclone, secret, tempdir};
use tmc_test_support::Tmpfs;

/// A Secret of 16 KiB: a few of them need new pages in the store's file.
fn big_secret(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n  blob: \"{}\"\n",
        "x".repeat(16 * 1024)
    )
}

fn datamover(name: &str, pvc: &str, secret: &str) -> String {
    support::datamover(name, pvc, secret, "")
}

/// `(status, body)` of `GET path` on the metrics address.
fn probe(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let r = http::get(addr, path).send().unwrap();
    (r.status, r.body)
}

/// The value of the series `line` (`name{labels}`) in `exposition`.
fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in:\n{exposition}"))
}

#[test]
fn a_full_data_dir_refuses_apply_with_507_and_the_operator_writes_again_once_space_returns() {
    require_rclone();
    // Declared first, dropped (unmounted) last: after the operator.
    let fs = Tmpfs::mount("8m");
    let data = fs.join("data");
    let source = fs.join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("a.txt"), "alpha").unwrap();
    // The log outside the filled filesystem: it must be able to say the store recovered.
    let logs = tempdir();
    let log = logs.join("operator.log");
    let op = operator(&data).log(&log).start();
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        secret("backup", &fs.join("backup")),
        big_secret("kept"),
    ));

    let (filler, _) = fs.fill("filler");
    let mut stored = Vec::new();
    let refused = loop {
        let name = format!("s{}", stored.len());
        let r = op.api("POST", "/apply", Some(&big_secret(&name)));
        if r.status != 200 {
            break r;
        }
        stored.push(name);
        assert!(
            stored.len() < 500,
            "500 Secrets of 16 KiB fit on a full 8 MiB tmpfs"
        );
    };
    let store = data.join("store.redb");
    assert_eq!(refused.status, 507, "{}", refused.body);
    let body: serde_json::Value = serde_json::from_str(&refused.body).unwrap();
    assert_eq!(
        body["error"],
        format!(
            "the data dir {} is full: cannot write {}: No space left on device (os error 28); \
             nothing was stored: free space there, then try again (no restart needed)",
            data.display(),
            store.display()
        )
    );
    // A delete needs a write too: refused alike, and the object stays.
    let r = op.api("DELETE", "/api/v1/namespaces/default/secrets/kept", None);
    assert_eq!(r.status, 507, "{}", r.body);
    let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        body["error"],
        format!(
            "the data dir {} is full: cannot write {}: No space left on device (os error 28); \
             nothing was deleted: free space there, then try again (no restart needed)",
            data.display(),
            store.display()
        )
    );
    let refused_name = format!("s{}", stored.len());
    let path = format!("/api/v1/namespaces/default/secrets/{refused_name}");
    assert_eq!(op.api("GET", &path, None).status, 404, "nothing was stored");
    assert_eq!(
        probe(op.metrics, "/readyz"),
        (
            503,
            format!(
                "not ready: store writable: cannot write {}: No space left on device (os error 28) \
                 (the data dir {} is full); nothing new is stored, retried every 5s\n",
                store.display(),
                data.display()
            )
        )
    );
    assert_eq!(probe(op.metrics, "/healthz"), (200, "ok\n".to_owned()));
    let exposition = op.metrics();
    assert!(
        sample(
            &exposition,
            r#"datamover_store_write_errors_total{kind="no_space"}"#
        ) >= 1.0
    );
    assert_eq!(
        sample(
            &exposition,
            r#"datamover_store_write_errors_total{kind="io"}"#
        ),
        0.0
    );

    // Space returns: the next apply succeeds, without a restart.
    std::fs::remove_file(&filler).unwrap();
    op.apply(&datamover("after", "data", "backup"));
    assert_eq!(probe(op.metrics, "/readyz"), (200, "ok\n".to_owned()));
    op.get("/api/v1/namespaces/default/secrets/kept");
    op.get("/api/v1/namespaces/default/secrets/backup");
    for name in &stored {
        op.get(&format!("/api/v1/namespaces/default/secrets/{name}"));
    }
    op.get("/api/v1/namespaces/default/persistentvolumeclaims/data");
    // Writing again, every object is reconciled at once (their failed writes had backed
    // off), said within one recovery period.
    op.wait_for("the recovery's wake-up", Duration::from_secs(15), || {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("the store writes again: reconciling every object now")
    });
    // And the controllers go on: the DataMover applied after the recovery completes.
    let dm = op.finished("after", Duration::from_secs(60));
    assert_eq!(dm["status"]["phase"], "Completed", "{dm}");
    assert_eq!(
        std::fs::read_to_string(fs.join("backup/a.txt")).unwrap(),
        "alpha"
    );
    drop(op);
}

#[test]
fn a_destination_full_mid_sync_fails_the_datamover_with_the_cause_and_the_operator_goes_on() {
    require_rclone();
    // The destination: 1 MiB; the source: 4 MiB and 4 bytes.
    let small = Tmpfs::mount("1m");
    let dir = tempdir();
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    let big = noise(4 * 1024 * 1024, 7);
    std::fs::write(source.join("big.bin"), &big).unwrap();
    std::fs::write(source.join("small.txt"), "fits").unwrap();
    let roots = |op: support::Options| {
        op.roots(None).args([
            "--allow-host-path".as_ref(),
            dir.as_os_str(),
            "--allow-local-destination".as_ref(),
            dir.as_os_str(),
            "--allow-local-destination".as_ref(),
            small.as_os_str(),
        ])
    };
    let op = roots(operator(dir.join("data"))).start();
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        secret("small", &small.join("backup")),
        datamover("to-small", "data", "small"),
    ));
    let failed = op.finished("to-small", Duration::from_secs(120));
    assert_eq!(failed["status"]["phase"], "Failed", "{failed}");
    let last_error = failed["status"]["lastError"].as_str().unwrap();
    // rclone's cause, after the Job's (its own words may grow: only these ends are fixed).
    assert!(
        last_error.starts_with("BackoffLimitExceeded: 3 pods failed, backoffLimit is 2; the last one: rclone exited with exit status: 1: "),
        "{last_error}"
    );
    assert!(
        last_error.ends_with(": file too big for remaining disk space"),
        "{last_error}"
    );
    // The sync ran: what fitted landed.
    assert_eq!(
        std::fs::read(small.join("backup/small.txt")).unwrap(),
        b"fits"
    );
    // The operator goes on: the next DataMover, to a roomy destination, completes.
    op.apply(&format!(
        "{}{}",
        secret("roomy", &dir.join("backup")),
        datamover("to-roomy", "data", "roomy"),
    ));
    let done = op.finished("to-roomy", Duration::from_secs(120));
    assert_eq!(done["status"]["phase"], "Completed", "{done}");
    assert_eq!(std::fs::read(dir.join("backup/big.bin")).unwrap(), big);
    assert_eq!(probe(op.metrics, "/readyz"), (200, "ok\n".to_owned()));
    drop(op);
}
