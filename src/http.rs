//! The HTTP surface: MCP over Streamable HTTP at `/mcp`, behind bearer auth, and `/healthz`.
//!
//! Auth is an axum layer in front of `/mcp` so rmcp never sees an unauthenticated request
//! (SPEC §7). rmcp itself checks the `Host` header against loopback names, and we give it a
//! loopback `Origin` allowlist, so a web page on another origin cannot drive the server
//! through the user's browser (DNS rebinding).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use crate::mcp::WorkSyncServer;
use crate::settings::Auth;
use crate::store::Store;

/// Origins a browser-based client (e.g. the MCP Inspector) may call from: loopback only.
const LOOPBACK_ORIGINS: [&str; 3] = ["http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*"];

/// The application: `/mcp` (authenticated) and `/healthz` (open, reveals nothing).
pub fn router(store: Store, auth: Auth, shutdown: CancellationToken) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        .with_allowed_origins(LOOPBACK_ORIGINS)
        .with_sse_keep_alive(Some(Duration::from_secs(15)));
    let mcp = StreamableHttpService::new(
        move || Ok(WorkSyncServer::new(store.clone())),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    // Route layers: they guard /mcp only, so other paths (e.g. OAuth discovery probes) get
    // a plain 404 rather than an auth challenge. The last layer added runs first.
    Router::new()
        .nest_service("/mcp", mcp)
        .route_layer(middleware::from_fn(protocol_hygiene))
        .route_layer(middleware::from_fn_with_state(Arc::new(auth), require_bearer))
        .route("/healthz", get(healthz))
}

/// Largest request body accepted on `/mcp` (rmcp's own default limit).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Answers what rmcp answers loosely, as the MCP spec and clients expect: a body that is not
/// JSON gets 400 with a JSON-RPC parse error (rmcp says 415), a JSON-RPC batch gets 400 with
/// "invalid request" (batches were removed from the protocol), and a successful session
/// DELETE gets 204 (some SDKs warn on rmcp's 202).
async fn protocol_hygiene(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let request = if method == axum::http::Method::POST && is_json {
        let (parts, body) = request.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
            return jsonrpc_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, "Request body too large (limit 4 MiB)");
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

/// Liveness for scripts: answers without auth and says nothing about the data.
async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({ "status": "ok", "service": "worksync", "version": env!("CARGO_PKG_VERSION") }))
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
