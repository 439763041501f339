//! Three-way merge of the history archive (`COMPLETE/history.yaml`), for a shared plan's
//! git merge driver.
//!
//! The archive only grows: history rotation appends the entries that leave the work index.
//! So two versions of it merge as a union: every entry either side has, each once. History
//! entries have no ids, so an entry is known by its whole content, and "once" counts copies:
//! an entry one side holds twice is kept twice. The merged list is the common version's
//! entries in the common version's order, with what either side added merged in by date
//! (each side's own order of its additions kept; an entry both sides added is one event that
//! reached both, kept once). A version equal to the common one takes the other's text, as
//! git itself does when only one side changed a file. Other top-level keys merge value by
//! value as in the engine.
//!
//! Like [`super::merge`], every rule looks only at values, never at which side a value came
//! from, and the text is edited from the common version's text, so
//! `merge_archive(O, A, B)` and `merge_archive(O, B, A)` are the same bytes.

use std::collections::HashMap;
use std::path::Path;

use serde_yaml_ng::Mapping;

use super::super::error::StoreError;
use super::super::model::HistoryEntry;
use super::super::yaml;
use super::{Conflict, MergeError, Merger, canonical, conflict_marker_line, keys};

/// The archive's format: the same history list as the work index (what
/// `store::history_archive` writes), and whatever else a person put beside it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Archive {
    #[serde(default)]
    history: Vec<HistoryEntry>,
    #[serde(flatten)]
    extra: Mapping,
}

/// The result of an archive merge.
#[derive(Debug, Clone, PartialEq)]
pub struct MergedArchive {
    /// The merged archive, as text.
    pub text: String,
    /// The merged history entries, in file order.
    pub history: Vec<HistoryEntry>,
    /// How each disagreement outside the history list was resolved (the list itself never
    /// disagrees: it is a union).
    pub conflicts: Vec<Conflict>,
}

/// Merges two versions of the history archive that both derive from `base`. An empty
/// `base` (the file was created on both sides, as when two machines first rotated history
/// independently) is an empty archive. `path` only names the file in error messages.
pub fn merge_archive(path: &Path, base: &str, ours: &str, theirs: &str) -> Result<MergedArchive, MergeError> {
    let (o, a, b) = (
        load(path, "the common version", base, true)?,
        load(path, "our version", ours, false)?,
        load(path, super::THEIRS, theirs, false)?,
    );
    if ours == theirs || ours == base {
        return Ok(MergedArchive { text: theirs.to_string(), history: b.history, conflicts: Vec::new() });
    }
    if theirs == base {
        return Ok(MergedArchive { text: ours.to_string(), history: a.history, conflicts: Vec::new() });
    }
    let mut merger = Merger::default();
    let mut extra = Mapping::new();
    for key in keys(Some(&o.extra), &a.extra, &b.extra) {
        let name = key.as_str().map(str::to_string).unwrap_or_else(|| canonical(&key));
        if let Some(value) = merger.value(&name, o.extra.get(&key), a.extra.get(&key), b.extra.get(&key)) {
            extra.insert(key, value);
        }
    }
    let merged = Archive { history: union(&o.history, &a.history, &b.history), extra };
    // With no common text, the text starts from the header comment both sides share, if
    // they do: a choice that does not depend on the side.
    let base_text = if base.trim().is_empty() {
        let (ha, hb) = (yaml::leading_comments(ours), yaml::leading_comments(theirs));
        if ha == hb { ha } else { "" }
    } else {
        base
    };
    let text = render(path, base_text, &o, &merged).ok_or_else(|| MergeError::Unreadable {
        side: "the merged version",
        error: Box::new(StoreError::io(
            "write",
            path,
            std::io::Error::other("the merged archive could not be written"),
        )),
    })?;
    merger.conflicts.sort_by(|x, y| (&x.at, x.kind).cmp(&(&y.at, y.kind)));
    Ok(MergedArchive { text, history: merged.history, conflicts: merger.conflicts })
}

/// Parses one version; `empty_ok` lets a version without content be an empty archive.
fn load(path: &Path, side: &'static str, text: &str, empty_ok: bool) -> Result<Archive, MergeError> {
    let unreadable = |error: StoreError| MergeError::Unreadable { side, error: Box::new(error) };
    if let Some(line) = conflict_marker_line(text) {
        return Err(unreadable(StoreError::Parse {
            path: path.to_path_buf(),
            line,
            column: 1,
            message: "the file holds a conflict marker from a text merge; resolve it first".into(),
        }));
    }
    if empty_ok && yaml::leading_comments(text).len() == text.len() {
        return Ok(Archive::default());
    }
    yaml::parse::<Archive>(path, text).map_err(unreadable)
}

