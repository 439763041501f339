//! The recent versions of a project's work index, so that a hand edit can be traced back to
//! the version it was made from.
//!
//! An editor may hold a copy of `work-index.yaml` for an hour while agents write through the
//! server. When the person saves, the file derives from the version their editor opened,
//! not from the current one; taken as the new truth, it would wipe every agent write made
//! since. So the writer keeps the versions it held lately — every text it wrote, loaded, or
//! found saved by hand — and [`RecentVersions::closest`] picks the one a save is closest to: the
//! fewest items and fields that differ, the newest on a tie. Counting fields, not only
//! items, matters: a person who changed one field of an item an agent changed since is one
//! field away from the version they opened and two from the newer one.
//!
//! The versions are kept in memory, at most [`MAX_VERSIONS`] and about [`MAX_BYTES`] of text
//! per project (the oldest go first; the newest is always kept). After a restart only the
//! text loaded at start is known: a buffer opened before the restart is then taken as saved,
//! and the agent writes it lacks are reported as removed by an external edit.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::store::model::{BacklogItem, HistoryEntry, Sprint, Story, WorkIndex};
use crate::store::ops::to_json;
use crate::store::yaml::Document;

/// Most versions kept per project.
pub(super) const MAX_VERSIONS: usize = 256;
/// Most bytes of text kept per project (the newest version is kept whatever its size).
pub(super) const MAX_BYTES: usize = 16 << 20;

/// One version of a work index: its text and what it parses to.
#[derive(Debug, Clone)]
pub(super) struct Version {
    pub text: String,
    pub value: Arc<WorkIndex>,
}

impl Version {
    /// The version a document holds now.
    pub fn of(doc: &Document<WorkIndex>) -> Version {
        Version { text: doc.text().to_string(), value: doc.value().clone() }
    }
}

/// A project's recent versions, oldest first.
#[derive(Debug, Default)]
pub(super) struct RecentVersions {
    kept: VecDeque<Version>,
    bytes: usize,
}

impl RecentVersions {
    /// Keeps `text` as the newest version, unless it already is; drops the oldest beyond the
    /// bounds.
    pub fn remember(&mut self, text: &str, value: &Arc<WorkIndex>) {
        if self.kept.back().is_some_and(|newest| newest.text == text) {
            return;
        }
        self.kept.push_back(Version { text: text.to_string(), value: value.clone() });
        self.bytes += text.len();
        while self.kept.len() > MAX_VERSIONS || (self.bytes > MAX_BYTES && self.kept.len() > 1) {
            if let Some(oldest) = self.kept.pop_front() {
                self.bytes -= oldest.text.len();
            }
        }
    }

    /// The kept version `edit` is closest to, and how many kept versions are newer than it;
    /// `None` if none is kept.
    pub fn closest(&self, edit: &WorkIndex) -> Option<(&Version, usize)> {
        let probe = Probe::of(edit);
        let mut memo = Memo::default();
        let mut best: Option<(usize, usize)> = None;
        // Newest first, replaced only by a strictly closer one: ties go to the newest.
        for (position, version) in self.kept.iter().enumerate().rev() {
            let limit = best.map_or(usize::MAX, |(distance, _)| distance);
            if probe.lower_bound(&version.value) >= limit {
                continue;
            }
            let distance = probe.distance(&version.value, limit, &mut memo);
            if distance < limit {
                best = Some((distance, position));
            }
            if distance == 0 {
                break;
            }
        }
        best.map(|(_, position)| (&self.kept[position], self.kept.len() - 1 - position))
    }

    /// How many versions are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.kept.len()
    }
}

/// A hand edit's items by id, to measure how far each kept version is from it.
struct Probe<'e> {
    index: &'e WorkIndex,
    sprints: HashMap<&'e str, &'e Sprint>,
    stories: HashMap<&'e str, &'e Story>,
    backlog: HashMap<&'e str, &'e BacklogItem>,
    history: HashMap<HistoryKey<'e>, usize>,
}

/// What tells two history entries apart for a distance (they have no id).
type HistoryKey<'e> = (Option<&'e str>, Option<&'e str>);

fn history_key(entry: &HistoryEntry) -> HistoryKey<'_> {
    (entry.date.as_deref(), entry.summary.as_deref())
}

