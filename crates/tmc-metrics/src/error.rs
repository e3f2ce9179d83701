//! The error taxonomy: what kind of error happened, how severe it is, and where.
//!
//! Errors are recorded in `tmc_component_errors_total{error_type,severity}` with the label
//! values of [`ErrorKind::as_str`] and [`Severity::as_str`].
//!
//! # From HTTP and Kubernetes API errors
//!
//! [`ErrorKind::from_http_status`] maps the status codes a Kubernetes API server (or any HTTP
//! API) answers with, and [`ErrorKind::from_io`] the transport failures before any answer:
//!
//! | input | kind | default severity |
//! | --- | --- | --- |
//! | 400, 422 | `InvalidRequest` | Low |
//! | 401 | `Unauthorized` | High |
//! | 403 | `Forbidden` | High |
//! | 404, 410 | `ResourceNotFound` | Low |
//! | 409 | `ResourceConflict` | Low |
//! | 408, 504, I/O `TimedOut` | `Timeout` | Medium |
//! | 429 | `RateLimited` | Medium |
//! | 502, 503 | `Unavailable` | High |
//! | other 5xx | `ServerError` | High |
//! | connection refused, reset, aborted, host or network unreachable | `ClusterUnreachable` | High |
//! | anything else | `Unknown` | Medium |

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

