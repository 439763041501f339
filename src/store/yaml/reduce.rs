//! Rendering a change to a large work index at the cost of the change.
//!
//! Converting 5,000 backlog items to YAML values and comparing them one by one, on every
//! write, costs far more than the write itself. The usual write changes a run of items in
//! one or two lists: [`Reduce::local_edit`] for [`WorkIndex`] finds that run by pointer
//! (items are shared between versions) and edits only its text ([`super::splice`]).
//! Anything else (a list appearing, unknown top-level keys changing) goes to the walker on
//! reduced documents: [`Reduce::reduce`] compares the typed items and keeps real values
//! only for items that changed and their neighbours (which the walker checks against the
//! text); every other sprint or backlog item becomes a stand-in holding just its id, equal
//! in both versions, which the walker leaves untouched.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::document::Reduce;
use crate::store::model::{BacklogItem, Sprint, WorkIndex};
use crate::store::registry::ConfigFile;
use serde::Serialize;

use super::document::LocalEdit;
use super::splice::{self, Section, Splice};

impl Reduce for ConfigFile {}

impl Reduce for WorkIndex {
    fn reduce(old: &Self, new: &Self) -> Option<(Self, Self)> {
        let (old_sprints, new_sprints) =
            reduce_list(old.sprints.as_deref(), new.sprints.as_deref(), |s: &Arc<Sprint>| {
                Arc::new(Sprint { id: s.id.clone(), ..Default::default() })
            })?;
        let (old_backlog, new_backlog) =
            reduce_list(old.backlog.as_deref(), new.backlog.as_deref(), |b: &Arc<BacklogItem>| {
                Arc::new(BacklogItem { id: b.id.clone(), ..Default::default() })
            })?;
        let reduced = |index: &WorkIndex, sprints, backlog| WorkIndex {
            sprints,
            backlog,
            history: index.history.clone(),
            extra: index.extra.clone(),
        };
        Some((reduced(old, old_sprints, old_backlog), reduced(new, new_sprints, new_backlog)))
    }

    /// Each list's changed run of items, edited in place; `None` (the walker on the whole
    /// document) if anything else changed or a list appeared or went.
    fn local_edit(old_text: &str, known: Option<Section>, old: &Self, new: &Self) -> Option<LocalEdit> {
        if old.extra != new.extra {
            return None;
        }
        let sprints = list_edit(old_text, "sprints", old.sprints.as_deref(), new.sprints.as_deref(), None)?;
        let backlog = list_edit(old_text, "backlog", old.backlog.as_deref(), new.backlog.as_deref(), known)?;
        let history = list_edit(old_text, "history", old.history.as_deref(), new.history.as_deref(), None)?;
        // Where the backlog now ends is known when its append is the only edit.
        let appended_at = match (&sprints, &backlog, &history) {
            (None, Some(edit), None) => edit.appended_at,
            _ => None,
        };
        let splices: Vec<Splice> = [sprints, backlog, history].into_iter().flatten().map(|e| e.splice).collect();
        Some(LocalEdit { text: splice::apply(old_text, splices), appended_at })
    }
}

/// How one top-level list's text changes.
struct ListEdit {
    splice: Splice,
    /// Where the list ends afterwards, for an append.
    appended_at: Option<Section>,
}

