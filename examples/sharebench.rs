//! Shared projects benchmark: how long an acknowledged write on one server takes to show in
//! another server's files, and what a claim costs in a shared project.
//!
//! ```text
//! cargo run --release --example sharebench -- [--writes 40] [--claims 30] [--interval 1]
//! ```
//! Three servers run in this process on temp data roots, as `worksync serve` runs them: `a`
//! shares the example project on a bare repository on local disk, `b` joins it, `c` keeps an
//! unshared copy (the reference). Visibility: `a` takes a write (`worksync_update_backlog`
//! with a fresh summary) at a random moment; the time until `b`'s `work-index.yaml` holds it
//! is measured, write after write; reported as median and p99, and as a ratio to the sync interval (both servers
//! sync every `--interval` seconds). Claims: `worksync_claim` then `worksync_release` of
//! one backlog item, on `a` (shared: each goes through the remote) and on `c` (local only),
//! in the same run: medians and their ratio.

use std::path::Path;
use std::time::{Duration, Instant};

use clap::Parser;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use worksync::api_key::KeySource;
use worksync::server::ServerLimits;
use worksync::settings::Auth;
use worksync::store::{Layout, Store};
use worksync::vault::SyncSettings;

const TOKEN: &str = "sharebench-token";
const P: &str = "orbit-api";

#[derive(Debug, Parser)]
struct Args {
    /// Writes whose visibility is measured.
    #[arg(long, default_value_t = 40)]
    writes: usize,
    /// Claim-and-release rounds per server.
    #[arg(long, default_value_t = 30)]
    claims: usize,
    /// Seconds between syncs of both servers.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
}

type Client = RunningService<RoleClient, ClientConfig>;

/// A server on its own data root, in this process.
struct Server {
    base: String,
    root: tempfile::TempDir,
    _stop: tokio_util::sync::DropGuard,
}

impl Server {
    /// A server over the example project (`example`), or over no project.
    async fn start(machine: &str, example: bool) -> anyhow::Result<Server> {
        let root = tempfile::tempdir()?;
        let layout = Layout::new(root.path());
        if example {
            layout.bootstrap()?;
            let config = std::fs::read_to_string(layout.config())?;
            let config = config.replacen("settings:\n", &format!("settings:\n  machine: {machine}\n"), 1);
            std::fs::write(layout.config(), config)?;
        } else {
            std::fs::write(layout.config(), format!("projects: {{}}\nsettings:\n  machine: {machine}\n"))?;
        }
        let store = Store::open(layout)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let stop = CancellationToken::new();
        let auth = Auth::Bearer { token: TOKEN.into(), source: KeySource::Environment };
        let sync = SyncSettings { auto: false, debounce: Duration::from_secs(2) };
        tokio::spawn(worksync::server::run(listener, store, auth, sync, ServerLimits::default(), stop.clone()));
        Ok(Server { base, root, _stop: stop.drop_guard() })
    }

    async fn client(&self, name: &str) -> anyhow::Result<Client> {
        let config = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.base)).auth_header(TOKEN);
        Ok(ClientConfig::new(ClientCapabilities::default(), Implementation::new(name, "1"))
            .serve(StreamableHttpClientTransport::from_config(config))
            .await?)
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response =
            reqwest::Client::new().post(format!("{}{path}", self.base)).bearer_auth(TOKEN).json(&body).send().await?;
        let answer: Value = response.json().await?;
        anyhow::ensure!(answer["synced"] == true, "{path}: {answer}");
        Ok(answer)
    }

    fn work_index(&self) -> String {
        std::fs::read_to_string(self.root.path().join(format!("projects/{P}/work-index.yaml"))).unwrap_or_default()
    }
}

async fn call(client: &Client, tool: &str, args: Value) -> anyhow::Result<Value> {
    let request =
        CallToolRequestParams::new(tool.to_string()).with_arguments(args.as_object().cloned().unwrap_or_default());
    let result = client.call_tool(request).await?;
    anyhow::ensure!(result.is_error != Some(true), "{tool}: {:?}", result.content);
    Ok(result.structured_content.unwrap_or_default())
}

