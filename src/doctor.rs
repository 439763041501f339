//! `worksync doctor`: is everything healthy? One line per check, non-zero exit on a failure.
//!
//! It reads the data root without changing anything (like `status`), and asks a running
//! server, if any, whether it answers and whether the key a client here would send (from
//! `WORKSYNC_API_KEY` or the key file, as `serve` finds it) works.
//! Problems in YAML files come with file, line and column, as in tool errors.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::api_key::KeySource;
use crate::store::registry::{ConfigFile, invalid_project_error};
use crate::store::yaml::Document;
use crate::store::{Layout, Snapshot, StoreError, validate, values};

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Worth knowing, not a failure (e.g. no server running).
    Warn,
    Fail,
}

/// One line of the report.
#[derive(Debug, Clone)]
pub struct Check {
    pub outcome: Outcome,
    pub name: String,
    pub detail: String,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tag = match self.outcome {
            Outcome::Ok => "ok  ",
            Outcome::Warn => "WARN",
            Outcome::Fail => "FAIL",
        };
        write!(f, "{tag} {}: {}", self.name, self.detail)
    }
}

fn check(outcome: Outcome, name: impl Into<String>, detail: impl Into<String>) -> Check {
    Check { outcome, name: name.into(), detail: detail.into() }
}

/// The key a client on this machine would send, as found by the same rules as `serve`.
#[derive(Debug, Clone)]
pub enum ClientKey {
    /// A usable key and where it came from.
    Found { key: String, source: KeySource },
    /// Neither `WORKSYNC_API_KEY` nor a key file: `serve` would create the file.
    Missing { key_file: PathBuf },
    /// The key file cannot be used (shared with others, empty…): why, and how to fix it.
    Broken(String),
}

/// Runs every check: files first, then the key, then the server at `base_url` (e.g.
/// `http://127.0.0.1:8321`).
pub async fn run(layout: &Layout, base_url: &str, key: ClientKey) -> Vec<Check> {
    let mut checks = Vec::new();
    let root = layout.root();
    if !root.is_dir() {
        checks.push(check(
            Outcome::Fail,
            "data root",
            format!("{} does not exist; run `worksync init` (or `serve`) to create it", root.display()),
        ));
        return checks;
    }
    checks.push(match tempfile::tempfile_in(root) {
        Ok(_) => check(Outcome::Ok, "data root", root.display().to_string()),
        Err(e) => check(Outcome::Fail, "data root", format!("{} is not writable: {e}", root.display())),
    });

    let config = match Document::<ConfigFile>::load(&layout.config()) {
        Ok(doc) => {
            let names = doc.value().project_names();
            checks.push(check(Outcome::Ok, "config.yaml", format!("projects: {names}")));
            for (name, why) in doc.value().invalid_projects() {
                let error = invalid_project_error(doc.path(), doc.text(), name, &why);
                checks.push(check(Outcome::Fail, "config.yaml", error.to_string()));
            }
            Some(doc.value().as_ref().clone())
        }
        Err(e) => {
            checks.push(check(Outcome::Fail, "config.yaml", e.to_string()));
            None
        }
    };
    if let Some(config) = &config {
        project_checks(layout, config, &mut checks);
        checks.extend(sharing_checks(layout, config));
        checks.push(vault_check(layout, config));
    }
    checks.extend(other_yaml_checks(layout));
    checks.push(templates_check(layout));
    checks.push(match &key {
        ClientKey::Found { source, .. } => check(Outcome::Ok, "key", format!("from {source}")),
        ClientKey::Missing { key_file } => check(
            Outcome::Warn,
            "key",
            format!(
                "WORKSYNC_API_KEY is not set and there is no key file yet; `worksync serve` creates {}",
                key_file.display()
            ),
        ),
        ClientKey::Broken(problem) => check(Outcome::Fail, "key", problem.clone()),
    });
    let api_key = match &key {
        ClientKey::Found { key, .. } => Some(key.as_str()),
        _ => None,
    };
    checks.extend(server_checks(base_url, api_key).await);
    checks
}

