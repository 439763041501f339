//! What a change's arguments must look like before it reaches the writer, and the one
//! spelling of every id in them.
//!
//! An operation is checked before it is queued ([`Operation::prepare`]): ids an edit
//! creates are new ids, ids it looks up are references (see [`validate`]'s module doc),
//! and every id is put into its normal form. The writer then spells each id the way the
//! file does ([`Operation::respell`]), so that an id a person typed in another normal form
//! (NFD on a Mac) is found and keeps its spelling.

use super::coordination::{Operation, Target, dependencies};
use super::error::StoreError;
use super::model::WorkIndex;
use super::ops::Mutation;
use super::validate;

/// Longest lease an agent may ask for.
const MAX_LEASE_MINUTES: f64 = 24.0 * 60.0;

impl Operation {
    /// Checks the arguments and puts every id into its one spelling, before the operation
    /// is queued. The shapes are checked again after normalizing, which can make a
    /// character that was allowed into one that is not (`¼` into `1⁄4`).
    pub fn prepare(mut self) -> Result<Operation, StoreError> {
        self.validate()?;
        match &mut self {
            Operation::Edit { edit, .. } => edit.normalize_ids(),
            Operation::Claim { id, .. } | Operation::Release { id, .. } => {
                if let std::borrow::Cow::Owned(normal) = validate::normalize_id(id) {
                    *id = normal;
                }
            }
            Operation::Depend { id, .. } => {
                // The references are matched in any normal form when they are resolved.
                if let std::borrow::Cow::Owned(normal) = validate::normalize_id(id) {
                    *id = normal;
                }
            }
            Operation::Next { .. } => {}
        }
        self.validate()?;
        Ok(self)
    }

    /// Checks the arguments' shapes.
    pub fn validate(&self) -> Result<(), StoreError> {
        let lease = |minutes: &Option<f64>| match minutes {
            Some(m) if !(m.is_finite() && *m > 0.0 && *m <= MAX_LEASE_MINUTES) => Err(StoreError::invalid(
                "lease_minutes",
                format!("{m} is not a lease length"),
                format!(
                    "Pass a number of minutes above 0 and at most {MAX_LEASE_MINUTES}, or omit it for the default."
                ),
            )),
            _ => Ok(()),
        };
        match self {
            Operation::Edit { edit, .. } => edit.validate(),
            Operation::Claim { id, lease_minutes, .. } => {
                validate::reference("id", id)?;
                lease(lease_minutes)
            }
            Operation::Release { id, .. } => validate::reference("id", id),
            Operation::Next { lease_minutes, .. } => lease(lease_minutes),
            Operation::Depend { id, add, remove, .. } => {
                validate::reference("id", id)?;
                if add.is_empty() && remove.is_empty() {
                    return Err(StoreError::invalid(
                        "add",
                        "neither add nor remove was given",
                        "Pass add (ids this item must wait for) and/or remove (ids it should no longer wait for).",
                    ));
                }
                add.iter().chain(remove).try_for_each(|r| dependencies::validate_reference(r))
            }
        }
    }

    /// Spells the operation's ids the way the file does (see [`Mutation::respell`]).
    pub(crate) fn respell(&mut self, index: &WorkIndex) -> bool {
        let (target, id) = match self {
            Operation::Edit { edit, .. } => return edit.respell(index),
            Operation::Claim { target, id, .. } | Operation::Release { target, id, .. } => (*target, id),
            Operation::Next { .. } | Operation::Depend { .. } => return false,
        };
        let stored = match target {
            Target::Story => stored_spelling(index.sprints().iter().flat_map(|s| s.stories()).map(|s| &s.id), id),
            Target::Backlog => stored_spelling(index.backlog().iter().map(|b| &b.id), id),
        };
        match stored.cloned() {
            Some(stored) => {
                *id = stored;
                true
            }
            None => false,
        }
    }
}

