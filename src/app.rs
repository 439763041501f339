//! Runs the command the user chose: `serve`, `init`, `status`, `sync`, `mcp-config`, `doctor`,
//! `key`, `git-setup` or `merge-driver`.
//!
//! This is wiring: settings in, store and server up, errors out as `anyhow` with context.
//! Writers of the data root (`serve`, `sync`, and `init` when it has files to add) hold its
//! lock ([`RootLock`]) while they write; readers (`status`, `doctor`, `mcp-config`, `key`)
//! never take it, so they work beside a running server.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, bail};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api_key::{self, KeySource};
use crate::cli::{
    AddressArgs, Cli, ClientKind, Command, Environment, GitSetupArgs, InitArgs, KeyArgs, McpConfigArgs,
    MergeDriverArgs, ServeArgs, StatusArgs, SyncArgs,
};
use crate::client_setup::{self, Written};
use crate::doctor::ClientKey;
use crate::server;
use crate::settings::{self, Auth, ServeSettings};
use crate::share::status::SyncBoard;
use crate::share::{commands, driver, setup, supervisor};
use crate::store::outcome::Item;
use crate::store::registry::ConfigFile;
use crate::store::status::{ProjectStatus, Status};
use crate::store::yaml::Document;
use crate::store::{Layout, Role, RootLock, Snapshot, Store, StoreError};
use crate::vault::{self, Generator};

/// Runs the chosen command to completion.
pub async fn run(cli: Cli, env: Environment) -> anyhow::Result<()> {
    let data_root = settings::data_root(cli.data_root)?;
    let layout = Layout::new(data_root);
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => {
            let auth = Auth::resolve(env.api_key, args.no_auth || env.debug, env.config_dir.as_deref())?;
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
        Command::Doctor(address) => doctor(&layout, &address, &env).await,
        Command::Key(args) => key(&args, &env),
        Command::Share(args) => {
            let request = SharingRequest::Share {
                project: args.project,
                remote: args.remote,
                branch: args.branch,
                interval: args.interval,
            };
            sharing_command(&layout, request, &env).await
        }
        Command::Join(args) => {
            let project = args.project.unwrap_or_else(|| commands::default_project_name(&args.remote));
            let request = SharingRequest::Join {
                remote: args.remote,
                project,
                branch: args.branch,
                repo: args.repo,
                interval: args.interval,
            };
            sharing_command(&layout, request, &env).await
        }
        Command::Pull(args) => sharing_command(&layout, SharingRequest::Pull { project: args.project }, &env).await,
        Command::Open(args) => open_board(&layout, &args, &env).await,
        Command::GitSetup(args) => git_setup(&args),
        // The binary runs the driver before this point, for its exit codes.
        Command::MergeDriver(args) => match merge_driver(&args) {
            0 => Ok(()),
            code => bail!("the merge driver did not merge (exit code {code})"),
        },
    }
}

/// `worksync merge-driver`, run by git: the exit code git reads (0 merged, 1 not merged,
/// 2 called wrongly). Reports on stderr.
pub fn merge_driver(args: &MergeDriverArgs) -> u8 {
    let Ok(cwd) = std::env::current_dir() else {
        eprintln!("worksync merge-driver: cannot read the current directory (git runs the driver at the clone's top)");
        return driver::Exit::BadInvocation.code();
    };
    let call = driver::Invocation {
        ancestor: args.ancestor.clone(),
        ours: args.ours.clone(),
        theirs: args.theirs.clone(),
        path: args.path.clone(),
    };
    driver::run(&call, &cwd).code()
}

/// What `worksync share`, `join` and `pull` ask for.
enum SharingRequest {
    Share { project: String, remote: String, branch: String, interval: Option<f64> },
    Join { remote: String, project: String, branch: String, repo: Option<String>, interval: Option<f64> },
    Pull { project: String },
}

impl SharingRequest {
    fn project(&self) -> &str {
        match self {
            SharingRequest::Share { project, .. }
            | SharingRequest::Join { project, .. }
            | SharingRequest::Pull { project } => project,
        }
    }
}

