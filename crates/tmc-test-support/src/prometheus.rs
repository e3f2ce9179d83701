//! A real Prometheus on a loopback port, read through its HTTP API: for the monitoring
//! tests (the shipped configuration and rules) and the operator's (exemplars) alike.

use crate::http;
use crate::process::Process;
use crate::{free_port, require_tool};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How often [`Prometheus::poll`] asks again.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// A running `prometheus`, killed (and reaped) on drop, panics included.
#[derive(Debug)]
pub struct Prometheus {
    process: Process,
    /// Where its HTTP API listens.
    pub addr: SocketAddr,
    log: PathBuf,
}

/// Why a [`Prometheus::poll`] check is not satisfied.
#[derive(Debug)]
pub enum Poll {
    /// Not yet: try again.
    Again(String),
    /// Wrong for good: fail now.
    Fatal(String),
}

impl From<String> for Poll {
    fn from(e: String) -> Self {
        Self::Again(e)
    }
}

/// `Poll::Again(e)`, for `map_err`.
pub fn again(e: String) -> Poll {
    Poll::Again(e)
}

/// A configuration scraping `target`'s `/metrics` every second as job `job`.
pub fn scrape_config(job: &str, target: SocketAddr) -> String {
    format!(
        "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
         scrape_configs:\n  - job_name: {job}\n    \
         static_configs: [{{targets: ['{target}']}}]\n"
    )
}

impl Prometheus {
    /// Prometheus in `dir` (its configuration, data and log go there) with `config` and extra
    /// `flags` (such as `--enable-feature=exemplar-storage`). Fails, naming the install
    /// command, without the `prometheus` binary.
    pub fn start(dir: &Path, config: &str, flags: &[&str]) -> Self {
        require_tool("prometheus", "prometheus");
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", config_path.display()));
        let addr = free_port();
        let log = dir.join("prometheus.log");
        let log_file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let log_err = log_file
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot share {}: {e}", log.display()));
        let process = Process::spawn(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config_path.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    dir.join("data").display()
                ))
                .arg(format!("--web.listen-address={addr}"))
                .args(flags)
                .current_dir(dir)
                .env("TMPDIR", dir)
                .stdin(Stdio::null())
                .stdout(log_file)
                .stderr(log_err),
            "prometheus",
            ": install it with `apt-get install -y prometheus` (scripts/test.sh does, as root)",
        );
        Self { process, addr, log }
    }

    /// `GET path` on Prometheus's HTTP server.
    pub fn get(&self, path: &str) -> Result<http::Reply, String> {
        http::get(self.addr, path)
            .header("accept", "application/json")
            .send()
            .map_err(|e| e.to_string())
    }

    /// `GET path` on the HTTP API: the `data` of a successful JSON answer.
    pub fn api(&self, path: &str) -> Result<Value, String> {
        let reply = self.get(path)?;
        let json: Value = serde_json::from_slice(&reply.bytes)
            .map_err(|e| format!("{path}: HTTP {}, not JSON ({e})", reply.status))?;
        if reply.status != 200 || json["status"] != "success" {
            return Err(format!("{path}: HTTP {}: {json}", reply.status));
        }
        Ok(json["data"].clone())
    }

    /// Panics with `message`, Prometheus's exit status and the end of its log.
    pub fn fail(&mut self, message: &str) -> ! {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        let exited = self.process.try_wait();
        panic!(
            "{message}\nprometheus exit status: {exited:?}\nlast log lines:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }

    /// Calls `check` until it returns `Ok` or `deadline` passes (then fails with its last
    /// error); a `Poll::Fatal` error, or Prometheus exiting, fails at once.
    pub fn poll<T, E: Into<Poll>>(
        &mut self,
        what: &str,
        deadline: Instant,
        mut check: impl FnMut(&Self) -> Result<T, E>,
    ) -> T {
        loop {
            let last = match check(self).map_err(Into::into) {
                Ok(value) => return value,
                Err(Poll::Fatal(e)) => self.fail(&format!("{what}: {e}")),
                Err(Poll::Again(e)) => e,
            };
            if let Some(status) = self.process.try_wait() {
                self.fail(&format!(
                    "{what}: prometheus exited ({status}); last: {last}"
                ));
            }
            if Instant::now() > deadline {
                self.fail(&format!("{what}: not by the deadline; last: {last}"));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits (until `deadline`) for `/-/ready` to answer 200.
    pub fn wait_ready(&mut self, deadline: Instant) {
        self.poll("/-/ready", deadline, |p| match p.get("/-/ready") {
            Ok(reply) if reply.status == 200 => Ok(()),
            Ok(reply) => Err(again(format!("HTTP {}", reply.status))),
            Err(e) => Err(again(e)),
        });
    }
}
