//! The mutations of a project's work index, as pure functions of the model.
//!
//! Each [`Mutation`] changes a [`WorkIndex`] in memory and says what it did ([`Effect`]) and
//! what it touched (for attribution). It does no I/O: the writer applies it to a copy,
//! renders and writes the file, and only then publishes the copy, so a failed write leaves
//! the model as it was. One function per mutation, by kind of item: `backlog.rs`,
//! `sprints.rs`, `stories.rs` (with history).

mod backlog;
mod sprints;
mod stories;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::error::StoreError;
use super::model::{BacklogStatus, HistoryEntry, SprintStatus, Story, StoryStatus, WorkIndex};
use super::sidecar::ItemKey;

/// A change to one project's `work-index.yaml`.
#[derive(Debug, Clone)]
pub enum Mutation {
    AddBacklog {
        id: String,
        priority: Option<u8>,
        summary: String,
        theme: String,
        status: BacklogStatus,
        related_sprints: Option<Vec<String>>,
        depends_on: Option<Vec<String>>,
    },
    UpdateBacklog {
        id: String,
        priority: Option<u8>,
        status: Option<BacklogStatus>,
        summary: Option<String>,
        theme: Option<String>,
        related_sprints: Option<Vec<String>>,
        depends_on: Option<Vec<String>>,
    },
    RemoveBacklog {
        id: String,
    },
    CreateSprint {
        id: String,
        title: String,
        goal: String,
        themes: Option<Vec<String>>,
        status: SprintStatus,
    },
    UpdateSprint {
        id: String,
        status: Option<SprintStatus>,
        title: Option<String>,
        goal: Option<String>,
        themes: Option<Vec<String>>,
    },
    AddStory {
        sprint_id: String,
        story_id: Option<String>,
        status: StoryStatus,
        notes: String,
        depends_on: Option<Vec<String>>,
    },
    UpdateStory {
        sprint_id: String,
        story_id: String,
        status: Option<StoryStatus>,
        notes: Option<String>,
        append_notes: Option<String>,
        depends_on: Option<Vec<String>>,
    },
    Done {
        story_id: String,
        notes: String,
        sprint_id: Option<String>,
    },
    AddHistory {
        summary: String,
        related_sprints: Option<Vec<String>>,
    },
}

/// Who makes a change, and when.
#[derive(Debug, Clone)]
pub struct Change {
    pub agent: String,
    pub now: DateTime<Utc>,
}

impl Change {
    /// Today's date as the history writes it (UTC, `YYYY-MM-DD`).
    pub fn today(&self) -> String {
        self.now.format("%Y-%m-%d").to_string()
    }
}

/// What a mutation did, in terms of the items it touched.
#[derive(Debug)]
pub enum Effect {
    /// An item was added.
    Created(ItemKey),
    /// An item changed.
    Updated(ItemKey),
    /// An item was removed; `fields` as it was.
    Removed { key: ItemKey, fields: Value },
    /// A story was completed (or had been: then nothing changed), with the history entry
    /// that records it.
    Completed { story: ItemKey, entry: Option<HistoryEntry>, already_done: bool },
    /// A history entry was appended.
    HistoryAdded(HistoryEntry),
}

/// What a mutation did.
#[derive(Debug)]
pub struct Applied {
    pub effect: Effect,
    /// Items created or changed.
    pub touched: Vec<ItemKey>,
    /// Items removed.
    pub removed: Vec<ItemKey>,
    /// History entries appended (attributed in the sidecar).
    pub history: Vec<HistoryEntry>,
}

impl Applied {
    pub(super) fn touched(effect: Effect, key: ItemKey) -> Applied {
        Applied { effect, touched: vec![key], removed: Vec::new(), history: Vec::new() }
    }
}

impl Mutation {
    /// The existing item this edit changes, for revision and claim checks.
    pub fn target(&self) -> Option<ItemKey> {
        match self {
            Mutation::UpdateBacklog { id, .. } | Mutation::RemoveBacklog { id } => Some(ItemKey::Backlog(id.clone())),
            Mutation::UpdateSprint { id, .. } => Some(ItemKey::Sprint(id.clone())),
            Mutation::UpdateStory { story_id, .. } | Mutation::Done { story_id, .. } => {
                Some(ItemKey::Story(story_id.clone()))
            }
            _ => None,
        }
    }

