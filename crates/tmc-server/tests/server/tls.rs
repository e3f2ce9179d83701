//! TLS: a test PKI made with `openssl`, `curl` as the client trusting its CA, plain HTTP
//! refused, TLS files that do not load refused.

use crate::helpers::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tmc_server::health::HealthMonitor;
use tmc_server::{MetricsConfig, MetricsServer, ServerError};
use tmc_test_support::TempDir;

/// Checks that `tool` runs; without it the test fails, naming the install
/// command. No test passes by skipping a check.
fn require_tool(tool: &str) {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found,
        "{tool} is missing: install it with `apt-get install -y {tool}` (scripts/test.sh installs what the tests need when run as root)"
    );
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate for `localhost` and 127.0.0.1.
struct TestPki {
    dir: TempDir,
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
}

impl TestPki {
    fn new(name: &str) -> Self {
        require_tool("openssl");
        require_tool("curl");
        let dir = TempDir::new(name);
        let p = |f: &str| dir.path().join(f);
        let s = |p: &Path| p.to_str().unwrap().to_owned();
        let (ca, ca_key, cert, key, csr) = (
            p("ca.pem"),
            p("ca.key"),
            p("server.pem"),
            p("server.key"),
            p("server.csr"),
        );
        let ext = dir.write(
            "server.ext",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
        );
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        openssl(
            &[
                &["req", "-x509"][..],
                &ec,
                &[
                    "-days",
                    "2",
                    "-subj",
                    "/CN=tmc-test-ca",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign,cRLSign",
                    "-keyout",
                    &s(&ca_key),
                    "-out",
                    &s(&ca),
                ],
            ]
            .concat(),
        );
        openssl(
            &[
                &["req"][..],
                &ec,
                &[
                    "-subj",
                    "/CN=localhost",
                    "-keyout",
                    &s(&key),
                    "-out",
                    &s(&csr),
                ],
            ]
            .concat(),
        );
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &s(&csr),
            "-CA",
            &s(&ca),
            "-CAkey",
            &s(&ca_key),
            "-CAcreateserial",
            "-extfile",
            &s(&ext),
            "-out",
            &s(&cert),
        ]);
        Self { dir, ca, cert, key }
    }
}

/// What `curl` got: the HTTP status (0 when there was no HTTP response), the body, and its
/// exit code.
#[derive(Debug)]
struct Curl {
    status: u16,
    body: String,
    exit: i32,
}

async fn curl(args: Vec<String>) -> Curl {
    tokio::task::spawn_blocking(move || {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
            .args(&args)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let (body, status) = stdout.rsplit_once('\n').unwrap();
        Curl {
            status: status.parse().unwrap(),
            body: body.to_owned(),
            exit: out.status.code().unwrap_or(-1),
        }
    })
    .await
    .unwrap()
}

fn https(addr: SocketAddr, path: &str) -> String {
    format!("https://localhost:{}{path}", addr.port())
}

fn resolve(addr: SocketAddr) -> String {
    format!("localhost:{}:127.0.0.1", addr.port())
}

#[tokio::test]
async fn metrics_server_should_serve_tls_to_a_client_trusting_the_ca_and_refuse_plain_http() {
    let pki = TestPki::new("tls");
    let token_file = pki.dir.write("token", "tls-token");
    let config = MetricsConfig {
        tls_cert_file: Some(pki.cert.clone()),
        tls_key_file: Some(pki.key.clone()),
        token_file: Some(token_file),
        allow_unauthenticated_probes: true,
        ..MetricsConfig::default()
    };
    let metrics = metrics();
    metrics.collector().record_memory_usage(268_435_456);
    let server = MetricsServer::new(&config, metrics, HealthMonitor::new()).unwrap();
    let running = Running::start(server).await;
    let addr = running.addr;
    let ca = pki.ca.to_str().unwrap().to_owned();
    let trusted = |path: &str, token: Option<&str>| {
        let mut args = vec![
            "--cacert".to_owned(),
            ca.clone(),
            "--resolve".to_owned(),
            resolve(addr),
            https(addr, path),
        ];
        if let Some(token) = token {
            args.extend(["-H".to_owned(), format!("Authorization: Bearer {token}")]);
        }
        curl(args)
    };

    let scrape = trusted("/metrics", Some("tls-token")).await;
    assert_eq!((scrape.exit, scrape.status), (0, 200), "{scrape:?}");
    assert!(
        scrape
            .body
            .contains("# TYPE tmc_memory_usage_bytes gauge\ntmc_memory_usage_bytes 268435456\n"),
        "{}",
        scrape.body
    );
    let scrape = trusted("/metrics", None).await;
    assert_eq!((scrape.exit, scrape.status), (0, 401));
    let scrape = trusted("/metrics", Some("wrong")).await;
    assert_eq!((scrape.exit, scrape.status), (0, 403));
    let probe = trusted("/healthz", None).await;
    assert_eq!(
        (probe.exit, probe.status, probe.body.as_str()),
        (0, 200, "ok\n")
    );

    // A client that does not trust the CA fails verification (curl exit 60).
    let untrusted = curl(vec![
        "--resolve".to_owned(),
        resolve(addr),
        https(addr, "/healthz"),
    ])
    .await;
    assert_eq!((untrusted.exit, untrusted.status), (60, 0), "{untrusted:?}");

    // Plain HTTP to the TLS port gets no HTTP response at all.
    let plain = curl(vec![format!("http://127.0.0.1:{}/healthz", addr.port())]).await;
    assert_ne!(plain.exit, 0, "{plain:?}");
    assert_eq!(plain.status, 0, "{plain:?}");

    // ...and the listener keeps serving TLS afterwards.
    let probe = trusted("/readyz", None).await;
    assert_eq!((probe.exit, probe.status), (0, 200));
    running.shutdown().await;
}

#[tokio::test]
async fn metrics_server_should_refuse_tls_files_that_do_not_load() {
    let dir = TempDir::new("tls-bad");
    let cert = dir.write(
        "cert.pem",
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    );
    let key = dir.write("key.pem", "");
    let config = MetricsConfig {
        tls_cert_file: Some(cert.clone()),
        tls_key_file: Some(key),
        ..MetricsConfig::default()
    };
    let err = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap_err();
    assert!(matches!(err, ServerError::Tls(_)), "{err:?}");
    assert!(
        err.to_string().starts_with(&format!(
            "TLS certificate file `{}` cannot be read (",
            cert.display()
        )),
        "{err}"
    );
}