/// The edit of list `key` from `old` to `new`: `Some(None)` if it did not change, `None` if
/// it cannot be edited in place. Items the versions share compare by pointer, so finding
/// the changed run costs a pointer comparison per item.
fn list_edit<T: Serialize + Eq>(
    text: &str,
    key: &str,
    old: Option<&[Arc<T>]>,
    new: Option<&[Arc<T>]>,
    known: Option<Section>,
) -> Option<Option<ListEdit>> {
    let (old, new) = match (old, new) {
        (None, None) => return Some(None),
        (Some(old), Some(new)) => (old, new),
        _ => return None,
    };
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    if prefix == old.len() && prefix == new.len() {
        return Some(None);
    }
    if old.is_empty() {
        return None;
    }
    let values = |items: &[Arc<T>]| -> Option<Vec<serde_yaml_ng::Value>> {
        items.iter().map(|item| serde_yaml_ng::to_value(&**item).ok()).collect()
    };
    if prefix == old.len() {
        let last = serde_yaml_ng::to_value(&*old[prefix - 1]).ok()?;
        let (splice, section) = splice::append(text, key, known, &last, &values(&new[prefix..])?)?;
        return Some(Some(ListEdit { splice, appended_at: Some(section) }));
    }
    let room = old.len().min(new.len()) - prefix;
    let suffix = old.iter().rev().zip(new.iter().rev()).take(room).take_while(|(a, b)| a == b).count();
    let (mut start, mut old_end, mut new_end) = (prefix, old.len() - suffix, new.len() - suffix);
    if start == old_end || start == new_end {
        // Only insertions, or only removals: an unchanged neighbour anchors the window.
        if start > 0 {
            start -= 1;
        } else if old_end < old.len() {
            (old_end, new_end) = (old_end + 1, new_end + 1);
        } else {
            return None;
        }
    }
    let splice =
        splice::replace_window(text, key, start, &values(&old[start..old_end])?, &values(&new[start..new_end])?)?;
    Some(Some(ListEdit { splice, appended_at: None }))
}

/// Items that have an id.
trait Identified: Clone + PartialEq {
    fn id(&self) -> &str;
}

impl Identified for Arc<Sprint> {
    fn id(&self) -> &str {
        &self.id
    }
}

impl Identified for Arc<BacklogItem> {
    fn id(&self) -> &str {
        &self.id
    }
}

type Reduced<T> = (Option<Vec<T>>, Option<Vec<T>>);

