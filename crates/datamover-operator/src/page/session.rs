//! The page's sign-in sessions: a login with the API token opens one, and the browser keeps
//! only its id (a cookie), never the token.
//!
//! Each session has a label, which the log names as who did an action, and a token of its
//! own against cross-site requests: the page reads it from its HTML and sends it in the
//! [`CSRF_HEADER`] of every action; a request another site makes the browser send carries
//! the cookie (if `SameSite` did not stop it) but cannot read the page to learn the token.
//! Sessions live in memory: after a restart, the page asks to sign in again. At most
//! [`MAX_SESSIONS`] are kept (a new one pushes out the oldest), each for [`LIFETIME`].

use crate::auth::random_token;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The header that carries a session's token against cross-site requests.
pub(crate) const CSRF_HEADER: &str = "x-datamover-csrf";
/// How many sessions are kept at once.
pub(crate) const MAX_SESSIONS: usize = 256;
/// How long a session lasts after its login.
pub(crate) const LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// One signed-in browser.
#[derive(Clone, Debug)]
pub(crate) struct Session {
    /// Who, in the log: `session-` and 8 hex digits, unrelated to the id.
    pub(crate) label: String,
    /// The token every state-changing request of this session must send in [`CSRF_HEADER`].
    pub(crate) csrf: String,
    opened: Instant,
}

impl Session {
    /// Whether `given` is this session's cross-site token, compared in constant time.
    pub(crate) fn csrf_matches(&self, given: &str) -> bool {
        self.csrf.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// The open sessions, by id. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Sessions {
    open: Arc<Mutex<HashMap<String, Session>>>,
}

impl Sessions {
    /// Opens a session: its id (the cookie's value) and the session.
    pub(crate) fn open(&self) -> Result<(String, Session), String> {
        let id = random_token()?;
        let session = Session {
            label: format!("session-{}", &random_token()?[..8]),
            csrf: random_token()?,
            opened: Instant::now(),
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.retain(|_, s| s.opened.elapsed() < LIFETIME);
        if open.len() >= MAX_SESSIONS
            && let Some(oldest) = open
                .iter()
                .min_by_key(|(_, s)| s.opened)
                .map(|(id, _)| id.clone())
        {
            open.remove(&oldest);
        }
        open.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    /// The session `id` names, while it lasts.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.get(id)
            .filter(|s| s.opened.elapsed() < LIFETIME)
            .cloned()
    }

    /// Ends the session `id` (signing out).
    pub(crate) fn close(&self, id: &str) {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = open.remove(id) {
            tracing::info!(session = %s.label, "signed out");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_should_be_found_by_its_id_until_closed_and_the_oldest_should_make_room() {
        let sessions = Sessions::default();
        let (first, session) = sessions.open().unwrap();
        assert_eq!(first.len(), 64);
        assert!(session.label.starts_with("session-") && session.label.len() == 16);
        assert_ne!(session.csrf, first);
        assert!(session.csrf_matches(&session.csrf));
        assert!(!session.csrf_matches("nope"));
        assert_eq!(sessions.get(&first).unwrap().csrf, session.csrf);
        assert!(sessions.get("not-an-id").is_none());
        for _ in 1..MAX_SESSIONS {
            sessions.open().unwrap();
        }
        assert!(sessions.get(&first).is_some(), "{MAX_SESSIONS} fit");
        let (last, _) = sessions.open().unwrap();
        assert!(sessions.get(&first).is_none(), "the oldest made room");
        assert!(sessions.get(&last).is_some());
        sessions.close(&last);
        assert!(sessions.get(&last).is_none());
    }
}
