//! A real Prometheus scrapes the real operator after API requests and a real backup:
//! - `--exemplars`: with exemplar storage, the trace ids it stores are those of the
//!   operator's JSON logs;
//! - native histograms: with `--enable-feature=native-histograms` it scrapes protobuf and
//!   reads the latency families' native histograms, which agree with the classic buckets a
//!   second Prometheus (without the flag, scraping text) reads from the same operator.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

mod support;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{datamover, http, operator, pvc, require_rclone, secret, tempdir};
use tmc_test_support::http::encode_query as encode;
use tmc_test_support::prometheus::{Prometheus, scrape_config};

const OPENMETRICS: &str = "Accept: application/openmetrics-text; version=1.0.0\r\n";

/// The exemplars Prometheus holds for `selector`: (series labels, trace id, span id).
fn exemplars(prom: &Prometheus, selector: &str) -> Result<Vec<(Value, String, String)>, String> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let data = prom.api(&format!(
        "/api/v1/query_exemplars?query={}&start={}&end={}",
        encode(selector),
        now - 3600,
        now + 60
    ))?;
    let mut found = Vec::new();
    for series in data.as_array().ok_or_else(|| data.to_string())? {
        for e in series["exemplars"].as_array().unwrap() {
            let labels = e["labels"].as_object().unwrap();
            // Exactly the two ids, in W3C trace context's lower-case hex.
            assert_eq!(
                labels.keys().collect::<Vec<_>>(),
                ["span_id", "trace_id"],
                "{e}"
            );
            let trace = labels["trace_id"].as_str().unwrap().to_owned();
            let span = labels["span_id"].as_str().unwrap().to_owned();
            let hex = |s: &str, n| {
                s.len() == n
                    && s.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            };
            assert!(hex(&trace, 32) && hex(&span, 16), "{e}");
            found.push((series["seriesLabels"].clone(), trace, span));
        }
    }
    if found.is_empty() {
        Err(format!("no exemplar yet for {selector}: {data}"))
    } else {
        Ok(found)
    }
}