/// `worksync share`, `join`, `pull`: done by the data root's running server when there is
/// one (it owns the files and the sync), else here, holding the data root's lock.
async fn sharing_command(layout: &Layout, request: SharingRequest, env: &Environment) -> anyhow::Result<()> {
    let answer = match RootLock::acquire(layout, Role::Share) {
        Ok(lock) => sharing_here(lock, &request).await?,
        Err(StoreError::InUse { holder, .. }) => {
            let Some(address) = RootLock::holder_address(layout) else {
                bail!("{holder} holds the data root and serves no address; run the command again once it has finished");
            };
            sharing_by_server(address, &request, env).await?
        }
        Err(e) => return Err(e.into()),
    };
    if answer["synced"] != Value::Bool(true) {
        bail!("{}", answer["error"].as_str().unwrap_or("the sync did not complete"));
    }
    let project = request.project();
    let commit = answer["commit"].as_str().unwrap_or_default();
    let action = if answer["pushed"] == Value::Bool(true) { "pushed" } else { "up to date with" };
    println!(
        "{project}: {action} the remote at commit {}; {} item(s) changed here by the remote, {} conflict(s) resolved",
        &commit[..commit.len().min(10)],
        answer["pulled_items"],
        answer["conflicts"]
    );
    if let Some(log) = answer["status"]["conflict_log"].as_str().filter(|_| answer["conflicts"] != 0) {
        println!("The values that lost are in {log}");
    }
    Ok(())
}

/// Does the request in this process: no server runs.
async fn sharing_here(lock: RootLock, request: &SharingRequest) -> anyhow::Result<Value> {
    let store = Store::open_locked(lock).context("could not load the data root")?;
    let machine =
        supervisor::machine_name(store.published().config.settings.as_ref().and_then(|s| s.machine.as_deref()));
    let done = match request {
        SharingRequest::Share { project, remote, branch, interval } => {
            commands::share(&store, project, remote, branch, *interval, &machine).await.map(drop)
        }
        SharingRequest::Join { remote, project, branch, repo, interval } => {
            commands::join(&store, remote, project, branch, repo.as_deref(), *interval, &machine).await.map(drop)
        }
        SharingRequest::Pull { .. } => Ok(()),
    };
    let answer = match done {
        Err(e) => serde_json::json!({ "synced": false, "error": e.to_string() }),
        Ok(()) => {
            let project = request.project();
            let Some(config) = store.refreshed().await.config.project(project).and_then(|e| e.share.clone()) else {
                store.close().await;
                bail!("project '{project}' is not shared: share it first (worksync share {project} REMOTE)");
            };
            let board = SyncBoard::new(store.layout().share_dir());
            let syncer = supervisor::syncer_for(&store, &board, project, &config, &machine)?;
            let outcome = syncer.sync().await;
            crate::share::sync::report(&outcome, board.get(project, store.changes_last_seq(project)))
        }
    };
    store.close().await;
    Ok(answer)
}

/// Asks the running server at `address` to do the request.
async fn sharing_by_server(
    address: std::net::SocketAddr,
    request: &SharingRequest,
    env: &Environment,
) -> anyhow::Result<Value> {
    let base = format!("http://{address}");
    let (url, body) = match request {
        SharingRequest::Share { project, remote, branch, interval } => (
            format!("{base}/share/{project}"),
            serde_json::json!({ "remote": remote, "branch": branch, "interval_seconds": interval }),
        ),
        SharingRequest::Join { remote, project, branch, repo, interval } => (
            format!("{base}/join"),
            serde_json::json!({
                "remote": remote, "project": project, "branch": branch, "repo": repo, "interval_seconds": interval,
            }),
        ),
        SharingRequest::Pull { project } => (format!("{base}/share/{project}/pull"), serde_json::json!({})),
    };
    ask_server(&base, &url, &body, env).await
}

