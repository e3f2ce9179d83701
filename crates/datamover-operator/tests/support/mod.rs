//! What the operator's test files share: the real operator binary through the one operator
//! fixture of `tmc-test-support`, its HTTP client and temp dirs, a server-sent-events reader,
//! headless Chromium ([`chromium`]) and the manifests the tests apply.

#![allow(dead_code, unused_imports, missing_docs)] // each test file uses its part

pub(crate) mod chromium;
pub(crate) mod console;

pub(crate) use tmc_test_support::http::{self, Reply};
pub(crate) use tmc_test_support::operator::{DATAMOVERS, Options};
pub(crate) use tmc_test_support::{Operator, TempDir, free_port, tempdir};

use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_datamover-operator");

/// The options to start this crate's operator on `data` (see [`Options::new`]).
pub(crate) fn operator(data: impl AsRef<Path>) -> Options {
    Operator::options(BIN, data.as_ref())
}

/// These tests run the real rclone: without it they fail, naming the install command.
pub(crate) fn require_rclone() {
    assert!(
        Command::new("rclone")
            .arg("version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "rclone is missing: install it with `apt-get install rclone` (scripts/test.sh does, as root)"
    );
}

/// Milliseconds since the epoch, the clock the operator stamps phases with.
pub(crate) fn now_ms() -> u64 {
    u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// One request on loopback with extra header lines (each ending in `\r\n`); `None` when
/// nothing answers (nothing listens yet, or not HTTP).
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: Option<&str>,
) -> Option<Reply> {
    let mut request = http::request(addr, method, path).raw_headers(headers);
    if let Some(body) = body {
        request = request.body(body.to_owned());
    }
    request.send().ok()
}

/// One server-sent event: its name, its data as JSON, and when it arrived (ms since epoch).
#[derive(Debug)]
pub(crate) struct SseEvent {
    pub(crate) name: String,
    pub(crate) data: Value,
    pub(crate) arrived_ms: u64,
}

/// An open `/events` stream.
pub(crate) struct Sse {
    stream: http::Stream,
    pending: String,
}

impl Sse {
    /// Opens `/events` with `headers`; panics unless it answers 200 `text/event-stream`.
    pub(crate) fn open(addr: SocketAddr, headers: &str) -> Self {
        let stream = http::get(addr, "/events")
            .header("accept", "text/event-stream")
            .raw_headers(headers)
            .open()
            .unwrap();
        let head = &stream.head;
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        Self {
            stream,
            pending: String::new(),
        }
    }

    /// The next named event (keep-alive comments skipped).
    pub(crate) fn next(&mut self) -> SseEvent {
        self.next_or_end().expect("the event stream ended")
    }

    /// The next named event, or `None` once the stream has ended.
    pub(crate) fn next_or_end(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.pending.find("\n\n") {
                let block: String = self.pending.drain(..end + 2).collect();
                let arrived_ms = now_ms();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if name.is_empty() {
                    continue;
                }
                return Some(SseEvent {
                    name,
                    data: serde_json::from_str(&data).unwrap(),
                    arrived_ms,
                });
            }
            let chunk = self.stream.next_chunk(Duration::from_secs(30)).unwrap()?;
            self.pending.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

pub(crate) fn pvc(name: &str, host: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\n  annotations:\n    datamover.a-cup-of.coffee/host-path: \"{}\"\nspec: {{accessModes: [ReadWriteOnce]}}\n---\n",
        host.display()
    )
}

pub(crate) fn secret(name: &str, destination: &Path) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData:\n  DESTINATION: \"{}\"\n---\n",
        destination.display()
    )
}

pub(crate) fn datamover(name: &str, pvc: &str, secret: &str, extra: &str) -> String {
    format!(
        "apiVersion: datamover.a-cup-of.coffee/v1alpha1\nkind: DataMover\nmetadata: {{name: {name}}}\nspec:\n  sourcePvc: {pvc}\n  secretName: {secret}\n{extra}---\n"
    )
}

/// The session id a sign-in's `set-cookie: datamover_session=...` header carries.
pub(crate) fn session_of(head: &str) -> String {
    head.split("set-cookie: datamover_session=")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no session cookie in {head}"))
        .to_owned()
}

/// The token against cross-site requests the page's HTML carries.
pub(crate) fn csrf_of(page: &str) -> String {
    page.split(r#"<meta name="csrf-token" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no csrf-token in {page}"))
        .to_owned()
}
