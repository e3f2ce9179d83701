//! The CLI's client of the operator's API: hyper's HTTP/1.1 client over TCP or rustls, with
//! the API's bearer token.

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use std::path::PathBuf;
use std::sync::Arc;

/// Where the operator's API is, and how to authenticate to it.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ServerArg {
    /// The operator's API, e.g. `http://127.0.0.1:8081` (or `https://` when the operator
    /// serves it with `--api-tls-cert`).
    #[arg(
        long = "server",
        env = "DATAMOVER_SERVER",
        default_value = "http://127.0.0.1:8081"
    )]
    pub(crate) server: String,
    /// The file holding the API's bearer token (default: `api-token` in `--data-dir`).
    #[arg(long = "token-file", env = "DATAMOVER_TOKEN_FILE")]
    pub(crate) token_file: Option<PathBuf>,
    /// The operator's data dir, where it wrote `api-token` at first start.
    #[arg(
        long = "data-dir",
        env = "DATAMOVER_DATA_DIR",
        default_value = "datamover-data"
    )]
    pub(crate) data_dir: PathBuf,
    /// PEM certificates to trust for an `https://` server (e.g. the `--api-tls-cert` file).
    #[arg(
        long = "certificate-authority",
        env = "DATAMOVER_CERTIFICATE_AUTHORITY"
    )]
    pub(crate) certificate_authority: Option<PathBuf>,
}

impl ServerArg {
    /// The token: `--token-file`, then `DATAMOVER_TOKEN_FILE`, then `<data-dir>/api-token`.
    /// `None` when the data dir has none (the server then answers 401 with the fix).
    pub(crate) fn token(&self) -> Result<Option<String>, String> {
        let (path, explicit) = match &self.token_file {
            Some(p) => (p.clone(), true),
            None => (self.data_dir.join(crate::auth::TOKEN_FILE), false),
        };
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => Ok(Some(text.trim().to_owned())),
            Ok(_) => Err(format!("the token file {} is empty", path.display())),
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!(
                "--token-file {}: {e} (the operator writes its token to <data-dir>/api-token)",
                path.display()
            )),
        }
    }
}

/// Sends one request; returns the status code and body.
pub(crate) fn request(
    server: &ServerArg,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
) -> Result<(u16, String), String> {
    let token = server.token()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(send(server, method, path, body, token.as_deref()))
}

async fn send(
    server: &ServerArg,
    method: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
    token: Option<&str>,
) -> Result<(u16, String), String> {
    let url = &server.server;
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(format!(
            "--server {url:?}: give an http:// or https:// URL, e.g. http://127.0.0.1:8081"
        ));
    };
    let authority = rest.trim_end_matches('/');
    let tcp = tokio::net::TcpStream::connect(authority).await.map_err(|e| {
        format!("cannot reach the operator at {url}: {e} (is `datamover-operator run` running? set --server or DATAMOVER_SERVER)")
    })?;
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, "application/json");
    if let Some(token) = token {
        builder = builder.header(hyper::header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let bytes = match body {
        Some((content_type, bytes)) => {
            builder = builder.header(hyper::header::CONTENT_TYPE, content_type);
            Bytes::copy_from_slice(bytes)
        }
        None => Bytes::new(),
    };
    let request = builder
        .body(Full::new(bytes))
        .map_err(|e| format!("building the request: {e}"))?;
    if tls {
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(h, _)| h)
            .trim_matches(['[', ']']);
        let stream = connector(server)?
            .connect(
                ServerName::try_from(host.to_owned())
                    .map_err(|e| format!("--server {url:?}: {e}"))?,
                tcp,
            )
            .await
            .map_err(|e| format!("TLS with {url}: {e} (pass --certificate-authority FILE)"))?;
        exchange(stream, request, url).await
    } else {
        exchange(tcp, request, url).await
    }
}

fn connector(server: &ServerArg) -> Result<tokio_rustls::TlsConnector, String> {
    let file = server.certificate_authority.as_ref().ok_or(
        "an https:// server needs --certificate-authority FILE (the PEM certificate to trust)",
    )?;
    let shown = file.display();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(file).map_err(|e| format!("{shown}: {e}"))? {
        roots
            .add(cert.map_err(|e| format!("{shown}: {e}"))?)
            .map_err(|e| format!("{shown}: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

async fn exchange<S>(
    stream: S,
    request: Request<Full<Bytes>>,
    url: &str,
) -> Result<(u16, String), String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io_err = |e: hyper::Error| format!("talking to {url}: {e}");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(io_err)?;
    let driver = tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(io_err)?;
    let status = response.status().as_u16();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(io_err)?
        .to_bytes();
    drop(sender);
    let _ = driver.await;
    let text = String::from_utf8(body.to_vec())
        .map_err(|_| format!("{url} sent a body that is not UTF-8"))?;
    Ok((status, text))
}
