//! The mutations of a project's work index, as pure functions of the model.
//!
//! Each [`Mutation`] changes a [`WorkIndex`] in memory and says what it did ([`Effect`]) and
//! what it touched (for attribution). It does no I/O: the writer applies it to a copy,
//! renders and writes the file, and only then publishes the copy, so a failed write leaves
//! the model as it was.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::error::StoreError;
use super::model::{BacklogItem, BacklogStatus, HistoryEntry, Sprint, SprintStatus, Story, StoryStatus, WorkIndex};
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
    },
    UpdateBacklog {
        id: String,
        priority: Option<u8>,
        status: Option<BacklogStatus>,
        summary: Option<String>,
        theme: Option<String>,
        related_sprints: Option<Vec<String>>,
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
    },
    UpdateStory {
        sprint_id: String,
        story_id: String,
        status: Option<StoryStatus>,
        notes: Option<String>,
        append_notes: Option<String>,
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
    fn touched(effect: Effect, key: ItemKey) -> Applied {
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
                if index.backlog_item(id).is_some() {
                    return Err(StoreError::Duplicate {
                        message: format!("Backlog item '{id}' already exists"),
                        hint: "Choose another id, or call worksync_update_backlog to change the existing item.".into(),
                        suggestion: None,
                    });
                }
                let item = BacklogItem {
                    id: id.clone(),
                    theme: Some(theme.clone()),
                    summary: Some(summary.clone()),
                    status: Some(status.as_str().into()),
                    related_sprints: Some(related_sprints.clone().unwrap_or_default()),
                    ..Default::default()
                };
                index.backlog.get_or_insert_with(Vec::new).push(Arc::new(item));
                let key = ItemKey::Backlog(id.clone());
                Ok(Applied::touched(Effect::Created(key.clone()), key))
            }
            Mutation::UpdateBacklog { id, status, summary, theme, related_sprints, .. } => {
                let available = ids(index.backlog().iter().map(|b| &b.id));
                let item = index.backlog_item_mut(id).ok_or_else(|| not_found("Backlog item", id, "", &available))?;
                set(&mut item.status, status.map(|s| s.as_str().to_string()));
                set(&mut item.summary, summary.clone());
                set(&mut item.theme, theme.clone());
                set(&mut item.related_sprints, related_sprints.clone());
                let key = ItemKey::Backlog(id.clone());
                Ok(Applied::touched(Effect::Updated(key.clone()), key))
            }
            Mutation::RemoveBacklog { id } => {
                let available = ids(index.backlog().iter().map(|b| &b.id));
                let list = index.backlog.get_or_insert_with(Vec::new);
                let at = list
                    .iter()
                    .position(|b| &b.id == id)
                    .ok_or_else(|| not_found("Backlog item", id, "", &available))?;
                let item = list.remove(at);
                let key = ItemKey::Backlog(id.clone());
                Ok(Applied {
                    effect: Effect::Removed { key: key.clone(), fields: to_json(&item) },
                    touched: Vec::new(),
                    removed: vec![key],
                    history: Vec::new(),
                })
            }
            Mutation::CreateSprint { id, title, goal, themes, status } => {
                if index.sprint(id).is_some() {
                    return Err(StoreError::Duplicate {
                        message: format!("Sprint '{id}' already exists"),
                        hint: "Choose another id, or call worksync_update_sprint to change the existing sprint.".into(),
                        suggestion: None,
                    });
                }
                let sprint = Sprint {
                    id: id.clone(),
                    title: Some(title.clone()),
                    file: Some(format!("{}.md", id.to_uppercase())),
                    status: Some(status.as_str().into()),
                    goal: Some(goal.clone()),
                    themes: Some(themes.clone().unwrap_or_default()),
                    stories: Some(Vec::new()),
                    ..Default::default()
                };
                index.sprints.get_or_insert_with(Vec::new).push(Arc::new(sprint));
                let key = ItemKey::Sprint(id.clone());
                Ok(Applied::touched(Effect::Created(key.clone()), key))
            }
            Mutation::UpdateSprint { id, status, title, goal, themes } => {
                let available = ids(index.sprints().iter().map(|s| &s.id));
                let sprint = index.sprint_mut(id).ok_or_else(|| not_found("Sprint", id, "", &available))?;
                set(&mut sprint.status, status.map(|s| s.as_str().to_string()));
                set(&mut sprint.title, title.clone());
                set(&mut sprint.goal, goal.clone());
                set(&mut sprint.themes, themes.clone());
                let key = ItemKey::Sprint(id.clone());
                Ok(Applied::touched(Effect::Updated(key.clone()), key))
            }
            Mutation::AddStory { sprint_id, story_id, status, notes } => {
                let story_id = match story_id {
                    None => index.next_story_id(),
                    Some(wanted) => {
                        if let Some(owner) = index.sprint_of_story(wanted) {
                            let suggestion = index.next_story_id();
                            return Err(StoreError::Duplicate {
                                message: format!("Story '{wanted}' already exists in sprint '{}'.", owner.id),
                                hint: format!("Next available: {suggestion}. Or omit story_id to auto-assign."),
                                suggestion: Some(suggestion),
                            });
                        }
                        wanted.clone()
                    }
                };
                let available = ids(index.sprints().iter().map(|s| &s.id));
                let sprint =
                    index.sprint_mut(sprint_id).ok_or_else(|| not_found("Sprint", sprint_id, "", &available))?;
                let story = Story {
                    id: story_id.clone(),
                    status: Some(status.as_str().into()),
                    notes: (!notes.is_empty()).then(|| notes.clone()),
                    ..Default::default()
                };
                sprint.stories.get_or_insert_with(Vec::new).push(story);
                let key = ItemKey::Story(story_id);
                Ok(Applied::touched(Effect::Created(key.clone()), key))
            }
            Mutation::UpdateStory { sprint_id, story_id, status, notes, append_notes } => {
                let story = find_story(index, story_id, Some(sprint_id))?;
                set(&mut story.status, status.map(|s| s.as_str().to_string()));
                set(&mut story.notes, notes.clone());
                if let Some(more) = append_notes {
                    story.notes = Some(appended(story.notes.take(), more));
                }
                let key = ItemKey::Story(story_id.clone());
                Ok(Applied::touched(Effect::Updated(key.clone()), key))
            }
            Mutation::Done { story_id, notes, sprint_id } => {
                let story = find_story(index, story_id, sprint_id.as_deref())?;
                if story.status() == StoryStatus::Done.as_str() {
                    return already_done(index, story_id, notes);
                }
                story.status = Some(StoryStatus::Done.as_str().into());
                if !notes.is_empty() && !holds_notes(story.notes.as_deref(), notes) {
                    // Completion notes add to what was written (a plan, another agent's
                    // findings); replacing notes takes an explicit worksync_update_story.
                    story.notes = Some(appended(story.notes.take(), notes));
                }
                let owner = index.sprint_of_story(story_id).map(|s| s.id.clone()).unwrap_or_default();
                let summary = if notes.is_empty() {
                    format!("Completed {story_id}")
                } else {
                    format!("Completed {story_id}: {notes}")
                };
                let entry = HistoryEntry {
                    date: Some(change.today()),
                    summary: Some(summary),
                    related_sprints: Some(vec![owner.clone()]),
                    ..Default::default()
                };
                index.history.get_or_insert_with(Vec::new).push(Arc::new(entry.clone()));
                let key = ItemKey::Story(story_id.clone());
                Ok(Applied {
                    effect: Effect::Completed { story: key.clone(), entry: Some(entry.clone()), already_done: false },
                    touched: vec![key],
                    removed: Vec::new(),
                    history: vec![entry],
                })
            }
            Mutation::AddHistory { summary, related_sprints } => {
                let entry = HistoryEntry {
                    date: Some(change.today()),
                    summary: Some(summary.clone()),
                    related_sprints: related_sprints.clone().filter(|l| !l.is_empty()),
                    ..Default::default()
                };
                index.history.get_or_insert_with(Vec::new).push(Arc::new(entry.clone()));
                Ok(Applied {
                    effect: Effect::HistoryAdded(entry.clone()),
                    touched: Vec::new(),
                    removed: Vec::new(),
                    history: vec![entry],
                })
            }
        }
    }
}

