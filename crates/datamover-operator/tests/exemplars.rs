//! `--exemplars`: a real Prometheus with exemplar storage scrapes the real operator after API
//! requests and a real backup; the trace ids it stores are those of the operator's JSON logs.

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
