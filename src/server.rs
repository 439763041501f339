//! Starting and stopping the server.
//!
//! [`run`] is the whole server behind one call, given a bound listener and a shutdown token,
//! so that `main` and the integration tests start it the same way (tests bind port 0).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http::{self, AppState};
use crate::mcp::in_flight::InFlight;
use crate::settings::Auth;
use crate::store::Store;
use crate::vault::{SyncSettings, Vault};

/// How long a graceful shutdown waits for tool calls in progress.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Serves MCP on `listener` until `shutdown` is cancelled, then shuts down gracefully: stop
/// accepting connections, let tool calls in progress finish (up to 10 s), close the MCP
/// sessions, stop the writer once every queued change is durable, and bring the vault up
/// to date with those last changes.
pub async fn run(
    listener: TcpListener,
    store: Store,
    auth: Auth,
    sync: SyncSettings,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let vault = Vault::new(store.clone(), sync);
    // Its own token: the vault must keep following changes while calls drain.
    let vault_stop = CancellationToken::new();
    let following = vault.follow(vault_stop.clone());
    let state = AppState {
        store: store.clone(),
        vault,
        auth: Arc::new(auth),
        in_flight: InFlight::default(),
        sessions: CancellationToken::new(),
        started: Instant::now(),
    };
    crate::watch::spawn(store.clone(), shutdown.clone());
    let (in_flight, sessions) = (state.in_flight.clone(), state.sessions.clone());
    let draining = shutdown.clone();
    tokio::spawn(async move {
        draining.cancelled().await;
        if !in_flight.drained(DRAIN_LIMIT).await {
            tracing::warn!(calls = in_flight.count(), "tool calls still running after {DRAIN_LIMIT:?}; closing anyway");
        }
        // Open streams (SSE) keep connections alive; closing the sessions ends them.
        sessions.cancel();
    });
    // Answers are small writes in quick succession (an SSE event, then the end of the
    // stream): with Nagle's algorithm on, the last one waits for the client's delayed ACK,
    // up to 40 ms, for every client that reads an answer to its end.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
        }
    });
    let served = axum::serve(listener, http::router(state)).with_graceful_shutdown(shutdown.cancelled_owned()).await;
    store.close().await;
    vault_stop.cancel();
    let _ = following.await;
    served
}

/// Resolves when the process receives Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