impl<'e> Probe<'e> {
    fn of(index: &'e WorkIndex) -> Probe<'e> {
        let mut history = HashMap::new();
        for entry in index.history() {
            *history.entry(history_key(entry)).or_insert(0) += 1;
        }
        Probe {
            index,
            sprints: index.sprints().iter().map(|s| (s.id.as_str(), s.as_ref())).collect(),
            stories: index.sprints().iter().flat_map(|s| s.stories()).map(|st| (st.id.as_str(), st)).collect(),
            backlog: index.backlog().iter().map(|b| (b.id.as_str(), b.as_ref())).collect(),
            history,
        }
    }

    fn items(&self) -> usize {
        self.sprints.len() + self.stories.len() + self.backlog.len()
    }

    /// A distance `version` cannot be below: items and history entries it has more or fewer
    /// of. Lets the search skip most versions of a project that keeps growing.
    fn lower_bound(&self, version: &WorkIndex) -> usize {
        let items = version.sprints().len()
            + version.sprints().iter().map(|s| s.stories().len()).sum::<usize>()
            + version.backlog().len();
        items.abs_diff(self.items()) + version.history().len().abs_diff(self.index.history().len())
    }

    /// Items present in only one of the two, fields that differ in items both have, history
    /// entries either has more of, and top-level keys that differ; counting stops at `limit`.
    /// Versions share the items they did not change, so each item's share is computed once
    /// and found again by its address in `memo`.
    fn distance<'v>(&self, version: &'v WorkIndex, limit: usize, memo: &mut Memo<'v>) -> usize {
        let mut distance = extra_fields(&self.index.extra, &version.extra);
        let mut matched = 0;
        for sprint in version.sprints() {
            let (apart, found) =
                *memo.sprints.entry(Arc::as_ptr(sprint) as usize).or_insert_with(|| self.sprint_distance(sprint));
            distance += apart;
            matched += found;
            if distance >= limit {
                return limit;
            }
        }
        for item in version.backlog() {
            let apart = *memo
                .backlog
                .entry(Arc::as_ptr(item) as usize)
                .or_insert_with(|| self.backlog.get(item.id.as_str()).map(|edit| fields(*edit, item.as_ref())));
            match apart {
                Some(fields) => {
                    matched += 1;
                    distance += fields;
                }
                None => distance += 1,
            }
            if distance >= limit {
                return limit;
            }
        }
        distance += self.items() - matched.min(self.items());
        let history = version.history();
        let apart = match memo.history {
            Some((seen, apart)) if same_entries(seen, history) => apart,
            _ => {
                let apart = self.history_distance(history);
                memo.history = Some((history, apart));
                apart
            }
        };
        (distance + apart).min(limit)
    }

    /// History entries either side has more of (history is a multiset: it has no ids).
    fn history_distance(&self, history: &[Arc<HistoryEntry>]) -> usize {
        let mut unmatched = self.history.clone();
        let mut apart = 0;
        for entry in history {
            match unmatched.get_mut(&history_key(entry)) {
                Some(n) if *n > 0 => *n -= 1,
                _ => apart += 1,
            }
        }
        apart + unmatched.values().sum::<usize>()
    }

    /// A sprint's share of a distance, its stories' included, and how many of the sprint
    /// and its stories the edit has too.
    fn sprint_distance(&self, sprint: &Sprint) -> (usize, usize) {
        let (mut apart, mut found) = match self.sprints.get(sprint.id.as_str()) {
            Some(edit) => (sprint_fields(edit, sprint), 1),
            None => (1, 0),
        };
        for story in sprint.stories() {
            match self.stories.get(story.id.as_str()) {
                Some(edit) => {
                    apart += fields(*edit, story);
                    found += 1;
                }
                None => apart += 1,
            }
        }
        (apart, found)
    }
}

/// Each shared item's share of a distance to the edit, by the item's address (valid while
/// the versions holding the items are borrowed).
/// The last history looked at and its share too: versions mostly share all of it.
#[derive(Default)]
struct Memo<'v> {
    sprints: HashMap<usize, (usize, usize)>,
    backlog: HashMap<usize, Option<usize>>,
    history: Option<(&'v [Arc<HistoryEntry>], usize)>,
}

/// Are `a` and `b` the same entries (the very same, not equal ones)?
fn same_entries(a: &[Arc<HistoryEntry>], b: &[Arc<HistoryEntry>]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| Arc::ptr_eq(x, y))
}

/// How many fields of one item differ (0 when equal).
fn fields<T: PartialEq + serde::Serialize>(a: &T, b: &T) -> usize {
    if a == b { 0 } else { differing_keys(to_json(a), to_json(b), None).max(1) }
}

/// How many fields of a sprint differ, its stories left out (they count on their own).
fn sprint_fields(a: &Sprint, b: &Sprint) -> usize {
    if a == b { 0 } else { differing_keys(to_json(a), to_json(b), Some("stories")) }
}

fn differing_keys(a: serde_json::Value, b: serde_json::Value, skip: Option<&str>) -> usize {
    let (serde_json::Value::Object(a), serde_json::Value::Object(b)) = (a, b) else { return 1 };
    let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
    keys.filter(|k| Some(k.as_str()) != skip && a.get(*k) != b.get(*k)).count()
}

