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
    Router::new()
        .nest_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(Arc::new(auth), require_bearer))
        .route("/healthz", get(healthz))
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
