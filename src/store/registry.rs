//! `config.yaml`: the project registry and settings, in the Python tool's format.
//!
//! Existing keys keep their meaning (SPEC §3) and unknown keys are kept as they are, so a
//! user's file written by the Python tool loads and writes back unchanged but for what a
//! tool changed.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_yaml_ng::Mapping;

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
    #[serde(flatten)]
    pub extra: Mapping,
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
    #[serde(flatten)]
    pub extra: Mapping,
}

/// Guidance a project inherits when its config names none (the Python tool's default).
pub const DEFAULT_INHERIT: [&str; 2] = ["general", "ai-collaboration"];

impl ConfigFile {
    /// Registered projects in file order.
    pub fn projects(&self) -> impl Iterator<Item = (&String, &ProjectEntry)> {
        self.projects.iter().flatten()
    }

    /// The entry of project `name`.
    pub fn project(&self, name: &str) -> Option<&ProjectEntry> {
        self.projects.as_ref()?.get(name)
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
