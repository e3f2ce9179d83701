//! The metrics listener over real TCP: plain HTTP, bearer tokens, TLS with `curl` as the
//! client, binding errors and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

use axum::body::Body;
use http::{Request, StatusCode};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tmc_metrics::{HealthStatus, Metrics};
use tmc_server::auth::{AuthDecision, AuthFuture, AuthRequest, Authorizer};
use tmc_server::health::HealthMonitor;
use tmc_server::{MetricsConfig, MetricsReporter, MetricsServer, ServerError};
use tmc_test_support::TempDir;
use tmc_test_support::http::Reply;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

// ---------------------------------------------------------------------------------------------
// helpers

fn metrics() -> Metrics {
    Metrics::builder().upkeep_interval(None).build().unwrap()
}

/// A served listener on a loopback address and a port the system chose; stops on drop of `stop`.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Running {
    async fn start(server: MetricsServer) -> Self {
        Self::start_on(server, "127.0.0.1").await
    }

    /// Serves on `ip` (any address of 127.0.0.0/8 is loopback on Linux).
    async fn start_on(server: MetricsServer, ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap();
        let bound = server.on_listener(listener);
        let addr = bound.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(bound.serve(async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("the server stops within its grace period")
            .unwrap();
    }
}

/// `GET path` with the shared test client, with `token` as a bearer token.
async fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Reply {
    let mut request = tmc_test_support::http::get(addr, path);
    if let Some(token) = token {
        request = request.header("authorization", &format!("Bearer {token}"));
    }
    request.send_async().await.unwrap()
}

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

// ---------------------------------------------------------------------------------------------
// plain HTTP

#[tokio::test]
async fn metrics_server_should_serve_exposition_probes_and_summary() {
    let metrics = metrics();
    let health = HealthMonitor::builder().metrics(&metrics).build();
    let syncer = health.register(
        "SyncTargetController",
        "syncer-prod-cluster",
        "prod-cluster",
    );
    syncer.report(HealthStatus::Healthy);
    let synced = Arc::new(AtomicBool::new(true));
    health.readiness_flag("controller caches synced", synced.clone());
    let server = MetricsServer::new(&MetricsConfig::default(), metrics, health).unwrap();
    // An address of its own: the other tests of this binary run in parallel on 127.0.0.1, and
    // one of them could be handed this port once it is freed, which would make the check after
    // shutdown below connect to that test's server.
    let running = Running::start_on(server, "127.0.0.87").await;
    let addr = running.addr;

    let reply = get(addr, "/metrics", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some(tmc_metrics::CONTENT_TYPE)
    );
    assert!(reply.body.contains(
        "tmc_component_health{component_type=\"SyncTargetController\",component_id=\"syncer-prod-cluster\",cluster=\"prod-cluster\"} 1\n"
    ));

    let reply = get(addr, "/healthz", None).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok\n"));
    let reply = get(addr, "/readyz", None).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok\n"));

    let reply = get(addr, "/metrics/summary", None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let summary: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        summary,
        serde_json::json!({
            "overall_health": {
                "status": "Healthy",
                "message": "All 1 component healthy",
                "details": {"totalComponents": 1, "healthyComponents": 1, "degradedComponents": 0, "unhealthyComponents": 0}
            },
            "health_metrics": {"totalChecks": 1, "healthyChecks": 1, "degradedChecks": 0, "unhealthyChecks": 0, "errorChecks": 0},
            "timestamp": summary["timestamp"].as_u64().unwrap(),
            "collection_active": false
        })
    );

    // Not ready: an unhealthy component and a gate not passed, each on a line.
    syncer.report(HealthStatus::Unhealthy);
    synced.store(false, Ordering::Release);
    let reply = get(addr, "/readyz", None).await;
    assert_eq!(reply.status, 503);
    assert_eq!(
        reply.body,
        "not ready: overall health Unhealthy: 1 of 1 component unhealthy: SyncTargetController/syncer-prod-cluster\n\
         not ready: controller caches synced: not yet\n"
    );
    let reply = get(addr, "/healthz", None).await;
    assert_eq!(reply.status, 200, "liveness does not depend on health");

    assert_eq!(get(addr, "/nope", None).await.status, 404);
    running.shutdown().await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn metrics_server_should_serve_openmetrics_or_text_as_the_accept_header_asks() {
    let metrics = metrics();
    metrics
        .collector()
        .datamover_cleanup("default", tmc_metrics::Outcome::Success);
    let health = HealthMonitor::builder().metrics(&metrics).build();
    let server = MetricsServer::new(&MetricsConfig::default(), metrics.clone(), health).unwrap();
    let router = server.router();
    let scrape = |accept: Option<&'static str>| {
        let router = router.clone();
        async move {
            let mut request = Request::get("/metrics");
            if let Some(accept) = accept {
                request = request.header("accept", accept);
            }
            let response = router
                .oneshot(request.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let content_type = response.headers()["content-type"]
                .to_str()
                .unwrap()
                .to_owned();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (content_type, String::from_utf8(body.to_vec()).unwrap())
        }
    };
    // What Prometheus sends.
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
                      version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (content_type, body) = scrape(Some(prometheus)).await;
    assert_eq!(content_type, tmc_metrics::OPENMETRICS_CONTENT_TYPE);
    assert_eq!(
        body,
        metrics.render_as(tmc_metrics::TextFormat::OpenMetrics)
    );
    assert!(body.contains("# TYPE datamover_cleanup_operations counter\n"));
    assert!(body.ends_with("# EOF\n"));
    for accept in [None, Some("text/plain;version=0.0.4"), Some("*/*")] {
        let (content_type, body) = scrape(accept).await;
        assert_eq!(content_type, tmc_metrics::CONTENT_TYPE, "{accept:?}");
        assert_eq!(body, metrics.render(), "{accept:?}");
    }
}

#[tokio::test]
async fn metrics_server_should_serve_protobuf_when_prometheus_asks_for_native_histograms() {
    let metrics = metrics();
    metrics.collector().record_api_request(
        "GET",
        "/api/v1/clusters",
        "200",
        std::time::Duration::from_millis(250),
    );
    let health = HealthMonitor::builder().metrics(&metrics).build();
    let server = MetricsServer::new(&MetricsConfig::default(), metrics.clone(), health).unwrap();
    // What Prometheus sends with `--enable-feature=native-histograms`.
    let native = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;\
                  encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,\
                  application/openmetrics-text;version=0.0.1;q=0.75,\
                  text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let response = server
        .router()
        .oneshot(
            Request::get("/metrics")
                .header("accept", native)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        tmc_metrics::PROTOBUF_CONTENT_TYPE
    );
    assert_eq!(response.headers()["vary"], "Accept");
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    assert_eq!(
        body.as_ref(),
        metrics
            .render_bytes(tmc_metrics::Format::Protobuf)
            .as_slice()
    );
    // The native histogram's schema (field 5, sint32 3 -> 6) follows the classic buckets.
    assert!(body.windows(2).any(|w| w == [0x28, 0x06]));
}

#[tokio::test]
async fn metrics_server_should_serve_the_configured_path_and_leave_out_a_disabled_exposition() {
    let config = MetricsConfig {
        path: "/custom/metrics".into(),
        ..MetricsConfig::default()
    };
    let server = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap();
    let running = Running::start(server).await;
    assert_eq!(get(running.addr, "/custom/metrics", None).await.status, 200);
    assert_eq!(get(running.addr, "/metrics", None).await.status, 404);
    assert_eq!(
        get(running.addr, "/metrics/summary", None).await.status,
        200
    );
    running.shutdown().await;

    let config = MetricsConfig {
        prometheus_enabled: false,
        ..MetricsConfig::default()
    };
    let server = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap();
    let running = Running::start(server).await;
    assert_eq!(get(running.addr, "/metrics", None).await.status, 404);
    assert_eq!(
        get(running.addr, "/metrics/summary", None).await.status,
        200
    );
    assert_eq!(get(running.addr, "/healthz", None).await.status, 200);
    running.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn metrics_server_should_show_reporter_values_after_one_interval() {
    let metrics = metrics();
    let health = HealthMonitor::new();
    health.register_check("placement", "p-1", "prod", || async {
        HealthStatus::Degraded
    });
    let reporter = MetricsReporter::new(&metrics, health.clone(), Duration::from_secs(30)).unwrap();
    let app = MetricsServer::new(&MetricsConfig::default(), metrics, health)
        .unwrap()
        .with_reporter(&reporter)
        .router();
    let scrape = |path: &'static str| {
        let app = app.clone();
        async move {
            let response = app
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            let body = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            String::from_utf8(body.to_vec()).unwrap()
        }
    };
    let uptime = r#"tmc_component_uptime_seconds{component_type="placement",component_id="p-1",cluster="prod"}"#;
    assert!(!scrape("/metrics").await.contains(uptime));

    let mut collection = reporter.start();
    // The first collection runs at once; let it finish, then let one interval pass.
    tokio::time::sleep(Duration::from_millis(1)).await;
    tokio::time::sleep(Duration::from_secs(30)).await;
    let text = scrape("/metrics").await;
    assert!(text.contains(&format!("{uptime} 30\n")), "{text}");
    assert!(text.contains(
        "tmc_component_health{component_type=\"placement\",component_id=\"p-1\",cluster=\"prod\"} 0.5\n"
    ));
    assert!(text.lines().any(|l| l.starts_with("tmc_runtime_tasks ")));
    assert!(text.contains("# HELP tmc_runtime_tasks"));
    let summary: serde_json::Value =
        serde_json::from_str(&scrape("/metrics/summary").await).unwrap();
    assert_eq!(summary["collection_active"], true);
    assert_eq!(
        summary["health_metrics"]["degradedChecks"], 2,
        "at start and after one interval"
    );

    collection.stop().await;
    let summary: serde_json::Value =
        serde_json::from_str(&scrape("/metrics/summary").await).unwrap();
    assert_eq!(summary["collection_active"], false);
}

// ---------------------------------------------------------------------------------------------
// bearer tokens

#[tokio::test]
async fn metrics_server_should_answer_401_without_a_token_403_with_a_wrong_one_and_200_with_the_right_one()
 {
    let dir = TempDir::new("token");
    let token_file = dir.write("token", "s3cret-token\n");
    let config = MetricsConfig {
        token_file: Some(token_file),
        ..MetricsConfig::default()
    };
    let metrics = metrics();
    metrics.collector().record_runtime_tasks(7);
    let server = MetricsServer::new(&config, metrics, HealthMonitor::new()).unwrap();
    let running = Running::start(server).await;
    let addr = running.addr;

    let reply = get(addr, "/metrics", None).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        reply.body,
        "Unauthorized: expected an `Authorization: Bearer <token>` header\n"
    );
    let reply = get(addr, "/metrics", Some("wrong-token")).await;
    assert_eq!((reply.status, reply.body.as_str()), (403, "Forbidden\n"));
    let reply = get(addr, "/metrics", Some("s3cret-token")).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .body
            .contains("# TYPE tmc_runtime_tasks gauge\ntmc_runtime_tasks 7\n"),
        "{}",
        reply.body
    );

    // Probes are protected unless configured otherwise; so are unknown paths.
    assert_eq!(get(addr, "/healthz", None).await.status, 401);
    assert_eq!(get(addr, "/readyz", None).await.status, 401);
    assert_eq!(
        get(addr, "/metrics/summary", Some("wrong-token"))
            .await
            .status,
        403
    );
    assert_eq!(get(addr, "/nope", None).await.status, 401);
    assert_eq!(
        get(addr, "/healthz", Some("s3cret-token")).await.status,
        200
    );
    running.shutdown().await;
}

