//! The web board: people follow and steer the agents' work in a browser, on the server's own
//! port, live.
//!
//! Pages are rendered on the server from the published snapshot by minijinja templates
//! compiled into the binary (every value HTML-escaped); one small script (`assets/board.js`)
//! follows the change feed over SSE (`/events`) and refreshes the open page. A person's edit
//! is a plain form post that becomes one ordinary operation of the writer, guarded by the
//! item's `rev` and credited to `settings.board_editor` (default `human`), so agents see it
//! in their change feed like any other change.
//!
//! Who may see it: a browser session ([`sessions`]), from a one-time code (`worksync open`)
//! or the API key pasted at `/login`. The session cookie is HttpOnly, SameSite=Strict, has no
//! `Domain`, and never authorizes `/mcp` (only the bearer key does). Every post also needs
//! the session's CSRF token and an `Origin` that is this server itself: any port on
//! localhost is the same *site* to a browser, so SameSite alone would let another local app
//! post here. Every response carries a strict Content-Security-Policy (scripts from this
//! server only, no inline script), and refuses to be framed.

mod edits;
mod live;
mod pages;
pub mod sessions;
mod view;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use minijinja::Environment;

use crate::http::AppState;
use sessions::{Session, Sessions};

/// The session cookie's name.
const COOKIE: &str = "worksync_board";
/// Who board edits are credited to when config names nobody.
pub const DEFAULT_EDITOR: &str = "human";

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The board's own state: its sessions and its compiled templates.
pub struct Board {
    pub sessions: Sessions,
    templates: Environment<'static>,
}

impl Default for Board {
    fn default() -> Self {
        Board::new()
    }
}

impl Board {
    pub fn new() -> Board {
        let mut templates = Environment::new();
        for (name, source) in TEMPLATES {
            templates.add_template(name, source).expect("the board's templates compile (tested)");
        }
        Board { sessions: Sessions::default(), templates }
    }

    /// Renders `name` (auto-escaped: every template is `.html`).
    fn render(&self, name: &str, context: impl serde::Serialize) -> Response {
        let rendered = self.templates.get_template(name).and_then(|t| t.render(context));
        match rendered {
            Ok(html) => {
                ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], html)
                    .into_response()
            }
            Err(e) => {
                tracing::error!(template = name, error = %e, "a board page did not render");
                (StatusCode::INTERNAL_SERVER_ERROR, "the page did not render; the server log says why").into_response()
            }
        }
    }
}

const TEMPLATES: [(&str, &str); 9] = [
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("card.html", include_str!("templates/card.html")),
    ("board.html", include_str!("templates/board.html")),
    ("sprint.html", include_str!("templates/sprint.html")),
    ("item.html", include_str!("templates/item.html")),
    ("activity.html", include_str!("templates/activity.html")),
    ("message.html", include_str!("templates/message.html")),
];

/// The board's routes: login and assets for everyone (they show no data), the rest for a
/// session. The `Host`/`Origin` check of every route applies around them.
pub fn routes(state: AppState) -> Router<AppState> {
    let with_session = Router::new()
        .route("/", get(pages::overview))
        .route("/activity", get(pages::activity))
        .route("/events", get(live::events))
        .route("/p/{project}", get(pages::board))
        .route("/p/{project}/backlog", post(edits::add_backlog))
        .route("/p/{project}/sprint/{id}", get(pages::sprint))
        .route("/p/{project}/{kind}/{id}", get(pages::item))
        .route("/p/{project}/{kind}/{id}/{action}", post(edits::change))
        .route("/logout", post(logout))
        .route_layer(middleware::from_fn_with_state(state, require_session));
    Router::new()
        .merge(with_session)
        .route("/login", get(pages::login_page).post(log_in))
        .route("/assets/board.css", get(|| asset("text/css; charset=utf-8", include_str!("assets/board.css"))))
        .route("/assets/board.js", get(|| asset("text/javascript; charset=utf-8", include_str!("assets/board.js"))))
        .layer(middleware::from_fn(security_headers))
}

async fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

/// Headers on every board response: no script but ours, no framing, no sniffing, and a
/// referrer for this server only (a login code in a URL goes nowhere else; `no-referrer`
/// would make browsers send `Origin: null` on the board's own forms).
async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

/// The logged-in browser a request comes from, for handlers.
#[derive(Clone)]
pub(crate) struct LoggedIn {
    pub id: String,
    pub session: Session,
}

/// Lets a request through only with a live session; a post also needs an `Origin` of this
/// very server. Without a session a page goes to the login page, anything else gets 401.
async fn require_session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let found = session_id(request.headers()).and_then(|id| Some((state.board.sessions.get(&id)?, id)));
    let Some((session, id)) = found else {
        if request.method() == Method::GET && request.uri().path() != "/events" {
            let next = request.uri().path_and_query().map_or("/", |p| p.as_str());
            return Redirect::to(&format!("/login?next={}", urlencode(next))).into_response();
        }
        return (StatusCode::UNAUTHORIZED, "log in first: run `worksync open`, or open /login").into_response();
    };
    if request.method() == Method::POST
        && let Err(why) = same_origin(request.headers())
    {
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    request.extensions_mut().insert(LoggedIn { id, session });
    next.run(request).await
}

