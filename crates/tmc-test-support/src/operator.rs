//! The `datamover-operator` fixture: started with options, waited on until ready, spoken to
//! through its API (apply, get, wait for a condition), scraped, stopped. One process group
//! per operator, so its rclone syncs die with it.

use crate::free_port;
use crate::http::{self, Reply};
use crate::process::{Group, Process};
use serde_json::Value;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the operator gets to answer `/readyz` with 200.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// The DataMover API group, namespace `default`.
pub const DATAMOVERS: &str = "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default";

/// How to start an operator; [`Options::start`] starts it.
#[derive(Debug, Clone)]
#[must_use = "options do nothing until started"]
pub struct Options {
    bin: PathBuf,
    subcommand: &'static str,
    data: PathBuf,
    cwd: Option<PathBuf>,
    roots: Option<PathBuf>,
    roots_default: bool,
    job_backoff_seconds: Option<u32>,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    stdout: Output,
}

#[derive(Debug, Clone)]
enum Output {
    Null,
    File(PathBuf),
    Piped,
}

impl Options {
    /// `bin run --data-dir data` with, unless changed: `data`'s parent allowed as host-path
    /// and local-destination root, `--job-backoff-seconds 0`, stdout and stderr discarded.
    pub fn new(bin: impl Into<PathBuf>, data: impl Into<PathBuf>) -> Self {
        Self {
            bin: bin.into(),
            subcommand: "run",
            data: data.into(),
            cwd: None,
            roots: None,
            roots_default: true,
            job_backoff_seconds: Some(0),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            stdout: Output::Null,
        }
    }

    /// `bin demo` instead of `bin run`.
    pub fn demo(mut self) -> Self {
        self.subcommand = "demo";
        self
    }

    /// Runs it in `dir` (a relative data dir is then under `dir`).
    pub fn cwd(mut self, dir: &Path) -> Self {
        self.cwd = Some(dir.to_owned());
        self
    }

    /// `root` as its host-path and local-destination root, or (`None`) no root flag at all.
    pub fn roots(mut self, root: Option<&Path>) -> Self {
        self.roots = root.map(Path::to_owned);
        self.roots_default = false;
        self
    }

    /// `--job-backoff-seconds seconds`, or (`None`) the operator's default.
    pub fn job_backoff_seconds(mut self, seconds: Option<u32>) -> Self {
        self.job_backoff_seconds = seconds;
        self
    }

    /// Adds arguments after the others.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Sets an environment variable.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Leaves an environment variable out.
    pub fn env_remove(mut self, key: &str) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// Writes its stdout (its log) to `path`.
    pub fn log(mut self, path: &Path) -> Self {
        self.stdout = Output::File(path.to_owned());
        self
    }

    /// Pipes its stdout, for [`Operator::take_stdout`] or [`Operator::stop_with_output`].
    pub fn piped(mut self) -> Self {
        self.stdout = Output::Piped;
        self
    }

    /// Starts it and waits until `/readyz` answers 200; fails if it exits first.
    pub fn start(self) -> Operator {
        let mut op = self.spawn();
        let deadline = Instant::now() + READY_WITHIN;
        while http::get(op.metrics, "/readyz").send().map(|r| r.status) != Ok(200) {
            assert!(
                op.process.try_wait().is_none(),
                "the operator exited before it was ready"
            );
            assert!(
                Instant::now() < deadline,
                "the operator did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        op
    }

    /// Starts it without waiting for anything.
    pub fn spawn(self) -> Operator {
        let (metrics, api) = (free_port(), free_port());
        let data = match &self.cwd {
            Some(cwd) => cwd.join(&self.data),
            None => self.data.clone(),
        };
        let mut command = Command::new(&self.bin);
        command
            .arg(self.subcommand)
            .arg("--data-dir")
            .arg(&self.data);
        let root = if self.roots_default {
            data.parent().map(Path::to_owned)
        } else {
            self.roots.clone()
        };
        if let Some(root) = root {
            command
                .arg("--allow-host-path")
                .arg(&root)
                .arg("--allow-local-destination")
                .arg(&root);
        }
        command
            .args(["--metrics-bind-address", &metrics.to_string()])
            .args(["--api-bind-address", &api.to_string()]);
        if let Some(seconds) = self.job_backoff_seconds {
            command.args(["--job-backoff-seconds", &seconds.to_string()]);
        }
        command.args(&self.args);
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        for key in &self.env_remove {
            command.env_remove(key);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        command.stdout(match &self.stdout {
            Output::Null => Stdio::null(),
            Output::Piped => Stdio::piped(),
            Output::File(path) => Stdio::from(
                std::fs::File::create(path)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display())),
            ),
        });
        command.stderr(Stdio::null());
        let process = Process::spawn(&mut command, &self.bin.display().to_string(), "");
        Operator {
            process,
            data,
            metrics,
            api,
        }
    }
}

/// A running operator, killed with everything it started when dropped.
#[derive(Debug)]
pub struct Operator {
    process: Process,
    /// Its data dir.
    pub data: PathBuf,
    /// Where it serves `/metrics` and `/readyz`.
    pub metrics: SocketAddr,
    /// Where it serves its resource API and status page.
    pub api: SocketAddr,
}

impl Operator {
    /// The options to start `bin` on `data`: see [`Options::new`].
    pub fn options(bin: impl Into<PathBuf>, data: impl Into<PathBuf>) -> Options {
        Options::new(bin, data)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Its stdout, when [`Options::piped`] and not taken yet.
    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.process.take_stdout()
    }