#[test]
fn prometheus_stores_the_operators_exemplars_and_their_traces_are_in_its_json_logs() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("file.txt"), "backed up\n").unwrap();
    let log = dir.join("operator.log");
    let op = operator(dir.join("data"))
        .args(["--exemplars", "--log-format", "json"])
        .log(&log)
        .start();
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        secret("dest", &dir.join("dest")),
        datamover("nightly", "data", "dest", "")
    ));
    let path = "/apis/datamover.a-cup-of.coffee/v1alpha1/namespaces/default/datamovers/nightly";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = http(op.api, "GET", path, &op.auth(), None).unwrap();
        assert_eq!(reply.status, 200, "{}", reply.body);
        let dm: Value = serde_json::from_str(&reply.body).unwrap();
        if dm["status"]["phase"] == "Completed" {
            break;
        }
        assert!(
            Instant::now() < deadline && dm["status"]["phase"] != "Failed",
            "the backup did not complete: {dm}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // The exposition: exemplars in OpenMetrics only.
    let om = http(op.metrics, "GET", "/metrics", OPENMETRICS, None).unwrap();
    assert!(
        om.head
            .contains("content-type: application/openmetrics-text"),
        "{}",
        om.head
    );
    let apply = r#"tmc_api_request_duration_seconds_bucket{method="POST",endpoint="/apply",status_code="200",le="+Inf"} 1"#;
    assert!(om.body.lines().any(|l| l == apply), "{}", om.body);
    assert!(
        om.body.lines().any(|l| l.starts_with(
            r#"tmc_api_request_duration_seconds_bucket{method="POST",endpoint="/apply",status_code="200",le="#
        ) && l.contains(" # {trace_id=\"")),
        "{}",
        om.body
    );
    let text = http(op.metrics, "GET", "/metrics", "", None).unwrap();
    assert!(text.body.contains(apply), "{}", text.body);
    assert!(!text.body.contains(" # {"), "{}", text.body);

    let prom_dir = dir.join("prometheus");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let mut prom = Prometheus::start(
        &prom_dir,
        &scrape_config("datamover-operator", op.metrics),
        &["--enable-feature=exemplar-storage"],
    );
    let within = Duration::from_secs(60);
    let requests = prom.poll("API request exemplars", Instant::now() + within, |p| {
        exemplars(p, "tmc_api_request_duration_seconds_bucket")
    });
    let reconciles = prom.poll("reconcile exemplars", Instant::now() + within, |p| {
        exemplars(
            p,
            r#"tmc_component_operation_duration_seconds_bucket{operation="reconcile"}"#,
        )
    });
    assert!(!reconciles.is_empty());

    // The one POST /apply: its exemplar's trace is the trace of the "applied" log lines.
    let applied: Vec<&(Value, String, String)> = requests
        .iter()
        .filter(|(labels, _, _)| labels["method"] == "POST" && labels["endpoint"] == "/apply")
        .collect();
    assert_eq!(applied.len(), 1, "{requests:?}");
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let applied_traces: Vec<&str> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "applied")
        .map(|l| l["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(applied_traces, [applied[0].1.as_str(); 3], "{lines:?}");
}

/// One request an OTLP/HTTP receiver got: path, content type, body.
struct Export {
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// A minimal OTLP/HTTP receiver on loopback: answers every request 200 (an empty
/// `ExportTraceServiceResponse`) and hands it over, keep-alive connections included.
fn otlp_receiver() -> (std::net::SocketAddr, mpsc::Receiver<Export>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut stream = stream;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
                    let (mut length, mut content_type) = (0, String::new());
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        let (name, value) = header.split_once(':').unwrap();
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap(),
                            "content-type" => value.trim().clone_into(&mut content_type),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    // Handed over before the answer, so it is there once the exporter is done.
                    let _ = tx.send(Export {
                        path,
                        content_type,
                        body,
                    });
                    stream
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                        .unwrap();
                }
            });
        }
    });
    (addr, rx)
}

#[test]
fn with_an_otlp_endpoint_the_spans_are_exported_and_carry_the_logged_trace_ids() {
    let (receiver, exports) = otlp_receiver();
    let dir = tempdir();
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    let log = dir.join("operator.log");
    let endpoint = format!("http://{receiver}");
    let mut op = operator(dir.join("data"))
        .args(["--exemplars", "--log-format", "json"])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint)
        .log(&log)
        .start();
    op.apply(&pvc("data", &source));
    // The last spans are flushed at shutdown.
    op.terminate(Duration::from_secs(20));
    let lines: Vec<Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let applied: Vec<&str> = lines
        .iter()
        .filter(|l| l["fields"]["message"] == "applied")
        .map(|l| l["trace_id"].as_str().unwrap())
        .collect();
    assert_eq!(applied.len(), 1, "{lines:?}");
    let trace: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&applied[0][2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let received: Vec<Export> = exports.try_iter().collect();
    assert!(!received.is_empty(), "nothing was exported");
    for export in &received {
        assert_eq!(export.path, "/v1/traces");
        assert_eq!(export.content_type, "application/x-protobuf");
    }
    // The protobuf `ExportTraceServiceRequest` holds the request's span: its trace id's 16
    // bytes and its name.
    let contains = |body: &[u8], needle: &[u8]| body.windows(needle.len()).any(|w| w == needle);
    assert!(
        received
            .iter()
            .any(|e| contains(&e.body, &trace) && contains(&e.body, b"api_request")),
        "no export holds trace {}",
        applied[0]
    );
}

/// The instant vector `query` answers, or why there is none yet.
fn query(p: &Prometheus, query: &str) -> Result<Vec<Value>, String> {
    let data = p.api(&format!("/api/v1/query?query={}", encode(query)))?;
    Ok(data["result"].as_array().cloned().unwrap_or_default())
}

