//! What a change did, typed. The store says what happened; `mcp::wire` alone decides how it
//! looks on the wire (the Python tool's result keys, and ours beside them). A new field is
//! added here and there, nowhere else.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::model::HistoryEntry;
use super::sidecar::ItemKey;

/// The kinds of items that have ids and revisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Sprint,
    Story,
    Backlog,
}

impl Kind {
    /// `sprint`, `story` or `backlog`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Sprint => "sprint",
            Kind::Story => "story",
            Kind::Backlog => "backlog",
        }
    }

    /// The kind and id of a sidecar key.
    pub fn of(key: &ItemKey) -> (Kind, &str) {
        match key {
            ItemKey::Sprint(id) => (Kind::Sprint, id),
            ItemKey::Story(id) => (Kind::Story, id),
            ItemKey::Backlog(id) => (Kind::Backlog, id),
        }
    }
}

/// An item as a tool shows it: its fields in `work-index.yaml`, and what the server knows
/// beside them.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub kind: Kind,
    pub id: String,
    /// The item's fields as the file holds them (a sprint's stories included).
    pub fields: Map<String, Value>,
    /// The sprint that holds a story.
    pub sprint: Option<String>,
    pub rev: u64,
    /// A live claim on it.
    pub claim: Option<Holder>,
    /// A backlog item's priority for `worksync_next`, when one was set.
    pub priority: Option<u8>,
    /// The items it depends on (ids), and those of them not done yet.
    pub depends_on: Vec<String>,
    pub blocked_by: Vec<String>,
}

/// Who holds a claim, and until when.
#[derive(Debug, Clone, PartialEq)]
pub struct Holder {
    pub agent: String,
    pub until: DateTime<Utc>,
}

/// What an operation on a project did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A sprint, story or backlog item was added.
    Created { item: Item },
    /// An item changed.
    Updated { item: Item },
    /// A backlog item was removed (as it was).
    Removed { item: Item },
    /// `worksync_done`: the story, the history entry that records it (`None` only if a story
    /// completed earlier has no such entry), and whether it had been done already (then
    /// nothing changed).
    Completed { story: Item, entry: Option<HistoryEntry>, already_done: bool },
    /// A history entry was appended.
    HistoryAdded { entry: HistoryEntry },
    /// The agent holds `item` until `until`; `renewed` if it held it already.
    Claimed { item: Item, until: DateTime<Utc>, renewed: bool },
    /// A claim was given back: `holder` had it (`None`: nobody had).
    Released { kind: Kind, id: String, holder: Option<String> },
    /// The next ready work (`None`: nothing is ready; then `blocked` says how many items
    /// wait on unfinished dependencies), why, and whether it was claimed.
    Next { pick: Option<Pick>, blocked: usize },
}

/// What `worksync_next` chose.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub item: Item,
    pub reason: String,
    /// The items finishing it frees (ids): nothing else blocks them.
    pub unblocks: Vec<String>,
    /// The claim taken with it: until when, and whether it renewed the agent's own claim.
    pub claimed: Option<(DateTime<Utc>, bool)>,
}

/// An operation's outcome and who made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    pub outcome: Outcome,
    pub agent: String,
    /// The agent whose claim the change overrode (`force`).
    pub forced_over: Option<String>,
    /// What `force` let the change do past dependencies.
    pub forced_past: Option<String>,
}

/// What registering a project did.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub name: String,
    pub repo: PathBuf,
    pub description: String,
    pub languages: Vec<String>,
    pub inherit: Vec<String>,
    pub created_dirs: Vec<PathBuf>,
    pub work_index: PathBuf,
    /// A work index was there already and kept.
    pub kept_existing: bool,
    /// Something the agent should know (the repo does not exist yet).
    pub warning: Option<String>,
    pub agent: String,
}

/// What unregistering a project did.
#[derive(Debug, Clone, PartialEq)]
pub struct Unregistered {
    pub name: String,
    /// The config entry that was removed (`None`: it was not registered any more).
    pub removed_entry: Option<Value>,
    /// Where the project's data went (`delete_data`): from, to.
    pub moved: Option<(PathBuf, PathBuf)>,
    pub agent: String,
}
