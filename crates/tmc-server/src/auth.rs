//! Bearer-token authentication for the metrics listener.
//!
//! The server asks an [`Authorizer`] about every request (except the probes when
//! `allow_unauthenticated_probes` is set) and answers 401 or 403 when it says so.
//! [`StaticTokenAuthorizer`] compares the bearer token with the one in a token file, in
//! constant time.
//!
//! # The Kubernetes hook
//!
//! On Kubernetes the token will be checked the way controller-runtime's secure metrics
//! filter does: a `TokenReview` authenticates it (not authenticated: 401), then a
//! `SubjectAccessReview` asks whether that user may `get` the request's path as a
//! non-resource URL (denied: 403). That is an [`Authorizer`] too: it receives the token, the
//! method (the review's verb, lowercased) and the path, and returns an [`AuthDecision`]; give
//! it to [`MetricsServer::with_authorizer`](crate::MetricsServer::with_authorizer). Its
//! future may await the API server; caching reviews is its own business.

use std::fmt;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use thiserror::Error;

/// The future an [`Authorizer`] returns.
pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = AuthDecision> + Send + 'a>>;

/// What the server should do with a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthDecision {
    /// Serve it.
    Allow,
    /// No valid credentials: 401 with `WWW-Authenticate: Bearer`.
    Unauthenticated,
    /// Valid credentials without the right to this path: 403.
    Forbidden,
}

/// The parts of a request an [`Authorizer`] decides on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthRequest<'a> {
    /// The bearer token of the `Authorization` header, if it has one.
    pub token: Option<&'a str>,
    /// The method, e.g. `GET`.
    pub method: &'a str,
    /// The request path, e.g. `/metrics`.
    pub path: &'a str,
}

/// Decides whether a request may be served: the hook for token checks, from a static token
/// file to `TokenReview` and `SubjectAccessReview` (see the [module](self) docs).
///
/// ```
/// use tmc_server::auth::{AuthDecision, AuthFuture, AuthRequest, Authorizer};
///
/// /// Anyone with a token may read the summary; nothing else.
/// #[derive(Debug)]
/// struct SummaryOnly;
///
/// impl Authorizer for SummaryOnly {
///     fn authorize<'a>(&'a self, request: AuthRequest<'a>) -> AuthFuture<'a> {
///         Box::pin(async move {
///             match (request.token, request.path) {
///                 (None, _) => AuthDecision::Unauthenticated,
///                 (Some(_), "/metrics/summary") => AuthDecision::Allow,
///                 (Some(_), _) => AuthDecision::Forbidden,
///             }
///         })
///     }
/// }
/// ```
pub trait Authorizer: fmt::Debug + Send + Sync + 'static {
    /// Decides on one request.
    fn authorize<'a>(&'a self, request: AuthRequest<'a>) -> AuthFuture<'a>;
}

/// Why a token file could not be used.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The file could not be read.
    #[error("cannot read the token file `{}` ({source}): expected a readable file holding the bearer token", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The file holds nothing but whitespace.
    #[error("the token file `{}` is empty: expected a file holding the bearer token", path.display())]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Allows requests whose bearer token equals the one read from a file at start-up
/// (surrounding whitespace trimmed); compares in constant time. A request without a token
/// gets 401, one with another token 403.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use tmc_server::auth::{AuthDecision, AuthRequest, Authorizer, StaticTokenAuthorizer};
///
/// let auth = StaticTokenAuthorizer::new("s3cret");
/// let ask = |token| AuthRequest { token, method: "GET", path: "/metrics" };
/// assert_eq!(auth.authorize(ask(Some("s3cret"))).await, AuthDecision::Allow);
/// assert_eq!(auth.authorize(ask(Some("guess"))).await, AuthDecision::Forbidden);
/// assert_eq!(auth.authorize(ask(None)).await, AuthDecision::Unauthenticated);
/// # }
/// ```
pub struct StaticTokenAuthorizer {
    token: Vec<u8>,
}

impl fmt::Debug for StaticTokenAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticTokenAuthorizer")
            .field("token", &"<redacted>")
            .finish()
    }
}

impl StaticTokenAuthorizer {
    /// Accepts exactly `token`.
    #[must_use]
    pub fn new(token: &str) -> Self {
        Self {
            token: token.as_bytes().to_vec(),
        }
    }

    /// Reads the token from `path`, trimming surrounding whitespace.
    ///
    /// # Errors
    /// [`AuthError::Read`] if the file cannot be read, [`AuthError::Empty`] if it holds no
    /// token.
    pub fn from_file(path: &Path) -> Result<Self, AuthError> {
        let text = std::fs::read_to_string(path).map_err(|source| AuthError::Read {
            path: path.to_owned(),
            source,
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(AuthError::Empty {
                path: path.to_owned(),
            });
        }
        Ok(Self::new(token))
    }
}

impl Authorizer for StaticTokenAuthorizer {
    fn authorize<'a>(&'a self, request: AuthRequest<'a>) -> AuthFuture<'a> {
        let decision = match request.token {
            None => AuthDecision::Unauthenticated,
            Some(token) if constant_time_eq(&self.token, token.as_bytes()) => AuthDecision::Allow,
            Some(_) => AuthDecision::Forbidden,
        };
        Box::pin(std::future::ready(decision))
    }
}

/// Whether `given` equals `expected`, in constant time for inputs of equal length
/// (`subtle`); a length mismatch is refused at once (the length is not the secret).
pub(crate) fn constant_time_eq(expected: &[u8], given: &[u8]) -> bool {
    use subtle::ConstantTimeEq as _;
    expected.ct_eq(given).into()
}

/// The token of an `Authorization: Bearer <token>` header value; `None` for another scheme
/// or an empty token. The scheme is case-insensitive.
pub(crate) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_should_match_only_equal_bytes() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"toke"));
        assert!(!constant_time_eq(b"token", b"tokens"));
        assert!(!constant_time_eq(b"token", b""));
        assert!(!constant_time_eq(b"\0", b""));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn bearer_token_should_read_only_the_bearer_scheme() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }

    #[test]
    fn static_token_authorizer_should_refuse_an_empty_or_missing_file() {
        let dir = crate::testing::TempDir::new("auth");
        let empty = dir.write("empty", " \n");
        assert_eq!(
            StaticTokenAuthorizer::from_file(&empty)
                .unwrap_err()
                .to_string(),
            format!(
                "the token file `{}` is empty: expected a file holding the bearer token",
                empty.display()
            )
        );
        let missing = dir.path().join("missing");
        assert_eq!(
            StaticTokenAuthorizer::from_file(&missing)
                .unwrap_err()
                .to_string(),
            format!(
                "cannot read the token file `{}` (No such file or directory (os error 2)): \
                 expected a readable file holding the bearer token",
                missing.display()
            )
        );
        let token = dir.write("token", "s3cret\n");
        assert_eq!(
            StaticTokenAuthorizer::from_file(&token).unwrap().token,
            b"s3cret"
        );
    }
}
