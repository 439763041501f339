//! Stories (added, changed, completed) and history entries.

use std::sync::Arc;

use super::{Applied, Change, Effect, appended, find_story, ids, not_found, set};
use crate::store::error::StoreError;
use crate::store::model::{HistoryEntry, Story, StoryStatus, WorkIndex};
use crate::store::sidecar::ItemKey;

/// `worksync_add_story`: a story in `sprint_id`, with the id asked for (refused if the
/// project has it, with the next free one suggested) or the next free `STORY-N`.
pub(super) fn add(
    index: &mut WorkIndex,
    sprint_id: &str,
    story_id: Option<&str>,
    status: StoryStatus,
    notes: &str,
) -> Result<Applied, StoreError> {
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
            wanted.to_string()
        }
    };
    let available = ids(index.sprints().iter().map(|s| &s.id));
    let sprint = index.sprint_mut(sprint_id).ok_or_else(|| not_found("Sprint", sprint_id, "", &available))?;
    let story = Story {
        id: story_id.clone(),
        status: Some(status.as_str().into()),
        notes: (!notes.is_empty()).then(|| notes.to_string()),
        ..Default::default()
    };
    sprint.stories.get_or_insert_with(Vec::new).push(story);
    let key = ItemKey::Story(story_id);
    Ok(Applied::touched(Effect::Created(key.clone()), key))
}

/// `worksync_update_story`: `notes` replaces the notes, `append_notes` adds a paragraph.
pub(super) fn update(
    index: &mut WorkIndex,
    sprint_id: &str,
    story_id: &str,
    status: Option<StoryStatus>,
    notes: Option<&str>,
    append_notes: Option<&str>,
) -> Result<Applied, StoreError> {
    let story = find_story(index, story_id, Some(sprint_id))?;
    set(&mut story.status, status.map(|s| s.as_str().to_string()));
    set(&mut story.notes, notes.map(str::to_string));
    if let Some(more) = append_notes {
        story.notes = Some(appended(story.notes.take(), more));
    }
    let key = ItemKey::Story(story_id.to_string());
    Ok(Applied::touched(Effect::Updated(key.clone()), key))
}

/// `worksync_done`: the story is done, completion notes are added to its notes, and a
/// history entry records it.
pub(super) fn done(
    index: &mut WorkIndex,
    story_id: &str,
    notes: &str,
    sprint_id: Option<&str>,
    change: &Change,
) -> Result<Applied, StoreError> {
    let story = find_story(index, story_id, sprint_id)?;
    if story.status() == StoryStatus::Done.as_str() {
        return already_done(index, story_id, notes);
    }
    story.status = Some(StoryStatus::Done.as_str().into());
    if !notes.is_empty() && !holds_notes(story.notes.as_deref(), notes) {
        // Completion notes add to what was written (a plan, another agent's findings);
        // replacing notes takes an explicit worksync_update_story.
        story.notes = Some(appended(story.notes.take(), notes));
    }
    let owner = index.sprint_of_story(story_id).map(|s| s.id.clone()).unwrap_or_default();
    let summary =
        if notes.is_empty() { format!("Completed {story_id}") } else { format!("Completed {story_id}: {notes}") };
    let entry = HistoryEntry {
        date: Some(change.today()),
        summary: Some(summary),
        related_sprints: Some(vec![owner]),
        ..Default::default()
    };
    index.history.get_or_insert_with(Vec::new).push(Arc::new(entry.clone()));
    let key = ItemKey::Story(story_id.to_string());
    Ok(Applied {
        effect: Effect::Completed { story: key.clone(), entry: Some(entry.clone()), already_done: false },
        touched: vec![key],
        removed: Vec::new(),
        history: vec![entry],
    })
}

/// `worksync_history` with `action=add`: an entry dated today.
pub(super) fn add_history(
    index: &mut WorkIndex,
    summary: &str,
    related_sprints: Option<&[String]>,
    change: &Change,
) -> Result<Applied, StoreError> {
    let entry = HistoryEntry {
        date: Some(change.today()),
        summary: Some(summary.to_string()),
        related_sprints: related_sprints.filter(|l| !l.is_empty()).map(<[String]>::to_vec),
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