/// Posts `body` (JSON) to `url` on the running server at `base` with this machine's key, and
/// returns its JSON answer.
async fn ask_server(base: &str, url: &str, body: &Value, env: &Environment) -> anyhow::Result<Value> {
    let client = reqwest::Client::builder().build()?;
    let mut call = client.post(url).header("content-type", "application/json").body(body.to_string());
    if let ClientKey::Found { key, .. } = client_key(env) {
        call = call.bearer_auth(key);
    }
    let response = call.send().await.with_context(|| format!("could not reach the running server at {base}"))?;
    if response.status() == reqwest::StatusCode::UNAUTHORIZED {
        bail!(
            "the server at {base} refused the API key: set WORKSYNC_API_KEY to the server's key (worksync key --show on its machine)"
        );
    }
    let text = response.text().await?;
    serde_json::from_str(&text).with_context(|| format!("the server at {base} answered: {text}"))
}

/// `worksync open`: asks the server running on this data root for a one-time login code
/// and opens the board with it in the person's browser.
async fn open_board(layout: &Layout, args: &crate::cli::OpenArgs, env: &Environment) -> anyhow::Result<()> {
    let Some(address) = RootLock::holder_address(layout) else {
        bail!(
            "no server runs on the data root {}: start it first (`worksync`, or `./worksync.sh start`)",
            layout.root().display()
        );
    };
    let base = format!("http://{address}");
    let answer = ask_server(&base, &format!("{base}/board/code"), &serde_json::json!({}), env).await?;
    let code = answer["code"].as_str().context("the server's answer has no login code")?;
    let next = match &args.project {
        Some(project) => format!("/p/{project}"),
        None => "/".to_string(),
    };
    let url = format!("{base}/login?code={code}&next={}", crate::board::urlencode(&next));
    if args.print {
        println!("{url}");
        return Ok(());
    }
    match open_in_browser(&url) {
        Ok(browser) => {
            println!("Opened the board in {browser}. If nothing opened, visit (works once, for a minute):\n{url}")
        }
        Err(why) => println!("Could not open a browser ({why}). Visit (works once, for a minute):\n{url}"),
    }
    Ok(())
}

/// Starts the person's browser on `url`: `$BROWSER` (a list separated by `:`, `%s` standing
/// for the URL, as Python's webbrowser reads it), else the system's opener. Does not wait.
fn open_in_browser(url: &str) -> Result<String, String> {
    let mut tried = Vec::new();
    let from_env = std::env::var("BROWSER").unwrap_or_default();
    let mut commands: Vec<String> = from_env.split(':').filter(|c| !c.trim().is_empty()).map(str::to_string).collect();
    commands.push(if cfg!(target_os = "macos") { "open".into() } else { "xdg-open".into() });
    for command in commands {
        let mut words: Vec<String> = command.split_whitespace().map(str::to_string).collect();
        if words.iter().any(|w| w.contains("%s")) {
            words.iter_mut().for_each(|w| *w = w.replace("%s", url));
        } else {
            words.push(url.to_string());
        }
        let spawned = std::process::Command::new(&words[0])
            .args(&words[1..])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
        match spawned {
            Ok(_) => return Ok(words[0].clone()),
            Err(e) => tried.push(format!("{}: {e}", words[0])),
        }
    }
    Err(tried.join("; "))
}

/// `worksync git-setup`: registers the merge driver, by this binary's path, in a clone.
fn git_setup(args: &GitSetupArgs) -> anyhow::Result<()> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().context("cannot read the current directory; pass the clone as DIR")?,
    };
    let exe = std::env::current_exe().context("cannot find where this worksync binary is")?;
    print!("{}", setup::git_setup(&dir, &exe)?);
    Ok(())
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

async fn doctor(layout: &Layout, address: &AddressArgs, env: &Environment) -> anyhow::Result<()> {
    let checks = crate::doctor::run(layout, &address.base_url(), client_key(env)).await;
    for check in &checks {
        println!("{check}");
    }
    let failed = checks.iter().filter(|c| c.outcome == crate::doctor::Outcome::Fail).count();
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}

