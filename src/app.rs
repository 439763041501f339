//! Runs the command the user chose: `serve`, `init`, `status`, `sync`, `mcp-config` or
//! `doctor`.
//!
//! This is wiring: settings in, store and server up, errors out as `anyhow` with context.

use std::io::IsTerminal;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::{
    AddressArgs, Cli, ClientKind, Command, Environment, InitArgs, McpConfigArgs, ServeArgs, StatusArgs, SyncArgs,
};
use crate::client_setup;
use crate::server;
use crate::settings::{self, Auth, ServeSettings};
use crate::store::{Layout, Snapshot, Store};
use crate::vault::{self, Generator};

/// Runs the chosen command to completion.
pub async fn run(cli: Cli, env: Environment) -> anyhow::Result<()> {
    let data_root = settings::data_root(cli.data_root)?;
    let layout = Layout::new(data_root);
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            let auth = Auth::resolve(env.api_key, args.no_auth || env.debug)?;
            let settings = ServeSettings::resolve(
                layout.root().to_path_buf(),
                &args.address.host,
                args.address.port,
                auth,
                args.allow_remote,
            )?;
            serve(layout, settings, &args).await
        }
        Command::Init(args) => init(&layout, &args),
        Command::Status(args) => status(&layout, &args),
        Command::Sync(args) => sync(&layout, &args),
        Command::McpConfig(args) => {
            print!("{}", mcp_config(&args));
            Ok(())
        }
        Command::Doctor(address) => doctor(&layout, &address, env.api_key.as_deref()).await,
    }
}

/// The text `worksync mcp-config` prints.
fn mcp_config(args: &McpConfigArgs) -> String {
    let url = format!("{}/mcp", args.address.base_url());
    let auth = !args.no_auth;
    match args.client {
        ClientKind::Claude => {
            format!(
                "{}

{}",
                client_setup::claude_command(&url, auth),
                client_setup::mcp_json(&url, auth)
            )
        }
        ClientKind::Codex | ClientKind::Toml => client_setup::codex_toml(&url, auth),
        ClientKind::Json => client_setup::mcp_json(&url, auth),
        ClientKind::All => client_setup::all_entries(&url, auth),
    }
}

async fn doctor(layout: &Layout, address: &AddressArgs, api_key: Option<&str>) -> anyhow::Result<()> {
    let checks = crate::doctor::run(layout, &address.base_url(), api_key).await;
    for check in &checks {
        println!("{check}");
    }
    let failed = checks.iter().filter(|c| c.outcome == crate::doctor::Outcome::Fail).count();
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}

async fn serve(layout: Layout, settings: ServeSettings, args: &ServeArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    if layout.is_fresh() {
        let created = layout.bootstrap()?;
        tracing::info!(root = %layout.root().display(), files = created.len(), "created a new data root from the bundled defaults");
    } else if !layout.config().exists() {
        bail!(
            "{} exists but has no config.yaml. Run `worksync init --data-root {}` to add the default files \
             (existing files are kept), or point --data-root at your data root",
            layout.root().display(),
            layout.root().display()
        );
    }
    let store = Store::open(layout.clone()).context("could not load the data root")?;
    let configured = store.published().config.settings.as_ref().and_then(|s| s.auto_sync);
    let sync = settings::sync_settings(args.auto_sync, configured, args.sync_debounce)?;
    let listener = TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("could not listen on {} (is another worksync running?)", settings.addr))?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    announce(&store, &settings, &url);
    tracing::info!(url, ready_ms = started.elapsed().as_millis() as u64, "worksync is ready");

    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        server::shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        trigger.cancel();
    });
    server::run(listener, store, settings.auth, sync, shutdown).await.context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Tells the user where the server is and how to connect; a generated key is shown once,
/// and only on a terminal (never into a log file).
fn announce(store: &Store, settings: &ServeSettings, url: &str) {
    let snapshot = store.published();
    let projects = snapshot.config.project_names();
    tracing::info!(data_root = %store.layout().root().display(), %projects, auth = ?settings.auth, "serving {url}");
    match &settings.auth {
        Auth::Disabled => {
            tracing::warn!(
                "AUTHENTICATION IS DISABLED (--no-auth / WORKSYNC_DEBUG): any local process can change your plans"
            );
        }
        Auth::Bearer { token, generated: true } => {
            if std::io::stdout().is_terminal() {
                println!(
                    "\nNo WORKSYNC_API_KEY was set, so this run uses a random key (shown only here):\n\n  \
                     export WORKSYNC_API_KEY={token}\n\nThen point your clients at worksync:\n\n{}",
                    client_setup::all_entries(url, true)
                );
            } else {
                tracing::warn!(
                    "no WORKSYNC_API_KEY was set: a random key was generated but is not printed because stdout is \
                     not a terminal; set WORKSYNC_API_KEY to choose the key clients use"
                );
            }
        }
        Auth::Bearer { generated: false, .. } => {}
    }
}

