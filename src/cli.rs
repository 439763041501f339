//! Command-line interface: flags and environment variables, parsed by clap.
//!
//! These are the raw inputs; [`crate::settings`] validates them into what a run uses, and
//! [`crate::app`] runs the chosen command. The API key is read from the environment or the
//! key file only (see [`crate::api_key`]): a key on the command line would be visible to
//! every user in the process list.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::settings::DEFAULT_PORT;

/// worksync: the single-writer MCP server for multi-agent work tracking.
#[derive(Debug, Parser)]
#[command(name = "worksync", version, about, long_about = None)]
pub struct Cli {
    /// Data root holding config.yaml, guidance/ and projects/ [default: ~/.worksync]
    #[arg(long, env = "WORKSYNC_DATA_ROOT", global = true)]
    pub data_root: Option<PathBuf>,

    /// Log line format (level from RUST_LOG, default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the MCP server (bootstraps a fresh data root first).
    Serve(ServeArgs),
    /// Create the data root from the bundled defaults (never overwrites a file), and
    /// optionally wire a project directory to worksync.
    Init(InitArgs),
    /// Print a summary of the work, read straight from the files (no server needed).
    Status(StatusArgs),
    /// Regenerate the Obsidian vault now, straight from the files (no server needed).
    Sync(SyncArgs),
    /// Print ready-to-paste client configuration for Claude Code and Codex.
    McpConfig(McpConfigArgs),
    /// Check the data root, every YAML file, the vault path, the server and the key.
    Doctor(AddressArgs),
    /// Where the API key comes from; print it (--show) or replace it (--rotate).
    Key(KeyArgs),
    /// Share a registered project's plan through a git remote (any git URL or a local path):
    /// its first sync pushes it, then every running server keeps it in sync.
    Share(ShareArgs),
    /// Bring a shared plan in from a git remote as a new project, shared from then on.
    Join(JoinArgs),
    /// Sync a shared project now (fetch, merge, push) and say how it went.
    Pull(PullArgs),
    /// Open the web board in a browser, logged in (the server must be running on this
    /// data root). Honours $BROWSER; prints the URL when no browser can be opened.
    Open(OpenArgs),
    /// Register worksync's merge driver in a clone of a shared plan repository, so that
    /// `git pull` there merges work-index.yaml item by item.
    GitSetup(GitSetupArgs),
    /// git's merge driver for a shared plan (git runs it; see `worksync git-setup`).
    #[command(hide = true, long_about = MERGE_DRIVER_HELP)]
    MergeDriver(MergeDriverArgs),
}

/// The long help of `worksync merge-driver`.
const MERGE_DRIVER_HELP: &str = "\
git's merge driver for a shared plan. git runs it as `worksync merge-driver %O %A %B %P` in a
clone set up with `worksync git-setup`.

work-index.yaml is merged item by item, COMPLETE/history.yaml as a union of its entries;
other files are left to git. On success %A holds the merge (exit 0) and every disagreement
it resolved is printed on stderr and appended to .git/worksync-conflicts.log. When a
version holds conflict markers or YAML that does not load, or the repository's
worksync/format is one this worksync does not know, %A is left untouched and the exit
code is 1, so git reports a conflict for a person to resolve. Exit code 2: called wrongly.";

/// Flags of `worksync share`.
#[derive(Debug, Clone, Args)]
pub struct ShareArgs {
    /// The registered project to share.
    pub project: String,
    /// The git remote: a URL (git@github.com:acme/plan.git, https://…) or a local path. A
    /// repository of its own for the plan, never a code repository's working branches.
    pub remote: String,
    /// The branch that holds the plan.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// Seconds between syncs [default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub interval: Option<f64>,
}

