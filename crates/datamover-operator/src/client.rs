//! A small blocking HTTP/1.1 client for the CLI: enough for the operator's own API.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Where the operator's API is.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ServerArg {
    /// The operator's API, e.g. `http://127.0.0.1:8081`.
    #[arg(
        long = "server",
        env = "DATAMOVER_SERVER",
        default_value = "http://127.0.0.1:8081"
    )]
    pub(crate) server: String,
}

/// Sends one request; returns the status code and body.
pub(crate) fn request(
    server: &str,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> Result<(u16, String), String> {
    let authority = server
        .strip_prefix("http://")
        .ok_or_else(|| {
            format!("--server {server:?}: give an http:// URL, e.g. http://127.0.0.1:8081")
        })?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(authority)
        .map_err(|e| format!("cannot reach the operator at {server}: {e} (is `datamover-operator run` running? set --server or DATAMOVER_SERVER)"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if let Some((content_type, bytes)) = body {
        head.push_str(&format!(
            "Content-Type: {content_type}\r\nContent-Length: {}\r\n",
            bytes.len()
        ));
    }
    head.push_str("\r\n");
    let io = |e: std::io::Error| format!("talking to {server}: {e}");
    stream.write_all(head.as_bytes()).map_err(io)?;
    if let Some((_, bytes)) = body {
        stream.write_all(bytes).map_err(io)?;
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (headers, payload) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{server} sent no HTTP response"))?;
    let status = headers
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{server} sent a malformed status line"))?;
    let chunked = headers
        .lines()
        .any(|l| l.to_ascii_lowercase().starts_with("transfer-encoding:") && l.contains("chunked"));
    let body = if chunked {
        dechunk(payload)
    } else {
        payload.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut payload: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = payload.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        payload = rest[n..].trim_start_matches("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn dechunks() {
        assert_eq!(
            super::dechunk("4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"),
            "Wikipedia"
        );
    }
}
