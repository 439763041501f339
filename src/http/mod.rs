//! The HTTP surface: MCP over Streamable HTTP at `/mcp` and the `/status` summary, behind
//! bearer auth, and an open `/healthz`; and the connections that carry it, bounded in number
//! and in the time a client may take ([`connections`]). MCP sessions are capped ([`sessions`]).
//!
//! Every route first checks `Host` and `Origin` against loopback and the configured lists
//! ([`rebinding`]), so a web page on another origin cannot drive the server or read it
//! through the user's browser (DNS rebinding), auth or not. Auth is an axum layer in front of
//! `/mcp` and `/status` so rmcp never sees an unauthenticated request (SPEC §7).

pub(crate) mod connections;
mod rebinding;
pub(crate) mod sessions;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use crate::mcp::WorkSyncServer;
use crate::mcp::in_flight::InFlight;
use crate::server::ServerLimits;
use crate::settings::Auth;
use crate::store::Store;
use crate::vault::Vault;
use connections::Connections;
use rebinding::{AllowList, LOOPBACK_HOSTS, LOOPBACK_ORIGINS};
use sessions::CappedSessions;

/// What the HTTP layer needs from the running server.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub vault: Vault,
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
        .with_sse_keep_alive(Some(Duration::from_secs(15)));
    // One server value for every session: its tool and prompt routers are built once and
    // shared, not rebuilt (schemas and all) for each session.
    let server = WorkSyncServer::new(state.store.clone(), state.vault.clone(), state.in_flight.clone());
    let mcp = StreamableHttpService::new(move || Ok(server.clone()), state.mcp_sessions.clone(), config);
    // Route layers: they guard /mcp and /status only, so other paths (e.g. OAuth discovery
    // probes) get a plain 404 rather than an auth challenge. The last layer added runs first.
    Router::new()
        .nest_service("/mcp", mcp)
        .route("/status", get(status))
        .route_layer(middleware::from_fn_with_state(state.limits.body_timeout, protocol_hygiene))
        .route_layer(middleware::from_fn_with_state(state.auth.clone(), require_bearer))
        .route("/healthz", get(healthz))
        .layer(middleware::from_fn_with_state(allowed, rebinding::check_host_and_origin))
        .with_state(state)
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

/// Largest request body accepted on `/mcp` (rmcp's own default limit).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Answers what rmcp answers loosely, as the MCP spec and clients expect: a body that is not
/// JSON gets 400 with a JSON-RPC parse error (rmcp says 415), a JSON-RPC batch gets 400 with
/// "invalid request" (batches were removed from the protocol), a body that does not arrive
/// within `body_timeout` gets 408 and the connection is closed (rmcp would wait for ever), and
/// a successful session DELETE gets 204 (some SDKs warn on rmcp's 202).
async fn protocol_hygiene(State(body_timeout): State<Duration>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let request = if method == axum::http::Method::POST && is_json {
        let (parts, body) = request.into_parts();
        let bytes = match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
            Err(_elapsed) => {
                let message = format!(
                    "Request Timeout: the request body did not arrive within {} s; send the whole body at once",
                    body_timeout.as_secs_f64()
                );
                let mut response = jsonrpc_error(StatusCode::REQUEST_TIMEOUT, -32600, &message);
                // The rest of the body may still come: the connection cannot carry another request.
                response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
                return response;
            }
            Ok(Err(_too_large)) => {
                return jsonrpc_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, "Request body too large (limit 4 MiB)");
            }
            Ok(Ok(bytes)) => bytes,
        };
        match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Err(e) => return jsonrpc_error(StatusCode::BAD_REQUEST, -32700, &format!("Parse error: {e}")),
            Ok(serde_json::Value::Array(_)) => {
                return jsonrpc_error(
                    StatusCode::BAD_REQUEST,
                    -32600,
                    "Invalid Request: JSON-RPC batches are not supported; send one message per request",
                );
            }
            Ok(_) => Request::from_parts(parts, axum::body::Body::from(bytes)),
        }
    } else {
        request
    };
    let mut response = next.run(request).await;
    if method == axum::http::Method::DELETE && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

fn jsonrpc_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = serde_json::json!({ "jsonrpc": "2.0", "id": null, "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

/// Rejects requests without the right bearer token with 401 and `WWW-Authenticate: Bearer`.
async fn require_bearer(State(auth): State<Arc<Auth>>, request: Request, next: Next) -> Response {
    let Auth::Bearer { token, .. } = auth.as_ref() else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
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