/// Whether a post comes from a page of this server: its `Origin` names the `Host` it was
/// sent to (or, from a browser that sends no `Origin`, `Sec-Fetch-Site` says same-origin).
fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or_default();
    match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        Some(origin) if origin.strip_prefix("http://") == Some(host) && !host.is_empty() => Ok(()),
        Some(_) => Err("refused: this form was not sent from the board's own page (Origin differs)"),
        None => match headers.get("sec-fetch-site").and_then(|s| s.to_str().ok()) {
            Some("same-origin") | None => Ok(()),
            Some(_) => Err("refused: this form was not sent from the board's own page"),
        },
    }
}

/// The session id of the request's cookie.
fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_string())
}

/// What `/login` takes: a code from `worksync open` (GET) or the key (POST), and where to go
/// after.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(crate) struct LoginForm {
    code: Option<String>,
    key: Option<String>,
    next: Option<String>,
}

/// `POST /login`: the API key pasted by hand (or nothing, on a server without auth).
async fn log_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<LoginForm>,
) -> Response {
    if let Err(why) = same_origin(&headers) {
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    let started = match state.auth.as_ref() {
        crate::settings::Auth::Bearer { token, .. } => {
            state.board.sessions.log_in_with_key(form.key.as_deref().unwrap_or_default(), token)
        }
        crate::settings::Auth::Disabled => Ok(state.board.sessions.log_in_open()),
    };
    finish_login(&state, &headers, started, form.next.as_deref())
}

/// Sets the new session's cookie and goes on, or shows the login page with why not. Any
/// session the browser had before ends: every login starts a new one.
pub(crate) fn finish_login(
    state: &AppState,
    headers: &HeaderMap,
    started: Result<(String, Session), sessions::Refused>,
    next: Option<&str>,
) -> Response {
    let next = local_path(next).unwrap_or("/");
    match started {
        Ok((id, _)) => {
            if let Some(old) = session_id(headers) {
                state.board.sessions.end(&old);
            }
            let max_age = sessions::IDLE_LIMIT.as_secs();
            let cookie = format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
            tracing::info!("a browser logged in to the board");
            let mut response = Redirect::to(next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("hex id"));
            response
        }
        Err(refused) => {
            let (code, message) = match refused {
                sessions::Refused::Invalid => (
                    StatusCode::UNAUTHORIZED,
                    "That code or key did not work: a code works once, for a minute. Run `worksync open` again, or paste the key from `worksync key --show`.".to_string(),
                ),
                sessions::Refused::Throttled(wait) => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Too many failed logins: try again in {} seconds.", wait.as_secs().max(1)),
                ),
            };
            tracing::warn!(%message, "a board login was refused");
            let mut response = pages::login_form(state, next, Some(&message));
            *response.status_mut() = code;
            response
        }
    }
}

/// `POST /logout`: ends the session and forgets the cookie.
async fn logout(
    State(state): State<AppState>,
    axum::Extension(logged_in): axum::Extension<LoggedIn>,
    axum::Form(form): axum::Form<edits::Csrf>,
) -> Response {
    if !sessions::csrf_matches(&logged_in.session, &form.csrf) {
        return edits::stale_form();
    }
    state.board.sessions.end(&logged_in.id);
    let mut response = Redirect::to("/login").into_response();
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("ascii"));
    response
}

/// `POST /board/code` (bearer only): a one-time login code for `worksync open`.
pub async fn issue_code(State(state): State<AppState>) -> Response {
    let code = state.board.sessions.issue_code();
    axum::Json(serde_json::json!({ "code": code, "expires_in_seconds": sessions::CODE_LIFETIME.as_secs() }))
        .into_response()
}

/// `path` if it is a path on this server (never another host: `//evil`, `/\evil`).
fn local_path(path: Option<&str>) -> Option<&str> {
    path.filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') && !p.contains(['\r', '\n']))
}

pub(crate) fn urlencode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Who the board's edits are credited to.
fn editor(state: &AppState) -> String {
    let snapshot = state.store.published();
    let named = snapshot.config.settings.as_ref().and_then(|s| s.board_editor.clone());
    named.filter(|n| !n.trim().is_empty()).unwrap_or_else(|| DEFAULT_EDITOR.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path(Some("/p/orbit")), Some("/p/orbit"));
        for hostile in ["//evil.example", "/\\evil.example", "https://evil.example", "javascript:alert(1)", "/a\r\nb"] {
            assert_eq!(local_path(Some(hostile)), None, "{hostile}");
        }
    }

    #[test]
    fn a_post_must_come_from_this_server() {
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8321"), ("origin", "http://127.0.0.1:8321")])).is_ok());
        // Another local app is the same site, not the same origin.
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8321"), ("origin", "http://127.0.0.1:3000")])).is_err());
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8321"), ("origin", "null")])).is_err());
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8321"), ("sec-fetch-site", "same-site")])).is_err());
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8321"), ("sec-fetch-site", "same-origin")])).is_ok());
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; worksync_board=abc; b=2"));
        assert_eq!(session_id(&headers).as_deref(), Some("abc"));
    }

    #[test]
    fn templates_compile() {
        let board = Board::new();
        assert_eq!(board.templates.templates().count(), TEMPLATES.len());
    }
}
