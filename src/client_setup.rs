//! Wiring clients to the server: ready-to-paste entries for Claude Code and Codex, merging
//! the entry into a project's `.mcp.json`, and a marked section for CLAUDE.md / AGENTS.md.
//!
//! Entries never contain the key itself: Claude Code expands `${WORKSYNC_API_KEY}` in
//! headers and Codex reads the variable named by `bearer_token_env_var`, so the key stays in
//! the environment.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::store::atomic;

/// The name under which worksync is registered in client configs.
pub const SERVER_NAME: &str = "worksync";
/// Markers around the section `--write-agents-md` maintains.
const BEGIN: &str = "<!-- worksync:begin (managed by `worksync init --write-agents-md`) -->";
const END: &str = "<!-- worksync:end -->";

/// The `claude mcp add` command line.
pub fn claude_command(url: &str, auth: bool) -> String {
    let header = if auth { " --header \"Authorization: Bearer ${WORKSYNC_API_KEY}\"" } else { "" };
    format!("claude mcp add --transport http {SERVER_NAME} {url}{header}")
}

/// The server entry of `.mcp.json` (Claude Code and other clients).
pub fn mcp_json_entry(url: &str, auth: bool) -> Value {
    let mut entry = json!({ "type": "http", "url": url });
    if auth {
        entry["headers"] = json!({ "Authorization": "Bearer ${WORKSYNC_API_KEY}" });
    }
    entry
}

/// A whole `.mcp.json` holding only worksync.
pub fn mcp_json(url: &str, auth: bool) -> String {
    let document = json!({ "mcpServers": { SERVER_NAME: mcp_json_entry(url, auth) } });
    format!("{}\n", serde_json::to_string_pretty(&document).expect("JSON serializes"))
}

/// The `[mcp_servers.worksync]` block of Codex's `~/.codex/config.toml`.
pub fn codex_toml(url: &str, auth: bool) -> String {
    let token = if auth { "bearer_token_env_var = \"WORKSYNC_API_KEY\"\n" } else { "" };
    format!("[mcp_servers.{SERVER_NAME}]\nurl = \"{url}\"\n{token}")
}

/// Everything a user needs to connect both clients, as shown by `serve` and `mcp-config all`.
pub fn all_entries(url: &str, auth: bool) -> String {
    format!(
        "# Claude Code\n{}\n\n# .mcp.json (project root)\n{}\n# Codex (~/.codex/config.toml)\n{}",
        claude_command(url, auth),
        mcp_json(url, auth),
        codex_toml(url, auth)
    )
}

/// Adds (or replaces) the worksync entry in `<dir>/.mcp.json`, keeping every other server
/// and key. Refuses to touch a file that is not a JSON object. Returns the file's path.
pub fn write_mcp_json(dir: &Path, url: &str, auth: bool) -> anyhow::Result<PathBuf> {
    let path = dir.join(".mcp.json");
    let mut document = match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().is_empty() => json!({}),
        Ok(text) => serde_json::from_str::<Value>(&text)
            .with_context(|| format!("{} is not valid JSON; fix or move it (nothing was written)", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    let Value::Object(root) = &mut document else {
        bail!("{} is not a JSON object; fix or move it (nothing was written)", path.display());
    };
    let servers = root.entry("mcpServers").or_insert_with(|| json!({}));
    let Value::Object(servers) = servers else {
        bail!("\"mcpServers\" in {} is not an object; fix it (nothing was written)", path.display());
    };
    servers.insert(SERVER_NAME.to_string(), mcp_json_entry(url, auth));
    let text = format!("{}\n", serde_json::to_string_pretty(&document)?);
    atomic::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// The guidance for agents that `--write-agents-md` puts in CLAUDE.md and AGENTS.md.
pub fn agents_section() -> String {
    format!(
        "{BEGIN}\n## Work tracking: worksync\n\n\
         This project's sprints, stories and backlog live in worksync (MCP server `{SERVER_NAME}`).\n\n\
         1. Start by calling `worksync_status` to see active sprints and what other agents are doing.\n\
         2. Before you start a story, claim it: set it `in_progress` with `worksync_update_story` \
         (pass `agent` with your name). Do not take a story another agent has in progress.\n\
         3. Record decisions and progress as you go with `worksync_update_story` and `append_notes`; \
         put new work you find in the backlog with `worksync_add_backlog`.\n\
         4. When done, call `worksync_done` with notes on what you did and how you verified it.\n\
         5. Never edit `work-index.yaml` yourself; reading it is fine. Read `worksync_guidance` for \
         the project's coding guidance.\n{END}\n"
    )
}

/// Writes the worksync section into `<dir>/CLAUDE.md` and `<dir>/AGENTS.md`: replaced in
/// place if the markers are there, appended otherwise; the rest of each file is kept.
pub fn write_agents_md(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let section = agents_section();
    let mut written = Vec::new();
    for name in ["CLAUDE.md", "AGENTS.md"] {
        let path = dir.join(name);
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
        };
        let updated = match (existing.find(BEGIN), existing.find(END)) {
            (Some(start), Some(end)) if end > start => {
                let after = existing[end + END.len()..].trim_start_matches('\n');
                format!("{}{section}{after}", &existing[..start])
            }
            _ if existing.trim().is_empty() => section.clone(),
            _ => format!("{}\n\n{section}", existing.trim_end()),
        };
        if updated != existing {
            atomic::write_atomic(&path, updated.as_bytes())?;
        }
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The section is added once, then replaced in place; the user's text stays.
    #[test]
    fn agents_md_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("CLAUDE.md"), "# My project\n\nOwn notes.\n").unwrap();
        write_agents_md(dir.path()).unwrap();
        let once = std::fs::read_to_string(dir.path().join("CLAUDE.md")).unwrap();
        write_agents_md(dir.path()).unwrap();
        let twice = std::fs::read_to_string(dir.path().join("CLAUDE.md")).unwrap();
        assert_eq!(once, twice);
        assert!(once.starts_with("# My project\n\nOwn notes.\n\n<!-- worksync:begin"));
        assert_eq!(once.matches("worksync:begin").count(), 1);
        assert!(std::fs::read_to_string(dir.path().join("AGENTS.md")).unwrap().contains("worksync_status"));
    }

    /// A broken .mcp.json is refused and left as it was.
    #[test]
    fn broken_mcp_json_is_not_clobbered() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".mcp.json"), "{ not json").unwrap();
        assert!(write_mcp_json(dir.path(), "http://127.0.0.1:8321/mcp", true).is_err());
        assert_eq!(std::fs::read_to_string(dir.path().join(".mcp.json")).unwrap(), "{ not json");
    }
}
