//! Starting and stopping the server.
//!
//! [`run`] is the whole server behind one call, given a bound listener, the [`ServerLimits`]
//! and a shutdown token, so that `main` and the integration tests start it the same way
//! (tests bind port 0 and set small limits).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::http::connections::{self, Connections, Timeouts};
use crate::http::open_files;
use crate::http::sessions::CappedSessions;
use crate::http::{self, AppState};
use crate::mcp::in_flight::InFlight;
use crate::settings::Auth;
use crate::share::supervisor::Sharing;
use crate::store::Store;
use crate::vault::{SyncSettings, Vault};

/// How long a graceful shutdown waits for tool calls in progress.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// What one client may hold of the server: connections, the time it may take to send a
/// request, and MCP sessions. Without bounds a client that opens connections or sessions and
/// never uses them exhausts file descriptors or memory, and real agents are locked out.
#[derive(Debug, Clone)]
pub struct ServerLimits {
    /// Open connections at most. At the cap the connection idle the longest is closed to
    /// admit a new one; if none is idle the new one is refused with 503.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, from its first byte.
    pub header_timeout: Duration,
    /// Time a client has to send a request's body on `/mcp`, once its headers are in.
    pub body_timeout: Duration,
    /// A connection with no request in flight is closed after this long. Long polls and SSE
    /// streams are requests in flight, so they are never cut by it.
    pub idle_timeout: Duration,
    /// MCP sessions at most. At the cap the least recently used session without an open
    /// stream is closed; its client gets 404 and starts a new session.
    pub max_sessions: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            max_connections: 512,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            // Above reqwest's 90 s pool timeout, so Rust clients close idle connections
            // first and never send a request on one the server is closing.
            idle_timeout: Duration::from_secs(120),
            max_sessions: 512,
        }
    }
}

/// Serves MCP on `listener` within `limits` until `shutdown` is cancelled, then shuts down
/// gracefully: stop accepting connections, let tool calls in progress finish (up to 10 s),
/// close the MCP sessions, stop the writer once every queued change is durable, and bring
/// the vault up to date with those last changes.
pub async fn run(
    listener: TcpListener,
    store: Store,
    auth: Auth,
    sync: SyncSettings,
    limits: ServerLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let vault = Vault::new(store.clone(), sync);
    let sharing = Sharing::spawn(store.clone(), shutdown.clone());
    // Its own token: the vault must keep following changes while calls drain.
    let vault_stop = CancellationToken::new();
    let following = vault.follow(vault_stop.clone());
    let fd_limit = open_files::open_file_limit();
    let cap = open_files::connection_cap(limits.max_connections, fd_limit);
    if cap < limits.max_connections {
        tracing::warn!(
            max_connections = cap,
            configured = limits.max_connections,
            open_file_limit = fd_limit,
            "the open-file limit is low: fewer connections are kept open so the writer always has descriptors"
        );
    }
    let timeouts = Timeouts { header: limits.header_timeout, idle: limits.idle_timeout };
    let state = AppState {
        store: store.clone(),
        vault,
        sharing,
        auth: Arc::new(auth),
        in_flight: InFlight::default(),
        sessions: CancellationToken::new(),
        started: Instant::now(),
        connections: Connections::new(cap),
        mcp_sessions: Arc::new(CappedSessions::new(limits.max_sessions)),
        board: Arc::new(crate::board::Board::new()),
        limits,
    };
    crate::watch::spawn(store.clone(), shutdown.clone());
    crate::memory::spawn(store.clone(), state.vault.clone(), shutdown.clone());
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
    let connections = state.connections.clone();
    connections::serve(listener, http::router(state), connections, timeouts, shutdown).await;
    store.close().await;
    vault_stop.cancel();
    let _ = following.await;
    Ok(())
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
