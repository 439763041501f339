//! Who may see the board: one-time login codes, browser sessions, their CSRF tokens, and
//! the throttle on failed logins.
//!
//! A browser cannot send the API key from a bookmark, so a person logs in once per session:
//! `worksync open` (holding the key) asks for a code, the browser trades it at `/login` for
//! a session cookie; or the person pastes the key into `/login`. Everything here is memory
//! only: a restart ends every session, which costs a person one `worksync open`.
//!
//! The rules, each against a named attack: a code works once and for a minute (a URL in a
//! shell history or a screen share is dead by the time it is read); every login makes a new
//! session id (no fixation); a session ends after 12 hours unused or 7 days after login;
//! each session has its own CSRF token, compared in constant time; after 10 failed logins in
//! a minute every login is refused until the minute has passed (the key cannot be guessed
//! by a page hammering `/login`).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

/// How long a login code from `worksync open` can be used.
pub const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// A session unused this long ends.
pub const IDLE_LIMIT: Duration = Duration::from_secs(12 * 3600);
/// A session ends this long after its login, used or not.
pub const SESSION_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);
/// Failed logins allowed per [`FAILURE_WINDOW`] before logins are refused.
const MAX_FAILURES: usize = 10;
const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// Sessions and unused codes kept at most; the oldest go first.
const MAX_SESSIONS: usize = 256;
const MAX_CODES: usize = 64;

/// A logged-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token every form of this session carries.
    pub csrf: String,
    started: Instant,
    last_used: Instant,
}

/// Why a login was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// The code or key is wrong, used or expired.
    Invalid,
    /// Too many failed logins lately; try again after this long.
    Throttled(Duration),
}

/// The sessions of one server.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, Session>,
    /// Unused login codes and when each was issued.
    codes: HashMap<String, Instant>,
    failures: VecDeque<Instant>,
}

impl Sessions {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new one-time login code.
    pub fn issue_code(&self) -> String {
        let code = random_token();
        let now = Instant::now();
        let mut inner = self.inner();
        inner.codes.retain(|_, issued| now.duration_since(*issued) < CODE_LIFETIME);
        if inner.codes.len() >= MAX_CODES
            && let Some(oldest) = inner.codes.iter().min_by_key(|(_, at)| **at).map(|(c, _)| c.clone())
        {
            inner.codes.remove(&oldest);
        }
        inner.codes.insert(code.clone(), now);
        code
    }

    /// Trades a login code for a new session (the code is spent, valid or not).
    pub fn redeem(&self, code: &str) -> Result<(String, Session), Refused> {
        self.redeem_at(code, Instant::now())
    }

    fn redeem_at(&self, code: &str, now: Instant) -> Result<(String, Session), Refused> {
        let mut inner = self.inner();
        inner.throttled(now)?;
        let issued = inner.codes.remove(code);
        match issued {
            Some(at) if now.saturating_duration_since(at) < CODE_LIFETIME => Ok(inner.start(now)),
            _ => Err(inner.failed(now)),
        }
    }

    /// A new session for whoever presented `presented` as the API key `key`.
    pub fn log_in_with_key(&self, presented: &str, key: &str) -> Result<(String, Session), Refused> {
        let now = Instant::now();
        let mut inner = self.inner();
        inner.throttled(now)?;
        if bool::from(presented.trim().as_bytes().ct_eq(key.as_bytes())) {
            Ok(inner.start(now))
        } else {
            Err(inner.failed(now))
        }
    }

    /// A new session with no credential: for servers that run without auth, where the
    /// board is as open as `/mcp`.
    pub fn log_in_open(&self) -> (String, Session) {
        self.inner().start(Instant::now())
    }

    /// The session `id` names, if it is live; marks it used.
    pub fn get(&self, id: &str) -> Option<Session> {
        self.get_at(id, Instant::now())
    }