    /// Does this edit create the item it touches?
    pub fn creates(&self) -> bool {
        matches!(self, Mutation::AddBacklog { .. } | Mutation::CreateSprint { .. } | Mutation::AddStory { .. })
    }

    /// The backlog priority this edit sets, if any.
    pub fn priority(&self) -> Option<u8> {
        match self {
            Mutation::AddBacklog { priority, .. } | Mutation::UpdateBacklog { priority, .. } => *priority,
            _ => None,
        }
    }

    /// The items this edit makes its item depend on (replacing what it depended on), if
    /// any: ids as the agent gave them.
    pub fn depends_on(&self) -> Option<&[String]> {
        match self {
            Mutation::AddBacklog { depends_on, .. }
            | Mutation::UpdateBacklog { depends_on, .. }
            | Mutation::AddStory { depends_on, .. }
            | Mutation::UpdateStory { depends_on, .. } => depends_on.as_deref(),
            _ => None,
        }
    }

    /// The status this edit moves its item to, if it names one.
    pub fn new_status(&self) -> Option<&'static str> {
        match self {
            Mutation::UpdateBacklog { status, .. } => status.map(BacklogStatus::as_str),
            Mutation::UpdateStory { status, .. } => status.map(StoryStatus::as_str),
            _ => None,
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Mutation::AddBacklog { .. } => "add_backlog",
            Mutation::UpdateBacklog { .. } => "update_backlog",
            Mutation::RemoveBacklog { .. } => "remove_backlog",
            Mutation::CreateSprint { .. } => "create_sprint",
            Mutation::UpdateSprint { .. } => "update_sprint",
            Mutation::AddStory { .. } => "add_story",
            Mutation::UpdateStory { .. } => "update_story",
            Mutation::Done { .. } => "done",
            Mutation::AddHistory { .. } => "add_history",
        }
    }

    /// Applies the mutation to `index`. On error `index` may be partly changed; the writer
    /// applies mutations to a copy and drops it on error.
    pub fn apply(&self, index: &mut WorkIndex, change: &Change) -> Result<Applied, StoreError> {
        match self {
            Mutation::AddBacklog { id, summary, theme, status, related_sprints, .. } => {
                backlog::add(index, id, summary, theme, *status, related_sprints.as_deref())
            }
            Mutation::UpdateBacklog { id, status, summary, theme, related_sprints, .. } => {
                let fields = backlog::Fields {
                    status: *status,
                    summary: summary.as_deref(),
                    theme: theme.as_deref(),
                    related_sprints: related_sprints.as_deref(),
                };
                backlog::update(index, id, fields)
            }
            Mutation::RemoveBacklog { id } => backlog::remove(index, id),
            Mutation::CreateSprint { id, title, goal, themes, status } => {
                sprints::create(index, id, title, goal, themes.as_deref(), *status)
            }
            Mutation::UpdateSprint { id, status, title, goal, themes } => {
                let fields = sprints::Fields {
                    status: *status,
                    title: title.as_deref(),
                    goal: goal.as_deref(),
                    themes: themes.as_deref(),
                };
                sprints::update(index, id, fields)
            }
            Mutation::AddStory { sprint_id, story_id, status, notes, .. } => {
                stories::add(index, sprint_id, story_id.as_deref(), *status, notes)
            }
            Mutation::UpdateStory { sprint_id, story_id, status, notes, append_notes, .. } => {
                stories::update(index, sprint_id, story_id, *status, notes.as_deref(), append_notes.as_deref())
            }
            Mutation::Done { story_id, notes, sprint_id } => {
                stories::done(index, story_id, notes, sprint_id.as_deref(), change)
            }
            Mutation::AddHistory { summary, related_sprints } => {
                stories::add_history(index, summary, related_sprints.as_deref(), change)
            }
        }
    }
}

