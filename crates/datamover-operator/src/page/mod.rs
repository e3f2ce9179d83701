//! The live status page, at `/` on the API listener: DataMovers with a live progress bar,
//! schedules, recent failures and charts of the process's own metrics, for people with no
//! Grafana at hand.
//!
//! | path | what |
//! | --- | --- |
//! | `GET /` | the page; without the token, the login form (401) |
//! | `GET /?token=<token>` | signs in (sets the cookie) and goes on to `/` (a page that refreshes to it): the link `datamover-operator page-url` prints; the one `GET` that changes something, a session opened |
//! | `POST /login`, `POST /logout` | the login form's sign in (`token=`), and sign out (`csrf=`, the session's token against cross-site requests) |
//! | `GET /events` | the live feed, server-sent events ([`events`]) |
//! | `GET /backups?namespace=NS&schedule=NAME` (or `&datamover=NAME`) | the backups at a schedule's or DataMover's destination, from the catalogue ([`crate::backups`]) |
//! | `POST /actions/{restore,trigger,suspend,resume,delete}` | the console's actions ([`console`]) |
//! | `GET /assets/page.css`, `/assets/page.js` | the page's style and script (no data) |
//!
//! The page takes the API's token (`<data-dir>/api-token`) as `Authorization: Bearer`, or a
//! session: signing in with the token opens one ([`session`]), and the browser keeps only
//! its id, in the `datamover_session` cookie (`HttpOnly`, `SameSite=Strict`, `Secure` over
//! TLS). An action with the cookie must also send the session's own token in the
//! `X-DataMover-CSRF` header, which only the page itself can read; a `GET` changes nothing
//! (the sign-in link opens a session, no more). An open event stream ends with its session.
//! The resource API itself still takes only the bearer header. Every asset is
//! embedded in the binary; the page loads nothing from elsewhere (its
//! `Content-Security-Policy` says so), and is plain HTML, CSS and JavaScript.

mod charts;
mod console;
mod events;
mod session;

pub(crate) use events::Hub;
use session::Session;
pub(crate) use session::Sessions;

use crate::auth::{ApiToken, bearer};
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tmc_runtime::CancellationToken;

/// The cookie that carries the session's id after a login.
const COOKIE: &str = "datamover_session";
const INDEX: &str = include_str!("assets/index.html");
const LOGIN: &str = include_str!("assets/login.html");
const CSS: &str = include_str!("assets/page.css");
const JS: &str = include_str!("assets/page.js");
/// Nothing but this origin's own script and style; no frames, no foreign forms.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// What the page's handlers share.
#[derive(Clone, Debug)]
pub(crate) struct PageState {
    /// The API's token.
    pub(crate) token: ApiToken,
    /// The live feed.
    pub(crate) hub: Hub,
    /// Cancelled when the operator stops: open event streams end.
    pub(crate) stop: CancellationToken,
    /// Whether the listener is TLS (the cookie is then `Secure`).
    pub(crate) tls: bool,
    /// The resource API's routes, called in process (the backups, every action).
    pub(crate) api: Router,
    /// The signed-in browsers.
    pub(crate) sessions: Sessions,
}

/// The page's routes, each checking the token itself.
pub(crate) fn router(state: PageState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/events", get(feed))
        .merge(console::routes())
        .route(
            "/assets/page.css",
            get(|| asset(CSS, "text/css; charset=utf-8")),
        )
        .route(
            "/assets/page.js",
            get(|| asset(JS, "text/javascript; charset=utf-8")),
        )
        .layer(tmc_tower::api::ApiMetricsLayer::with_collector(
            tmc_metrics::MetricsCollector::facade(),
        ))
        .with_state(state)
}

/// Whether a request carries the token.
#[derive(Debug, PartialEq, Eq)]
enum Access {
    Granted,
    Missing,
    Wrong,
}

/// Who a signed-in request comes from.
#[derive(Clone, Debug)]
enum Who {
    /// A client with the API token in `Authorization: Bearer` (no browser sends that on its
    /// own, so no cross-site request can).
    Token,
    /// A browser with a session cookie.
    Session(Session),
}

impl Who {
    /// Who, in the log.
    fn label(&self) -> &str {
        match self {
            Self::Token => "api-token",
            Self::Session(s) => &s.label,
        }
    }
}

/// The `datamover_session` cookie, if the request has one.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

fn access(token: &ApiToken, given: Option<&str>) -> Access {
    match given {
        None => Access::Missing,
        Some(t) if token.matches(t) => Access::Granted,
        Some(_) => Access::Wrong,
    }
}

/// The bearer token, else the session cookie: who, or why not.
fn signed_in(state: &PageState, headers: &HeaderMap) -> Result<Who, Access> {
    if let Some(given) = bearer(headers) {
        return match access(&state.token, Some(given)) {
            Access::Granted => Ok(Who::Token),
            other => Err(other),
        };
    }
    match cookie(headers) {
        None => Err(Access::Missing),
        Some(id) => state
            .sessions
            .get(id)
            .map(Who::Session)
            .ok_or(Access::Wrong),
    }
}