    /// Its exit status, once it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.process.try_wait()
    }

    /// The API token it wrote to its data dir.
    pub fn token(&self) -> String {
        let path = self.data.join("api-token");
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .to_owned()
    }

    /// `Authorization: Bearer <token>\r\n`, for [`http::Request::raw_headers`].
    pub fn auth(&self) -> String {
        format!("Authorization: Bearer {}\r\n", self.token())
    }

    /// `--server` and `--token-file` for the CLI.
    pub fn cli_args(&self) -> [String; 4] {
        [
            "--server".into(),
            format!("http://{}", self.api),
            "--token-file".into(),
            self.data.join("api-token").display().to_string(),
        ]
    }

    /// One request to the resource API with its token (and a YAML body, when given).
    pub fn api(&self, method: &str, path: &str, body: Option<&str>) -> Reply {
        let mut request = http::request(self.api, method, path).raw_headers(&self.auth());
        if let Some(body) = body {
            request = request
                .header("content-type", "application/yaml")
                .body(body.to_owned());
        }
        request.send().unwrap_or_else(|e| panic!("{e}"))
    }

    /// `POST /apply` of `yaml`; fails unless it answers 200.
    pub fn apply(&self, yaml: &str) {
        let r = self.api("POST", "/apply", Some(yaml));
        assert_eq!(r.status, 200, "{}", r.body);
    }

    /// `GET path` as JSON; fails unless it answers 200.
    pub fn get(&self, path: &str) -> Value {
        let r = self.api("GET", path, None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.body))
    }

    /// DataMover `name` in `default`.
    pub fn datamover(&self, name: &str) -> Value {
        self.get(&format!("{DATAMOVERS}/datamovers/{name}"))
    }

    /// Waits (bounded by `within`) until DataMover `name` is Completed or Failed; returns it.
    pub fn finished(&self, name: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let dm = self.datamover(name);
            if matches!(dm["status"]["phase"].as_str(), Some("Completed" | "Failed")) {
                return dm;
            }
            assert!(Instant::now() < deadline, "{name} did not finish: {dm}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Polls `ready` (bounded by `within`); fails naming `what`.
    pub fn wait_for(&self, what: &str, within: Duration, mut ready: impl FnMut() -> bool) {
        let deadline = Instant::now() + within;
        while !ready() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /metrics` on the metrics address with extra header lines (`Name: value\r\n`).
    pub fn scrape(&self, headers: &str) -> Reply {
        http::get(self.metrics, "/metrics")
            .raw_headers(headers)
            .send()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The text exposition.
    pub fn metrics(&self) -> String {
        self.scrape("").body
    }

    /// Sends SIGTERM (the operator alone), without waiting.
    pub fn sigterm(&self) {
        self.process.terminate();
    }

    /// Sends SIGTERM and waits (bounded by `within`) for a clean exit.
    pub fn terminate(&mut self, within: Duration) {
        self.sigterm();
        let status = self
            .process
            .wait_within(within, "the operator did not stop");
        assert!(status.success(), "{status:?}");
    }

    /// Sends SIGTERM, waits for it to exit, and returns what it wrote to its piped stdout.
    pub fn stop_with_output(self) -> String {
        self.sigterm();
        let out = self.process.wait_with_output();
        String::from_utf8(out.stdout).unwrap_or_else(|e| panic!("stdout not UTF-8: {e}"))
    }

    /// SIGKILL to the operator alone, as a crash: its syncs live on, in the returned group,
    /// killed when that is dropped.
    pub fn kill9(self) -> Group {
        self.process.kill_leaving_group()
    }
}
