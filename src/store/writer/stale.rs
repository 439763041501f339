//! Stale-buffer saves: a hand edit made from an older version of the work index is merged
//! with what was written since, instead of wiping it.
//!
//! When the writer finds the file changed by hand, it traces the edit back to the version
//! it was made from ([`super::versions`]). An edit of the version the writer holds is taken
//! as saved, as any hand edit always was. An edit of an older version (an editor that kept
//! the file open while agents wrote) is merged three ways by [`merge::merge`] — base: that
//! version, ours: the version the writer holds, theirs: the edit — so the person's changes
//! and the agents' writes both survive, and an item the person deleted goes unless an agent
//! changed it since (then it is kept, and reported). The result is written over the
//! person's save as an edit of their text (their comments and layout stay), by the same
//! atomic write as any other: if they save yet again meanwhile, that save is kept and
//! merged on the next look. Every disagreement the merge resolved is logged and goes into
//! the change feed as a `conflict` of the item, with the value that lost.

use super::Writer;
use super::versions::Version;
use crate::store::coordination::Event;
use crate::store::error::StoreError;
use crate::store::merge::{self, Conflict};
use crate::store::model::WorkIndex;
use crate::store::yaml::Document;

/// What became of a hand edit.
pub(super) enum Settled {
    /// Kept as saved: it derives from the version the writer held, or could not be merged.
    AsSaved,
    /// Merged with the writes made since the version it derives from; the file now holds
    /// the merge. The merge's disagreements, each resolved by its rule.
    Merged { conflicts: Vec<Conflict> },
    /// Saved again while the merge was being written: nothing was written, look again.
    SavedAgain,
}

impl Writer {
    /// Settles the hand edit `edit` of `project`'s work index, made while the writer held
    /// `held`: taken as saved, or merged with the writes it lacks (see the module doc).
    pub(super) fn settle_edit(&mut self, project: &str, held: &Version, edit: &mut Document<WorkIndex>) -> Settled {
        let versions = self.recent_versions.entry(project.to_string()).or_default();
        let Some((base, newer)) = versions.closest(edit.value()) else {
            return Settled::AsSaved;
        };
        if base.text == held.text {
            return Settled::AsSaved;
        }
        let base = base.clone();
        let saved = Version::of(edit);
        let merged = match merge::merge(edit.path(), &base.text, &held.text, edit.text()) {
            Ok(merged) => merged,
            Err(e) => {
                tracing::warn!(project, error = %e, "a hand edit made from an older version could not be merged; it is kept as saved");
                return Settled::AsSaved;
            }
        };
        if merged.index == **edit.value() {
            return Settled::AsSaved;
        }
        let undid_the_writes = **edit.value() == *base.value;
        match edit.replace(merged.index) {
            Ok(()) => {
                if undid_the_writes {
                    tracing::warn!(
                        project,
                        versions_since = newer,
                        "a hand save is identical to an older version: taken as a stale copy, so the writes made since stay; to undo them, use the tools"
                    );
                }
                // The person may go on editing from their own save, which is now part of
                // what the writer holds (never before: a save that is not would pass for
                // an ancestor of the current version, and its changes for removals).
                if let Some(versions) = self.recent_versions.get_mut(project) {
                    versions.remember(&saved.text, &saved.value);
                }
                tracing::warn!(
                    project,
                    path = %edit.path().display(),
                    versions_since = newer,
                    conflicts = merged.conflicts.len(),
                    "a hand save was made from an older version of the file (an editor's stale copy): merged it with what was written since, so that both the save and those writes are kept"
                );
                for conflict in &merged.conflicts {
                    tracing::warn!(project, conflict = %conflict.describe(usize::MAX), "the stale save and a later write disagreed");
                }
                Settled::Merged { conflicts: merged.conflicts }
            }
            Err(StoreError::Changed { .. }) => Settled::SavedAgain,
            Err(e) => {
                tracing::error!(project, error = %e, "could not write the merge of a stale hand save; the save is kept as it is, and the writes it lacks are reported as removed");
                Settled::AsSaved
            }
        }
    }
}

impl Settled {
    /// The change feed's events for the merge's disagreements.
    pub(super) fn conflict_events(&self) -> Vec<Event> {
        match self {
            Settled::Merged { conflicts } => conflicts.iter().map(conflict_event).collect(),
            Settled::AsSaved | Settled::SavedAgain => Vec::new(),
        }
    }
}

/// A disagreement as a change of the item it is about (`conflict`, with its description as
/// the summary, whole: the losing value must stay findable); of the file when it is about
/// no item.
fn conflict_event(conflict: &Conflict) -> Event {
    let parts: Vec<&str> = conflict.at.split('/').collect();
    let (kind, id) = match parts.as_slice() {
        ["sprints", _, "stories", story, ..] => ("story", *story),
        ["sprints", sprint, ..] => ("sprint", *sprint),
        ["backlog", item, ..] => ("backlog", *item),
        _ => ("file", "work-index.yaml"),
    };
    Event { kind, id: id.to_string(), action: "conflict", rev: None, summary: Some(conflict.describe(usize::MAX)) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::merge::ConflictKind;

    /// A disagreement is reported on the item it is about.
    #[test]
    fn conflicts_are_events_of_their_item() {
        let conflict =
            |at: &str| Conflict { at: at.into(), kind: ConflictKind::RemovedChanged, kept: None, lost: None };
        let of = |at: &str| {
            let event = conflict_event(&conflict(at));
            (event.kind, event.id)
        };
        assert_eq!(of("backlog/b1"), ("backlog", "b1".to_string()));
        assert_eq!(of("backlog/b1/summary"), ("backlog", "b1".to_string()));
        assert_eq!(of("sprints/s1/stories/STORY-3/status"), ("story", "STORY-3".to_string()));
        assert_eq!(of("sprints/s1/goal"), ("sprint", "s1".to_string()));
        assert_eq!(of("project"), ("file", "work-index.yaml".to_string()));
    }
}
