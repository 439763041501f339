//! worksync: the single-writer MCP server for multi-agent work tracking in YAML files.
//!
//! ARCHITECTURE.md (at the repository's root) is the map: how a tool call, a write, a hand
//! edit and a vault run move through these rooms, and the rules each keeps.
//!
//! - [`store`]: the domain and its files; knows nothing of MCP or HTTP.
//! - [`mcp`]: the MCP server: tools, prompts, resources, and the JSON of every answer.
//! - [`http`], [`server`], [`watch`]: connections, routes and auth; starting and stopping;
//!   edits behind the server's back; [`memory`]: freed memory given back after bursts.
//! - [`vault`]: the Obsidian vault, regenerated off the writer's path.
//! - [`share`]: sharing a project's plan through git.
//! - [`app`], [`cli`], [`settings`], [`api_key`], [`client_setup`], [`doctor`]: the binary's
//!   commands and what they need.

pub mod api_key;
pub mod app;
pub mod board;
pub mod cli;
pub mod client_setup;
pub mod doctor;
pub mod http;
pub mod mcp;
pub mod memory;
pub mod server;
pub mod settings;
pub mod share;
pub mod store;
pub mod vault;
pub mod watch;