/// The merged archive as text, edited from `base_text` where an edit proves, else written
/// whole below its header comment; `None` if neither reads back as `merged`.
fn render(path: &Path, base_text: &str, base: &Archive, merged: &Archive) -> Option<String> {
    let proves = |text: &str| yaml::parse::<Archive>(path, text).is_ok_and(|parsed| &parsed == merged);
    let values = serde_yaml_ng::to_value(base).ok().zip(serde_yaml_ng::to_value(merged).ok());
    let edited = values.and_then(|(old, new)| {
        if yaml::is_linked(base_text) {
            yaml::render_linked(base_text, &old, &new, proves)
        } else {
            yaml::patch_document(base_text, &old, &new).filter(|text| proves(text))
        }
    });
    let text = edited.or_else(|| yaml::full_render(base_text, merged).ok().filter(|text| proves(text)))?;
    Some(yaml::with_line_endings_of(base_text, text))
}

/// How entries are compared: by date (an entry without one sorts first), then by content,
/// so two different entries never compare equal.
type Key = (String, String);

fn key_of(entry: &HistoryEntry) -> Key {
    (entry.date.clone().unwrap_or_default(), serde_yaml_ng::to_string(entry).unwrap_or_default())
}

/// The union of the history lists (see the module doc).
fn union(o: &[HistoryEntry], a: &[HistoryEntry], b: &[HistoryEntry]) -> Vec<HistoryEntry> {
    let keyed = |list: &[HistoryEntry]| -> Vec<Key> { list.iter().map(key_of).collect() };
    let (ko, ka, kb) = (keyed(o), keyed(a), keyed(b));
    let count = |keys: &[Key]| {
        let mut counts: HashMap<Key, usize> = HashMap::new();
        for key in keys {
            *counts.entry(key.clone()).or_default() += 1;
        }
        counts
    };
    let (co, ca, cb) = (count(&ko), count(&ka), count(&kb));
    let get = |counts: &HashMap<Key, usize>, key: &Key| counts.get(key).copied().unwrap_or(0);
    // How many copies of each entry the result holds: as many as the side with more.
    let wanted = |key: &Key| get(&ca, key).max(get(&cb, key));

    // The common version's entries, less the first copies of those both sides dropped.
    let mut surplus: HashMap<&Key, usize> = co.iter().map(|(key, n)| (key, n.saturating_sub(wanted(key)))).collect();
    let mut from_o: Vec<usize> = Vec::with_capacity(o.len());
    for (i, key) in ko.iter().enumerate() {
        match surplus.get_mut(key) {
            Some(n) if *n > 0 => *n -= 1,
            _ => from_o.push(i),
        }
    }
    // A side's additions: its copies beyond the ones the common version had, in its order.
    let added = |keys: &[Key]| -> Vec<usize> {
        let mut matched: HashMap<&Key, usize> = HashMap::new();
        let mut list = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let seen = matched.entry(key).or_default();
            *seen += 1;
            if *seen > get(&co, key) {
                list.push(i);
            }
        }
        list
    };
    let (from_a, from_b) = (added(&ka), added(&kb));

    // Merge the three runs by key: the smallest head goes next; the common version's head
    // first on a tie; equal heads of the two sides are one entry.
    let mut out = Vec::new();
    let mut emitted: HashMap<&Key, usize> = HashMap::new();
    let (mut i, mut j, mut k) = (0, 0, 0);
    loop {
        let head_o = from_o.get(i).map(|&n| (&ko[n], &o[n]));
        let head_a = from_a.get(j).map(|&n| (&ka[n], &a[n]));
        let head_b = from_b.get(k).map(|&n| (&kb[n], &b[n]));
        let head_side = match (head_a, head_b) {
            (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
            (x, y) => x.or(y),
        };
        let (key, entry) = match (head_o, head_side) {
            (Some(common), Some(side)) if side.0 < common.0 => {
                advance_sides(side.0, head_a, head_b, &mut j, &mut k);
                side
            }
            (Some(common), _) => {
                i += 1;
                common
            }
            (None, Some(side)) => {
                advance_sides(side.0, head_a, head_b, &mut j, &mut k);
                side
            }
            (None, None) => break,
        };
        let copies = emitted.entry(key).or_default();
        if *copies < wanted(key) {
            *copies += 1;
            out.push(entry.clone());
        }
    }
    out
}

/// Moves past the sides' heads that hold `key` (one, or both when they are the same entry).
fn advance_sides(
    key: &Key,
    head_a: Option<(&Key, &HistoryEntry)>,
    head_b: Option<(&Key, &HistoryEntry)>,
    j: &mut usize,
    k: &mut usize,
) {
    if head_a.is_some_and(|(ka, _)| ka == key) {
        *j += 1;
    }
    if head_b.is_some_and(|(kb, _)| kb == key) {
        *k += 1;
    }
}

#[cfg(test)]
mod tests;
