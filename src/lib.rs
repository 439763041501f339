//! worksync: the single-writer MCP server for multi-agent work tracking in YAML files.
//!
//! # Layout
//! - [`store`]: the domain and its files. The work-tracking model, the YAML codec that
//!   edits only what changed, atomic durable writes, the single writer thread and the
//!   read-side snapshots. Knows nothing of MCP or HTTP.
//! - [`mcp`]: protocol glue. The rmcp `ServerHandler`, one file per tool group, the prompts
//!   and the instructions; a tool parses its parameters, makes one call into the store and
//!   shapes the reply.
//! - [`share`]: sharing a project's plan with other machines through git: the git runner,
//!   and the merge driver people's clones use (`worksync git-setup`, `merge-driver`).
//! - [`vault`]: the Obsidian vault: notes from minijinja templates, regenerated after a
//!   burst of changes, writing only what changed and never a file it did not write.
//! - [`http`]: the axum router: `/mcp` behind the bearer-auth layer, `/status`, `/healthz`,
//!   the Host/Origin check on every route, capped MCP sessions, and the connection loop
//!   that bounds what a client can hold (connections, timeouts).
//! - [`server`]: starts and stops everything: `run(listener, store, auth, sync, limits, shutdown)`.
//! - [`watch`]: file watcher; edits behind the server's back trigger a reload.
//! - [`cli`]: command-line flags and environment, as parsed by clap.
//! - [`settings`]: those inputs validated into what a run uses (data root, address, auth).
//! - [`api_key`]: where the API key comes from, and the private key file that keeps it.
//! - [`app`]: runs the chosen command (`serve`, `init`, `status`, `sync`, `mcp-config`,
//!   `doctor`, `key`, `git-setup`, `merge-driver`).
//! - [`client_setup`]: client entries for Claude Code and Codex, `.mcp.json`, AGENTS.md.
//! - [`doctor`]: the health checks of `worksync doctor`.

pub mod api_key;
pub mod app;
pub mod cli;
pub mod client_setup;
pub mod doctor;
pub mod http;
pub mod mcp;
pub mod server;
pub mod settings;
pub mod share;
pub mod store;
pub mod vault;
pub mod watch;
