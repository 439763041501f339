//! The floor: the smallest MCP server the stack allows, to measure worksync against.
//!
//! ```text
//! cargo run --release --example floor -- --port 18500 [--stateless]
//! ```
//! An rmcp Streamable HTTP service on axum, mounted at `/mcp` as worksync mounts its own
//! (stateful sessions by default, TCP_NODELAY on every connection), whose one tool `noop`
//! does nothing and answers "ok". No auth, no store, no logging: whatever a call to
//! worksync costs beyond a call to this server is ours, not the framework's. `bench/run.sh`
//! starts it beside worksync and reports worksync's rates as a share of its rate measured
//! in the same run. `--stateless` serves rmcp's stateless mode with JSON answers, the path
//! a 2026-07-28 client takes.

use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use clap::Parser;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, ServerHandler, tool, tool_handler, tool_router};

#[derive(Debug, Parser)]
struct Args {
    /// Loopback port to listen on.
    #[arg(long, default_value_t = 18500)]
    port: u16,
    /// rmcp's stateless mode with JSON answers instead of sessions.
    #[arg(long)]
    stateless: bool,
}

#[derive(Clone)]
struct Floor {
    tool_router: ToolRouter<Floor>,
}

#[tool_router]
impl Floor {
    /// Does nothing and answers "ok".
    #[tool(name = "noop")]
    async fn noop(&self) -> Result<CallToolResult, McpError> {
        Ok(CallToolResult::success(vec![ContentBlock::text("ok")]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Floor {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let floor = Floor { tool_router: Floor::tool_router() };
    let config = StreamableHttpServerConfig::default()
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_legacy_session_mode(!args.stateless)
        .with_json_response(args.stateless);
    let app = if args.stateless {
        let service =
            StreamableHttpService::new(move || Ok(floor.clone()), Arc::new(NeverSessionManager::default()), config);
        axum::Router::new().nest_service("/mcp", service)
    } else {
        let service =
            StreamableHttpService::new(move || Ok(floor.clone()), Arc::new(LocalSessionManager::default()), config);
        axum::Router::new().nest_service("/mcp", service)
    };
    let app = app.route("/healthz", axum::routing::get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await?;
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app).await?;
    Ok(())
}