#[tokio::test]
async fn metrics_server_should_let_probes_through_when_configured() {
    let dir = TempDir::new("token-probes");
    let config = MetricsConfig {
        token_file: Some(dir.write("token", "t0ken")),
        allow_unauthenticated_probes: true,
        ..MetricsConfig::default()
    };
    let server = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap();
    let running = Running::start(server).await;
    assert_eq!(get(running.addr, "/healthz", None).await.status, 200);
    assert_eq!(get(running.addr, "/readyz", None).await.status, 200);
    assert_eq!(get(running.addr, "/metrics", None).await.status, 401);
    assert_eq!(
        get(running.addr, "/metrics/summary", None).await.status,
        401
    );
    running.shutdown().await;
}

/// Allows a token on `/metrics` only, recording what it was asked: a stand-in for a
/// TokenReview and SubjectAccessReview authorizer.
#[derive(Debug, Default)]
struct MetricsOnly {
    asked: std::sync::Mutex<Vec<String>>,
}

impl Authorizer for MetricsOnly {
    fn authorize<'a>(&'a self, request: AuthRequest<'a>) -> AuthFuture<'a> {
        Box::pin(async move {
            self.asked.lock().unwrap().push(format!(
                "{} {} {:?}",
                request.method, request.path, request.token
            ));
            match (request.token, request.path) {
                (None, _) => AuthDecision::Unauthenticated,
                (Some(_), "/metrics") => AuthDecision::Allow,
                (Some(_), _) => AuthDecision::Forbidden,
            }
        })
    }
}

