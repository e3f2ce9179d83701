//! The resource API's bearer token: written once to `<data-dir>/api-token` (mode 0600),
//! kept across restarts, checked on every request in constant time.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The token file's name in the data dir.
pub(crate) const TOKEN_FILE: &str = "api-token";

/// The token the API accepts.
#[derive(Clone)]
pub(crate) struct ApiToken(Arc<str>);

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(***)")
    }
}

impl ApiToken {
    /// Reads `<data-dir>/api-token`, or writes a new random token there (mode 0600) at
    /// first start. A file others can read is tightened to 0600.
    pub(crate) fn load_or_create(data_dir: &Path) -> Result<(Self, PathBuf), String> {
        let path = data_dir.join(TOKEN_FILE);
        let shown = path.display();
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(mut file) => {
                let token = random_token()?;
                file.write_all(format!("{token}\n").as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| format!("writing the API token to {shown}: {e}"))?;
                Ok((Self(token.into()), path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let meta = std::fs::metadata(&path).map_err(|e| format!("{shown}: {e}"))?;
                if meta.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| format!("{shown}: cannot make it private (0600): {e}"))?;
                    tracing::warn!(file = %shown, "the API token file was readable by others; now 0600");
                }
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("reading the API token {shown}: {e}"))?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(format!(
                        "the API token file {shown} is empty: delete it and a new token is written at start"
                    ));
                }
                Ok((Self(token.into()), path))
            }
            Err(e) => Err(format!("creating the API token {shown}: {e}")),
        }
    }

    /// The token itself, for the status page's sign-in link.
    pub(crate) fn reveal(&self) -> &str {
        &self.0
    }

    /// Whether `given` is the token, compared in constant time.
    pub(crate) fn matches(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// 32 random bytes from the kernel, as hex.
pub(crate) fn random_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("reading /dev/urandom for the API token: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn refuse(status: StatusCode, message: &str) -> Response {
    let mut response = (status, axum::Json(json!({ "error": message }))).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"datamover-operator\""),
    );
    response
}

/// The token of an `Authorization: Bearer <token>` header, if there is one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
}

/// Middleware: 401 without a bearer token, 403 with a wrong one.
pub(crate) async fn require_token(
    State(token): State<ApiToken>,
    request: Request,
    next: Next,
) -> Response {
    let given = bearer(request.headers());
    match given {
        None => refuse(
            StatusCode::UNAUTHORIZED,
            "the resource API needs `Authorization: Bearer <token>`; the token is in <data-dir>/api-token (the CLI reads it from --token-file, DATAMOVER_TOKEN_FILE or --data-dir)",
        ),
        Some(t) if token.matches(t) => next.run(request).await,
        Some(_) => refuse(
            StatusCode::FORBIDDEN,
            "the bearer token is not this operator's: use the api-token file of the operator's --data-dir",
        ),
    }
}
