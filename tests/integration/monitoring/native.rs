//! A real Prometheus with native histograms on scrapes the protobuf exposition of our
//! registry: `histogram_count(rate(...))`, which only a native histogram answers, is above
//! zero, and the native median agrees with the classic one within a bucket of the schema.
//!
//! Prometheus 2.x with `--enable-feature=native-histograms` asks every target for protobuf
//! and keeps only the native half of a histogram that has both, so the classic buckets are
//! read from the same registry by a second job whose route always answers in text.

use super::server::percent_encode;
use super::support::{TempDir, tool};
use serde_json::Value as Json;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tmc_metrics::Metrics;
use tmc_metrics::catalog::NativeHistogram;

/// How long Prometheus gets to start and scrape, in all.
const DEADLINE: Duration = Duration::from_secs(60);

/// `prometheus` with native histograms on, killed (and reaped) on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(dir: &TempDir, target: SocketAddr) -> Self {
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n\
             - job_name: native\n  metrics_path: /metrics\n  static_configs:\n  - targets: ['{target}']\n\
             - job_name: classic\n  metrics_path: /metrics/text\n  static_configs:\n  - targets: ['{target}']\n"
        );
        let config_path = dir.write("prometheus.yml", &config);
        let log = dir.path().join("prometheus.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config_path.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--enable-feature=native-histograms")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .expect("start prometheus");
        Self { child, addr, log }
    }

    /// The result of the instant query `query`, or why there is none yet.
    fn query(&self, query: &str) -> Result<Vec<Json>, String> {
        let path = format!("/api/v1/query?query={}", percent_encode(query));
        let mut stream = TcpStream::connect(self.addr).map_err(|e| e.to_string())?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .map_err(|e| e.to_string())?;
        // HTTP/1.0: the answer ends with the connection, never chunked.
        write!(stream, "GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr)
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map_err(|e| e.to_string())?;
        let text = String::from_utf8_lossy(&raw);
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        let json: Json = serde_json::from_str(body).map_err(|e| format!("{e}: {text}"))?;
        if json["status"] != "success" {
            return Err(format!("{query}: {json}"));
        }
        Ok(json["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// The single value `query` answers, or why there is none yet.
    fn value(&self, query: &str) -> Result<f64, String> {
        let result = self.query(query)?;
        let [sample] = result.as_slice() else {
            return Err(format!("{query}: {} samples", result.len()));
        };
        sample["value"][1]
            .as_str()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("{query}: no value in {sample}"))
    }

    /// Calls `check` until it answers or the deadline passes; then fails with its last error
    /// and the end of Prometheus's log.
    fn poll<T>(
        &mut self,
        started: Instant,
        what: &str,
        check: impl Fn(&Self) -> Result<T, String>,
    ) -> T {
        loop {
            let last = match check(self) {
                Ok(value) => return value,
                Err(e) => e,
            };
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || started.elapsed() > DEADLINE {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "{what}: not after {:?} (prometheus exit status {exited:?}); last: {last}\n{}",
                    started.elapsed(),
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn prometheus_scrapes_native_histograms_over_protobuf() {
    tool("prometheus", "prometheus");
    let metrics = Metrics::builder().upkeep_interval(None).build().unwrap();
    let collector = metrics.collector();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let target = listener.local_addr().unwrap();
    let text = metrics.clone();
    let app = axum::Router::new()
        .route("/metrics", tmc_tower::axum::metrics_route(metrics))
        .route(
            "/metrics/text",
            axum::routing::get(move || {
                let text = text.clone();
                async move {
                    (
                        [(http::header::CONTENT_TYPE, tmc_metrics::CONTENT_TYPE)],
                        text.render(),
                    )
                }
            }),
        );
    rt.spawn(async move { axum::serve(listener, app).await });

    let request = |ms: u64| {
        collector.record_api_request("GET", "/api/v1/clusters", "200", Duration::from_millis(ms));
    };
    // One request before Prometheus starts, so the series exist at its first scrape.
    request(5);

    let dir = TempDir::new("prometheus-native");
    let started = Instant::now();
    let mut prom = Prometheus::start(&dir, target);
    let native = r#"tmc_api_request_duration_seconds{job="native"}"#;
    let classic = r#"tmc_api_request_duration_seconds_count{job="classic"}"#;
    // Both jobs have scraped the first request: a native histogram and a classic count.
    prom.poll(started, "the first scrape of both jobs", |p| {
        let native = p.value(&format!("histogram_count({native})"))?;
        let classic = p.value(classic)?;
        if (native, classic) == (1.0, 1.0) {
            Ok(())
        } else {
            Err(format!("native count {native}, classic count {classic}"))
        }
    });

    // 200 requests of 1 ms to 200 ms: the median is 100 ms, a classic bucket bound.
    for ms in 1..=200 {
        request(ms);
    }
    prom.poll(started, "a scrape of both jobs after the requests", |p| {
        let native = p.value(&format!("histogram_count({native})"))?;
        let classic = p.value(classic)?;
        if (native, classic) == (201.0, 201.0) {
            Ok(())
        } else {
            Err(format!("native count {native}, classic count {classic}"))
        }
    });

    let rate = prom.poll(started, "histogram_count(rate(...[1m]))", |p| {
        p.value(&format!("histogram_count(rate({native}[1m]))"))
    });
    assert!(rate > 0.0, "histogram_count(rate) = {rate}");
    // Only a native histogram answers it: the classic job's series are floats.
    let floats = prom
        .query(
            r#"histogram_count(rate(tmc_api_request_duration_seconds_count{job="classic"}[1m]))"#,
        )
        .unwrap();
    assert_eq!(floats, Vec::<Json>::new());

    let native_median = prom.poll(started, "the native median", |p| {
        p.value(&format!("histogram_quantile(0.5, rate({native}[1m]))"))
    });
    let classic_median = prom.poll(started, "the classic median", |p| {
        p.value(
            r#"histogram_quantile(0.5, sum by (le) (rate(tmc_api_request_duration_seconds_bucket{job="classic"}[1m])))"#,
        )
    });
    // The classic median sits near its bucket bound, 0.1 (`rate` extrapolates each bucket
    // series on its own, which moves it a little); the native one inside the native bucket
    // holding 100 ms. They agree within one bucket of the schema: a factor 2^(2^-schema).
    assert!(
        classic_median > 0.05 && classic_median <= 0.25,
        "classic median {classic_median}"
    );
    eprintln!("medians: native {native_median}, classic {classic_median}; rate count {rate}");
    let width = NativeHistogram::growth(NativeHistogram::DEFAULT.schema);
    assert!(
        native_median / classic_median <= width && classic_median / native_median <= width,
        "native median {native_median} vs classic {classic_median}: more than a factor {width} apart"
    );
    // At schema 3 the bucket holding 0.1 is (2^(-27/8), 2^(-26/8)].
    assert!(
        native_median > 2f64.powf(-27.0 / 8.0) && native_median <= 2f64.powf(-26.0 / 8.0),
        "native median {native_median}"
    );
}
