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
use crate::store::layout::expand_home;
use crate::store::registry::ConfigFile;

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

/// How a user gets the key into `WORKSYNC_API_KEY`, where every entry reads it from.
pub const KEY_EXPORT: &str = "export WORKSYNC_API_KEY=\"$(worksync key --show)\"";

/// Everything a user needs to connect both clients, as shown by `serve` and `mcp-config all`.
pub fn all_entries(url: &str, auth: bool) -> String {
    let key = if auth {
        format!(
            "# The key: every entry below reads WORKSYNC_API_KEY. Unless you set it yourself (e.g. from\n\
             # 1Password), export worksync's own key in your shell profile (~/.zshrc, ~/.bashrc):\n#   {KEY_EXPORT}\n\n"
        )
    } else {
        String::new()
    };
    format!(
        "{key}# Claude Code\n{}\n\n# .mcp.json (project root)\n{}\n# Codex (~/.codex/config.toml)\n{}",
        claude_command(url, auth),
        mcp_json(url, auth),
        codex_toml(url, auth)
    )
}

/// Adds (or replaces) the worksync entry in `<dir>/.mcp.json`, keeping every other server
/// and key. Refuses to touch a file that is not a JSON object; leaves alone a file that
/// already holds this entry. Returns the file's path and what was done.
pub fn write_mcp_json(dir: &Path, url: &str, auth: bool) -> anyhow::Result<(PathBuf, Written)> {
    let path = dir.join(".mcp.json");
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
    };
    let mut document = match existing.as_deref() {
        None => json!({}),
        Some(text) if text.trim().is_empty() => json!({}),
        Some(text) => serde_json::from_str::<Value>(text)
            .with_context(|| format!("{} is not valid JSON; fix or move it (nothing was written)", path.display()))?,
    };
    let Value::Object(root) = &mut document else {
        bail!("{} is not a JSON object; fix or move it (nothing was written)", path.display());
    };
    let servers = root.entry("mcpServers").or_insert_with(|| json!({}));
    let Value::Object(servers) = servers else {
        bail!("\"mcpServers\" in {} is not an object; fix it (nothing was written)", path.display());
    };
    let entry = mcp_json_entry(url, auth);
    if existing.is_some() && servers.get(SERVER_NAME) == Some(&entry) {
        return Ok((path, Written::Unchanged));
    }
    servers.insert(SERVER_NAME.to_string(), entry);
    let text = format!("{}\n", serde_json::to_string_pretty(&document)?);
    let written = write_if_changed(&path, existing.as_deref(), &text)?;
    Ok((path, written))
}

/// The guidance for agents that `--write-agents-md` puts in CLAUDE.md and AGENTS.md: which
/// worksync project this repository is, and the workflow the tools support (next work and
/// claims, revisions, the change feed).
pub fn agents_section(project: &str) -> String {
    format!(
        "{BEGIN}\n## Work tracking: worksync project `{project}`\n\n\
         This repository's sprints, stories and backlog live in worksync (MCP server `{SERVER_NAME}`) as the \
         project `{project}`. Pass `project: \"{project}\"` and `agent: \"<your name>\"` (e.g. `claude-code`, \
         `codex`) to every worksync tool.\n\n\
         1. Start with `worksync_status` to see the active sprints, the work in progress and who holds what.\n\
         2. Take work with `worksync_next` and `claim: true`: it picks the next free story or backlog item and \
         claims it for you. To take a particular item, `worksync_claim` it (`kind` `story` or `backlog`, and its \
         `id`); if another agent holds it, pick other work. A claim sets the item in progress and lasts a lease: \
         claim again to renew it.\n\
         3. Read `worksync_guidance` for the project's coding guidance.\n\
         4. Record progress and decisions with `worksync_update_story` (`append_notes`), passing the \
         `expected_rev` you last saw; if the item moved on, the refusal holds the `current` item: apply your \
         change to that. New work you find goes to `worksync_add_backlog`.\n\
         5. When a story is done, call `worksync_done` with notes on what you did and how you verified it (this \
         ends your claim). A backlog item: `worksync_update_backlog` with status `done`, then \
         `worksync_release`.\n\
         6. `worksync_changes` (with the `cursor` of your previous call) shows what other agents changed \
         meanwhile.\n\
         7. Never edit `work-index.yaml` or `.worksync/` yourself; reading them is fine.\n{END}\n"
    )
}

/// What writing a file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The file did not exist and was created.
    Created,
    /// The file existed and was changed.
    Updated,
    /// The file already said exactly this; it was not touched.
    Unchanged,
}

/// Writes the worksync section naming `project` into `<dir>/CLAUDE.md` and `<dir>/AGENTS.md`:
/// replaced in place if the markers are there, appended otherwise; the rest of each file is
/// kept, and a file that already holds this section is not touched.
pub fn write_agents_md(dir: &Path, project: &str) -> anyhow::Result<Vec<(PathBuf, Written)>> {
    let section = agents_section(project);
    let mut written = Vec::new();
    for name in ["CLAUDE.md", "AGENTS.md"] {
        let path = dir.join(name);
        let existing = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("could not read {}", path.display())),
        };
        let text = existing.as_deref().unwrap_or_default();
        let updated = match (text.find(BEGIN), text.find(END)) {
            (Some(start), Some(end)) if end > start => {
                let after = text[end + END.len()..].trim_start_matches('\n');
                format!("{}{section}{after}", &text[..start])
            }
            _ if text.trim().is_empty() => section.clone(),
            _ => format!("{}\n\n{section}", text.trim_end()),
        };
        written.push((path.clone(), write_if_changed(&path, existing.as_deref(), &updated)?));
    }
    Ok(written)
}

