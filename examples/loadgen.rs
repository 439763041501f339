//! Load generator: K concurrent MCP sessions over Streamable HTTP calling one tool as fast
//! as they can; prints calls/s and latency percentiles.
//!
//! ```text
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8321/mcp \
//!     --clients 8 --calls 50 --tool add-backlog --project orbit-api [--client raw]
//! ```
//! The token comes from `WORKSYNC_API_KEY`. `add-backlog` adds items with fresh ids
//! (`load-<run>-<client>-<n>`); `update-backlog` changes the status and summary of the
//! items `item-0`, `item-1`, … of a project made by `bench/gen_project.py` (each client its
//! own items, `--items` of them); `status` reads one project.
//!
//! `noop` calls the one tool of the floor server (`examples/floor.rs`).
//!
//! Two protocols: `session` (MCP 2025-06-18: initialize, then every call in the session)
//! and `stateless` (MCP 2026-07-28: no initialize and no session; each request names the
//! client in its `_meta` and its method in headers).
//!
//! Two clients: `rmcp` (the default) is rmcp's own client, as a Rust agent would use it.
//! `raw` speaks the same protocol with plain HTTP requests (initialize, the initialized
//! notification, then `tools/call` POSTs on the session, each answer parsed and checked),
//! at a fraction of the CPU: on a 2-core machine the generator shares the cores with the
//! server, and rmcp's client spends about as much CPU per call as the server does.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, ValueEnum};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{ClientLifecycleMode, ClientServiceExt, RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
struct Args {
    /// MCP endpoint.
    #[arg(long, default_value = "http://127.0.0.1:8321/mcp")]
    url: String,
    /// Concurrent sessions.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Calls per session.
    #[arg(long, default_value_t = 100)]
    calls: usize,
    /// Tool to call.
    #[arg(long, value_enum, default_value_t = Tool::AddBacklog)]
    tool: Tool,
    /// Project to call it on.
    #[arg(long, default_value = "orbit-api")]
    project: String,
    /// How many `item-N` backlog items the project has (for `update-backlog`).
    #[arg(long, default_value_t = 400)]
    items: usize,
    /// MCP client implementation.
    #[arg(long, value_enum, default_value_t = Client::Rmcp)]
    client: Client,
    /// MCP protocol revision.
    #[arg(long, value_enum, default_value_t = Protocol::Session)]
    protocol: Protocol,
}

#[derive(Debug, Clone, Copy, PartialEq, ValueEnum)]
enum Protocol {
    /// 2025-06-18, in a session.
    Session,
    /// 2026-07-28, without one.
    Stateless,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Tool {
    AddBacklog,
    UpdateBacklog,
    Status,
    /// `worksync_next` without claiming (a read that weighs dependencies).
    Next,
    Noop,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Client {
    Rmcp,
    Raw,
}

/// One MCP session, by either client.
enum Session {
    Rmcp(RunningService<RoleClient, ClientConfig>),
    Raw(RawSession),
}

impl Session {
    async fn open(client: Client, protocol: Protocol, url: &str, token: &str, n: usize) -> anyhow::Result<Session> {
        let name = format!("loadgen-{n}");
        Ok(match client {
            Client::Rmcp => {
                let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_string());
                if !token.is_empty() {
                    config = config.auth_header(token.to_string());
                }
                let transport = StreamableHttpClientTransport::from_config(config);
                let client = ClientConfig::new(ClientCapabilities::default(), Implementation::new(name, "1"));
                let service = match protocol {
                    Protocol::Session => client.serve(transport).await?,
                    Protocol::Stateless => {
                        let lifecycle = ClientLifecycleMode::Auto {
                            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
                            legacy_version: None,
                        };
                        client.serve_with_lifecycle(transport, lifecycle).await?
                    }
                };
                Session::Rmcp(service)
            }
            Client::Raw => Session::Raw(RawSession::open(url, token, &name, protocol).await?),
        })
    }

    /// Calls a tool; an error result is an error.
    async fn call(&mut self, name: &'static str, arguments: Value) -> anyhow::Result<()> {
        match self {
            Session::Rmcp(service) => {
                let arguments = arguments.as_object().cloned().unwrap_or_default();
                let result = service.call_tool(CallToolRequestParams::new(name).with_arguments(arguments)).await?;
                anyhow::ensure!(result.is_error != Some(true), "tool error: {:?}", result.content);
                Ok(())
            }
            Session::Raw(session) => {
                let result = session.request("tools/call", json!({"name": name, "arguments": arguments})).await?;
                anyhow::ensure!(result["isError"] != json!(true), "tool error: {result}");
                Ok(())
            }
        }
    }

    async fn close(self) -> anyhow::Result<()> {
        match self {
            Session::Rmcp(service) => {
                service.cancel().await?;
            }
            Session::Raw(session) => session.close().await?,
        }
        Ok(())
    }
}

/// The MCP protocol version the raw client negotiates in a session.
const PROTOCOL_VERSION: &str = "2025-06-18";

/// The revision without sessions.
const STATELESS_VERSION: &str = "2026-07-28";

/// A Streamable HTTP session driven with plain HTTP requests, one connection per session.
struct RawSession {
    http: reqwest::Client,
    url: String,
    token: String,
    session: String,
    next_id: u64,
    /// For the stateless revision: the `_meta` every request carries.
    stateless: Option<Value>,
}

impl RawSession {
    async fn open(url: &str, token: &str, name: &str, protocol: Protocol) -> anyhow::Result<RawSession> {
        let http = reqwest::Client::builder().pool_max_idle_per_host(1).build()?;
        let stateless = (protocol == Protocol::Stateless).then(|| {
            json!({
                "io.modelcontextprotocol/protocolVersion": STATELESS_VERSION,
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": name, "version": "1"},
            })
        });
        let mut session =
            RawSession { http, url: url.into(), token: token.into(), session: String::new(), next_id: 0, stateless };
        if session.stateless.is_some() {
            session.request("server/discover", json!({})).await?;
            return Ok(session);
        }
        let init = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": name, "version": "1"},
        });
        session.request("initialize", init).await?;
        let notified = session
            .post(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .send()
            .await?
            .error_for_status()?;
        anyhow::ensure!(notified.status() == 202, "initialized notification answered {}", notified.status());
        Ok(session)
    }