    fn get_at(&self, id: &str, now: Instant) -> Option<Session> {
        let mut inner = self.inner();
        let session = inner.sessions.get_mut(id)?;
        if now.saturating_duration_since(session.last_used) >= IDLE_LIMIT
            || now.saturating_duration_since(session.started) >= SESSION_LIMIT
        {
            inner.sessions.remove(id);
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    /// Ends a session.
    pub fn end(&self, id: &str) {
        self.inner().sessions.remove(id);
    }
}

impl Inner {
    fn start(&mut self, now: Instant) -> (String, Session) {
        self.sessions.retain(|_, s| {
            now.saturating_duration_since(s.last_used) < IDLE_LIMIT
                && now.saturating_duration_since(s.started) < SESSION_LIMIT
        });
        if self.sessions.len() >= MAX_SESSIONS
            && let Some(oldest) = self.sessions.iter().min_by_key(|(_, s)| s.last_used).map(|(id, _)| id.clone())
        {
            self.sessions.remove(&oldest);
        }
        let session = Session { csrf: random_token(), started: now, last_used: now };
        let id = random_token();
        self.sessions.insert(id.clone(), session.clone());
        (id, session)
    }

    fn throttled(&mut self, now: Instant) -> Result<(), Refused> {
        while self.failures.front().is_some_and(|at| now.duration_since(*at) >= FAILURE_WINDOW) {
            self.failures.pop_front();
        }
        match self.failures.front() {
            Some(first) if self.failures.len() >= MAX_FAILURES => {
                Err(Refused::Throttled(FAILURE_WINDOW.saturating_sub(now.duration_since(*first))))
            }
            _ => Ok(()),
        }
    }

    fn failed(&mut self, now: Instant) -> Refused {
        self.failures.push_back(now);
        Refused::Invalid
    }
}

/// Whether a form's CSRF token is the session's.
pub fn csrf_matches(session: &Session, presented: &str) -> bool {
    bool::from(presented.as_bytes().ct_eq(session.csrf.as_bytes()))
}

/// 256 random bits, hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_works_once() {
        let sessions = Sessions::default();
        let code = sessions.issue_code();
        let (id, session) = sessions.redeem(&code).expect("first use");
        assert_eq!(sessions.redeem(&code).unwrap_err(), Refused::Invalid);
        assert!(sessions.get(&id).is_some());
        assert!(csrf_matches(&session, &session.csrf));
        assert!(!csrf_matches(&session, "nope"));
        sessions.end(&id);
        assert!(sessions.get(&id).is_none());
    }

    #[test]
    fn every_login_is_a_new_session() {
        let sessions = Sessions::default();
        let (a, first) = sessions.log_in_with_key("key", "key").unwrap();
        let (b, second) = sessions.log_in_with_key(" key\n", "key").unwrap();
        assert_ne!(a, b);
        assert_ne!(first.csrf, second.csrf);
    }

    #[test]
    fn failed_logins_are_throttled() {
        let sessions = Sessions::default();
        for _ in 0..MAX_FAILURES {
            assert_eq!(sessions.log_in_with_key("wrong", "key").unwrap_err(), Refused::Invalid);
        }
        // Now even the right key waits: a guesser learns nothing from the answer.
        assert!(matches!(sessions.log_in_with_key("key", "key"), Err(Refused::Throttled(_))));
        assert!(matches!(sessions.redeem(&sessions.issue_code()), Err(Refused::Throttled(_))));
    }

    #[test]
    fn an_expired_code_is_refused() {
        let sessions = Sessions::default();
        let code = sessions.issue_code();
        assert_eq!(sessions.redeem_at(&code, Instant::now() + CODE_LIFETIME).unwrap_err(), Refused::Invalid);
    }

    #[test]
    fn an_idle_session_ends() {
        let sessions = Sessions::default();
        let (used, _) = sessions.log_in_open();
        let (idle, _) = sessions.log_in_open();
        assert!(sessions.get_at(&used, Instant::now() + IDLE_LIMIT / 2).is_some());
        assert!(sessions.get_at(&idle, Instant::now() + IDLE_LIMIT).is_none());
        assert!(sessions.get(&idle).is_none(), "an ended session stays ended");
        // Used all along, a session still ends a week after its login.
        assert!(sessions.get_at(&used, Instant::now() + SESSION_LIMIT).is_none());
    }
}