impl Mutation {
    /// Checks the arguments' shapes; done before the mutation reaches the writer's queue.
    /// Ids this edit creates are new ids, ids it looks up are references (see
    /// [`validate`]'s module doc).
    pub fn validate(&self) -> Result<(), StoreError> {
        let references = |list: &Option<Vec<String>>, field| -> Result<(), StoreError> {
            list.iter().flatten().try_for_each(|s| validate::reference(field, s))
        };
        let themes = |list: &Option<Vec<String>>| -> Result<(), StoreError> {
            list.iter().flatten().try_for_each(|s| validate::id("themes", s))
        };
        self.depends_on().unwrap_or_default().iter().try_for_each(|r| dependencies::validate_reference(r))?;
        match self {
            Mutation::AddBacklog { id, summary, theme, related_sprints, priority, .. } => {
                priority_in_range(*priority)?;
                validate::id("id", id)?;
                validate::line("summary", summary)?;
                validate::id("theme", theme)?;
                references(related_sprints, "related_sprints")
            }
            Mutation::UpdateBacklog { id, summary, theme, related_sprints, priority, .. } => {
                priority_in_range(*priority)?;
                validate::reference("id", id)?;
                summary.as_deref().map(|s| validate::line("summary", s)).transpose()?;
                theme.as_deref().map(|t| validate::id("theme", t)).transpose()?;
                references(related_sprints, "related_sprints")
            }
            Mutation::RemoveBacklog { id } => validate::reference("id", id),
            Mutation::CreateSprint { id, title, goal, themes: list, .. } => {
                validate::id("id", id)?;
                validate::line("title", title)?;
                validate::text("goal", goal)?;
                themes(list)
            }
            Mutation::UpdateSprint { id, title, goal, themes: list, .. } => {
                validate::reference("id", id)?;
                title.as_deref().map(|t| validate::line("title", t)).transpose()?;
                goal.as_deref().map(|g| validate::text("goal", g)).transpose()?;
                themes(list)
            }
            Mutation::AddStory { sprint_id, story_id, notes, .. } => {
                validate::reference("sprint_id", sprint_id)?;
                story_id.as_deref().map(|s| validate::id("story_id", s)).transpose()?;
                validate::text("notes", notes)
            }
            Mutation::UpdateStory { sprint_id, story_id, notes, append_notes, .. } => {
                validate::reference("sprint_id", sprint_id)?;
                validate::reference("story_id", story_id)?;
                notes.as_deref().map(|n| validate::text("notes", n)).transpose()?;
                append_notes.as_deref().map(|n| validate::text("append_notes", n)).transpose()?;
                if notes.is_some() && append_notes.is_some() {
                    return Err(StoreError::invalid(
                        "notes",
                        "both notes and append_notes were given",
                        "Send notes to replace the notes, or append_notes to add to them, not both.",
                    ));
                }
                Ok(())
            }
            Mutation::Done { story_id, notes, sprint_id } => {
                validate::reference("story_id", story_id)?;
                sprint_id.as_deref().map(|s| validate::reference("sprint_id", s)).transpose()?;
                validate::text("notes", notes)
            }
            Mutation::AddHistory { summary, related_sprints } => {
                if summary.trim().is_empty() {
                    return Err(StoreError::invalid(
                        "summary",
                        "summary is required when action='add'",
                        "Pass summary with a one-line description of what happened.",
                    ));
                }
                validate::text("summary", summary)?;
                references(related_sprints, "related_sprints")
            }
        }
    }

    /// Puts every id and theme of the edit into its one spelling ([`validate::normalize_id`]).
    pub fn normalize_ids(&mut self) {
        for (_, id) in self.ids_mut() {
            if let std::borrow::Cow::Owned(normal) = validate::normalize_id(id) {
                *id = normal;
            }
        }
    }