/// Writes `updated` to `path` unless it is what the file (`existing`) already holds.
fn write_if_changed(path: &Path, existing: Option<&str>, updated: &str) -> anyhow::Result<Written> {
    match existing {
        Some(text) if text == updated => Ok(Written::Unchanged),
        _ => {
            atomic::write_atomic(path, updated.as_bytes())?;
            Ok(if existing.is_some() { Written::Updated } else { Written::Created })
        }
    }
}

/// The project `--write-agents-md <dir>` names: `given` if registered, else the project whose
/// `repo` is `dir`, else the one named like `dir`. An error lists the registered projects.
pub fn project_for_dir(config: &ConfigFile, dir: &Path, given: Option<&str>) -> anyhow::Result<String> {
    let names = config.project_names();
    if let Some(name) = given {
        if config.project(name).is_none() {
            bail!("--project {name}: no such project in config.yaml (registered: {names}); nothing was written");
        }
        return Ok(name.to_string());
    }
    let wanted = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let by_repo = config.projects().find(|(_, entry)| {
        entry.repo.as_deref().is_some_and(|repo| {
            let repo = expand_home(repo);
            std::fs::canonicalize(&repo).unwrap_or(repo) == wanted
        })
    });
    let by_name = || {
        let dir_name = wanted.file_name()?.to_str()?;
        config.projects().find(|(name, _)| name.as_str() == dir_name)
    };
    match by_repo.or_else(by_name) {
        Some((name, _)) => Ok(name.clone()),
        None => bail!(
            "{} is not the repo of a registered project (registered: {names}); pass --project NAME, or register \
             the project first (worksync_register_project, or add it to config.yaml). Nothing was written",
            dir.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The section is added once, then left alone ("unchanged"); the user's text stays; a
    /// section naming another project replaces it in place.
    #[test]
    fn agents_md_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("CLAUDE.md"), "# My project\n\nOwn notes.\n").unwrap();
        let first = write_agents_md(dir.path(), "orbit-api").unwrap();
        assert_eq!(first.iter().map(|(_, w)| *w).collect::<Vec<_>>(), [Written::Updated, Written::Created]);
        let once = std::fs::read_to_string(dir.path().join("CLAUDE.md")).unwrap();
        let again = write_agents_md(dir.path(), "orbit-api").unwrap();
        assert!(again.iter().all(|(_, w)| *w == Written::Unchanged), "{again:?}");
        assert_eq!(std::fs::read_to_string(dir.path().join("CLAUDE.md")).unwrap(), once);
        assert!(once.starts_with("# My project\n\nOwn notes.\n\n<!-- worksync:begin"));
        assert_eq!(once.matches("worksync:begin").count(), 1);

        let moved = write_agents_md(dir.path(), "orbit-web").unwrap();
        assert!(moved.iter().all(|(_, w)| *w == Written::Updated), "{moved:?}");
        let renamed = std::fs::read_to_string(dir.path().join("AGENTS.md")).unwrap();
        assert_eq!(renamed.matches("worksync:begin").count(), 1);
        assert!(renamed.contains("`project: \"orbit-web\"`") && !renamed.contains("orbit-api"), "{renamed}");
    }

    /// The section names the project and teaches the current workflow: next work and claims,
    /// not setting a status by hand.
    #[test]
    fn agents_section_teaches_claims() {
        let section = agents_section("orbit-api");
        assert!(section.contains("worksync project `orbit-api`"), "{section}");
        for tool in ["worksync_status", "worksync_next", "worksync_claim", "worksync_done", "worksync_changes"] {
            assert!(section.contains(&format!("`{tool}`")), "{tool} missing: {section}");
        }
        assert!(!section.contains("set it `in_progress`"), "{section}");
    }

    /// `--write-agents-md <dir>` finds the project by its repo path, then by name; anything
    /// else is an error listing the registered projects.
    #[test]
    fn project_for_dir_by_repo_then_name() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("checkout");
        std::fs::create_dir_all(&repo).unwrap();
        let config: ConfigFile = serde_yaml_ng::from_str(&format!(
            "projects:\n  orbit-api:\n    repo: {}\n  orbit-web: {{}}\n",
            repo.display()
        ))
        .unwrap();
        assert_eq!(project_for_dir(&config, &repo, None).unwrap(), "orbit-api");
        assert_eq!(project_for_dir(&config, &dir.path().join("orbit-web"), None).unwrap(), "orbit-web");
        assert_eq!(project_for_dir(&config, &repo, Some("orbit-web")).unwrap(), "orbit-web");
        let unknown = project_for_dir(&config, &dir.path().join("elsewhere"), None).unwrap_err().to_string();
        assert!(unknown.contains("--project NAME") && unknown.contains("orbit-api, orbit-web"), "{unknown}");
        assert!(project_for_dir(&config, &repo, Some("nope")).is_err());
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
