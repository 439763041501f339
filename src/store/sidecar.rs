//! Machine state the Python schema has no room for, kept in `projects/<name>/.worksync/`.
//!
//! `work-index.yaml` must not gain keys (users' schemas forbid them), yet every item has a
//! revision, every mutation is attributed to an agent with a time (SPEC §4, §5), and agents
//! hold claims on items. All of that lives here, in `.worksync/state.json`, written with the
//! same atomic discipline as the YAML. The YAML stays authoritative: an entry here for an item
//! that no longer exists is simply ignored, and an item without one is at revision 1.

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

/// An item's revision, and who created and last changed it, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemMeta {
    /// Incremented on every change, including hand edits noticed by the server.
    #[serde(default = "first_rev")]
    pub rev: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    pub updated_at: DateTime<Utc>,
    pub updated_by: String,
    /// Priority of a backlog item for `worksync_next`: 1 (highest) to 5; unset means 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
}

fn first_rev() -> u64 {
    1
}

/// An agent's claim on an item, valid until its lease ends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claim {
    pub agent: String,
    pub claimed_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
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
    /// Claims by item storage key (`story/STORY-3`); expired ones are ignored, then pruned.
    #[serde(default)]
    pub claims: BTreeMap<String, Claim>,
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

    /// The item's current revision (1 for an item the server never changed).
    pub fn rev(&self, key: &ItemKey) -> u64 {
        self.items.get(&key.as_storage_key()).map_or(1, |m| m.rev)
    }

    /// Records that `agent` created `key` at `now`; its revision is 1.
    pub fn created(&mut self, key: &ItemKey, agent: &str, now: DateTime<Utc>) -> u64 {
        let meta = ItemMeta {
            rev: 1,
            created_at: Some(now),
            created_by: Some(agent.to_string()),
            updated_at: now,
            updated_by: agent.to_string(),
            priority: None,
        };
        self.items.insert(key.as_storage_key(), meta);
        1
    }

    /// Records that `agent` changed `key` at `now`; returns the new revision.
    pub fn changed(&mut self, key: &ItemKey, agent: &str, now: DateTime<Utc>) -> u64 {
        let meta = self.items.entry(key.as_storage_key()).or_insert_with(|| ItemMeta {
            rev: 1,
            created_at: None,
            created_by: None,
            updated_at: now,
            updated_by: agent.to_string(),
            priority: None,
        });
        meta.rev += 1;
        meta.updated_at = now;
        meta.updated_by = agent.to_string();
        meta.rev
    }

    /// Forgets a removed item (and any claim on it).
    pub fn forget(&mut self, key: &ItemKey) {
        self.items.remove(&key.as_storage_key());
        self.claims.remove(&key.as_storage_key());
    }

    /// Sets the priority of an item that has metadata (it was just created or changed).
    pub fn set_priority(&mut self, key: &ItemKey, priority: u8) {
        if let Some(meta) = self.items.get_mut(&key.as_storage_key()) {
            meta.priority = Some(priority);
        }
    }

    /// The metadata of an item, if any agent ever changed it through the server.
    pub fn item(&self, key: &ItemKey) -> Option<&ItemMeta> {
        self.items.get(&key.as_storage_key())
    }

    /// The live claim on an item at `now` (an expired lease is no claim).
    pub fn claim(&self, key: &ItemKey, now: DateTime<Utc>) -> Option<&Claim> {
        self.claims.get(&key.as_storage_key()).filter(|c| c.until > now)
    }

    /// The agent who added the history entry with this date and summary.
    pub fn history_agent(&self, date: &str, summary: &str) -> Option<&str> {
        self.history.iter().rev().find(|h| h.date == date && h.summary == summary).map(|h| h.agent.as_str())
    }
}
