//! Safe by default: the API's token, the host-path and destination roots, strict base64,
//! and the demo and examples working as printed. The real binary and the real rclone; every
//! path is under a fresh temporary directory, and the test's own data dir plays "a
//! destination that must be refused". No test names `/` or a system directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod support;

use support::{BIN, Operator, operator, require_rclone, tempdir};
use tmc_test_support::pki::test_pki;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// One request with extra header lines; `None` when nothing answers.
fn http(addr: SocketAddr, method: &str, path: &str, headers: &str) -> Option<(u16, String)> {
    support::http(addr, method, path, headers, None).map(|r| (r.status, r.body))
}

/// `datamover-operator run` in `cwd` on the data dir `data` (relative to `cwd`), with no
/// allowed roots but those in `extra`.
fn start(cwd: &Path, data: &str, extra: &[&str]) -> Operator {
    operator(data)
        .cwd(cwd)
        .roots(None)
        .job_backoff_seconds(None)
        .args(extra)
        .env_remove("DATAMOVER_ALLOW_HOST_PATHS")
        .env_remove("DATAMOVER_ALLOW_LOCAL_DESTINATIONS")
        .start()
}

/// The CLI, run in `cwd`, with `--server`.
fn cli(op: &Operator, cwd: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(cwd)
        .args(args)
        .args(["--server", &format!("http://{}", op.api)])
        .env_remove("DATAMOVER_TOKEN_FILE")
        .env_remove("DATAMOVER_DATA_DIR")
        .output()
        .unwrap()
}

/// The names stored of a kind (`dm`, `pvc`, `secrets`), through the CLI.
fn names(op: &Operator, cwd: &Path, kind: &str) -> Vec<String> {
    let out = cli(op, cwd, &["get", kind, "-o", "json", "--data-dir", "data"]);
    assert!(out.status.success(), "{out:?}");
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let items = list["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_api_should_answer_401_without_a_token_and_403_with_a_wrong_one() {
    require_rclone();
    let dir = tempdir();
    let op = start(&dir, "data", &[]);
    let path = "/api/v1/namespaces/default/secrets";
    let (status, body) = http(op.api, "GET", path, "").unwrap();
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("api-token"), "the 401 names the fix: {body}");
    let (status, _) = http(op.api, "GET", path, "Authorization: Bearer wrong\r\n").unwrap();
    assert_eq!(status, 403);
    let (status, _) = http(op.api, "POST", "/apply", "Authorization: Bearer wrong\r\n").unwrap();
    assert_eq!(status, 403);
    let auth = format!("Authorization: Bearer {}\r\n", op.token());
    assert_eq!(http(op.api, "GET", path, &auth).unwrap().0, 200);

    // The token file is private, and kept across restarts.
    let file = dir.join("data/api-token");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let token = op.token();
    assert_eq!(token.len(), 64);
    drop(op);
    let op = start(&dir, "data", &[]);
    assert_eq!(op.token(), token);

    // The CLI finds it through --data-dir, and refuses an unreadable --token-file.
    let out = cli(&op, &dir, &["get", "secrets", "--data-dir", "data"]);
    assert!(out.status.success(), "{out:?}");
    let out = cli(&op, &dir, &["get", "secrets", "--token-file", "missing"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: --token-file missing: "),
        "{out:?}"
    );
    let out = cli(&op, &dir, &["get", "secrets", "--data-dir", "elsewhere"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs `Authorization: Bearer <token>`"),
        "{out:?}"
    );
}

fn pvc(name: &str, host: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  annotations:\n    datamover.a-cup-of.coffee/host-path: \"{host}\"\nspec: {{accessModes: [ReadWriteOnce]}}\n---\n"
    )
}

fn secret(name: &str, field: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\n{field}:\n  {key}: \"{value}\"\n---\n"
    )
}

fn datamover(name: &str, pvc: &str, secret: &str) -> String {
    format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: {name}}}\nspec:\n  sourcePvc: {pvc}\n  secretName: {secret}\n---\n"
    )
}

