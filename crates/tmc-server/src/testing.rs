//! Test helpers.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// A directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("tmc-server-{name}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }

    pub(crate) fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks that a command-line tool runs; without it the test fails, naming
/// the install command. No test passes by skipping a check.
pub(crate) fn require_tool(tool: &str, package: &str) {
    let found = std::process::Command::new(tool)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{tool} is missing: install it with `apt-get install -y {package}` (scripts/test.sh installs what the tests need when run as root)"
    );
}

pub(crate) mod openssl {
    use super::TempDir;
    use std::path::PathBuf;
    use std::process::Command;

    /// A test CA and a server certificate for `localhost` and 127.0.0.1, made by the
    /// `openssl` CLI.
    #[derive(Debug)]
    pub(crate) struct TestPki {
        pub(crate) dir: TempDir,
        pub(crate) ca_cert: PathBuf,
        pub(crate) server_cert: PathBuf,
        pub(crate) server_key: PathBuf,
    }

    fn run(args: &[&str]) {
        let out = Command::new("openssl").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    impl TestPki {
        pub(crate) fn new(name: &str) -> Self {
            super::require_tool("openssl", "openssl");
            let dir = TempDir::new(name);
            let ca_cert = dir.path().join("ca.pem");
            let ca_key = dir.path().join("ca.key");
            run(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=tmc-test-ca",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                ca_key.to_str().unwrap(),
                "-out",
                ca_cert.to_str().unwrap(),
            ]);
            let mut pki = Self {
                server_cert: PathBuf::new(),
                server_key: PathBuf::new(),
                dir,
                ca_cert,
            };
            let (cert, key) = pki.issue("server");
            pki.server_cert = cert;
            pki.server_key = key;
            pki
        }

        /// A new certificate and key for `localhost`, signed by the CA, named `name`.
        pub(crate) fn issue(&self, name: &str) -> (PathBuf, PathBuf) {
            let path = |ext: &str| self.dir.path().join(format!("{name}.{ext}"));
            let (key, csr, cert, ext) = (path("key"), path("csr"), path("pem"), path("ext"));
            std::fs::write(
                &ext,
                "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
                 keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
            )
            .unwrap();
            run(&[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                key.to_str().unwrap(),
                "-out",
                csr.to_str().unwrap(),
            ]);
            let ca_key = self.dir.path().join("ca.key");
            run(&[
                "x509",
                "-req",
                "-days",
                "2",
                "-in",
                csr.to_str().unwrap(),
                "-CA",
                self.ca_cert.to_str().unwrap(),
                "-CAkey",
                ca_key.to_str().unwrap(),
                "-CAcreateserial",
                "-extfile",
                ext.to_str().unwrap(),
                "-out",
                cert.to_str().unwrap(),
            ]);
            (cert, key)
        }
    }
}
