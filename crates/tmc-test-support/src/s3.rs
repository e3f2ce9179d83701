//! A real S3 API on a loopback port: moto's server (a Python package), with boto3 as the S3 client that
//! reads back what a test wrote. Both live in the venv `scripts/deps.sh test` makes
//! ([`VENV`]); without it a test fails, naming that command.

use crate::free_port;
use crate::process::Process;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The venv of moto's server and boto3, as `scripts/deps.sh test` makes it (under the
/// workspace's git-ignored `target/`).
pub const VENV: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/test-venv");

/// How long moto's server may take to listen.
const START_WITHIN: Duration = Duration::from_secs(30);

/// The S3 client side, run by the venv's Python: `tree DIR` hashes a local directory,
/// `create-bucket` and `objects PREFIX` speak S3 through boto3 (the credentials and the CA
/// to verify `https` with come in the environment). Every answer is one JSON line: a
/// directory ends in `/` with `null`, a file or object has its SHA-256.
const CLIENT: &str = r#"
import hashlib, json, os, sys

def sha256(data):
    return hashlib.sha256(data).hexdigest()

cmd = sys.argv[1]
if cmd == "tree":
    root, out = sys.argv[2], {}
    for d, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(d, name), root) + "/"] = None
        for name in files:
            path = os.path.join(d, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = sha256(f.read())
    print(json.dumps(out))
    sys.exit(0)

import boto3
s3 = boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"],
                  region_name=os.environ["AWS_REGION"],
                  aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                  verify=os.environ.get("S3_CA") or None)
bucket = os.environ["S3_BUCKET"]
if cmd == "create-bucket":
    s3.create_bucket(Bucket=bucket)
    print("{}")
elif cmd == "objects":
    prefix, out = sys.argv[2], {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            out[obj["Key"][len(prefix):]] = sha256(body)
    print(json.dumps(out))
"#;

/// The fixed credentials the tests use (moto accepts any).
pub const ACCESS_KEY_ID: &str = "AKIDDATAMOVERTEST";
/// Its secret key.
pub const SECRET_ACCESS_KEY: &str = "datamover-test-secret-key";
/// The region.
pub const REGION: &str = "us-east-1";

/// A running moto S3 server, killed (and reaped) on drop, panics included.
#[derive(Debug)]
pub struct S3 {
    _process: Process,
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https` with a certificate, else `http`.
    pub tls: bool,
    /// The CA the certificate is signed by, for the client (`None` on `http`).
    ca: Option<PathBuf>,
}

/// The venv's program `name`; fails, naming the command that installs it, when missing.
fn venv_bin(name: &str) -> PathBuf {
    let bin = Path::new(VENV).join("bin").join(name);
    assert!(
        bin.is_file(),
        "moto's S3 server is missing: {} does not exist; install it with `scripts/deps.sh test` (a venv under target/ with moto[s3], Flask and flask-cors from PyPI)",
        bin.display()
    );
    bin
}

/// Every path under `dir` (directories end in `/` with `None`) with its file's SHA-256.
pub fn sha256_tree(dir: &Path) -> BTreeMap<String, Option<String>> {
    let out = Command::new(venv_bin("python"))
        .args(["-c", CLIENT, "tree"])
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the venv's python: {e}"));
    assert!(out.status.success(), "hashing {}: {out:?}", dir.display());
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("hashing {}: {e}: {out:?}", dir.display()))
}

impl S3 {
    /// moto's server on a free loopback port, its log in `dir`; `https` with `tls`'s
    /// certificate and key, signed by its CA (`(ca, cert, key)`, as
    /// [`test_pki`](crate::pki::test_pki) makes them). Returns once it accepts connections.
    pub fn start(dir: &Path, tls: Option<&(String, String, String)>) -> Self {
        let server = venv_bin("moto_server");
        let addr = free_port();
        let log = dir.join("moto.log");
        let log_file = std::fs::File::create(&log)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log.display()));
        let log_err = log_file
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot share {}: {e}", log.display()));
        let mut command = Command::new(server);
        command
            .args(["-H", &addr.ip().to_string(), "-p", &addr.port().to_string()])
            .current_dir(dir)
            .env("TMPDIR", dir)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err);
        if let Some((_, cert, key)) = tls {
            command.args(["-c", cert, "-k", key]);
        }
        let mut process = Process::spawn(&mut command, "moto_server", "");
        let deadline = Instant::now() + START_WITHIN;
        while TcpStream::connect(addr).is_err() {
            if let Some(status) = process.try_wait() {
                panic!(
                    "moto_server exited ({status}): {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on {addr} within {START_WITHIN:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            _process: process,
            addr,
            tls: tls.is_some(),
            ca: tls.map(|(ca, _, _)| PathBuf::from(ca)),
        }
    }

    /// Its endpoint URL.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Runs the boto3 client's `args` on `bucket`: its one JSON answer.
    fn client(&self, bucket: &str, args: &[&str]) -> Value {
        let mut command = Command::new(venv_bin("python"));
        command
            .args(["-c", CLIENT])
            .args(args)
            .env("S3_ENDPOINT", self.endpoint())
            .env("S3_BUCKET", bucket)
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
            .env_remove("AWS_CA_BUNDLE");
        if let Some(ca) = &self.ca {
            command.env("S3_CA", ca);
        }
        let out = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run the venv's python: {e}"));
        assert!(out.status.success(), "boto3 {args:?} on {bucket}: {out:?}");
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("boto3 {args:?}: {e}: {out:?}"))
    }

    /// Creates `bucket`.
    pub fn create_bucket(&self, bucket: &str) {
        self.client(bucket, &["create-bucket"]);
    }

    /// Every object of `bucket` under `prefix`, read back with boto3: its key without the
    /// prefix, with the SHA-256 of its content.
    pub fn objects(&self, bucket: &str, prefix: &str) -> BTreeMap<String, String> {
        serde_json::from_value(self.client(bucket, &["objects", prefix]))
            .unwrap_or_else(|e| panic!("objects of {bucket}/{prefix}: {e}"))
    }
}
