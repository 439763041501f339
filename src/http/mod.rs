//! The HTTP surface: MCP over Streamable HTTP at `/mcp` and the `/status` summary, behind
//! bearer auth, an open `/healthz`, and the web board (`crate::board`, behind its own
//! browser sessions); and the connections that carry it.
//!
//! Every route first checks `Host` and `Origin` against loopback and the configured lists
//! ([`rebinding`]), so a web page on another origin cannot drive the server or read it
//! through the user's browser (DNS rebinding), auth or not. Auth is an axum layer in front of
//! `/mcp` and `/status` so rmcp never sees an unauthenticated request; then
//! [`hygiene`] gives the protocol answers rmcp gives loosely. MCP sessions are capped
//! ([`sessions`]), and so are connections and the time a client may take ([`connections`]).

pub(crate) mod connections;
mod hygiene;
pub(crate) mod open_files;
mod rebinding;
pub(crate) mod sessions;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use crate::mcp::WorkSyncServer;
use crate::mcp::in_flight::InFlight;
use crate::server::ServerLimits;
use crate::settings::Auth;
use crate::share::commands;
use crate::share::supervisor::Sharing;
use crate::store::Store;
use crate::vault::Vault;
use connections::Connections;
use hygiene::Hygiene;
use rebinding::{AllowList, LOOPBACK_HOSTS, LOOPBACK_ORIGINS};
use sessions::CappedSessions;

/// What the HTTP layer needs from the running server.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub vault: Vault,
    /// The sync loops of shared projects.
    pub sharing: Sharing,
    pub auth: Arc<Auth>,
    /// Tool calls in progress (graceful shutdown waits for them).
    pub in_flight: InFlight,
    /// Cancelled to close every MCP session once in-flight calls are done.
    pub sessions: CancellationToken,
    pub started: Instant,
    /// The bounds this server runs with.
    pub limits: ServerLimits,
    /// The open connections (for `/status`).
    pub(crate) connections: Connections,
    /// The open MCP sessions, capped at `limits.max_sessions`.
    pub(crate) mcp_sessions: Arc<CappedSessions>,
    /// The web board's sessions and templates.
    pub board: Arc<crate::board::Board>,
}

/// The application: `/mcp` and `/status` (authenticated) and `/healthz` (open, no data),
/// every one of them for allowed hosts and origins only.
pub fn router(state: AppState) -> Router {
    // Loopback, plus whatever config.yaml allows (read once, at start).
    let settings = state.store.published().config.settings.clone().unwrap_or_default();
    let hosts: Vec<String> =
        LOOPBACK_HOSTS.iter().map(|h| h.to_string()).chain(settings.allowed_hosts.into_iter().flatten()).collect();
    let origins: Vec<String> =
        LOOPBACK_ORIGINS.iter().map(|o| o.to_string()).chain(settings.allowed_origins.into_iter().flatten()).collect();
    let allowed = Arc::new(AllowList::new(hosts.clone(), origins.clone()));
    // rmcp checks the same lists again inside /mcp: harmless, and it keeps /mcp safe should
    // the layer order ever change.
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(state.sessions.clone())
        .with_allowed_hosts(hosts)
        .with_allowed_origins(origins)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        // A 2026-07-28 client (no session) gets a plain JSON answer when the reply is one
        // message, as nearly all are (an SSE stream otherwise); sessions keep SSE.
        .with_json_response(true);
    // One server value for every session: its tool and prompt routers are built once and
    // shared, not rebuilt (schemas and all) for each session.
    let server =
        WorkSyncServer::new(state.store.clone(), state.vault.clone(), state.in_flight.clone(), state.sharing.clone());
    let mcp = StreamableHttpService::new(move || Ok(server.clone()), state.mcp_sessions.clone(), config);
    let hygiene = Hygiene { sessions: state.mcp_sessions.clone(), body_timeout: state.limits.body_timeout };
    // Route layers: they guard /mcp and /status only, so other paths (e.g. OAuth discovery
    // probes) get a plain 404 rather than an auth challenge. The last layer added runs first.
    Router::new()
        .nest_service("/mcp", mcp)
        .route("/status", get(status))
        .route_layer(middleware::from_fn_with_state(hygiene, hygiene::protocol_hygiene))
        // What `worksync share`, `join` and `pull` ask of a running server: authenticated,
        // plain JSON (not JSON-RPC).
        .route("/share/{project}/pull", post(pull))
        .route("/share/{project}", post(share))
        .route("/join", post(join))
        // `worksync open`: a one-time login code for the web board.
        .route("/board/code", post(crate::board::issue_code))
        .route_layer(middleware::from_fn_with_state(state.auth.clone(), require_bearer))
        .route("/healthz", get(healthz))
        // The web board: its own sessions (a cookie never authorizes the routes above).
        .merge(crate::board::routes(state.clone()))
        .layer(middleware::from_fn_with_state(allowed, rebinding::check_host_and_origin))
        .with_state(state)
}

/// Every shared project's sync status.
fn shared_status(state: &AppState) -> serde_json::Value {
    let board = state.sharing.board();
    let statuses: serde_json::Map<String, serde_json::Value> = board
        .projects()
        .into_iter()
        .filter_map(|p| {
            let status = board.get(&p, state.store.changes_last_seq(&p))?;
            Some((p, serde_json::to_value(status).ok()?))
        })
        .collect();
    serde_json::Value::Object(statuses)
}