/// Flags of `worksync join`.
#[derive(Debug, Clone, Args)]
pub struct JoinArgs {
    /// The git remote holding the shared plan.
    pub remote: String,
    /// The project's name here [default: the remote's name without .git]
    #[arg(long)]
    pub project: Option<String>,
    /// The branch that holds the plan.
    #[arg(long, default_value = "main")]
    pub branch: String,
    /// The project's code repository on this machine (for its guidance and AGENTS.md).
    #[arg(long)]
    pub repo: Option<String>,
    /// Seconds between syncs [default: 30]
    #[arg(long, value_name = "SECONDS")]
    pub interval: Option<f64>,
}

/// Flags of `worksync open`.
#[derive(Debug, Clone, Args)]
pub struct OpenArgs {
    /// The project whose board to open [default: the page of all projects]
    pub project: Option<String>,
    /// Only print the login URL (its code works once, for a minute); open no browser.
    #[arg(long)]
    pub print: bool,
}

/// Flags of `worksync pull`.
#[derive(Debug, Clone, Args)]
pub struct PullArgs {
    /// The shared project to sync.
    pub project: String,
}

/// Flags of `worksync git-setup`.
#[derive(Debug, Clone, Args)]
pub struct GitSetupArgs {
    /// The clone to set up [default: the current directory]
    pub dir: Option<PathBuf>,
}

/// What git passes to `worksync merge-driver`.
#[derive(Debug, Clone, Args)]
pub struct MergeDriverArgs {
    /// %O: the common ancestor's version of the file.
    pub ancestor: PathBuf,
    /// %A: our version; replaced by the merge when it succeeds.
    pub ours: PathBuf,
    /// %B: their version.
    pub theirs: PathBuf,
    /// %P: the file's path in the repository (it decides how to merge).
    pub path: String,
}

/// Flags of `worksync key`.
#[derive(Debug, Clone, Args)]
pub struct KeyArgs {
    /// Print the key file's key (only the key) on stdout, e.g. for
    /// `export WORKSYNC_API_KEY="$(worksync key --show)"`; creates the file if there is none.
    #[arg(long, conflicts_with = "rotate")]
    pub show: bool,

    /// Replace the key file's key with a new random one (restart the server and update your
    /// clients' WORKSYNC_API_KEY afterwards).
    #[arg(long)]
    pub rotate: bool,
}

/// Where the server listens (or is expected to).
#[derive(Debug, Clone, Args)]
pub struct AddressArgs {
    /// Address of the server.
    #[arg(long, env = "WORKSYNC_HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port of the server.
    #[arg(long, env = "WORKSYNC_PORT", default_value_t = DEFAULT_PORT)]
    pub port: u16,
}

impl AddressArgs {
    /// The server's base URL, e.g. `http://127.0.0.1:8321` (wildcards reached over loopback).
    pub fn base_url(&self) -> String {
        let host = match self.host.as_str() {
            "0.0.0.0" | "" => "127.0.0.1".to_string(),
            "::" => "[::1]".to_string(),
            h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
            h => h.to_string(),
        };
        format!("http://{host}:{}", self.port)
    }
}

/// Flags of `worksync init`.
#[derive(Debug, Clone, Default, Args)]
pub struct InitArgs {
    /// Add the worksync server to `<DIR>/.mcp.json`, keeping the other servers.
    #[arg(long, value_name = "DIR")]
    pub write_mcp_config: Option<PathBuf>,

    /// Add (or refresh) a marked worksync section in `<DIR>/CLAUDE.md` and `<DIR>/AGENTS.md`.
    #[arg(long, value_name = "DIR")]
    pub write_agents_md: Option<PathBuf>,

    /// The worksync project the section names [default: the project whose `repo` in
    /// config.yaml is DIR, else the one named like DIR]
    #[arg(long, value_name = "NAME", requires = "write_agents_md")]
    pub project: Option<String>,

    /// Server address for the entries written.
    #[command(flatten)]
    pub address: AddressArgs,
}

