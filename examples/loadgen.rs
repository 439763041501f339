//! Load generator: K concurrent MCP sessions over Streamable HTTP calling one tool as fast
//! as they can; prints calls/s and latency percentiles.
//!
//! ```text
//! cargo run --release --example loadgen -- --url http://127.0.0.1:8321/mcp \
//!     --clients 8 --calls 50 --tool add-backlog --project orbit-api
//! ```
//! The token comes from `WORKSYNC_API_KEY`. `add-backlog` adds items with fresh ids
//! (`load-<run>-<client>-<n>`); `status` reads one project.

use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;

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
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Tool {
    AddBacklog,
    Status,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let token = std::env::var("WORKSYNC_API_KEY").unwrap_or_default();
    let run = std::process::id();
    let mut sessions = Vec::new();
    for n in 0..args.clients {
        let mut config = StreamableHttpClientTransportConfig::with_uri(args.url.clone());
        if !token.is_empty() {
            config = config.auth_header(token.clone());
        }
        let client = ClientConfig::new(ClientCapabilities::default(), Implementation::new(format!("loadgen-{n}"), "1"))
            .serve(StreamableHttpClientTransport::from_config(config))
            .await?;
        sessions.push(client);
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (n, client) in sessions.into_iter().enumerate() {
        let (tool, project, calls) = (args.tool, args.project.clone(), args.calls);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(calls);
            for i in 0..calls {
                let (name, arguments) = match tool {
                    Tool::AddBacklog => (
                        "worksync_add_backlog",
                        json!({"project": project, "id": format!("load-{run}-{n}-{i}"), "summary": "load test item", "theme": "load"}),
                    ),
                    Tool::Status => ("worksync_status", json!({"project": project})),
                };
                let request = CallToolRequestParams::new(name).with_arguments(arguments.as_object().unwrap().clone());
                let t = Instant::now();
                let result = client.call_tool(request).await?;
                latencies.push(t.elapsed());
                anyhow::ensure!(result.is_error != Some(true), "tool error: {:?}", result.content);
            }
            client.cancel().await?;
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
        "{:?} clients={} calls={} elapsed={:.2}s rate={:.0} calls/s p50={:.2}ms p90={:.2}ms p99={:.2}ms",
        args.tool,
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