    /// Spells every id the way the file does, where the file spells it otherwise (an id
    /// typed before normalization, e.g. NFD on a Mac), so that it is found and keeps its
    /// spelling. Returns whether anything changed.
    pub fn respell(&mut self, index: &WorkIndex) -> bool {
        let mut changed = false;
        for (kind, id) in self.ids_mut() {
            let stored = match kind {
                IdKind::Sprint => stored_spelling(index.sprints().iter().map(|s| &s.id), id),
                IdKind::Story => stored_spelling(index.sprints().iter().flat_map(|s| s.stories()).map(|s| &s.id), id),
                IdKind::Backlog => stored_spelling(index.backlog().iter().map(|b| &b.id), id),
                IdKind::Theme => None,
            };
            if let Some(stored) = stored {
                *id = stored.clone();
                changed = true;
            }
        }
        changed
    }

    /// Every id and theme of the edit, with what it names.
    fn ids_mut(&mut self) -> Vec<(IdKind, &mut String)> {
        fn sprints(list: &mut Option<Vec<String>>, kind: IdKind) -> impl Iterator<Item = (IdKind, &mut String)> {
            list.iter_mut().flatten().map(move |s| (kind, s))
        }
        let mut ids = Vec::new();
        match self {
            Mutation::AddBacklog { id, theme, related_sprints, .. } => {
                ids.extend([(IdKind::Backlog, id), (IdKind::Theme, theme)]);
                ids.extend(sprints(related_sprints, IdKind::Sprint));
            }
            Mutation::UpdateBacklog { id, theme, related_sprints, .. } => {
                ids.push((IdKind::Backlog, id));
                ids.extend(theme.as_mut().map(|t| (IdKind::Theme, t)));
                ids.extend(sprints(related_sprints, IdKind::Sprint));
            }
            Mutation::RemoveBacklog { id } => ids.push((IdKind::Backlog, id)),
            Mutation::CreateSprint { id, themes, .. } | Mutation::UpdateSprint { id, themes, .. } => {
                ids.push((IdKind::Sprint, id));
                ids.extend(sprints(themes, IdKind::Theme));
            }
            Mutation::AddStory { sprint_id, story_id, .. } => {
                ids.push((IdKind::Sprint, sprint_id));
                ids.extend(story_id.as_mut().map(|s| (IdKind::Story, s)));
            }
            Mutation::UpdateStory { sprint_id, story_id, .. } => {
                ids.extend([(IdKind::Sprint, sprint_id), (IdKind::Story, story_id)]);
            }
            Mutation::Done { story_id, sprint_id, .. } => {
                ids.push((IdKind::Story, story_id));
                ids.extend(sprint_id.as_mut().map(|s| (IdKind::Sprint, s)));
            }
            Mutation::AddHistory { related_sprints, .. } => ids.extend(sprints(related_sprints, IdKind::Sprint)),
        }
        ids
    }
}

/// What an id in an edit names.
#[derive(Debug, Clone, Copy)]
enum IdKind {
    Sprint,
    Story,
    Backlog,
    Theme,
}

/// The spelling under which `ids` hold the normalized id `wanted`, when no id is spelled
/// exactly `wanted` but one normalizes to it; `None` otherwise. ASCII is its own normal
/// form, so only non-ASCII ids are normalized on the way.
fn stored_spelling<'a>(ids: impl Iterator<Item = &'a String>, wanted: &str) -> Option<&'a String> {
    let mut found = None;
    for id in ids {
        if id == wanted {
            return None;
        }
        if found.is_none() && !id.is_ascii() && validate::normalize_id(id) == wanted {
            found = Some(id);
        }
    }
    found
}

fn priority_in_range(priority: Option<u8>) -> Result<(), StoreError> {
    match priority {
        Some(p) if !(1..=5).contains(&p) => Err(StoreError::invalid(
            "priority",
            format!("{p} is not a priority"),
            "Use 1 (highest) to 5 (lowest); 3 is the default.",
        )),
        _ => Ok(()),
    }
}