/// `worksync_done` on a story that is already done. The same call again (a retry after a
/// lost answer, or no notes at all) changes nothing and answers with the story as it is
/// and the history entry that completed it; other notes are refused, because completing
/// again would replace or repeat what was written.
fn already_done(index: &WorkIndex, story_id: &str, notes: &str) -> Result<Applied, StoreError> {
    let story = index.sprint_of_story(story_id).and_then(|s| s.stories().iter().find(|st| st.id == story_id));
    if !notes.is_empty() && !holds_notes(story.and_then(|s| s.notes.as_deref()), notes) {
        return Err(StoreError::Conflict {
            message: format!("Story '{story_id}' is already done; its notes and history are kept as they are"),
            hint: "To add these notes, call worksync_update_story with append_notes; to replace the notes, \
                   worksync_update_story with notes; to record more work, worksync_history with action='add'."
                .into(),
            current: None,
        });
    }
    let completed = format!("Completed {story_id}");
    let entry = index
        .history()
        .iter()
        .rev()
        .find(|e| e.summary.as_deref().is_some_and(|s| s == completed || s.starts_with(&format!("{completed}: "))));
    let effect = Effect::Completed {
        story: ItemKey::Story(story_id.to_string()),
        entry: entry.map(|e| e.as_ref().clone()),
        already_done: true,
    };
    Ok(Applied { effect, touched: Vec::new(), removed: Vec::new(), history: Vec::new() })
}

/// Do `notes` already hold `completion` (all of it, or as their last paragraph)?
fn holds_notes(notes: Option<&str>, completion: &str) -> bool {
    let (notes, completion) = (notes.unwrap_or_default().trim_end(), completion.trim());
    notes == completion || notes.ends_with(&format!("\n\n{completion}"))
}

/// Finds a story, within `sprint_id` if given, else anywhere in the project.
fn find_story<'a>(
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

fn not_found(kind: &'static str, id: &str, scope: &str, available: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_string(),
        scope: scope.to_string(),
        hint: format!("Existing ids: {available}."),
    }
}

/// Up to 20 ids, comma-separated, for "not found" hints.
fn ids<'a>(all: impl Iterator<Item = &'a String>) -> String {
    let all: Vec<&str> = all.map(String::as_str).collect();
    match all.len() {
        0 => "(none)".to_string(),
        n if n <= 20 => all.join(", "),
        n => format!("{} … and {} more", all[..20].join(", "), n - 20),
    }
}

fn set<T>(field: &mut Option<T>, value: Option<T>) {
    if let Some(value) = value {
        *field = Some(value);
    }
}

/// Notes with `more` added as a new paragraph.
fn appended(notes: Option<String>, more: &str) -> String {
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
        };
        story.apply(&mut after, &change()).unwrap();
        let item = Mutation::UpdateBacklog {
            id: "b2".into(),
            priority: None,
            status: Some(BacklogStatus::Done),
            summary: None,
            theme: None,
            related_sprints: None,
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