/// Finds a story, within `sprint_id` if given, else anywhere in the project.
pub(super) fn find_story<'a>(
    index: &'a mut WorkIndex,
    story_id: &str,
    sprint_id: Option<&str>,
) -> Result<&'a mut Story, StoreError> {
    if let Some(sprint_id) = sprint_id
        && index.sprint(sprint_id).is_none()
    {
        let available = ids(index.sprints().iter().map(|s| &s.id));
        return Err(not_found("Sprint", sprint_id, "", &available));
    }
    let elsewhere = index.sprint_of_story(story_id).map(|s| s.id.clone());
    // Found before anything is unshared: only the sprint holding the story is copied.
    let owner = index
        .sprints()
        .iter()
        .enumerate()
        .filter(|(_, s)| sprint_id.is_none_or(|id| s.id == id))
        .find(|(_, s)| s.stories().iter().any(|st| st.id == story_id))
        .map(|(at, _)| at);
    let in_scope = owner.and_then(|at| {
        let sprint = Arc::make_mut(&mut index.sprints.as_mut()?[at]);
        sprint.stories.iter_mut().flatten().find(|st| st.id == story_id)
    });
    in_scope.ok_or_else(|| {
        let scope = match sprint_id {
            Some(id) => format!(" in sprint '{id}'"),
            None => " in any sprint".to_string(),
        };
        let hint = match elsewhere {
            Some(owner) => format!("Story '{story_id}' is in sprint '{owner}'; pass sprint_id='{owner}'."),
            None => "Call worksync_status to see the project's sprints and stories.".to_string(),
        };
        StoreError::NotFound { kind: "Story", id: story_id.to_string(), scope, hint }
    })
}

pub(super) fn not_found(kind: &'static str, id: &str, scope: &str, available: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_string(),
        scope: scope.to_string(),
        hint: format!("Existing ids: {available}."),
    }
}

/// Up to 20 ids, comma-separated, for "not found" hints.
pub(super) fn ids<'a>(all: impl Iterator<Item = &'a String>) -> String {
    let all: Vec<&str> = all.map(String::as_str).collect();
    match all.len() {
        0 => "(none)".to_string(),
        n if n <= 20 => all.join(", "),
        n => format!("{} … and {} more", all[..20].join(", "), n - 20),
    }
}

pub(super) fn set<T>(field: &mut Option<T>, value: Option<T>) {
    if let Some(value) = value {
        *field = Some(value);
    }
}

/// Notes with `more` added as a new paragraph.
pub(super) fn appended(notes: Option<String>, more: &str) -> String {
    match notes {
        Some(existing) if !existing.trim().is_empty() => format!("{}\n\n{more}", existing.trim_end()),
        _ => more.to_string(),
    }
}