/// Reduces one list; `None` (render whole) if ids repeat or are empty.
fn reduce_list<T: Identified>(old: Option<&[T]>, new: Option<&[T]>, stand_in: impl Fn(&T) -> T) -> Option<Reduced<T>> {
    let (Some(old), Some(new)) = (old, new) else {
        return Some((old.map(<[T]>::to_vec), new.map(<[T]>::to_vec)));
    };
    let old_by_id: HashMap<&str, &T> = old.iter().map(|t| (t.id(), t)).collect();
    let new_by_id: HashMap<&str, &T> = new.iter().map(|t| (t.id(), t)).collect();
    if old_by_id.len() != old.len() || new_by_id.len() != new.len() || old_by_id.contains_key("") {
        return None;
    }
    // Items that changed, appeared or went away…
    let mut keep: HashSet<&str> = HashSet::new();
    for item in old.iter().chain(new) {
        let id = item.id();
        if old_by_id.get(id).zip(new_by_id.get(id)).is_none_or(|(a, b)| a != b) {
            keep.insert(id);
        }
    }
    // …and their neighbours in either order, which the walker checks against the text.
    let mut neighbours = Vec::new();
    for list in [old, new] {
        for (n, item) in list.iter().enumerate() {
            if keep.contains(item.id()) {
                neighbours.extend(n.checked_sub(1).map(|p| list[p].id()));
                neighbours.extend(list.get(n + 1).map(Identified::id));
            }
        }
    }
    keep.extend(neighbours);
    if !keep.is_empty() {
        // The walker inserts before the first item when something new leads the list.
        keep.extend(old.first().map(Identified::id));
    }
    let shrink = |list: &[T]| -> Vec<T> {
        list.iter().map(|item| if keep.contains(item.id()) { item.clone() } else { stand_in(item) }).collect()
    };
    Some((Some(shrink(old)), Some(shrink(new))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::{HistoryEntry, Story};
    use crate::store::yaml::walker::patch_document;

    const SAMPLE: &str = include_str!("../../../projects.example/orbit-api/work-index.yaml");

    /// Random typed edits rendered from reduced documents: every one takes the minimal-diff
    /// path (no whole rewrite) and the file parses back to exactly the new model.
    #[test]
    fn reduced_rendering_is_exact() {
        let mut text = SAMPLE.to_string();
        let mut current: WorkIndex = serde_yaml_ng::from_str(&text).unwrap();
        let mut seed: u64 = 42;
        let mut next_random = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed as usize) % n.max(1)
        };
        let mut appends = 0;
        // Where the last append left the backlog, as `Document` keeps it between writes.
        let mut known = None;
        for step in 0..400 {
            let mut next = current.clone();
            let backlog = next.backlog.get_or_insert_with(Vec::new);
            match next_random(7) {
                0 | 1 => {
                    // Half of the additions append (the add_backlog case), half insert.
                    let at = if next_random(2) == 0 { backlog.len() } else { next_random(backlog.len() + 1) };
                    let item = BacklogItem {
                        id: format!("r-{step}"),
                        summary: Some(format!("summary: {step}")),
                        status: Some("todo".into()),
                        ..Default::default()
                    };
                    backlog.insert(at, Arc::new(item));
                }
                2 if !backlog.is_empty() => {
                    let at = next_random(backlog.len());
                    backlog.remove(at);
                }
                3 if !backlog.is_empty() => {
                    let at = next_random(backlog.len());
                    let item = Arc::make_mut(&mut backlog[at]);
                    item.status = Some("done".into());
                    item.summary = Some(format!("changed at {step}\nwith a second line"));
                }
                4 => {
                    let sprints = next.sprints.as_mut().unwrap();
                    let at = next_random(sprints.len());
                    let story =
                        Story { id: format!("STORY-R{step}"), status: Some("planned".into()), ..Default::default() };
                    Arc::make_mut(&mut sprints[at]).stories.get_or_insert_with(Vec::new).push(story);
                }
                5 => {
                    let sprints = next.sprints.as_mut().unwrap();
                    let at = next_random(sprints.len());
                    Arc::make_mut(&mut sprints[at]).goal = Some(format!("goal {step}"));
                }
                _ => {
                    // worksync_done: a story's status and a history entry, two lists at once.
                    let sprints = next.sprints.as_mut().unwrap();
                    let at = next_random(sprints.len());
                    if let Some(story) = Arc::make_mut(&mut sprints[at]).stories.iter_mut().flatten().next() {
                        story.status = Some("done".into());
                    }
                    let entry = HistoryEntry {
                        date: Some("2026-11-21".into()),
                        summary: Some(format!("done {step}")),
                        ..Default::default()
                    };
                    next.history.get_or_insert_with(Vec::new).push(Arc::new(entry));
                }
            }
            // Edited in place, the file parses to exactly the new model, and holds the same
            // text as the walker on the whole (reduced) documents writes.
            let local = WorkIndex::local_edit(&text, known, &current, &next)
                .unwrap_or_else(|| panic!("step {step}: not edited in place"));
            let parsed: WorkIndex = serde_yaml_ng::from_str(&local.text).unwrap();
            assert_eq!(parsed, next, "step {step}: in place");
            let (old_part, new_part) = WorkIndex::reduce(&current, &next).expect("ids are unique");
            let old_value = serde_yaml_ng::to_value(&old_part).unwrap();
            let new_value = serde_yaml_ng::to_value(&new_part).unwrap();
            let patched = patch_document(&text, &old_value, &new_value)
                .unwrap_or_else(|| panic!("step {step}: the reduced edit was not proved"));
            let parsed: WorkIndex = serde_yaml_ng::from_str(&patched).unwrap();
            assert_eq!(parsed, next, "step {step}");
            assert_eq!(local.text, patched, "step {step}: in place and whole-document edits differ");
            appends += local.appended_at.is_some() as usize;
            known = local.appended_at;
            text = local.text;
            current = next;
        }
        assert!(appends > 30, "the append path was taken ({appends} times)");
    }
}
