//! The harness itself: temp dirs go, processes die, the client decodes what servers send.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed setup is a failed test

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tmc_test_support::{Process, TempDir, http, temp, tempdir};

/// A one-shot server: reads one request's head, answers `raw`, closes.
fn answer_once(raw: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
            line.clear();
        }
        let mut stream = stream;
        stream.write_all(raw).unwrap();
    });
    addr
}

#[test]
fn the_client_decodes_chunks_with_extensions_and_refuses_a_cut_body() {
    let addr = answer_once(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Test: A\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n",
    );
    let reply = http::get(addr, "/").send().unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "hello world");
    assert!(
        reply.head.starts_with("http/1.1 200 ok\r\n"),
        "{}",
        reply.head
    );
    assert!(reply.head.contains("x-test: a\r\n"), "{}", reply.head);
    assert!(
        reply.head.contains("transfer-encoding: chunked\r\n"),
        "{}",
        reply.head
    );

    let cut = answer_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    let err = http::get(cut, "/").send().unwrap_err();
    assert!(err.to_string().contains("reading the body"), "{err}");
}

#[test]
fn the_client_sends_method_headers_and_body_and_reads_a_sized_body() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        let mut body = [0; 9];
        reader.read_exact(&mut body).unwrap();
        let mut stream = stream;
        stream
            .write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\n\r\nnope")
            .unwrap();
        (head, body)
    });
    let reply = http::request(addr, "POST", "/apply?x=1")
        .raw_headers("Authorization: Bearer t0k\r\nCookie: a=b\r\n")
        .body("kind: Foo")
        .send()
        .unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (401, "nope"));
    let (head, body) = server.join().unwrap();
    assert!(head.starts_with("post /apply?x=1 http/1.1\r\n"), "{head}");
    for line in [
        "authorization: bearer t0k\r\n",
        "cookie: a=b\r\n",
        "content-length: 9\r\n",
    ] {
        assert!(head.contains(line), "{head} lacks {line:?}");
    }
    assert_eq!(&body, b"kind: Foo");
}

#[test]
fn the_client_says_nothing_listens() {
    let closed = tmc_test_support::free_port();
    let err = http::get(closed, "/").send().unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("GET http://{closed}/: connecting: ")),
        "{err}"
    );
}

#[test]
fn the_query_encoder_keeps_unreserved_characters_only() {
    assert_eq!(
        http::encode_query(r#"a_b{le=~"1|\+Inf"}"#),
        "a_b%7Ble%3D~%221%7C%5C%2BInf%22%7D"
    );
}

#[test]
fn a_temp_dir_is_removed_when_its_test_ends_and_when_it_panics() {
    let dir = tempdir();
    let path = dir.to_path_buf();
    std::fs::create_dir_all(dir.join("a/b")).unwrap();
    dir.write("a/b/file", "x");
    assert_eq!(path, std::fs::canonicalize(&path).unwrap(), "canonical");
    drop(dir);
    assert!(!path.exists());

    let (tx, rx) = std::sync::mpsc::channel();
    let panicked = std::thread::spawn(move || {
        let dir = TempDir::new("panics");
        dir.write("file", "x");
        tx.send(dir.to_path_buf()).unwrap();
        panic!("the test fails");
    })
    .join();
    assert!(panicked.is_err());
    let path = rx.recv().unwrap();
    assert!(
        path.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .contains("-panics-")
    );
    assert!(!path.exists(), "{} survived a panic", path.display());
}

#[test]
fn a_process_is_killed_with_what_it_started_on_drop() {
    let mut sh = Command::new("sh");
    sh.args(["-c", "sleep 600 & echo $!; wait"])
        .stdout(Stdio::piped());
    let mut process = Process::spawn(&mut sh, "sh", "");
    let mut line = String::new();
    BufReader::new(process.take_stdout().unwrap())
        .read_line(&mut line)
        .unwrap();
    let sleep = format!("/proc/{}", line.trim());
    let shell = format!("/proc/{}", process.id());
    assert!(std::path::Path::new(&sleep).exists());
    drop(process);
    assert!(
        !std::path::Path::new(&shell).exists(),
        "the shell is reaped"
    );
    // The orphaned sleep is reaped by init: wait (bounded) for it to go.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(format!("{sleep}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
        assert!(Instant::now() < deadline, "the shell's child outlived it");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs last in `cargo test --workspace` (this crate sorts after those it serves): no
/// test process that has ended left its temp dir behind.
#[test]
fn no_ended_test_process_left_a_temp_dir_behind() {
    let left = temp::leftovers();
    assert!(
        left.is_empty(),
        "temp dirs of ended test processes (a killed run leaves them; remove them with `rm -rf`): {left:?}"
    );
}