#[test]
fn apply_should_refuse_paths_outside_the_roots_and_bad_base64_storing_nothing() {
    require_rclone();
    let dir = tempdir();
    for d in ["hosts/a/src", "outside", "dests/src"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::os::unix::fs::symlink(dir.join("outside"), dir.join("hosts/link")).unwrap();
    let p = |rel: &str| dir.join(rel).display().to_string();
    let hosts = p("hosts");
    let op = start(
        &dir,
        "data",
        &[
            "--allow-host-path",
            &hosts,
            "--allow-host-path",
            &p("dests/src"),
            "--allow-local-destination",
            &p("dests"),
        ],
    );
    // A valid secret rides along in every refused file: nothing of the file is stored.
    let valid = secret("fine", "stringData", "DESTINATION", &p("dests/fine"));
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            pvc("v", &p("outside")),
            vec![
                "PersistentVolumeClaim default/v: annotation datamover.a-cup-of.coffee/host-path",
                "--allow-host-path DIR",
            ],
        ),
        (
            pvc("v", &format!("{hosts}/a/../../outside")),
            vec![
                "outside the allowed host-path roots",
                "--allow-host-path DIR",
            ],
        ),
        (
            pvc("v", &p("hosts/link")),
            vec![
                &*Box::leak(format!("(resolved {})", p("outside")).into_boxed_str()),
                "--allow-host-path DIR",
            ],
        ),
        (
            secret("s", "stringData", "DESTINATION", &p("outside/backup")),
            vec![
                "Secret default/s: DESTINATION",
                "--allow-local-destination DIR",
            ],
        ),
        (
            secret(
                "s",
                "stringData",
                "DESTINATION",
                &format!("{}/dests/../outside", dir.display()),
            ),
            vec![
                "Secret default/s: DESTINATION",
                "outside the allowed local-destination roots",
            ],
        ),
        (
            secret("s", "stringData", "DESTINATION", &p("data")),
            vec![
                "Secret default/s: DESTINATION",
                "contains the operator's data dir",
            ],
        ),
        (
            format!(
                "{}{}{}",
                pvc("v", &p("dests/src")),
                secret("s", "stringData", "DESTINATION", &p("dests")),
                datamover("m", "v", "s")
            ),
            vec![
                "DataMover default/m (secret s): DESTINATION",
                "overlaps the source",
            ],
        ),
        (
            secret("s", "stringData", "RCLONE_PASSWORD_COMMAND", "touch pwned"),
            vec!["Secret default/s: key RCLONE_PASSWORD_COMMAND: not accepted"],
        ),
        (
            datamover("m", "v", "fine").replace(
                "secretName: fine\n",
                "secretName: fine\n  additionalEnv:\n    - {name: RCLONE_LOG_FILE, value: x}\n",
            ),
            vec!["DataMover default/m: spec.additionalEnv RCLONE_LOG_FILE: not accepted"],
        ),
        (
            datamover("m", "v", "fine").replace(
                "secretName: fine\n",
                "secretName: fine\n  additionalEnv:\n    - {name: A, value: x}\n    - {name: TOKEN, valueFrom: {secretKeyRef: {name: t, key: k}}}\n",
            ),
            vec![
                "DataMover default/m: spec.additionalEnv[1].valueFrom (TOKEN): not supported by the embedded backend",
            ],
        ),
        (
            secret("s", "data", "DESTINATION", "Zm9vY"),
            vec!["Secret s): data.DESTINATION: not valid base64"],
        ),
        (
            secret("s", "data", "DESTINATION", "Zm9v=junk"),
            vec!["Secret s): data.DESTINATION: not valid base64"],
        ),
    ];
    let file = dir.join("refused.yaml");
    for (yaml, expected) in cases {
        std::fs::write(&file, format!("{valid}{yaml}")).unwrap();
        let out = cli(
            &op,
            &dir,
            &["apply", "-f", file.to_str().unwrap(), "--data-dir", "data"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted: {yaml}");
        for e in expected {
            assert!(stderr.contains(e), "{stderr:?} lacks {e:?}");
        }
        for kind in ["dm", "pvc", "secrets"] {
            assert_eq!(
                names(&op, &dir, kind),
                Vec::<String>::new(),
                "{kind} stored after {stderr}"
            );
        }
    }
    // The roots do accept what is under them.
    std::fs::write(
        &file,
        format!(
            "{valid}{}{}",
            pvc("v", &p("hosts/a/src")),
            datamover("m", "v", "fine")
        ),
    )
    .unwrap();
    let out = cli(
        &op,
        &dir,
        &["apply", "-f", file.to_str().unwrap(), "--data-dir", "data"],
    );
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn the_examples_should_apply_and_complete_on_a_fresh_checkout() {
    require_rclone();
    // The README's commands, in a fresh directory: `run` with the default data dir, then
    // `apply -f examples/datamover/`.
    let dir = tempdir();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/datamover/");
    let op = start(&dir, "datamover-data", &[]);
    // What the example's comment says to do: put files in the PVC's volume.
    let volume = dir.join("datamover-data/volumes/default/my-data");
    std::fs::create_dir_all(&volume).unwrap();
    std::fs::write(volume.join("hello.txt"), "hello\n").unwrap();
    let out = Command::new(BIN)
        .current_dir(&dir)
        .args(["apply", "-f", examples.to_str().unwrap()])
        .args(["--server", &format!("http://{}", op.api)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = cli(&op, &dir, &["get", "dm", "nightly", "-o", "json"]);
        assert!(out.status.success(), "{out:?}");
        let dm: Value = serde_json::from_slice(&out.stdout).unwrap();
        match dm["status"]["phase"].as_str() {
            Some("Completed") => break,
            Some("Failed") => panic!("the example failed: {dm}"),
            _ => {}
        }
        assert!(
            Instant::now() < deadline,
            "the example did not finish: {dm}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let backups: Vec<_> = std::fs::read_dir(dir.join("datamover-data/backups/nightly"))
        .unwrap()
        .map(|e| e.unwrap().path().join("hello.txt"))
        .collect();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), "hello\n");
}

#[test]
fn the_demo_hints_should_work_as_printed_and_sigterm_should_stop_it() {
    require_rclone();
    let dir = tempdir();
    let mut demo = operator("demo-data")
        .demo()
        .cwd(&dir)
        .roots(None)
        .job_backoff_seconds(None)
        .env_remove("DATAMOVER_ALLOW_HOST_PATHS")
        .env_remove("DATAMOVER_ALLOW_LOCAL_DESTINATIONS")
        .piped()
        .spawn();
    let api = demo.api;
    let mut lines = BufReader::new(demo.take_stdout().unwrap()).lines();
    let mut printed = Vec::new();
    let hint = loop {
        let line = lines.next().expect("the demo stopped printing").unwrap();
        printed.push(line.clone());
        if let Some(hint) = line.strip_prefix("demo: status:") {
            break hint.trim().to_owned();
        }
    };
    assert!(
        printed
            .iter()
            .any(|l| l == "demo: DataMover default/demo-backup is Completed"),
        "{printed:?}"
    );
    // The demo's first line is the status page's link (logs aside): it signs in.
    let first = printed.iter().find(|l| l.starts_with("demo: ")).unwrap();
    let link = first
        .strip_prefix(&format!("demo: status page: http://{api}/?token="))
        .unwrap_or_else(|| panic!("{printed:?}"));
    let signed = support::http(api, "GET", &format!("/?token={link}"), "", None).unwrap();
    assert_eq!(
        (
            signed.status,
            signed.head.contains("set-cookie: datamover_session=")
        ),
        (200, true),
        "the printed link does not sign in: {}",
        signed.head
    );
    // Run the hint exactly as printed (no spaces in these paths), from another directory.
    let words: Vec<&str> = hint.split_whitespace().collect();
    let out = Command::new(words[0])
        .args(&words[1..])
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{hint}: {out:?}");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("demo-backup") && table.contains("Completed"),
        "{table}"
    );

    demo.sigterm();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = demo.try_wait() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn the_api_should_serve_tls_and_the_cli_should_trust_the_given_ca() {
    require_rclone();
    let dir = tempdir();
    let (ca, cert, key) = test_pki(&dir);
    let op = start(
        &dir,
        "data",
        &["--api-tls-cert", &cert, "--api-tls-key", &key],
    );
    let https = format!("https://{}", op.api);
    let cli = |extra: &[&str]| {
        Command::new(BIN)
            .current_dir(&dir)
            .args(["get", "secrets", "--data-dir", "data", "--server", &https])
            .args(extra)
            .env_remove("DATAMOVER_CERTIFICATE_AUTHORITY")
            .output()
            .unwrap()
    };
    let out = cli(&["--certificate-authority", &ca]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "No secrets found in namespace default."
    );
    // Without the CA the CLI says what to pass; plain HTTP gets no answer.
    let out = cli(&[]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--certificate-authority FILE"),
        "{out:?}"
    );
    assert_eq!(http(op.api, "GET", "/apply", ""), None);
}
