//! Machine state the Python schema has no room for, kept in `projects/<name>/.worksync/`.
//!
//! `work-index.yaml` must not gain keys (users' schemas forbid them), yet every item has a
//! revision, every mutation is attributed to an agent with a time, and agents
//! hold claims on items. All of that lives here, in `.worksync/` ([`mod@file`] says how it is
//! kept durable at the cost of what changed). The YAML stays authoritative: an entry here for
//! an item that no longer exists is simply ignored, and an item without one is at revision 1.
//!
//! Every write starts from a copy of the published sidecar, and a project built through
//! worksync has an entry per item: the entries live in a persistent map (`imbl::OrdMap`),
//! whose copy is one pointer and whose changed version shares all but the changed path, so
//! a write neither copies nor frees 5,000 entries, and finding what changed skips the parts
//! the versions share.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub mod file;

pub use file::SidecarFile;

/// Which item a piece of metadata belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ItemKey {
    Sprint(String),
    Story(String),
    Backlog(String),
}

impl ItemKey {
    /// The key a storage key names (`story/STORY-3`); `None` for another shape.
    pub fn from_storage_key(storage_key: &str) -> Option<ItemKey> {
        let (kind, id) = storage_key.split_once('/')?;
        let id = id.to_string();
        match kind {
            "sprint" => Some(ItemKey::Sprint(id)),
            "story" => Some(ItemKey::Story(id)),
            "backlog" => Some(ItemKey::Backlog(id)),
            _ => None,
        }
    }

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The items this one waits for (storage keys, `story/STORY-3`), in the order given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

fn first_rev() -> u64 {
    1
}

/// An agent's claim on an item, valid until its lease ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub agent: String,
    pub claimed_at: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// This machine's item that a shared project's merge gave a new id (another machine's item
/// took its id): until `until`, calls naming the old id are refused here, naming both.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovedId {
    /// The item's new id.
    pub to: String,
    pub until: DateTime<Utc>,
}

/// Who added a history entry, matched to the YAML entry by date and summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryMeta {
    pub date: String,
    pub summary: String,
    pub agent: String,
    pub at: DateTime<Utc>,
}

/// A project's whole machine state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    /// By item storage key (`story/STORY-3`).
    #[serde(default)]
    pub items: imbl::OrdMap<Arc<str>, Arc<ItemMeta>>,
    #[serde(default)]
    pub history: Vec<Arc<HistoryMeta>>,
    /// Claims by item storage key (`story/STORY-3`); expired ones are ignored, then pruned.
    #[serde(default)]
    pub claims: BTreeMap<String, Claim>,
    /// Ids a merge moved away from this machine's items, by the old storage key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub moved_ids: BTreeMap<String, MovedId>,
}

impl Sidecar {
    /// The item's current revision (1 for an item the server never changed).
    pub fn rev(&self, key: &ItemKey) -> u64 {
        self.items.get(key.as_storage_key().as_str()).map_or(1, |m| m.rev)
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
            depends_on: Vec::new(),
        };
        self.items.insert(key.as_storage_key().into(), Arc::new(meta));
        1
    }

    /// Records that `agent` changed `key` at `now`; returns the new revision.
    pub fn changed(&mut self, key: &ItemKey, agent: &str, now: DateTime<Utc>) -> u64 {
        let meta = Arc::make_mut(self.meta_of(&key.as_storage_key(), agent, now));
        meta.rev += 1;
        meta.updated_at = now;
        meta.updated_by = agent.to_string();
        meta.rev
    }

    /// Gives the item stored under `storage_key` a priority that came from elsewhere (another
    /// machine of a shared project); an item without metadata gets some, at revision 1.
    pub fn hold_priority(&mut self, storage_key: &str, priority: u8, agent: &str, now: DateTime<Utc>) {
        let meta = self.meta_of(storage_key, agent, now);
        if meta.priority != Some(priority) {
            Arc::make_mut(meta).priority = Some(priority);
        }
    }

    /// The metadata of an item, made (revision 1, by `agent` at `now`) if it has none.
    fn meta_of(&mut self, storage_key: &str, agent: &str, now: DateTime<Utc>) -> &mut Arc<ItemMeta> {
        self.items.entry(storage_key.into()).or_insert_with(|| {
            Arc::new(ItemMeta {
                rev: 1,
                created_at: None,
                created_by: None,
                updated_at: now,
                updated_by: agent.to_string(),
                priority: None,
                depends_on: Vec::new(),
            })
        })
    }

    /// Forgets a removed item (and any claim on it).
    pub fn forget(&mut self, key: &ItemKey) {
        let key = key.as_storage_key();
        self.items.remove(key.as_str());
        self.claims.remove(&key);
    }

    /// Sets the priority of an item that has metadata (it was just created or changed).
    pub fn set_priority(&mut self, key: &ItemKey, priority: u8) {
        if let Some(meta) = self.items.get_mut(key.as_storage_key().as_str()) {
            Arc::make_mut(meta).priority = Some(priority);
        }
    }

    /// The items `key` depends on (storage keys).
    pub fn depends_on(&self, key: &ItemKey) -> &[String] {
        self.items.get(key.as_storage_key().as_str()).map_or(&[], |meta| meta.depends_on.as_slice())
    }

    /// Sets what the item stored under `storage_key` depends on; an item without metadata
    /// gets some, at revision 1 (a value that came from elsewhere: another machine).
    pub fn hold_depends_on(&mut self, storage_key: &str, depends_on: Vec<String>, agent: &str, now: DateTime<Utc>) {
        let meta = self.meta_of(storage_key, agent, now);
        if meta.depends_on != depends_on {
            Arc::make_mut(meta).depends_on = depends_on;
        }
    }

    /// Whether any item depends on another (when none does, nothing is ever blocked).
    pub fn has_dependencies(&self) -> bool {
        self.items.values().any(|meta| !meta.depends_on.is_empty())
    }

    /// The items that depend on the item stored under `storage_key`.
    pub fn dependents(&self, storage_key: &str) -> Vec<String> {
        self.items
            .iter()
            .filter(|(_, meta)| meta.depends_on.iter().any(|d| d == storage_key))
            .map(|(key, _)| key.to_string())
            .collect()
    }

    /// The metadata of an item, if any agent ever changed it through the server.
    pub fn item(&self, key: &ItemKey) -> Option<&ItemMeta> {
        self.items.get(key.as_storage_key().as_str()).map(|meta| meta.as_ref())
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