fn extra_fields(a: &serde_yaml_ng::Mapping, b: &serde_yaml_ng::Mapping) -> usize {
    let keys = a.keys().chain(b.keys().filter(|k| !a.contains_key(*k)));
    keys.filter(|k| a.get(*k) != b.get(*k)).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> Arc<WorkIndex> {
        Arc::new(serde_yaml_ng::from_str(text).unwrap())
    }

    fn backlog(items: &[(&str, &str, &str)]) -> String {
        let mut text = String::from("backlog:\n");
        for (id, summary, status) in items {
            text.push_str(&format!("- id: {id}\n  summary: {summary}\n  status: {status}\n"));
        }
        text
    }

    /// RecentVersions written one after the other, as agents change the file.
    fn written(texts: &[String]) -> RecentVersions {
        let mut versions = RecentVersions::default();
        for text in texts {
            versions.remember(text, &index(text));
        }
        versions
    }

    /// A save made from an old copy is traced to that copy, not to the newest version, even
    /// when the person changed a field of an item an agent changed since.
    #[test]
    fn a_stale_save_is_traced_to_the_version_it_was_made_from() {
        let texts = [
            backlog(&[("a", "first", "todo"), ("b", "second", "todo")]),
            backlog(&[("a", "first", "todo"), ("b", "second", "done")]),
            backlog(&[("a", "first", "todo"), ("b", "second", "done"), ("c", "third", "todo")]),
        ];
        let versions = written(&texts);
        // Opened at the first version; the person rewrote b's summary.
        let edit = index(&backlog(&[("a", "first", "todo"), ("b", "reworded", "todo")]));
        let (base, newer) = versions.closest(&edit).unwrap();
        assert_eq!((base.text.as_str(), newer), (texts[0].as_str(), 2));
    }

    /// An edit of the current version (a deletion here) is traced to the current version:
    /// the edit is then taken as saved, as before.
    #[test]
    fn an_edit_of_the_current_version_is_traced_to_it() {
        let texts = [
            backlog(&[("a", "first", "todo")]),
            backlog(&[("a", "first", "todo"), ("b", "second", "todo")]),
            backlog(&[("a", "first", "todo"), ("b", "second", "todo"), ("c", "third", "todo")]),
        ];
        let versions = written(&texts);
        let edit = index(&backlog(&[("a", "first", "todo"), ("c", "third", "todo")]));
        let (base, newer) = versions.closest(&edit).unwrap();
        assert_eq!((base.text.as_str(), newer), (texts[2].as_str(), 0));
    }

    /// Two versions equally close: the newer one is the base.
    #[test]
    fn a_tie_goes_to_the_newest() {
        let texts = [backlog(&[("a", "one", "todo")]), backlog(&[("a", "two", "todo")])];
        let versions = written(&texts);
        let edit = index(&backlog(&[("a", "three", "todo")]));
        let (base, newer) = versions.closest(&edit).unwrap();
        assert_eq!((base.text.as_str(), newer), (texts[1].as_str(), 0));
    }

    /// History entries count as a multiset: a version with the same entries in another
    /// order is as close as can be.
    #[test]
    fn history_counts_entries_either_side_has_more_of() {
        let one = "history:\n- date: '2024-01-01'\n  summary: a\n";
        let two = "history:\n- date: '2024-01-01'\n  summary: a\n- date: '2024-01-02'\n  summary: b\n";
        let versions = written(&[one.to_string(), two.to_string()]);
        let edit = index("history:\n- date: '2024-01-01'\n  summary: a\n- date: '2024-01-03'\n  summary: c\n");
        // One entry away from the first, two from the second.
        assert_eq!(versions.closest(&edit).unwrap().0.text, one);
    }

    /// The same text twice in a row is kept once; beyond the bound the oldest goes.
    #[test]
    fn versions_are_bounded() {
        let mut versions = RecentVersions::default();
        let text = backlog(&[("a", "x", "todo")]);
        versions.remember(&text, &index(&text));
        versions.remember(&text, &index(&text));
        assert_eq!(versions.len(), 1);
        for n in 0..MAX_VERSIONS + 10 {
            let text = backlog(&[("a", &format!("v{n}"), "todo")]);
            versions.remember(&text, &index(&text));
        }
        assert_eq!(versions.len(), MAX_VERSIONS);
        let oldest_kept = index(&backlog(&[("a", "v10", "todo")]));
        assert_eq!(versions.closest(&oldest_kept).unwrap().1, MAX_VERSIONS - 1);
        // v9 is gone: every kept version is one field away, and the newest wins the tie.
        let dropped = index(&backlog(&[("a", "v9", "todo")]));
        assert_eq!(versions.closest(&dropped).unwrap().1, 0);
    }
}