#[tokio::test]
async fn metrics_server_should_ask_a_custom_authorizer_with_method_path_and_token() {
    let authorizer = Arc::new(MetricsOnly::default());
    #[derive(Debug)]
    struct Shared(Arc<MetricsOnly>);
    impl Authorizer for Shared {
        fn authorize<'a>(&'a self, request: AuthRequest<'a>) -> AuthFuture<'a> {
            self.0.authorize(request)
        }
    }
    let server = MetricsServer::new(&MetricsConfig::default(), metrics(), HealthMonitor::new())
        .unwrap()
        .with_authorizer(Shared(authorizer.clone()));
    let running = Running::start(server).await;
    assert_eq!(get(running.addr, "/metrics", Some("any")).await.status, 200);
    assert_eq!(
        get(running.addr, "/metrics/summary", Some("any"))
            .await
            .status,
        403
    );
    assert_eq!(get(running.addr, "/metrics", None).await.status, 401);
    assert_eq!(
        *authorizer.asked.lock().unwrap(),
        [
            "GET /metrics Some(\"any\")",
            "GET /metrics/summary Some(\"any\")",
            "GET /metrics None"
        ]
    );
    running.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// TLS

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

// ---------------------------------------------------------------------------------------------
// binding

#[tokio::test]
async fn metrics_server_should_explain_a_port_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = MetricsConfig {
        port,
        ..MetricsConfig::default()
    };
    let err = MetricsServer::new(&config, metrics(), HealthMonitor::new())
        .unwrap()
        .bind()
        .await
        .unwrap_err();
    assert!(matches!(&err, ServerError::Bind { .. }));
    assert_eq!(
        err.to_string(),
        format!(
            "cannot listen for metrics on 127.0.0.1:{port}: Address already in use (os error 98) \
             (another process holds this port: expected a free `port`, e.g. set TMC_METRICS_PORT)"
        )
    );
}

#[tokio::test]
async fn metrics_server_should_bind_nothing_when_disabled() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = taken.local_addr().unwrap().port();
    let config = MetricsConfig {
        enabled: false,
        port,
        ..MetricsConfig::default()
    };
    let server = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap();
    server.serve(async {}).await.unwrap();
    let server = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap();
    let err = server.bind().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the metrics endpoint is disabled (`enabled: false`): there is nothing to bind"
    );
}

#[tokio::test]
async fn metrics_server_should_refuse_an_invalid_config() {
    let config = MetricsConfig {
        path: "metrics".into(),
        ..MetricsConfig::default()
    };
    let err = MetricsServer::new(&config, metrics(), HealthMonitor::new()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "metrics config `path` = `metrics` is invalid: expected a path starting with `/`, such as `/metrics`"
    );
}
