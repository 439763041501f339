//! `config.yaml`: the project registry and settings, in the Python tool's format.
//!
//! Existing keys keep their meaning and unknown keys are kept as they are, so a
//! user's file written by the Python tool loads and writes back unchanged but for what a
//! tool changed.
//!
//! The file is edited by hand and pulled with git, so a project may be registered under a
//! name that cannot be a directory (`/abs/dir`, `../../x`). Such an entry is kept in the
//! file (a write never drops it) but the registry never hands its name out:
//! [`ConfigFile::projects`] and [`ConfigFile::project`] skip it, and
//! [`ConfigFile::invalid_projects`] lists it for the reports, located by
//! [`invalid_project_error`].

use std::path::Path;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Mapping;

use super::error::StoreError;
use super::validate;

/// The whole `config.yaml`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projects: Option<IndexMap<String, ProjectEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Settings>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// One registered project.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectEntry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guidance: Option<GuidanceConfig>,
    /// Sharing the project's plan through a git remote (worksync's own setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<ShareConfig>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// Where a shared project's plan travels: a git remote and a branch, synced every interval.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShareConfig {
    /// Any git URL or a local path (a dedicated plan repository, never a code repository's
    /// working branches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// The branch that holds the plan (default `main`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Seconds between syncs (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_seconds: Option<f64>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// The default branch of a shared plan.
pub const DEFAULT_SHARE_BRANCH: &str = "main";
/// The default period of a shared project's sync.
pub const DEFAULT_SHARE_INTERVAL_SECONDS: f64 = 30.0;

impl ShareConfig {
    /// The branch that holds the plan.
    pub fn branch(&self) -> &str {
        self.branch.as_deref().filter(|b| !b.trim().is_empty()).unwrap_or(DEFAULT_SHARE_BRANCH)
    }

    /// Time between syncs: the configured seconds (at least 0.2), else 30 s.
    pub fn interval(&self) -> std::time::Duration {
        let seconds =
            self.interval_seconds.filter(|s| s.is_finite() && *s > 0.0).unwrap_or(DEFAULT_SHARE_INTERVAL_SECONDS);
        std::time::Duration::from_secs_f64(seconds.max(0.2))
    }
}

/// Which guidance documents a project gets: shared ones by name, and docs in its repo.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GuidanceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Vec<ProjectDoc>>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// A guidance document that lives in the project's repository.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectDoc {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// The `settings:` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_sync: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_rotation: Option<u64>,
    /// Lease of a claim when the agent names none (worksync's own setting; default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_lease_minutes: Option<f64>,
    /// Extra `Host` names accepted on `/mcp` besides loopback (e.g. behind a local proxy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_hosts: Option<Vec<String>>,
    /// Extra browser origins accepted on `/mcp` besides loopback (`scheme://host:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origins: Option<Vec<String>>,
    /// `refuse`: a claim in a shared project whose remote cannot be reached is refused
    /// instead of held locally only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_claims_offline: Option<String>,
    /// This machine's name in shared projects (default: the host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// Who a status or priority change made in a vault note is credited to (default
    /// `obsidian`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vault_editor: Option<String>,
    /// Who a change made on the web board is credited to (default `human`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board_editor: Option<String>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// Guidance a project inherits when its config names none (the Python tool's default).
pub const DEFAULT_INHERIT: [&str; 2] = ["general", "ai-collaboration"];

impl ConfigFile {
    /// Registered projects in file order, only those whose name can be a directory.
    pub fn projects(&self) -> impl Iterator<Item = (&String, &ProjectEntry)> {
        self.projects.iter().flatten().filter(|(name, _)| validate::directory_name("project", name).is_ok())
    }

    /// The entry of project `name`, unless its name cannot be a directory.
    pub fn project(&self, name: &str) -> Option<&ProjectEntry> {
        validate::directory_name("project", name).ok()?;
        self.projects.as_ref()?.get(name)
    }

    /// Projects registered under names that cannot be directories, with why; they are
    /// skipped everywhere else.
    pub fn invalid_projects(&self) -> impl Iterator<Item = (&String, StoreError)> {
        self.projects
            .iter()
            .flatten()
            .filter_map(|(name, _)| Some((name, validate::directory_name("project", name).err()?)))
    }