/// The key a client on this machine would send, from the same sources as `serve`, without
/// creating a key file.
fn client_key(env: &Environment) -> ClientKey {
    if let Some(key) = env.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()) {
        return ClientKey::Found { key: key.to_string(), source: KeySource::Environment };
    }
    let path = match api_key::key_file(env.config_dir.as_deref()) {
        Ok(path) => path,
        Err(e) => return ClientKey::Broken(format!("{e:#}")),
    };
    match api_key::read(&path) {
        Ok(Some(key)) => ClientKey::Found { key, source: KeySource::File { path, created: false } },
        Ok(None) => ClientKey::Missing { key_file: path },
        Err(e) => ClientKey::Broken(format!("{e:#}")),
    }
}

/// `worksync key`: where the key comes from (never the key itself, unless `--show`).
fn key(args: &KeyArgs, env: &Environment) -> anyhow::Result<()> {
    let path = api_key::key_file(env.config_dir.as_deref())?;
    let env_set = env.api_key.as_deref().is_some_and(|k| !k.trim().is_empty());
    if args.show {
        let (key, _) = api_key::read_or_create(&path)?;
        println!("{key}");
        return Ok(());
    }
    if args.rotate {
        api_key::rotate(&path)?;
        println!(
            "Replaced the key in {}. Restart the server (`./worksync.sh restart`), then give clients the new key:\n  \
             {}",
            path.display(),
            client_setup::KEY_EXPORT
        );
        if env_set {
            println!("WORKSYNC_API_KEY is set in this shell and wins over the key file: export it again as above.");
        }
        return Ok(());
    }
    if env_set {
        println!(
            "The server uses WORKSYNC_API_KEY from its environment (it wins over the key file {}).",
            path.display()
        );
    } else {
        match api_key::read(&path)? {
            Some(_) => println!("The server uses the key in {} (readable by you only).", path.display()),
            None => println!("No key yet: the server (or `worksync key --show`) creates one in {}.", path.display()),
        }
    }
    println!(
        "Clients read the key from WORKSYNC_API_KEY; put this in your shell profile (~/.zshrc, ~/.bashrc):\n  \
         {}\nPrint the key: worksync key --show\nReplace it:    worksync key --rotate (then restart the server and \
         update clients)",
        client_setup::KEY_EXPORT
    );
    Ok(())
}

async fn serve(layout: Layout, settings: ServeSettings, args: &ServeArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // Before anything opens files: the connection cap is derived from this limit.
    let open_files = crate::http::open_files::raise_open_file_limit();
    tracing::debug!(open_file_limit = open_files, "open-file limit");
    // Before anything is written, bootstrap included: two servers on one root would each
    // number the change journals and take the other's writes for hand edits.
    let lock = RootLock::acquire(&layout, Role::Serve)?;
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
    let listener = TcpListener::bind(settings.addr)
        .await
        .with_context(|| format!("could not listen on {} (is another program using that port?)", settings.addr))?;
    let address = listener.local_addr()?;
    lock.record_address(address)?;
    let store = Store::open_locked(lock).context("could not load the data root")?;
    let configured = store.published().config.settings.as_ref().and_then(|s| s.auto_sync);
    let sync = settings::sync_settings(args.auto_sync, configured, args.sync_debounce)?;
    let url = format!("http://{address}/mcp");
    announce(&store, &settings, &url);
    tracing::info!(url, ready_ms = started.elapsed().as_millis() as u64, "worksync is ready");

    let shutdown = CancellationToken::new();
    let trigger = shutdown.clone();
    tokio::spawn(async move {
        server::shutdown_signal().await;
        tracing::info!("shutting down: finishing in-flight requests");
        trigger.cancel();
    });
    server::run(listener, store, settings.auth, sync, server::ServerLimits::default(), shutdown)
        .await
        .context("server failed")?;
    tracing::info!("stopped");
    Ok(())
}