macro_rules! kinds {
    ($( $(#[$doc:meta])* $variant:ident => $severity:ident ),* $(,)?) => {
        /// What went wrong, as a small closed set suitable for a label value.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum ErrorKind {
            $( $(#[$doc])* $variant, )*
        }

        impl ErrorKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [ErrorKind] = &[$(ErrorKind::$variant),*];

            /// The label value, e.g. `ClusterUnreachable`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self { $(ErrorKind::$variant => stringify!($variant),)* }
            }

            /// The severity this kind has unless the error says otherwise.
            #[must_use]
            pub const fn default_severity(self) -> Severity {
                match self { $(ErrorKind::$variant => Severity::$severity,)* }
            }
        }
    };
}

kinds! {
    /// A member cluster or API server could not be reached.
    ClusterUnreachable => High,
    /// No cluster has the capacity a placement asks for.
    PlacementCapacity => Medium,
    /// Synchronising a resource to a cluster failed.
    SyncFailure => Medium,
    /// Migrating a workload between clusters failed.
    MigrationFailure => High,
    /// The object does not exist (404, 410).
    ResourceNotFound => Low,
    /// The object changed under us or already exists (409).
    ResourceConflict => Low,
    /// The server asked us to slow down (429).
    RateLimited => Medium,
    /// No answer in time (408, 504, I/O timeout).
    Timeout => Medium,
    /// Credentials missing or rejected (401).
    Unauthorized => High,
    /// Credentials valid but not allowed (403).
    Forbidden => High,
    /// The request was malformed or failed validation (400, 422).
    InvalidRequest => Low,
    /// The server or a gateway is temporarily unavailable (502, 503).
    Unavailable => High,
    /// The server failed (other 5xx).
    ServerError => High,
    /// A bug or broken invariant on our side.
    Internal => Critical,
    /// Not classified.
    Unknown => Medium,
}

impl ErrorKind {
    /// The kind an HTTP status code signals; `None` for 1xx to 3xx, which are not errors.
    ///
    /// ```
    /// use tmc_metrics::ErrorKind;
    /// assert_eq!(ErrorKind::from_http_status(404), Some(ErrorKind::ResourceNotFound));
    /// assert_eq!(ErrorKind::from_http_status(429), Some(ErrorKind::RateLimited));
    /// assert_eq!(ErrorKind::from_http_status(200), None);
    /// ```
    #[must_use]
    pub const fn from_http_status(status: u16) -> Option<Self> {
        Some(match status {
            0..=399 => return None,
            400 | 422 => Self::InvalidRequest,
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 | 410 => Self::ResourceNotFound,
            408 | 504 => Self::Timeout,
            409 => Self::ResourceConflict,
            429 => Self::RateLimited,
            502 | 503 => Self::Unavailable,
            500..=599 => Self::ServerError,
            _ => Self::Unknown,
        })
    }

    /// The kind an I/O error signals: refused or broken connections are `ClusterUnreachable`,
    /// timeouts are `Timeout`.
    #[must_use]
    pub fn from_io(err: &std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        match err.kind() {
            Io::ConnectionRefused
            | Io::ConnectionReset
            | Io::ConnectionAborted
            | Io::NotConnected
            | Io::AddrNotAvailable
            | Io::HostUnreachable
            | Io::NetworkUnreachable
            | Io::BrokenPipe => Self::ClusterUnreachable,
            Io::TimedOut => Self::Timeout,
            _ => Self::Unknown,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How urgently an error needs attention.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// Expected now and then; retried or ignored.
    Low,
    /// Worth a look if it persists.
    Medium,
    /// Degrades the service.
    High,
    /// Needs immediate attention.
    Critical,
}

impl Severity {
    /// Every severity, lowest first.
    pub const ALL: &'static [Severity] = &[Self::Low, Self::Medium, Self::High, Self::Critical];

    /// The label value: `Low`, `Medium`, `High` or `Critical`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Low => "Low",
            Self::Medium => "Medium",
            Self::High => "High",
            Self::Critical => "Critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The two facts the metrics record about an error: its kind and severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorClass {
    /// What went wrong.
    pub kind: ErrorKind,
    /// How urgent it is.
    pub severity: Severity,
}

impl ErrorClass {
    /// A class with the kind's default severity.
    #[must_use]
    pub const fn of(kind: ErrorKind) -> Self {
        Self {
            kind,
            severity: kind.default_severity(),
        }
    }
}

impl From<ErrorKind> for ErrorClass {
    fn from(kind: ErrorKind) -> Self {
        Self::of(kind)
    }
}

/// Errors that can say which [`ErrorClass`] they belong to, so the operation tracker and the
/// operation layer can record them without a classifier.
///
/// Implement it for your own error type:
///
/// ```
/// use tmc_metrics::{Classify, ErrorClass, ErrorKind};
///
/// enum FetchError { NotFound, Refused }
/// impl Classify for FetchError {
///     fn classify(&self) -> ErrorClass {
///         match self {
///             FetchError::NotFound => ErrorKind::ResourceNotFound.into(),
///             FetchError::Refused => ErrorKind::ClusterUnreachable.into(),
///         }
///     }
/// }
/// assert_eq!(FetchError::Refused.classify().severity, tmc_metrics::Severity::High);
/// ```
pub trait Classify {
    /// The error's kind and severity.
    fn classify(&self) -> ErrorClass;
}

impl Classify for ErrorClass {
    fn classify(&self) -> ErrorClass {
        *self
    }
}

impl Classify for ErrorKind {
    fn classify(&self) -> ErrorClass {
        ErrorClass::of(*self)
    }
}

impl Classify for std::io::Error {
    fn classify(&self) -> ErrorClass {
        ErrorClass::of(ErrorKind::from_io(self))
    }
}

impl<T: Classify + ?Sized> Classify for &T {
    fn classify(&self) -> ErrorClass {
        (**self).classify()
    }
}

/// Boxed errors (tower's `BoxError`) are classified by what they box: the first
/// [`TmcError`] or `std::io::Error` in the source chain decides; anything else is `Unknown`.
impl Classify for Box<dyn StdError + Send + Sync> {
    fn classify(&self) -> ErrorClass {
        classify_dyn(&**self)
    }
}

/// Classifies any error by the first [`TmcError`] or `std::io::Error` in its source chain;
/// anything else is `Unknown`.
///
/// ```
/// use tmc_metrics::{ErrorKind, classify_dyn};
/// let err = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
/// assert_eq!(classify_dyn(&err).kind, ErrorKind::ClusterUnreachable);
/// ```
#[must_use]
pub fn classify_dyn(error: &(dyn StdError + 'static)) -> ErrorClass {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tmc) = e.downcast_ref::<TmcError>() {
            return tmc.classify();
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io.classify();
        }
        next = e.source();
    }
    ErrorClass::of(ErrorKind::Unknown)
}

/// An error with TMC context: kind, severity, the component and operation it happened in, a
/// message, and the underlying cause.
///
/// ```
/// use tmc_metrics::{ErrorKind, Severity, TmcError};
///
/// let err = TmcError::from_http_status(409, "syncer", "update-deployment", "object was modified");
/// assert_eq!(err.kind(), ErrorKind::ResourceConflict);
/// assert_eq!(err.severity(), Severity::Low);
/// assert_eq!(err.to_string(), "syncer/update-deployment: ResourceConflict (Low): object was modified");
/// ```
#[derive(Debug)]
pub struct TmcError {
    kind: ErrorKind,
    severity: Severity,
    component: Cow<'static, str>,
    operation: Cow<'static, str>,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl TmcError {
    /// A new error with the kind's default severity.
    pub fn new(
        kind: ErrorKind,
        component: impl Into<Cow<'static, str>>,
        operation: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            severity: kind.default_severity(),
            component: component.into(),
            operation: operation.into(),
            message: message.into(),
            source: None,
        }
    }

    /// An error for an HTTP or Kubernetes API answer with `status` (see the module table).
    /// A status below 400 is classed `Unknown`.
    pub fn from_http_status(
        status: u16,
        component: impl Into<Cow<'static, str>>,
        operation: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        let kind = ErrorKind::from_http_status(status).unwrap_or(ErrorKind::Unknown);
        Self::new(kind, component, operation, message)
    }

    /// An error for a failed connection or I/O operation, keeping it as the source.
    pub fn from_io(
        err: std::io::Error,
        component: impl Into<Cow<'static, str>>,
        operation: impl Into<Cow<'static, str>>,
    ) -> Self {
        let kind = ErrorKind::from_io(&err);
        let message = err.to_string();
        Self::new(kind, component, operation, message).with_source(err)
    }

    /// Overrides the severity.
    #[must_use]
    pub fn with_severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Attaches the underlying cause.
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// How urgent it is.
    #[must_use]
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// The component type the error happened in.
    #[must_use]
    pub fn component(&self) -> &str {
        &self.component
    }

    /// The operation that failed.
    #[must_use]
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The human-readable message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TmcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}: {} ({}): {}",
            self.component, self.operation, self.kind, self.severity, self.message
        )
    }
}