fn git(cwd: &Path, args: &[&str]) -> anyhow::Result<()> {
    let status = std::process::Command::new("git").current_dir(cwd).args(args).status()?;
    anyhow::ensure!(status.success(), "git {args:?}");
    Ok(())
}

/// The value at quantile `q` of sorted `values`.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // RUST_LOG=worksync::share=info shows each sync (off by default).
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let remote_dir = tempfile::tempdir()?;
    git(remote_dir.path(), &["init", "--bare", "--quiet", "-b", "main", "plan.git"])?;
    let remote = remote_dir.path().join("plan.git").display().to_string();
    let (a, b, c) =
        (Server::start("a", true).await?, Server::start("b", false).await?, Server::start("c", true).await?);
    a.post(&format!("/share/{P}"), json!({ "remote": remote, "interval_seconds": args.interval })).await?;
    b.post("/join", json!({ "remote": remote, "project": P, "interval_seconds": args.interval })).await?;

    // Visibility of a write on another machine.
    let writer = a.client("writer").await?;
    let index: serde_yaml_ng::Value = serde_yaml_ng::from_str(&a.work_index())?;
    let id = index["backlog"][0]["id"].as_str().expect("the example has backlog items").to_string();
    let mut visible = Vec::new();
    for n in 0..args.writes {
        // Writes come at every moment of b's interval, not right after its last fetch: the
        // pause after the previous write's arrival runs through the interval evenly (the
        // golden-ratio sequence), so the figures do not depend on a random draw.
        let phase = (n as f64 * 0.618_033_988_75).fract();
        tokio::time::sleep(Duration::from_secs_f64(args.interval * phase)).await;
        let summary = format!("visibility probe {n} {}", std::process::id());
        call(&writer, "worksync_update_backlog", json!({"project": P, "id": id, "summary": summary})).await?;
        let acknowledged = Instant::now();
        let needle = format!("summary: {summary}\n");
        while !b.work_index().contains(&needle) {
            anyhow::ensure!(acknowledged.elapsed() < Duration::from_secs(60), "write {n} never reached b");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        visible.push(acknowledged.elapsed().as_secs_f64());
        tracing::debug!(n, ms = acknowledged.elapsed().as_millis() as u64, "visible on b");
    }
    visible.sort_by(f64::total_cmp);

    // Claim latency, shared (a) against local only (c), interleaved.
    let (shared, local) = (a.client("claimer").await?, c.client("claimer").await?);
    let mut timings = [Vec::new(), Vec::new()];
    for _ in 0..args.claims {
        for (n, client) in [&shared, &local].into_iter().enumerate() {
            let started = Instant::now();
            call(client, "worksync_claim", json!({"project": P, "kind": "backlog", "id": id})).await?;
            timings[n].push(started.elapsed().as_secs_f64() * 1000.0);
            call(client, "worksync_release", json!({"project": P, "kind": "backlog", "id": id})).await?;
        }
    }
    for t in &mut timings {
        t.sort_by(f64::total_cmp);
    }
    // What one sync costs when there is nothing new (asked for directly, 20 times).
    let mut idle = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        b.post(&format!("/share/{P}/pull"), json!({})).await?;
        idle.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    idle.sort_by(f64::total_cmp);
    let median_visible = quantile(&visible, 0.5);
    println!(
        "visibility of a write on another server (interval {} s, local bare remote, {} writes):",
        args.interval, args.writes
    );
    println!(
        "  median {:.0} ms, p99 {:.0} ms, max {:.0} ms; median / interval = {:.2}",
        median_visible * 1000.0,
        quantile(&visible, 0.99) * 1000.0,
        visible.last().copied().unwrap_or_default() * 1000.0,
        median_visible / args.interval
    );
    println!("  an idle sync (nothing new on either side): median {:.1} ms", quantile(&idle, 0.5));
    let (shared_ms, local_ms) = (quantile(&timings[0], 0.5), quantile(&timings[1], 0.5));
    println!("worksync_claim ({} rounds):", args.claims);
    println!(
        "  shared project median {shared_ms:.1} ms (p99 {:.1}), local-only project median {local_ms:.1} ms (p99 {:.1}); ratio {:.1}",
        quantile(&timings[0], 0.99),
        quantile(&timings[1], 0.99),
        shared_ms / local_ms
    );
    Ok(())
}