/// Which client configuration `mcp-config` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ClientKind {
    /// The `claude mcp add` line and the `.mcp.json` document.
    Claude,
    /// The `[mcp_servers.worksync]` block of `~/.codex/config.toml`.
    Codex,
    /// Only the `.mcp.json` document.
    Json,
    /// Only the Codex TOML block.
    Toml,
    /// Everything.
    All,
}

/// Flags of `worksync mcp-config`.
#[derive(Debug, Clone, Args)]
pub struct McpConfigArgs {
    /// Which client.
    #[arg(value_enum, default_value_t = ClientKind::All)]
    pub client: ClientKind,

    /// Entries without the Authorization header (for a server run with --no-auth).
    #[arg(long)]
    pub no_auth: bool,

    /// Server address for the entries.
    #[command(flatten)]
    pub address: AddressArgs,
}

/// Flags of `worksync serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[command(flatten)]
    pub address: AddressArgs,

    /// Disable authentication (development only). Also WORKSYNC_DEBUG=1.
    #[arg(long)]
    pub no_auth: bool,

    /// Allow listening on a non-loopback address (requires auth).
    #[arg(long)]
    pub allow_remote: bool,

    /// Regenerate the vault after changes [default: settings.auto_sync of config.yaml, else true]
    #[arg(long, env = "WORKSYNC_AUTO_SYNC", value_parser = clap::builder::BoolishValueParser::new())]
    pub auto_sync: Option<bool>,

    /// Seconds without changes before the vault is regenerated.
    #[arg(long, env = "WORKSYNC_SYNC_DEBOUNCE", default_value_t = 2.0)]
    pub sync_debounce: f64,
}

impl Default for ServeArgs {
    /// `serve` without flags (what `worksync` alone runs): values from the environment, as
    /// clap would read them for the flags.
    fn default() -> Self {
        #[derive(Parser)]
        struct Bare {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Bare::parse_from(["worksync"]).serve
    }
}

impl Default for AddressArgs {
    /// The address from `WORKSYNC_HOST` / `WORKSYNC_PORT`, as the flags would default.
    fn default() -> Self {
        AddressArgs {
            host: std::env::var("WORKSYNC_HOST").unwrap_or_else(|_| "127.0.0.1".into()),
            port: std::env::var("WORKSYNC_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(DEFAULT_PORT),
        }
    }
}

/// Flags of `worksync sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    /// Only this project (and the global dashboard).
    pub project: Option<String>,

    /// Take over notes at generated paths that worksync did not write, e.g. a vault the
    /// Python tool generated. Without it such notes are kept and listed.
    #[arg(long)]
    pub adopt: bool,
}

/// Flags of `worksync status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// Only this project.
    pub project: Option<String>,

    /// Print the same JSON as the worksync_status tool.
    #[arg(long)]
    pub json: bool,
}

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Environment switches that are not flags (their values must not appear in `ps`).
#[derive(Clone, Default)]
pub struct Environment {
    /// `WORKSYNC_API_KEY`.
    pub api_key: Option<String>,
    /// `WORKSYNC_DEBUG` set to 1/true/yes: no auth, as in the Python tool.
    pub debug: bool,
    /// `WORKSYNC_CONFIG_DIR`: where the key file lives instead of the platform's config
    /// directory (tests and unusual setups).
    pub config_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Environment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("Environment")
            .field("api_key", &self.api_key.as_ref().map(|_| "(set)"))
            .field("debug", &self.debug)
            .field("config_dir", &self.config_dir)
            .finish()
    }
}

impl Environment {
    /// Reads the environment once, at start.
    pub fn capture() -> Environment {
        let truthy = |v: String| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes");
        Environment {
            api_key: std::env::var("WORKSYNC_API_KEY").ok(),
            debug: std::env::var("WORKSYNC_DEBUG").map(truthy).unwrap_or(false),
            config_dir: std::env::var_os("WORKSYNC_CONFIG_DIR").filter(|d| !d.is_empty()).map(PathBuf::from),
        }
    }
}