    /// Project names, comma-separated, for "not found" messages.
    pub fn project_names(&self) -> String {
        let names: Vec<&str> = self.projects().map(|(n, _)| n.as_str()).collect();
        if names.is_empty() { "(none)".to_string() } else { names.join(", ") }
    }

    /// `vault_path`, defaulting to `./vault` (relative to the data root).
    pub fn vault_path(&self) -> &str {
        self.vault_path.as_deref().unwrap_or("./vault")
    }
}

impl ProjectEntry {
    /// The shared guidance names this project inherits.
    pub fn inherit(&self) -> Vec<String> {
        match self.guidance.as_ref().and_then(|g| g.inherit.clone()) {
            Some(list) => list,
            None => DEFAULT_INHERIT.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// The project's own guidance documents.
    pub fn project_docs(&self) -> &[ProjectDoc] {
        self.guidance.as_ref().and_then(|g| g.project.as_deref()).unwrap_or_default()
    }
}

/// The error for project `name` of `config.yaml` (at `path`, holding `text`), whose name
/// is refused with `why`: a parse error at the name's key, so that tools, `status` and
/// `doctor` report it with file, line and column.
pub fn invalid_project_error(path: &Path, text: &str, name: &str, why: &StoreError) -> StoreError {
    let (line, column) = locate_project(text, name).unwrap_or((1, 1));
    let reason = match why {
        StoreError::Invalid { message, .. } => message.clone(),
        other => other.to_string(),
    };
    StoreError::Parse {
        path: path.to_path_buf(),
        line,
        column,
        message: format!(
            "project name {reason}; the project is skipped until it is renamed here (a name under projects/ has \
             no '/', '\\', ':' or control characters and does not start with '.')"
        ),
    }
}

/// Where `name` is written as a key under the top-level `projects:` of `text` (1-based
/// line and column), if it is written in block style on a line of its own.
fn locate_project(text: &str, name: &str) -> Option<(usize, usize)> {
    let mut in_projects = false;
    for (number, line) in text.lines().enumerate() {
        let indent = line.len() - line.trim_start().len();
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if indent == 0 {
            in_projects = content.starts_with("projects:");
            continue;
        }
        if in_projects && key_of(content).as_deref() == Some(name) {
            return Some((number + 1, indent + 1));
        }
    }
    None
}

/// The key of a `key: value` line: plain, 'single' or "double" quoted.
fn key_of(content: &str) -> Option<String> {
    let quoted = |quote: char| {
        let rest = content.strip_prefix(quote)?;
        let end = rest.find(&format!("{quote}:"))?;
        let key = &rest[..end];
        Some(if quote == '\'' { key.replace("''", "'") } else { key.replace("\\\"", "\"") })
    };
    quoted('\'').or_else(|| quoted('"')).or_else(|| {
        let end = content.find(": ").or_else(|| content.strip_suffix(':').map(str::len))?;
        Some(content[..end].trim_end().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names that cannot be directories are skipped by the registry and located in the
    /// text, plain or quoted.
    #[test]
    fn invalid_names_are_skipped_and_located() {
        let text = "# mine\nprojects:\n  good:\n    repo: /r\n  /abs/dir:\n    repo: /r\n  '../../x':\n    repo: /r\n  \"a/../../b\": {}\nsettings: {}\n";
        let config: ConfigFile = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(config.projects().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["good"]);
        assert!(config.project("../../x").is_none());
        let invalid: Vec<&str> = config.invalid_projects().map(|(n, _)| n.as_str()).collect();
        assert_eq!(invalid, ["/abs/dir", "../../x", "a/../../b"]);
        assert_eq!(config.project_names(), "good");
        let located: Vec<Option<(usize, usize)>> = invalid.iter().map(|n| locate_project(text, n)).collect();
        assert_eq!(located, [Some((5, 3)), Some((7, 3)), Some((9, 3))]);
        let (name, why) = config.invalid_projects().nth(1).unwrap();
        let error = invalid_project_error(Path::new("/r/config.yaml"), text, name, &why);
        assert!(
            error.to_string().starts_with(
                "/r/config.yaml:7:3: project name '../../x' is not one plain directory name (it contains '/')"
            ),
            "{error}"
        );
    }
}