/// An item as JSON for a tool result.
pub fn to_json<T: serde::Serialize>(item: &T) -> Value {
    serde_json::to_value(item).unwrap_or_else(|e| json!({ "error": format!("item not representable as JSON: {e}") }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::BacklogItem;

    fn change() -> Change {
        Change { agent: "test".into(), now: "2026-11-21T10:00:00Z".parse().unwrap() }
    }

    fn index() -> WorkIndex {
        serde_yaml_ng::from_str(
            "sprints:\n- id: s1\n  stories:\n  - {id: STORY-1, status: planned}\n- id: s2\n  stories: []\nbacklog: []\n",
        )
        .unwrap()
    }

    /// A duplicate story id anywhere in the project is refused with the next free id.
    #[test]
    fn duplicate_story_suggests_next() {
        let op = Mutation::AddStory {
            sprint_id: "s2".into(),
            story_id: Some("STORY-1".into()),
            status: StoryStatus::Planned,
            notes: String::new(),
            depends_on: None,
        };
        let err = op.apply(&mut index(), &change()).unwrap_err();
        assert!(err.to_string().contains("already exists in sprint 's1'"));
        assert!(matches!(err, StoreError::Duplicate { suggestion: Some(ref s), .. } if s == "STORY-2"));
    }

    /// Done finds the story without a sprint and appends history.
    #[test]
    fn done_appends_history() {
        let mut idx = index();
        let op = Mutation::Done { story_id: "STORY-1".into(), notes: "shipped".into(), sprint_id: None };
        let applied = op.apply(&mut idx, &change()).unwrap();
        assert_eq!(idx.sprints()[0].stories()[0].status(), "done");
        assert_eq!(idx.history()[0].summary.as_deref(), Some("Completed STORY-1: shipped"));
        assert_eq!(idx.history()[0].date.as_deref(), Some("2026-11-21"));
        let Effect::Completed { entry: Some(entry), already_done: false, .. } = applied.effect else {
            panic!("a completion: {:?}", applied.effect)
        };
        assert_eq!(entry.related_sprints, Some(vec!["s1".to_string()]));
    }

    /// Completion notes add to a story's notes; completing it again with the same notes is
    /// a no-op, with other notes a refusal that leaves the notes as they are.
    #[test]
    fn done_keeps_notes() {
        let mut idx = index();
        Arc::make_mut(&mut idx.sprints.as_mut().unwrap()[0]).stories.as_mut().unwrap()[0].notes = Some("plan".into());
        let done = |notes: &str| Mutation::Done { story_id: "STORY-1".into(), notes: notes.into(), sprint_id: None };
        done("shipped").apply(&mut idx, &change()).unwrap();
        assert_eq!(idx.sprints()[0].stories()[0].notes.as_deref(), Some("plan\n\nshipped"));
        let again = done("shipped").apply(&mut idx, &change()).unwrap();
        assert!(again.touched.is_empty() && again.history.is_empty());
        let Effect::Completed { entry: Some(entry), already_done: true, .. } = again.effect else {
            panic!("already done: {:?}", again.effect)
        };
        assert_eq!(entry.summary.as_deref(), Some("Completed STORY-1: shipped"));
        assert!(matches!(done("other").apply(&mut idx, &change()), Err(StoreError::Conflict { .. })));
        assert_eq!(idx.sprints()[0].stories()[0].notes.as_deref(), Some("plan\n\nshipped"));
        assert_eq!(idx.history().len(), 1);
    }

    /// Appending notes keeps what was there.
    #[test]
    fn append_notes() {
        let mut idx = index();
        for more in ["first", "second"] {
            let op = Mutation::UpdateStory {
                sprint_id: "s1".into(),
                story_id: "STORY-1".into(),
                status: None,
                notes: None,
                append_notes: Some(more.into()),
                depends_on: None,
            };
            op.apply(&mut idx, &change()).unwrap();
        }
        assert_eq!(idx.sprints()[0].stories()[0].notes.as_deref(), Some("first\n\nsecond"));
    }

    /// A story looked up in the wrong sprint points to the right one.
    #[test]
    fn wrong_sprint_hint() {
        let op = Mutation::UpdateStory {
            sprint_id: "s2".into(),
            story_id: "STORY-1".into(),
            status: Some(StoryStatus::Done),
            notes: None,
            append_notes: None,
            depends_on: None,
        };
        let err = op.apply(&mut index(), &change()).unwrap_err();
        assert!(err.hint().unwrap().contains("pass sprint_id='s1'"));
    }

    /// A change unshares only what it changes: the other sprints and backlog items stay the
    /// very same allocations as in the index it started from (what keeps a write at 5,000
    /// items from copying all of them).
    #[test]
    fn changes_copy_only_the_changed_item() {
        let mut before = index();
        before.backlog =
            Some(["b1", "b2", "b3"].map(|id| Arc::new(BacklogItem { id: id.into(), ..Default::default() })).to_vec());
        let mut after = before.clone();
        let story = Mutation::UpdateStory {
            sprint_id: "s1".into(),
            story_id: "STORY-1".into(),
            status: Some(StoryStatus::Done),
            notes: None,
            append_notes: None,
            depends_on: None,
        };
        story.apply(&mut after, &change()).unwrap();
        let item = Mutation::UpdateBacklog {
            id: "b2".into(),
            priority: None,
            status: Some(BacklogStatus::Done),
            summary: None,
            theme: None,
            related_sprints: None,
            depends_on: None,
        };
        item.apply(&mut after, &change()).unwrap();
        let sprints: Vec<bool> = before.sprints().iter().zip(after.sprints()).map(|(x, y)| Arc::ptr_eq(x, y)).collect();
        assert_eq!(sprints, [false, true]);
        let items: Vec<bool> = before.backlog().iter().zip(after.backlog()).map(|(x, y)| Arc::ptr_eq(x, y)).collect();
        assert_eq!(items, [true, false, true]);
        assert_eq!(after.backlog()[1].status(), "done");
        assert_eq!(before.backlog()[1].status(), "");
    }
}