impl StdError for TmcError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

impl Classify for TmcError {
    fn classify(&self) -> ErrorClass {
        ErrorClass {
            kind: self.kind,
            severity: self.severity,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn http_statuses_map_to_the_documented_kinds() {
        let cases = [
            (400, ErrorKind::InvalidRequest),
            (401, ErrorKind::Unauthorized),
            (403, ErrorKind::Forbidden),
            (404, ErrorKind::ResourceNotFound),
            (408, ErrorKind::Timeout),
            (409, ErrorKind::ResourceConflict),
            (410, ErrorKind::ResourceNotFound),
            (418, ErrorKind::Unknown),
            (422, ErrorKind::InvalidRequest),
            (429, ErrorKind::RateLimited),
            (500, ErrorKind::ServerError),
            (502, ErrorKind::Unavailable),
            (503, ErrorKind::Unavailable),
            (504, ErrorKind::Timeout),
            (599, ErrorKind::ServerError),
        ];
        for (status, kind) in cases {
            assert_eq!(ErrorKind::from_http_status(status), Some(kind), "{status}");
        }
        assert_eq!(ErrorKind::from_http_status(304), None);
    }

    #[test]
    fn transport_failures_are_unreachable_or_timeout() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(ErrorKind::from_io(&refused), ErrorKind::ClusterUnreachable);
        assert_eq!(
            ErrorKind::from_io(&io::Error::from(io::ErrorKind::TimedOut)),
            ErrorKind::Timeout
        );
        assert_eq!(
            ErrorKind::from_io(&io::Error::other("x")),
            ErrorKind::Unknown
        );
        let err = TmcError::from_io(refused, "syncer", "watch");
        assert_eq!(
            err.classify(),
            ErrorClass {
                kind: ErrorKind::ClusterUnreachable,
                severity: Severity::High
            }
        );
        assert!(err.source().is_some());
    }

    #[test]
    fn seed_kinds_render_as_the_seed_label_values() {
        assert_eq!(ErrorKind::ClusterUnreachable.as_str(), "ClusterUnreachable");
        assert_eq!(ErrorKind::PlacementCapacity.as_str(), "PlacementCapacity");
        assert_eq!(ErrorKind::SyncFailure.as_str(), "SyncFailure");
        assert_eq!(ErrorKind::MigrationFailure.as_str(), "MigrationFailure");
        assert_eq!(Severity::High.as_str(), "High");
        assert_eq!(ErrorKind::ALL.len(), 15);
    }

    #[test]
    fn boxed_errors_are_classified_by_their_source_chain() {
        let boxed: Box<dyn StdError + Send + Sync> =
            Box::new(TmcError::new(ErrorKind::SyncFailure, "s", "o", "m"));
        assert_eq!(boxed.classify().kind, ErrorKind::SyncFailure);
        let boxed: Box<dyn StdError + Send + Sync> =
            Box::new(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(boxed.classify().kind, ErrorKind::Timeout);
        let boxed: Box<dyn StdError + Send + Sync> = "plain".into();
        assert_eq!(boxed.classify(), ErrorClass::of(ErrorKind::Unknown));
    }

    #[test]
    fn severity_can_be_overridden() {
        let err = TmcError::new(ErrorKind::SyncFailure, "syncer", "sync", "boom")
            .with_severity(Severity::Critical);
        assert_eq!(err.severity(), Severity::Critical);
        assert_eq!(err.component(), "syncer");
        assert_eq!(err.operation(), "sync");
        assert_eq!(err.message(), "boom");
    }
}