fn project_checks(layout: &Layout, config: &ConfigFile, checks: &mut Vec<Check>) {
    let registry =
        Snapshot { layout: layout.clone(), config: std::sync::Arc::new(config.clone()), ..Snapshot::default() };
    for (name, entry) in config.projects() {
        for skipped in registry.skipped_guidance(name).unwrap_or_default() {
            checks.push(check(
                Outcome::Warn,
                format!("guidance of {name}"),
                format!(
                    "'{}' is skipped: {}",
                    skipped["name"].as_str().unwrap_or("?"),
                    skipped["reason"].as_str().unwrap_or("?")
                ),
            ));
        }
        let label = format!("projects/{name}/work-index.yaml");
        let loaded = layout.work_index(name).and_then(|path| values::load_work_index(&path));
        checks.push(match loaded {
            Ok(doc) => {
                let index = doc.value();
                let stories: usize = index.sprints().iter().map(|s| s.stories().len()).sum();
                check(
                    Outcome::Ok,
                    label,
                    format!(
                        "{} sprints, {stories} stories, {} backlog items, {} history entries",
                        index.sprints().len(),
                        index.backlog().len(),
                        index.history().len()
                    ),
                )
            }
            Err(e) => check(Outcome::Fail, label, e.to_string()),
        });
        let missing: Vec<String> = entry
            .inherit()
            .into_iter()
            .filter(|g| validate::id("guidance", g).is_ok())
            .filter(|g| !layout.guidance_dir().join(format!("{g}.md")).is_file())
            .collect();
        if !missing.is_empty() {
            checks.push(check(
                Outcome::Warn,
                format!("guidance of {name}"),
                format!("missing in guidance/: {} (worksync_guidance will skip them)", missing.join(", ")),
            ));
        }
    }
}

/// Every other YAML file under `projects/` (archives, hand-made files) must parse too.
fn other_yaml_checks(layout: &Layout) -> Vec<Check> {
    let mut files = Vec::new();
    collect_yaml(&layout.projects_dir(), &mut files);
    files
        .into_iter()
        .filter(|p| p.file_name().is_none_or(|n| n != "work-index.yaml"))
        .filter_map(|path| {
            let text = std::fs::read_to_string(&path).ok()?;
            let label = path.strip_prefix(layout.root()).unwrap_or(&path).display().to_string();
            Some(match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) {
                Ok(_) => check(Outcome::Ok, label, "parses"),
                Err(e) => check(Outcome::Fail, label, StoreError::parse(&path, &e).to_string()),
            })
        })
        .collect()
}

fn collect_yaml(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.flatten().collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_yaml(&path, files);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            files.push(path);
        }
    }
}

/// Each shared project's sync as its server last saw it (`.worksync/git/<project>.status.json`).
fn sharing_checks(layout: &Layout, config: &ConfigFile) -> Vec<Check> {
    let mut checks = Vec::new();
    for (name, entry) in config.projects() {
        let Some(remote) = entry.share.as_ref().and_then(|s| s.remote.as_deref()) else { continue };
        let label = format!("shared {name}");
        let Some(status) = crate::share::status::read_status(&layout.share_dir(), name) else {
            checks.push(check(
                Outcome::Warn,
                label,
                format!("shared on {remote}; not synced yet (no server has run its sync)"),
            ));
            continue;
        };
        let synced =
            status.last_synced_at.map_or("never".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
        let detail = format!(
            "{} on {remote} ({}), synced through change {} at {synced}, {} change(s) pending, {} conflict(s) logged in {}",
            status.state,
            status.branch,
            status.synced_through,
            status.pending_changes,
            status.conflicts,
            status.conflict_log
        );
        let outcome = match status.state.as_str() {
            "synced" | "syncing" | "starting" => Outcome::Ok,
            "retrying" => Outcome::Warn,
            _ => Outcome::Fail,
        };
        let detail = match status.last_error {
            Some(error) => format!("{detail}; last error: {error}"),
            None => detail,
        };
        checks.push(check(outcome, label, detail));
    }
    checks
}

fn templates_check(layout: &Layout) -> Check {
    let dir = layout.templates_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return check(Outcome::Ok, "templates", "built-in vault templates (no overrides in templates/)");
    };
    let count = entries.flatten().filter(|e| !e.file_name().to_string_lossy().starts_with('.')).count();
    let templates = crate::vault::templates::Templates::load(&dir);
    if templates.problems.is_empty() {
        check(Outcome::Ok, "templates", format!("{count} override(s) in templates/ compile"))
    } else {
        check(Outcome::Fail, "templates", templates.problems.join("; "))
    }
}

