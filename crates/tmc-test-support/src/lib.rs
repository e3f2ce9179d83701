//! What the workspace's tests share, so that each test file carries only what it checks:
//!
//! - [`TempDir`]: a fresh directory under the system temp dir, removed when the test ends,
//!   panics included, and checked gone ([`temp`]);
//! - [`Tmpfs`]: a small filesystem of its own on a temp dir, to fill (mounting needs root);
//! - [`Process`]: a child in a process group of its own, killed with its group on drop;
//! - [`http`]: one HTTP/1.1 client on hyper, for every test that speaks HTTP;
//! - [`Prometheus`]: a real Prometheus on a loopback port, read through its API;
//! - [`Operator`]: the real `datamover-operator`, started with [`operator::Options`];
//! - [`S3`]: a real S3 API (moto's server) and boto3 to read it back ([`s3`]);
//! - [`pki::test_pki`]: a test CA and a certificate for 127.0.0.1, from `openssl`.
//!
//! Everything listens and connects on loopback only. This is test code: a failed setup
//! panics with what failed and how to fix it (an install command, say), which fails the
//! test that asked.

#![allow(clippy::panic)] // test support: a failed setup is a failed test

pub mod http;
pub mod operator;
pub mod pki;
pub mod process;
pub mod prometheus;
pub mod s3;
pub mod temp;
pub mod tmpfs;

pub use operator::Operator;
pub use process::Process;
pub use prometheus::Prometheus;
pub use s3::S3;
pub use temp::{TempDir, tempdir};
pub use tmpfs::Tmpfs;

use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};

/// A loopback address nothing listens on right now (bound, read, released).
pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap_or_else(|e| panic!("no free loopback port: {e}"))
}

/// `bin`, checked to run (`bin --version`); without it the test fails, naming the command
/// that installs `package`: no test passes by skipping a check.
pub fn require_tool(bin: &'static str, package: &str) -> &'static str {
    let found = Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "{bin} is missing: install it with `apt-get install -y {package}` (scripts/test.sh installs what the tests need when run as root)"
    );
    bin
}