/// What `worksync share` sends.
#[derive(serde::Deserialize)]
struct ShareRequest {
    remote: String,
    branch: Option<String>,
    interval_seconds: Option<f64>,
}

/// What `worksync join` sends.
#[derive(serde::Deserialize)]
struct JoinRequest {
    remote: String,
    project: String,
    branch: Option<String>,
    repo: Option<String>,
    interval_seconds: Option<f64>,
}

/// `worksync share`: makes a project shared, then syncs it (its first push).
async fn share(
    State(state): State<AppState>,
    Path(project): Path<String>,
    axum::Json(request): axum::Json<ShareRequest>,
) -> Response {
    let branch = request.branch.as_deref().unwrap_or(crate::store::registry::DEFAULT_SHARE_BRANCH);
    let machine = state.sharing.machine();
    if let Err(e) =
        commands::share(&state.store, &project, &request.remote, branch, request.interval_seconds, &machine).await
    {
        return refused(e);
    }
    pull(State(state), Path(project)).await
}

/// `worksync join`: brings a shared plan in as a project, then syncs it.
async fn join(State(state): State<AppState>, axum::Json(request): axum::Json<JoinRequest>) -> Response {
    let branch = request.branch.as_deref().unwrap_or(crate::store::registry::DEFAULT_SHARE_BRANCH);
    let machine = state.sharing.machine();
    let (remote, repo) = (&request.remote, request.repo.as_deref());
    let joined =
        commands::join(&state.store, remote, &request.project, branch, repo, request.interval_seconds, &machine).await;
    if let Err(e) = joined {
        return refused(e);
    }
    pull(State(state), Path(request.project)).await
}

fn refused(e: commands::Refusal) -> Response {
    (StatusCode::CONFLICT, axum::Json(serde_json::json!({ "synced": false, "error": e.to_string() }))).into_response()
}

/// `worksync pull`: syncs a shared project now; answers with how it went and its status.
async fn pull(State(state): State<AppState>, Path(project): Path<String>) -> Response {
    let outcome = state.sharing.pull(&project).await;
    let status = state.sharing.board().get(&project, state.store.changes_last_seq(&project));
    let code = if outcome.is_ok() { StatusCode::OK } else { StatusCode::CONFLICT };
    (code, axum::Json(crate::share::sync::report(&outcome, status))).into_response()
}

/// Liveness for scripts: answers without auth and says nothing about the data.
async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(process_info(&state))
}

/// What `worksync.sh status` shows: the process, and (authenticated) the projects it serves.
async fn status(State(state): State<AppState>) -> impl IntoResponse {
    let snapshot = state.store.published();
    let mut info = process_info(&state);
    info["data_root"] = serde_json::json!(state.store.layout().root().display().to_string());
    info["projects"] = serde_json::json!(snapshot.config.projects().map(|(name, _)| name).collect::<Vec<_>>());
    info["tool_calls_in_flight"] = serde_json::json!(state.in_flight.count());
    info["vault"] = serde_json::json!(state.vault.stats());
    info["shared"] = shared_status(&state);
    info["connections"] = serde_json::json!({
        "open": state.connections.count(),
        "busy": state.connections.busy(),
        "max": state.connections.cap(),
    });
    info["sessions"] = serde_json::json!({
        "open": state.mcp_sessions.count(),
        "max": state.mcp_sessions.cap(),
    });
    axum::Json(info)
}

fn process_info(state: &AppState) -> serde_json::Value {
    let auth = match state.auth.as_ref() {
        Auth::Bearer { .. } => "bearer",
        Auth::Disabled => "disabled",
    };
    serde_json::json!({
        "status": "ok",
        "service": "worksync",
        "version": env!("CARGO_PKG_VERSION"),
        "pid": std::process::id(),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "auth": auth,
    })
}

/// Rejects requests without the right bearer token with 401 and `WWW-Authenticate: Bearer`.
async fn require_bearer(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    let Auth::Bearer { token, .. } = auth.as_ref() else {
        return next.run(request).await;
    };
    let presented =
        request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_credentials);
    // `ct_eq` compares in constant time for equal lengths; a length mismatch fails at once,
    // which reveals only the key's length.
    let valid = presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(token.as_bytes())));
    if valid {
        return next.run(request).await;
    }
    let body = serde_json::json!({
        "error": "Unauthorized",
        "detail": "Missing or invalid bearer token: send 'Authorization: Bearer <WORKSYNC_API_KEY>'.",
    });
    let mut response = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"worksync\""));
    response
}

/// The credentials of an `Authorization: Bearer <token>` value. The scheme is matched without
/// regard to case (RFC 7235 §2.1), so `BEARER x` and `bearer x` are the same.
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.trim_start().split_once([' ', '\t'])?;
    scheme.eq_ignore_ascii_case("bearer").then(|| credentials.trim())
}

#[cfg(test)]
mod tests {
    /// The scheme in any case and extra blanks are accepted; other schemes and no token are not.
    #[test]
    fn bearer_credentials() {
        for (value, expected) in [
            ("Bearer abc", Some("abc")),
            ("BEARER abc", Some("abc")),
            ("bEaReR  abc ", Some("abc")),
            ("Bearer\tabc", Some("abc")),
            ("Basic abc", None),
            ("Bearerabc", None),
            ("Bearer", None),
            ("Bearer ", Some("")),
        ] {
            assert_eq!(super::bearer_credentials(value), expected, "{value:?}");
        }
    }
}