fn vault_check(layout: &Layout, config: &ConfigFile) -> Check {
    let configured = config.vault_path();
    let path = crate::vault::vault_dir(layout, config);
    let label = format!("vault ({configured})");
    match std::fs::symlink_metadata(&path) {
        Err(_) => check(Outcome::Ok, label, format!("{} does not exist yet", path.display())),
        Ok(meta) if meta.file_type().is_symlink() && !path.exists() => {
            check(Outcome::Fail, label, format!("{} is a symlink to a missing directory", path.display()))
        }
        Ok(_) if !path.is_dir() => check(Outcome::Fail, label, format!("{} is not a directory", path.display())),
        Ok(_) => match tempfile::tempfile_in(&path) {
            Ok(_) => check(Outcome::Ok, label, format!("{} is writable", path.display())),
            Err(e) => check(Outcome::Fail, label, format!("{} is not writable: {e}", path.display())),
        },
    }
}

async fn server_checks(base_url: &str, api_key: Option<&str>) -> Vec<Check> {
    let client = match reqwest::Client::builder().timeout(Duration::from_secs(3)).build() {
        Ok(client) => client,
        Err(e) => return vec![check(Outcome::Fail, "server", format!("no HTTP client: {e}"))],
    };
    let health = match client.get(format!("{base_url}/healthz")).send().await {
        Err(_) => {
            return vec![check(
                Outcome::Warn,
                "server",
                format!("nothing answers at {base_url} (start it with `./worksync.sh start`)"),
            )];
        }
        Ok(response) => response.text().await.ok().and_then(|t| serde_json::from_str::<Value>(&t).ok()),
    };
    let Some(health) = health.filter(|h| h["service"] == "worksync") else {
        return vec![check(
            Outcome::Fail,
            "server",
            format!("something at {base_url} answers, but it is not worksync"),
        )];
    };
    let mut checks = vec![check(
        Outcome::Ok,
        "server",
        format!(
            "worksync {} at {base_url}, pid {}, up {}s, auth {}",
            health["version"].as_str().unwrap_or("?"),
            health["pid"],
            health["uptime_seconds"],
            health["auth"].as_str().unwrap_or("?")
        ),
    )];
    if health["auth"] == "disabled" {
        checks.push(check(Outcome::Warn, "auth", "the server runs without authentication (--no-auth)"));
        return checks;
    }
    let Some(key) = api_key.filter(|k| !k.is_empty()) else {
        checks.push(check(Outcome::Warn, "auth", "no usable key here (see `key` above), so it could not be checked"));
        return checks;
    };
    let answer = client.get(format!("{base_url}/status")).bearer_auth(key).send().await;
    checks.push(match answer.map(|r| r.status()) {
        Ok(status) if status.is_success() => check(Outcome::Ok, "auth", "the server accepts this key"),
        Ok(status) if status == reqwest::StatusCode::UNAUTHORIZED => {
            check(Outcome::Fail, "auth", "the server rejects this key (401): clients using it cannot connect; it may have been started with another key (restart it)")
        }
        Ok(status) => check(Outcome::Fail, "auth", format!("unexpected answer {status} from /status")),
        Err(e) => check(Outcome::Fail, "auth", format!("no answer from /status: {e}")),
    });
    checks
}
