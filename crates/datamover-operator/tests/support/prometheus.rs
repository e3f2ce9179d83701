//! A real Prometheus scraping the operator: started on a loopback port with a one-job
//! configuration, killed on drop, read through its HTTP API.

use super::{free_port, http};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `prometheus` child process, killed (and reaped) on drop, panics included.
pub(crate) struct Prometheus {
    child: Child,
    pub(crate) addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    /// Prometheus in `dir`, scraping `target`'s `/metrics` every second, with `flags` (such
    /// as `--enable-feature=exemplar-storage`). Fails, naming the install command, without
    /// the `prometheus` binary.
    pub(crate) fn start(dir: &Path, target: SocketAddr, flags: &[&str]) -> Self {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
                 scrape_configs:\n  - job_name: datamover-operator\n    \
                 static_configs: [{{targets: ['{target}']}}]\n"
            ),
        )
        .unwrap();
        let addr = free_port();
        let log = dir.join("prometheus.log");
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address={addr}"))
            .args(flags)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start prometheus ({e}): install it with `apt-get install -y prometheus` (scripts/test.sh does, as root)")
            });
        Self { child, addr, log }
    }

    /// `GET path` on the HTTP API: the `data` of a successful answer.
    pub(crate) fn api(&self, path: &str) -> Result<Value, String> {
        let reply = http(self.addr, "GET", path, "", None).ok_or("not listening yet")?;
        let json: Value = serde_json::from_str(&reply.body)
            .map_err(|e| format!("{path}: HTTP {}, not JSON ({e})", reply.status))?;
        if reply.status != 200 || json["status"] != "success" {
            return Err(format!("{path}: HTTP {}: {json}", reply.status));
        }
        Ok(json["data"].clone())
    }

    /// Calls `check` until it returns `Ok`, for at most `within`; then panics with its last
    /// error and the end of Prometheus's log.
    pub(crate) fn poll<T>(
        &mut self,
        what: &str,
        within: Duration,
        mut check: impl FnMut(&Self) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + within;
        loop {
            let last = match check(self) {
                Ok(value) => return value,
                Err(e) => e,
            };
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                panic!(
                    "{what}: {last}\nprometheus exit status: {exited:?}\nlast log lines:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// `s` percent-encoded for a query string.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
