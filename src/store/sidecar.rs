//! Machine state the Python schema has no room for, kept in `projects/<name>/.worksync/`.
//!
//! `work-index.yaml` must not gain keys (users' schemas forbid them), yet every mutation is
//! attributed to an agent with a time (SPEC §4). That attribution lives here, in
//! `.worksync/state.json`, written with the same atomic discipline as the YAML. The YAML stays
//! authoritative: an entry here for an item that no longer exists is simply ignored.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::atomic::{self, FileStamp};
use super::error::StoreError;

/// File name of the sidecar inside `.worksync/`.
pub const STATE_FILE: &str = "state.json";

/// Which item a piece of metadata belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemKey {
    Sprint(String),
    Story(String),
    Backlog(String),
}

impl ItemKey {
    /// The key under which the item is stored in `state.json` (`story/STORY-3`).
    pub fn as_storage_key(&self) -> String {
        match self {
            ItemKey::Sprint(id) => format!("sprint/{id}"),
            ItemKey::Story(id) => format!("story/{id}"),
            ItemKey::Backlog(id) => format!("backlog/{id}"),
        }
    }
}

/// Who created and last changed an item, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemMeta {
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
}

/// Who added a history entry, matched to the YAML entry by date and summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryMeta {
    pub date: String,
    pub summary: String,
    pub agent: String,
    pub at: DateTime<Utc>,
}

/// The whole `state.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    #[serde(default)]
    pub items: BTreeMap<String, ItemMeta>,
    #[serde(default)]
    pub history: Vec<HistoryMeta>,
}

impl Sidecar {
    /// Loads `state.json` from `dir`; a missing or unreadable file is an empty sidecar (it
    /// only holds attribution, which must never block work), with a warning for the latter.
    pub fn load(dir: &Path) -> Sidecar {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable sidecar state");
                Sidecar::default()
            }),
            Err(_) => Sidecar::default(),
        }
    }

    /// Writes `state.json` into `dir` durably.
    pub fn save(&self, dir: &Path) -> Result<FileStamp, StoreError> {
        atomic::create_dir_durable(dir)?;
        let bytes = serde_json::to_vec(self).expect("sidecar state serializes");
        atomic::write_atomic(&dir.join(STATE_FILE), &bytes)
    }

    /// Records that `agent` created or changed `key` at `now`.
    pub fn touch(&mut self, key: &ItemKey, agent: &str, now: DateTime<Utc>) {
        self.items
            .entry(key.as_storage_key())
            .and_modify(|m| {
                m.updated_at = now;
                m.updated_by = agent.to_string();
            })
            .or_insert_with(|| ItemMeta {
                created_at: now,
                created_by: agent.to_string(),
                updated_at: now,
                updated_by: agent.to_string(),
            });
    }

    /// Forgets a removed item.
    pub fn forget(&mut self, key: &ItemKey) {
        self.items.remove(&key.as_storage_key());
    }

    /// The metadata of an item, if any agent ever changed it through the server.
    pub fn item(&self, key: &ItemKey) -> Option<&ItemMeta> {
        self.items.get(&key.as_storage_key())
    }

    /// The agent who added the history entry with this date and summary.
    pub fn history_agent(&self, date: &str, summary: &str) -> Option<&str> {
        self.history.iter().rev().find(|h| h.date == date && h.summary == summary).map(|h| h.agent.as_str())
    }
}