fn init(layout: &Layout, args: &InitArgs) -> anyhow::Result<()> {
    let created = layout.bootstrap()?;
    if created.is_empty() {
        println!("{} is already complete; nothing was changed there.", layout.root().display());
    } else {
        println!("Created in {}:", layout.root().display());
        for path in created {
            println!("  {}", path.strip_prefix(layout.root()).unwrap_or(&path).display());
        }
    }
    let url = format!("{}/mcp", args.address.base_url());
    if let Some(dir) = &args.write_mcp_config {
        let path = client_setup::write_mcp_json(dir, &url, true)?;
        println!("Added the worksync server to {}", path.display());
    }
    if let Some(dir) = &args.write_agents_md {
        for path in client_setup::write_agents_md(dir)? {
            println!("Wrote the worksync section of {}", path.display());
        }
    }
    Ok(())
}

fn status(layout: &Layout, args: &StatusArgs) -> anyhow::Result<()> {
    let snapshot = Snapshot::read_only(layout)
        .with_context(|| format!("could not read the data root {}", layout.root().display()))?;
    let status = snapshot.status(args.project.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render_status(&status));
    }
    Ok(())
}

/// `worksync sync`: regenerates the vault from the files, comparing every note with the
/// disk. Waits for a running server's regeneration to finish first (the vault lock).
fn sync(layout: &Layout, args: &SyncArgs) -> anyhow::Result<()> {
    let snapshot = Snapshot::read_only(layout)
        .with_context(|| format!("could not read the data root {}", layout.root().display()))?;
    if let Some(project) = &args.project {
        snapshot.project(project)?;
    }
    let mut generator = Generator::new(vault::vault_dir(layout, &snapshot.config), &layout.templates_dir());
    let options = vault::Options { full: true, adopt: args.adopt, project: args.project.clone() };
    let report = generator.run(&snapshot, &options).map_err(anyhow::Error::msg)?;
    println!(
        "{}: {} notes, {} written, {} removed, {} unchanged ({} ms)",
        report.vault, report.notes, report.written, report.removed, report.unchanged, report.millis
    );
    for kept in &report.kept {
        println!("kept {}: {}", kept.path, kept.reason);
    }
    for skipped in &report.skipped {
        println!("skipped {}; fix the file, then run `worksync sync` again", skipped.describe());
    }
    if !report.manifest_problems.is_empty() {
        println!(
            "problem: the vault manifest had {} bad entries, ignored (worksync touches only notes inside the vault): {}",
            report.manifest_problems.len(),
            report.manifest_problems.join("; ")
        );
    }
    for problem in report.template_problems.iter().chain(&report.errors) {
        println!("problem: {problem}");
    }
    if report.is_partial() {
        bail!(
            "the vault is not fully current: {} project(s) skipped, {} problem(s)",
            report.skipped.len(),
            report.errors.len()
        );
    }
    Ok(())
}

/// The status JSON as a compact text for a terminal.
fn render_status(status: &Value) -> String {
    let mut out = String::new();
    let empty = serde_json::Map::new();
    for (name, project) in status["projects"].as_object().unwrap_or(&empty) {
        out.push_str(&format!("## {name}\n"));
        if let Some(error) = project.get("error").and_then(Value::as_str) {
            out.push_str(&format!("  error: {error}\n\n"));
            continue;
        }
        let stats = &project["stats"];
        out.push_str("  Active sprints:\n");
        let sprints = project["sprints"].as_array().cloned().unwrap_or_default();
        if sprints.is_empty() {
            out.push_str("    none\n");
        }
        for sprint in sprints {
            let stories = sprint["stories"].as_array().map(Vec::len).unwrap_or(0);
            out.push_str(&format!(
                "    {} — {} ({stories} stories)\n",
                sprint["id"].as_str().unwrap_or("?"),
                sprint["title"].as_str().unwrap_or("")
            ));
        }
        out.push_str("  In progress:\n");
        let stories = project["in_progress_stories"].as_array().cloned().unwrap_or_default();
        let backlog = project["in_progress_backlog"].as_array().cloned().unwrap_or_default();
        if stories.is_empty() && backlog.is_empty() {
            out.push_str("    nothing\n");
        }
        for story in stories {
            let notes: String = story["notes"].as_str().unwrap_or("").chars().take(60).collect();
            out.push_str(&format!(
                "    {} [{}] {}\n",
                story["id"].as_str().unwrap_or("?"),
                story["sprint"].as_str().unwrap_or("?"),
                notes.replace('\n', " ")
            ));
        }
        for item in backlog {
            out.push_str(&format!(
                "    {} [backlog] {}\n",
                item["id"].as_str().unwrap_or("?"),
                item["summary"].as_str().unwrap_or("")
            ));
        }
        out.push_str(&format!(
            "  Backlog: {} total — {} todo, {} in progress, {} done\n\n",
            stats["total_backlog"], stats["todo"], stats["in_progress"], stats["done"]
        ));
    }
    out
}