/// Tells the user where the server is and how to connect. The key itself is never shown
/// here (it would end up in log files); on a terminal, the client entries and how to get
/// the key into them are printed.
fn announce(store: &Store, settings: &ServeSettings, url: &str) {
    let snapshot = store.published();
    let projects = snapshot.config.project_names();
    tracing::info!(data_root = %store.layout().root().display(), %projects, auth = %settings.auth, "serving {url}");
    match &settings.auth {
        Auth::Disabled => {
            tracing::warn!(
                "AUTHENTICATION IS DISABLED (--no-auth / WORKSYNC_DEBUG): any local process can change your plans"
            );
        }
        Auth::Bearer { source: KeySource::File { path, created }, .. } => {
            if *created {
                tracing::info!(
                    key_file = %path.display(),
                    "no WORKSYNC_API_KEY was set, so a new API key was made and kept (readable by you only); \
                     clients get it with `worksync key --show`"
                );
            }
            if std::io::stdout().is_terminal() {
                println!(
                    "\nThe API key is in {} (print it with `worksync key --show`). Point your clients at worksync:\n\n{}",
                    path.display(),
                    client_setup::all_entries(url, true)
                );
            }
        }
        Auth::Bearer { source: KeySource::Environment, .. } => {}
    }
}

fn init(layout: &Layout, args: &InitArgs) -> anyhow::Result<()> {
    let created = if layout.needs_bootstrap() {
        let _lock = lock(
            layout,
            Role::Init,
            "worksync init has default files to add to the data root, but another process writes it",
        )?;
        layout.bootstrap()?
    } else {
        Vec::new()
    };
    if created.is_empty() {
        println!("{} is already complete; nothing was changed there.", layout.root().display());
    } else {
        println!("Created in {}:", layout.root().display());
        for path in created {
            println!("  {}", path.strip_prefix(layout.root()).unwrap_or(&path).display());
        }
    }
    // Checked before either file is written, so a wrong directory changes nothing there.
    let agents_md = match &args.write_agents_md {
        Some(dir) => {
            let config = Document::<ConfigFile>::load(&layout.config())?;
            Some((dir, client_setup::project_for_dir(config.value(), dir, args.project.as_deref())?))
        }
        None => None,
    };
    let url = format!("{}/mcp", args.address.base_url());
    if let Some(dir) = &args.write_mcp_config {
        let (path, written) = client_setup::write_mcp_json(dir, &url, true)?;
        println!("{}", describe(&path, written, "the worksync server entry"));
    }
    if let Some((dir, project)) = agents_md {
        for (path, written) in client_setup::write_agents_md(dir, &project)? {
            println!("{}", describe(&path, written, &format!("the worksync section (project {project})")));
        }
    }
    Ok(())
}

/// The data root's lock for an offline writer; `when_in_use` says why it matters when
/// another process holds it.
fn lock(layout: &Layout, role: Role, when_in_use: &'static str) -> anyhow::Result<RootLock> {
    RootLock::acquire(layout, role).map_err(|e| match e {
        StoreError::InUse { .. } => anyhow::Error::new(e).context(when_in_use),
        other => other.into(),
    })
}

/// One line on what writing `what` into `path` did.
fn describe(path: &Path, written: Written, what: &str) -> String {
    match written {
        Written::Created => format!("Created {} with {what}", path.display()),
        Written::Updated => format!("Wrote {what} into {}", path.display()),
        Written::Unchanged => format!("Unchanged: {} already has {what}", path.display()),
    }
}

/// `worksync status`: what `worksync_status` answers, read from the files. Exits non-zero
/// when a project it shows cannot be read, so scripts and people notice.
fn status(layout: &Layout, args: &StatusArgs) -> anyhow::Result<()> {
    let snapshot = Snapshot::read_only(layout)
        .with_context(|| format!("could not read the data root {}", layout.root().display()))?;
    let status = snapshot.status(args.project.as_deref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&crate::mcp::wire::status(&status))?);
    } else {
        print!("{}", render_status(&status));
    }
    if let Some(warning) = &status.warning {
        bail!("{warning}");
    }
    Ok(())
}

