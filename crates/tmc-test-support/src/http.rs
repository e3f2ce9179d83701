//! One HTTP/1.1 client for every test: hyper 1's client connection over a tokio TCP stream
//! (hyper-util's `TokioIo`), one connection per request, driven by a small runtime of its
//! own so that tests stay plain `#[test]` functions. hyper decodes `Content-Length` and
//! chunked bodies alike.

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::fmt;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::runtime::Runtime;

/// How long a request may take, connecting included, unless [`Request::timeout`] says.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request got no answer: nothing listening, a broken or foreign answer, a timeout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// The runtime the connections run on: one worker, so an open stream keeps reading while
/// its test sleeps.
fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("test-http")
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot start the HTTP client's runtime: {e}"))
    })
}

/// A request to a loopback server, built up and then sent.
#[derive(Debug, Clone)]
#[must_use = "a request does nothing until sent"]
pub struct Request {
    addr: SocketAddr,
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
    timeout: Duration,
}

/// `GET path` on `addr`.
pub fn get(addr: SocketAddr, path: &str) -> Request {
    request(addr, "GET", path)
}

/// `method path` on `addr`; panics on a method that is not a token.
pub fn request(addr: SocketAddr, method: &str, path: &str) -> Request {
    Request {
        addr,
        method: Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|e| panic!("method {method:?}: {e}")),
        path: path.to_owned(),
        headers: HeaderMap::new(),
        body: Bytes::new(),
        timeout: TIMEOUT,
    }
}

impl Request {
    /// Adds the header `name: value`.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        let name = HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|e| panic!("header name {name:?}: {e}"));
        let value =
            HeaderValue::from_str(value).unwrap_or_else(|e| panic!("header value {value:?}: {e}"));
        self.headers.append(name, value);
        self
    }

    /// Adds header lines written as on the wire: `Name: value`, each ending in `\r\n`.
    pub fn raw_headers(mut self, lines: &str) -> Self {
        for line in lines.split("\r\n").filter(|l| !l.is_empty()) {
            let (name, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("header line {line:?} has no colon"));
            self = self.header(name.trim(), value.trim());
        }
        self
    }

    /// Sends `body` (with its `Content-Length`).
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Gives up after `timeout` instead of [`TIMEOUT`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sends the request and reads the whole answer (from synchronous test code: it runs
    /// on the client's own runtime).
    pub fn send(self) -> Result<Reply, Error> {
        runtime().block_on(self.send_async())
    }

    /// [`send`](Self::send) for async tests: on the caller's runtime.
    pub async fn send_async(self) -> Result<Reply, Error> {
        let timeout = self.timeout;
        let what = format!("{} http://{}{}", self.method, self.addr, self.path);
        let read = async {
            let response = self.start().await?;
            let (parts, body) = response.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| Error(format!("reading the body: {e}")))?
                .to_bytes();
            Ok(Reply::new(&parts, bytes))
        };
        tokio::time::timeout(timeout, read)
            .await
            .map_err(|_| Error(format!("no answer within {timeout:?}")))
            .and_then(|r| r)
            .map_err(|e: Error| Error(format!("{what}: {e}")))
    }

    /// Sends the request and returns once the answer's head is in; its body is then read
    /// piece by piece with [`Stream::next_chunk`].
    pub fn open(self) -> Result<Stream, Error> {
        let timeout = self.timeout;
        let what = format!("{} http://{}{}", self.method, self.addr, self.path);
        let response = runtime()
            .block_on(async move {
                tokio::time::timeout(timeout, self.start())
                    .await
                    .map_err(|_| Error(format!("no answer within {timeout:?}")))?
            })
            .map_err(|e| Error(format!("{what}: {e}")))?;
        let (parts, body) = response.into_parts();
        Ok(Stream {
            status: parts.status.as_u16(),
            head: head(&parts),
            body,
        })
    }

    /// Connects, hands the connection to the runtime and sends the request.
    async fn start(self) -> Result<http::Response<Incoming>, Error> {
        let stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(|e| Error(format!("connecting: {e}")))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error(format!("handshake: {e}")))?;
        // The connection ends with the response: its body read, or dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let mut request = http::Request::builder()
            .method(self.method)
            .uri(self.path.as_str())
            .body(Full::new(self.body))
            .map_err(|e| Error(format!("the request: {e}")))?;
        let headers = request.headers_mut();
        headers.insert(
            http::header::HOST,
            HeaderValue::from_str(&self.addr.to_string())
                .unwrap_or_else(|e| unreachable!("an address is a valid header: {e}")),
        );
        headers.insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        for (name, value) in &self.headers {
            headers.append(name, value.clone());
        }
        sender
            .send_request(request)
            .await
            .map_err(|e| Error(format!("the exchange: {e}")))
    }
}

/// A whole answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The status line and header lines as on the wire (`name: value\r\n`), lower-cased, for
    /// `contains` checks.
    pub head: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as text (invalid UTF-8 replaced).
    pub body: String,
    /// The body as received.
    pub bytes: Bytes,
}

impl Reply {
    fn new(parts: &http::response::Parts, bytes: Bytes) -> Self {
        Self {
            status: parts.status.as_u16(),
            head: head(parts),
            headers: parts.headers.clone(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
            bytes,
        }
    }

    /// The value of header `name`, if present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// `http/1.1 200 ok\r\n` and `name: value\r\n` per header, lower-cased.
fn head(parts: &http::response::Parts) -> String {
    let mut head = format!("{:?} {}\r\n", parts.version, status_line(parts.status));
    for (name, value) in &parts.headers {
        head.push_str(&format!(
            "{name}: {}\r\n",
            String::from_utf8_lossy(value.as_bytes())
        ));
    }
    head.to_ascii_lowercase()
}

fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// An answer whose body is still coming (server-sent events, say).
#[derive(Debug)]
pub struct Stream {
    /// The status code.
    pub status: u16,
    /// As [`Reply::head`].
    pub head: String,
    body: Incoming,
}

impl Stream {
    /// The next piece of the body; `Ok(None)` once it has ended (or the server closed the
    /// connection); an error when nothing came within `within`.
    pub fn next_chunk(&mut self, within: Duration) -> Result<Option<Bytes>, Error> {
        let body = &mut self.body;
        runtime().block_on(async move {
            loop {
                let frame = tokio::time::timeout(within, body.frame())
                    .await
                    .map_err(|_| Error(format!("nothing within {within:?}")))?;
                match frame {
                    None | Some(Err(_)) => return Ok(None),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                    }
                }
            }
        })
    }
}

/// `s` percent-encoded for a query string (unreserved characters kept).
pub fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
