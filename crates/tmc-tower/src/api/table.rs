//! Outer mode: route templates from a table matched with `matchit`, the matcher axum uses.

use super::labels::ResolveEndpoint;
use http::Request;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// The route templates of a service, matched against each request's path with `matchit`
/// (axum's own matcher, same syntax: `/users/{id}`, `/static/{*path}`), so
/// [`ApiMetricsLayer`](super::ApiMetricsLayer) can wrap a whole axum `Router`, a hyper
/// service or any `Service<http::Request<_>>` from outside and still label by template.
///
/// When a request carries axum's `MatchedPath` (the layer sits inside a `Router`), that
/// template wins; the table is only consulted without it. A path the table does not match
/// is [`UNMATCHED_ENDPOINT`](super::UNMATCHED_ENDPOINT).
///
/// With axum, build the table and the `Router` from one list of routes with
/// [`ApiRoutes`](super::ApiRoutes), so no path is written twice.
///
/// ```
/// use http::Request;
/// use tmc_tower::api::{ResolveEndpoint, RouteTable};
///
/// let table = RouteTable::new()
///     .with("/users/{id}")?
///     .with("/static/{*file}")?;
/// let req = Request::get("/users/42").body(()).unwrap();
/// assert_eq!(table.resolve(&req).as_deref(), Some("/users/{id}"));
/// assert_eq!(table.at("/nope"), None);
/// assert!(RouteTable::new().with("no-slash").is_err());
/// # Ok::<(), tmc_tower::api::RouteError>(())
/// ```
#[derive(Clone, Default)]
pub struct RouteTable {
    inner: Arc<Inner>,
}

#[derive(Clone, Default)]
struct Inner {
    matcher: matchit::Router<usize>,
    templates: Vec<Box<str>>,
}

impl fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RouteTable")
            .field("templates", &self.inner.templates)
            .finish()
    }
}

/// A route template the table cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteError {
    template: String,
    reason: String,
}

impl RouteError {
    pub(crate) fn new(template: &str, reason: impl fmt::Display) -> Self {
        Self {
            template: template.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// The template that was refused.
    #[must_use]
    pub fn template(&self) -> &str {
        &self.template
    }
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "route template {:?} refused: {} (a template starts with '/' and uses \
             axum's syntax: /users/{{id}}, /static/{{*path}})",
            self.template, self.reason
        )
    }
}

impl std::error::Error for RouteError {}

impl RouteTable {
    /// An empty table: every request is unmatched until templates are added.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `template`. Adding a template already in the table does nothing (axum lets
    /// several `route` calls share a path, one per method).
    ///
    /// # Errors
    /// When `template` does not start with `/`, or `matchit` refuses it: a malformed
    /// parameter, or a conflict with a template already in the table.
    pub fn insert(&mut self, template: &str) -> Result<(), RouteError> {
        if !template.starts_with('/') {
            return Err(RouteError::new(template, "it does not start with '/'"));
        }
        if self.inner.templates.iter().any(|t| &**t == template) {
            return Ok(());
        }
        let inner = Arc::make_mut(&mut self.inner);
        inner
            .matcher
            .insert(template, inner.templates.len())
            .map_err(|e| RouteError::new(template, e))?;
        inner.templates.push(template.into());
        Ok(())
    }

    /// The table with `template` added; see [`insert`](Self::insert).
    ///
    /// # Errors
    /// As [`insert`](Self::insert).
    pub fn with(mut self, template: &str) -> Result<Self, RouteError> {
        self.insert(template)?;
        Ok(self)
    }

    /// The template matching `path`, if any.
    #[must_use]
    #[inline]
    pub fn at(&self, path: &str) -> Option<&str> {
        self.position(path).map(|(_, template)| template)
    }

    /// The template matching `path` and its position among [`templates`](Self::templates).
    #[inline]
    fn position(&self, path: &str) -> Option<(usize, &str)> {
        let index = *self.inner.matcher.at(path).ok()?.value;
        self.inner.templates.get(index).map(|t| (index, &**t))
    }

    /// The templates, in the order they were added.
    pub fn templates(&self) -> impl Iterator<Item = &str> {
        self.inner.templates.iter().map(|t| &**t)
    }
}

impl<B> ResolveEndpoint<B> for RouteTable {
    #[inline]
    fn resolve<'a>(&'a self, request: &'a Request<B>) -> Option<Cow<'a, str>> {
        #[cfg(feature = "axum")]
        if let Some(template) = super::labels::matched_path(request) {
            return Some(Cow::Borrowed(template));
        }
        self.at(request.uri().path()).map(Cow::Borrowed)
    }

    /// A `MatchedPath` (the layer inside a `Router`) has no position in the table.
    #[inline]
    fn resolve_at<'a>(&'a self, request: &'a Request<B>) -> (Option<Cow<'a, str>>, Option<usize>) {
        #[cfg(feature = "axum")]
        if let Some(template) = super::labels::matched_path(request) {
            return (Some(Cow::Borrowed(template)), None);
        }
        match self.position(request.uri().path()) {
            Some((index, template)) => (Some(Cow::Borrowed(template)), Some(index)),
            None => (None, None),
        }
    }

    fn positions(&self) -> usize {
        self.inner.templates.len()
    }
}