/// `worksync sync`: regenerates the vault from the files, comparing every note with the
/// disk. Refused while a server (or another `sync`) writes the data root.
fn sync(layout: &Layout, args: &SyncArgs) -> anyhow::Result<()> {
    let snapshot = Snapshot::read_only(layout)
        .with_context(|| format!("could not read the data root {}", layout.root().display()))?;
    if let Some(project) = &args.project {
        snapshot.project(project)?;
    }
    let _lock = lock(
        layout,
        Role::Sync,
        "worksync sync does not write the vault while another process writes the data root. A running server \
         keeps the vault current by itself; to regenerate now, call its worksync_sync tool (or stop the server \
         and run worksync sync again)",
    )?;
    let mut generator = Generator::new(vault::vault_dir(layout, &snapshot.config), &layout.templates_dir());
    let options = vault::Options { full: true, adopt: args.adopt, project: args.project.clone(), apply_edits: false };
    let report = generator.run(&snapshot, &options)?;
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

/// How much of a story's notes `worksync status` shows on its line.
const NOTES_EXCERPT_CHARS: usize = 60;

/// The status JSON as a compact text for a terminal.
fn render_status(status: &Status) -> String {
    let mut out = String::new();
    let field = |item: &Item, key: &str| item.fields.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    for (name, project) in &status.projects {
        out.push_str(&format!("## {name}\n"));
        let ready = match project {
            ProjectStatus::Ready(ready) => ready,
            ProjectStatus::Unreadable(error) => {
                out.push_str(&format!("  error: {error}\n\n"));
                continue;
            }
        };
        out.push_str("  Active sprints:\n");
        if ready.sprints.is_empty() {
            out.push_str("    none\n");
        }
        for (sprint, stories) in &ready.sprints {
            out.push_str(&format!("    {} — {} ({} stories)\n", sprint.id, field(sprint, "title"), stories.len()));
        }
        out.push_str("  In progress:\n");
        if ready.in_progress_stories.is_empty() && ready.in_progress_backlog.is_empty() {
            out.push_str("    nothing\n");
        }
        for story in &ready.in_progress_stories {
            let notes = excerpt(&field(story, "notes"), NOTES_EXCERPT_CHARS);
            let blocked = blocked_by(story);
            out.push_str(&format!("    {} [{}] {notes}{blocked}\n", story.id, story.sprint.as_deref().unwrap_or("?")));
        }
        for item in &ready.in_progress_backlog {
            out.push_str(&format!("    {} [backlog] {}{}\n", item.id, field(item, "summary"), blocked_by(item)));
        }
        let stats = ready.stats;
        out.push_str(&format!(
            "  Backlog: {} total — {} todo, {} in progress, {} done\n",
            stats.total_backlog, stats.todo, stats.in_progress, stats.done
        ));
        out.push_str(&format!("  Ready for next: {}; blocked by dependencies: {}\n\n", ready.ready, ready.blocked));
    }
    out
}

/// " (blocked by A, B)" for an item waiting on unfinished dependencies, else nothing.
fn blocked_by(item: &Item) -> String {
    if item.blocked_by.is_empty() { String::new() } else { format!(" (blocked by {})", item.blocked_by.join(", ")) }
}

/// `text` on one line, cut to at most `max` characters at a word boundary, with "…" when
/// something was left out (a word is cut only if it alone is longer than the line).
fn excerpt(text: &str, max: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let whole = words.join(" ");
    if whole.chars().count() <= max {
        return whole;
    }
    let mut out = String::new();
    for word in words {
        // Room for a separating space and the ellipsis.
        if out.chars().count() + usize::from(!out.is_empty()) + word.chars().count() + 1 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        out = whole.chars().take(max.saturating_sub(1)).collect();
    }
    let kept = out.trim_end_matches([',', ';', ':', '-', '—']).len();
    out.truncate(kept);
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Notes are cut between words, never inside one, and say that they were cut.
    #[test]
    fn excerpt_cuts_at_a_word_boundary() {
        let notes = "Load test with 3,000 simulated drivers: p95 lag 1.4s, but the hub's heap grows";
        let cut = excerpt(notes, 60);
        assert_eq!(cut, "Load test with 3,000 simulated drivers: p95 lag 1.4s, but…");
        assert!(cut.chars().count() <= 60);
        assert_eq!(excerpt("short\nnote", 60), "short note");
        assert_eq!(excerpt("a-very-long-identifier-without-spaces", 10), "a-very-lo…");
        assert_eq!(excerpt("first, second", 10), "first…");
    }
}