/// The one value `q` answers, or why there is none yet.
fn value(p: &Prometheus, q: &str) -> Result<f64, String> {
    let result = query(p, q)?;
    let [sample] = result.as_slice() else {
        return Err(format!("{q}: {} samples: {result:?}", result.len()));
    };
    sample["value"][1]
        .as_str()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("{q}: no value in {sample}"))
}

/// The buckets of the one native histogram `q` answers: (lower, upper, count), the zero
/// bucket's lower bound its negative threshold.
fn native_buckets(p: &Prometheus, q: &str) -> Vec<(f64, f64, f64)> {
    let result = query(p, q).unwrap();
    let [sample] = result.as_slice() else {
        panic!("{q}: {result:?}");
    };
    let number = |v: &Value| -> f64 { v.as_str().unwrap().parse().unwrap() };
    sample["histogram"][1]["buckets"]
        .as_array()
        .unwrap_or_else(|| panic!("{q}: not a native histogram: {sample}"))
        .iter()
        .map(|b| (number(&b[1]), number(&b[2]), number(&b[3])))
        .collect()
}

/// Polls until `native` (histogram functions over the native histograms) and `classic`
/// (the `_count` and `_sum` series) hold the same count, above zero, and the same sum of
/// `family`'s observations: both have scraped the same state. Returns the count.
fn same_in_both(native: &mut Prometheus, classic: &Prometheus, family: &str) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    native.poll(family, deadline, |p| {
        let n = value(p, &format!("histogram_count(sum({family}))"))?;
        let c = value(classic, &format!("sum({family}_count)"))?;
        let n_sum = value(p, &format!("histogram_sum(sum({family}))"))?;
        let c_sum = value(classic, &format!("sum({family}_sum)"))?;
        if n == c && n > 0.0 && (n_sum - c_sum).abs() <= 1e-9 * c_sum.abs() {
            Ok(n)
        } else {
            Err(format!(
                "native count {n} sum {n_sum}, classic count {c} sum {c_sum}"
            ))
        }
    })
}