    fn post(&self, body: Value) -> reqwest::RequestBuilder {
        let method = body["method"].as_str().unwrap_or_default().to_string();
        let tool = body["params"]["name"].as_str().map(str::to_string);
        let mut request = self
            .http
            .post(&self.url)
            .header("Accept", "application/json, text/event-stream")
            .header("Content-Type", "application/json")
            .body(body.to_string());
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        if !self.session.is_empty() {
            request = request.header("Mcp-Session-Id", &self.session).header("MCP-Protocol-Version", PROTOCOL_VERSION);
        }
        if self.stateless.is_some() {
            request = request.header("MCP-Protocol-Version", STATELESS_VERSION).header("Mcp-Method", method);
            if let Some(tool) = tool {
                request = request.header("Mcp-Name", tool);
            }
        }
        request
    }

    /// Sends a request and returns its `result`; the answer may come as JSON or as an SSE
    /// stream whose events carry JSON-RPC messages.
    async fn request(&mut self, method: &str, params: Value) -> anyhow::Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut params = params;
        if let Some(meta) = &self.stateless {
            params["_meta"] = meta.clone();
        }
        let response =
            self.post(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).send().await?;
        let response = response.error_for_status()?;
        if let Some(session) = response.headers().get("mcp-session-id") {
            self.session = session.to_str()?.to_string();
        }
        let body = response.bytes().await?;
        let messages: Vec<&[u8]> = if body.starts_with(b"{") {
            vec![&body[..]]
        } else {
            body.split(|b| *b == b'\n').filter_map(|line| line.strip_prefix(b"data:")).collect()
        };
        for message in messages {
            let Ok(message) = serde_json::from_slice::<Value>(message.trim_ascii()) else { continue };
            if message["id"] == json!(id) {
                anyhow::ensure!(message.get("error").is_none(), "{method} failed: {}", message["error"]);
                return message.get("result").cloned().with_context(|| format!("{method}: no result in {message}"));
            }
        }
        anyhow::bail!("{method}: no answer with id {id} in {}", String::from_utf8_lossy(&body))
    }

    async fn close(self) -> anyhow::Result<()> {
        if self.stateless.is_some() {
            return Ok(());
        }
        let mut request = self.http.delete(&self.url).header("Mcp-Session-Id", &self.session);
        if !self.token.is_empty() {
            request = request.bearer_auth(&self.token);
        }
        request.send().await?;
        Ok(())
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let token = std::env::var("WORKSYNC_API_KEY").unwrap_or_default();
    let run = std::process::id();
    let mut sessions = Vec::new();
    for n in 0..args.clients {
        sessions.push(Session::open(args.client, args.protocol, &args.url, &token, n).await?);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, mut session) in sessions.into_iter().enumerate() {
        let (tool, project, calls, items) = (args.tool, args.project.clone(), args.calls, args.items);
        let clients = args.clients;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(calls);
            for i in 0..calls {
                let (name, arguments) = match tool {
                    Tool::AddBacklog => (
                        "worksync_add_backlog",
                        json!({"project": project, "id": format!("load-{run}-{n}-{i}"), "summary": "load test item", "theme": "load"}),
                    ),
                    Tool::UpdateBacklog => {
                        // Client n takes items n, n + clients, …: no two clients touch one item.
                        let item = (n + i * clients) % items.max(1);
                        let status = if i % 2 == 0 { "in_progress" } else { "todo" };
                        (
                            "worksync_update_backlog",
                            json!({"project": project, "id": format!("item-{item}"), "status": status,
                                   "summary": format!("updated by load client {n}, call {i}")}),
                        )
                    }
                    Tool::Status => ("worksync_status", json!({"project": project})),
                    Tool::Next => ("worksync_next", json!({"project": project})),
                    Tool::Noop => ("noop", json!({})),
                };
                let t = Instant::now();
                session.call(name, arguments).await?;
                latencies.push(t.elapsed());
            }
            session.close().await?;
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{:?} client={:?} protocol={:?} clients={} calls={} elapsed={:.2}s rate={:.0} calls/s p50={:.2}ms p90={:.2}ms p99={:.2}ms",
        args.tool,
        args.client,
        args.protocol,
        args.clients,
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
    Ok(())
}