/// `?token=` on `/`, and the login form's field.
#[derive(Debug, Deserialize)]
struct TokenParam {
    token: Option<String>,
}

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    for (name, value) in [
        ("content-security-policy", CSP),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

fn html(status: StatusCode, body: String) -> Response {
    secured(
        (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
    )
}

/// The login form, with a (fixed) message saying why it is shown.
fn login_form(status: StatusCode, message: &str) -> Response {
    html(status, LOGIN.replace("{message}", message))
}

/// Sets the cookie to `value` (empty: removes it) and sends the browser to `/`.
fn to_page(state: &PageState, value: &str) -> Response {
    with_cookie(
        state,
        value,
        secured((StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()),
    )
}

/// The sign-in link's answer: the cookie, and a page that goes on to `/` by itself. Not a
/// redirect: the link is often followed from another site (a chat, a wiki), and a browser
/// does not send a `SameSite=Strict` cookie on a redirect that such a navigation started,
/// so `/` would ask to sign in again.
fn to_page_by_refresh(state: &PageState, value: &str) -> Response {
    with_cookie(
        state,
        value,
        html(
            StatusCode::OK,
            "<!doctype html>\n<meta charset=\"utf-8\">\n<meta http-equiv=\"refresh\" content=\"0; url=/\">\n<title>Signed in</title>\n<p>Signed in: <a href=\"/\">go to the page</a>.</p>\n".to_owned(),
        ),
    )
}

/// `response` setting the session cookie to `value` (empty: removing it).
fn with_cookie(state: &PageState, value: &str, mut response: Response) -> Response {
    let secure = if state.tls { "; Secure" } else { "" };
    let age = if value.is_empty() { "; Max-Age=0" } else { "" };
    let cookie = format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}");
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

async fn index(
    State(state): State<PageState>,
    Query(param): Query<TokenParam>,
    headers: HeaderMap,
) -> Response {
    if let Some(given) = param.token.as_deref() {
        return sign_in(&state, given, true);
    }
    match signed_in(&state, &headers) {
        // The session's token against cross-site requests, for the page's script to send.
        Ok(who) => {
            let csrf = match &who {
                Who::Session(s) => s.csrf.as_str(),
                Who::Token => "",
            };
            html(StatusCode::OK, INDEX.replace("{csrf}", csrf))
        }
        Err(Access::Missing | Access::Granted) => login_form(
            StatusCode::UNAUTHORIZED,
            "Sign in with the operator's API token (the file api-token in its data dir).",
        ),
        Err(Access::Wrong) => login_form(
            StatusCode::FORBIDDEN,
            "That token or session is not this operator's (sessions end when it restarts): sign in with the api-token file of its data dir.",
        ),
    }
}

/// Opens a session for the right token: by the link (`by_link`, a page that refreshes to
/// `/`) or the form (a redirect).
fn sign_in(state: &PageState, given: &str, by_link: bool) -> Response {
    let given = given.trim();
    if access(&state.token, Some(given)) != Access::Granted {
        return login_form(
            StatusCode::FORBIDDEN,
            "That token is not this operator's: use the api-token file of its data dir.",
        );
    }
    match state.sessions.open() {
        Ok((id, session)) => {
            tracing::info!(session = %session.label, "signed in to the page");
            if by_link {
                to_page_by_refresh(state, &id)
            } else {
                to_page(state, &id)
            }
        }
        Err(e) => html(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot open a session: {e}\n"),
        ),
    }
}

async fn login(State(state): State<PageState>, Form(param): Form<TokenParam>) -> Response {
    sign_in(&state, param.token.as_deref().unwrap_or_default(), false)
}

/// The sign-out form's field.
#[derive(Debug, Deserialize)]
struct LogoutForm {
    #[serde(default)]
    csrf: String,
}

/// Ends the cookie's session, if the form carries its token against cross-site requests
/// (403 otherwise: another site cannot sign people out); clears the cookie either way
/// when there is no session to end.
async fn logout(
    State(state): State<PageState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    if let Some(id) = cookie(&headers)
        && let Some(session) = state.sessions.get(id)
    {
        if !session.csrf_matches(&form.csrf) {
            return html(
                StatusCode::FORBIDDEN,
                "Signing out takes the page's own form: reload the page and use its Sign out button.\n".to_owned(),
            );
        }
        state.sessions.close(id);
    }
    to_page(&state, "")
}

async fn feed(State(state): State<PageState>, headers: HeaderMap) -> Response {
    let (status, message) = match signed_in(&state, &headers) {
        // A session's stream ends when the session does (signed out, or its lifetime over).
        Ok(who) => {
            let session = match who {
                Who::Session(_) => {
                    cookie(&headers).map(|id| (state.sessions.clone(), id.to_owned()))
                }
                Who::Token => None,
            };
            return state.hub.stream(state.stop.clone(), session);
        }
        Err(Access::Missing | Access::Granted) => (
            StatusCode::UNAUTHORIZED,
            "sign in first: GET / shows the form",
        ),
        Err(Access::Wrong) => (StatusCode::FORBIDDEN, "the token is not this operator's"),
    };
    (status, axum::Json(json!({ "error": message }))).into_response()
}

async fn asset(body: &'static str, content_type: &'static str) -> Response {
    secured(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_should_be_found_among_others_and_only_by_its_name() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; datamover_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers), Some("abc"));
        let mut other = HeaderMap::new();
        other.insert(
            header::COOKIE,
            HeaderValue::from_static("datamover_sessionx=abc"),
        );
        assert_eq!(cookie(&other), None);
    }
}