#[test]
fn prometheus_reads_the_operators_native_histograms_and_they_agree_with_the_classic_buckets() {
    require_rclone();
    let dir = tempdir();
    let source = dir.join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("file.txt"), "backed up\n").unwrap();
    let op = operator(dir.join("data")).start();
    let list = format!("{}/datamovers", support::DATAMOVERS);
    // One request before Prometheus starts: its series is there at the first scrape, so the
    // requests after it are an increase that `rate` sees.
    op.get(&list);

    let start = |name: &str, flags: &[&str]| {
        let prom_dir = dir.join(name);
        std::fs::create_dir_all(&prom_dir).unwrap();
        Prometheus::start(&prom_dir, &scrape_config(name, op.metrics), flags)
    };
    // Prometheus 2.x with native histograms on asks for protobuf and keeps only the native
    // half of a histogram that has both; the classic buckets come from a second one.
    let mut native = start("native", &["--enable-feature=native-histograms"]);
    let mut classic = start("classic", &[]);
    let within = Duration::from_secs(60);
    let first = r#"tmc_api_request_duration_seconds{method="GET"}"#;
    native.poll("the first native scrape", Instant::now() + within, |p| {
        value(p, &format!("histogram_count({first})"))
    });
    classic.poll("the first classic scrape", Instant::now() + within, |p| {
        value(p, r#"tmc_api_request_duration_seconds_count{method="GET"}"#)
    });

    // API requests and a backup with the real rclone.
    for _ in 0..20 {
        op.get(&list);
    }
    op.apply(&format!(
        "{}{}{}",
        pvc("data", &source),
        secret("dest", &dir.join("dest")),
        datamover("nightly", "data", "dest", "")
    ));
    let dm = op.finished("nightly", within);
    assert_eq!(dm["status"]["phase"], "Completed", "{dm}");

    // A query only a native histogram answers: the classic Prometheus's series are floats.
    let rate = native.poll("histogram_count(rate(...))", Instant::now() + within, |p| {
        let rate = value(
            p,
            "histogram_count(sum(rate(tmc_api_request_duration_seconds[1m])))",
        )?;
        if rate > 0.0 {
            Ok(rate)
        } else {
            Err(format!("rate {rate}"))
        }
    });
    assert!(rate > 0.0);
    assert_eq!(
        query(
            &classic,
            "histogram_count(sum(rate(tmc_api_request_duration_seconds_count[1m])))"
        )
        .unwrap(),
        Vec::<Value>::new()
    );

    // The same observations on both sides: counts and sums equal, for the API requests, the
    // operations (reconciles) and the DataMover's phases.
    for family in [
        "tmc_api_request_duration_seconds",
        "tmc_component_operation_duration_seconds",
        "datamover_phase_duration_seconds",
    ] {
        let count = same_in_both(&mut native, &classic, family);
        eprintln!("{family}: {count} observations on both sides");
    }
    // Bucket by bucket: each classic cumulative count lies between the native buckets wholly
    // below its bound and those starting below it (equal when the bound is a native
    // boundary, as 0.25, 0.5 and 1 are).
    let buckets = native_buckets(&native, "sum(tmc_api_request_duration_seconds)");
    let classic_buckets = query(
        &classic,
        "sum by (le) (tmc_api_request_duration_seconds_bucket)",
    )
    .unwrap();
    assert_eq!(
        classic_buckets.len(),
        tmc_metrics::catalog::LATENCY_BUCKETS.len() + 1
    );
    for sample in &classic_buckets {
        let le: f64 = sample["metric"]["le"].as_str().unwrap().parse().unwrap();
        let count: f64 = sample["value"][1].as_str().unwrap().parse().unwrap();
        let below: f64 = buckets.iter().filter(|b| b.1 <= le).map(|b| b.2).sum();
        let reaching: f64 = buckets.iter().filter(|b| b.0 < le).map(|b| b.2).sum();
        assert!(
            below <= count && count <= reaching,
            "le={le}: classic {count}, native {below}..{reaching} in {buckets:?}"
        );
    }
    let phases = query(&native, "datamover_phase_duration_seconds").unwrap();
    assert!(
        phases.iter().all(|s| s["histogram"].is_array()),
        "native histograms: {phases:?}"
    );

    // The medians of the GET requests. The operator answers in well under a millisecond,
    // inside the first classic bucket (0, 1 ms], where the classic median is a linear guess;
    // the native one is read at 9 % resolution. They agree at the classic resolution: the
    // native median lies in the classic median's bucket, give or take one native bucket.
    let native_median = native.poll("the native median", Instant::now() + within, |p| {
        value(
            p,
            r#"histogram_quantile(0.5, sum(rate(tmc_api_request_duration_seconds{method="GET"}[1m])))"#,
        )
    });
    let classic_median = classic.poll("the classic median", Instant::now() + within, |p| {
        value(
            p,
            r#"histogram_quantile(0.5, sum by (le) (rate(tmc_api_request_duration_seconds_bucket{method="GET"}[1m])))"#,
        )
    });
    let bounds = tmc_metrics::catalog::LATENCY_BUCKETS;
    let at = bounds.partition_point(|b| *b < classic_median);
    let (low, high) = (
        at.checked_sub(1).map_or(0.0, |i| bounds[i]),
        bounds.get(at).copied().unwrap_or(f64::INFINITY),
    );
    let width = tmc_metrics::catalog::NativeHistogram::growth(
        tmc_metrics::catalog::NativeHistogram::DEFAULT.schema,
    );
    eprintln!("GET medians: native {native_median}, classic {classic_median} in ({low}, {high}]");
    assert!(
        native_median > low / width && native_median <= high * width,
        "native median {native_median} outside the classic median's bucket ({low}, {high}] \
         (classic median {classic_median}) by more than a factor {width}"
    );
}
