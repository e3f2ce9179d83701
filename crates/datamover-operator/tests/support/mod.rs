//! What the operator's test files share: the real operator binary, plain HTTP on loopback,
//! a server-sent-events reader, and headless Chromium ([`chromium`]).

#![allow(dead_code, missing_docs)] // each test file uses its part

pub(crate) mod chromium;
pub(crate) mod prometheus;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_datamover-operator");

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

pub(crate) fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A fresh directory under the system's temp dir: every path a test touches lives here.
pub(crate) fn tempdir() -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "dm-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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

/// A running `datamover-operator run`, killed when dropped.
pub(crate) struct Operator {
    child: Child,
    pub(crate) data: PathBuf,
    pub(crate) metrics: SocketAddr,
    pub(crate) api: SocketAddr,
}

impl Operator {
    /// The operator on `data`, with `data`'s parent allowed as host-path and destination root.
    pub(crate) fn start(data: &Path) -> Self {
        Self::start_with(data, &[], &[], None)
    }

    /// As [`start`](Self::start), with more flags and environment variables, and its stdout
    /// (its log) written to `log`.
    pub(crate) fn start_with(
        data: &Path,
        flags: &[&str],
        env: &[(&str, &str)],
        log: Option<&Path>,
    ) -> Self {
        let (metrics, api) = (free_port(), free_port());
        let root = data.parent().unwrap();
        let stdout = log.map_or_else(Stdio::null, |path| {
            Stdio::from(std::fs::File::create(path).unwrap())
        });
        let child = Command::new(BIN)
            .arg("run")
            .arg("--data-dir")
            .arg(data)
            .arg("--allow-host-path")
            .arg(root)
            .arg("--allow-local-destination")
            .arg(root)
            .args(["--metrics-bind-address", &metrics.to_string()])
            .args(["--api-bind-address", &api.to_string()])
            .args(["--job-backoff-seconds", "0"])
            .args(flags)
            .envs(env.iter().copied())
            .stdout(stdout)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let op = Self {
            child,
            data: data.to_owned(),
            metrics,
            api,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(op.metrics, "GET", "/readyz", "", None).map(|r| r.status) != Some(200) {
            assert!(
                Instant::now() < deadline,
                "the operator did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        op
    }

    pub(crate) fn token(&self) -> String {
        std::fs::read_to_string(self.data.join("api-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// `Authorization: Bearer <token>\r\n`.
    pub(crate) fn auth(&self) -> String {
        format!("Authorization: Bearer {}\r\n", self.token())
    }

    pub(crate) fn apply(&self, yaml: &str) {
        let r = http(self.api, "POST", "/apply", &self.auth(), Some(yaml)).unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
    }
}

impl Operator {
    /// Sends SIGTERM and waits (bounded by `within`) for a clean exit.
    pub(crate) fn terminate(&mut self, within: Duration) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "the operator did not stop within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status:?}");
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, header block (lower-cased) and body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: String,
}

/// One HTTP/1.1 request on loopback, with extra header lines (each ending in `\r\n`);
/// `None` when nothing listens yet.
pub(crate) fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: Option<&str>,
) -> Option<Reply> {
    let mut stream = TcpStream::connect(addr).ok()?;
    let body = body.unwrap_or("");
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n{body}", body.len()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let (head, payload) = raw.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        let mut out = String::new();
        let mut rest = payload;
        while let Some((size, tail)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(size.trim(), 16).ok()?;
            if n == 0 {
                break;
            }
            out.push_str(&tail[..n]);
            rest = tail[n..].trim_start_matches("\r\n");
        }
        out
    } else {
        payload.to_owned()
    };
    Some(Reply { status, head, body })
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
    reader: BufReader<TcpStream>,
    pending: String,
}

impl Sse {
    /// Opens `/events` with `headers`; panics unless it answers 200 `text/event-stream`.
    pub(crate) fn open(addr: SocketAddr, headers: &str) -> Self {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        write!(
            stream,
            "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n{headers}\r\n"
        )
        .unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        Self {
            reader,
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
            // One chunk: its size line, its bytes, CRLF.
            let mut size = String::new();
            if self.reader.read_line(&mut size).unwrap() == 0 {
                return None;
            }
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            if n == 0 {
                return None;
            }
            let mut chunk = vec![0; n + 2];
            self.reader.read_exact(&mut chunk).unwrap();
            chunk.truncate(n);
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
