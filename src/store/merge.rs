//! Three-way merge of a work index: two versions that both derive from a common one become
//! one, item by item, keeping everything either side added and every value either side
//! changed.
//!
//! The same engine serves every place where two histories of one file meet: sharing a
//! project between machines, a person's own clone of a shared plan (as a git merge driver),
//! and an editor saving an old copy of the file over changes the server made since.
//!
//! The merge works on values, then writes text:
//! - **Values.** Sprints, stories and backlog items are matched by id; fields of one item
//!   changed on different sides both apply. An item removed on one side and unchanged on the
//!   other is removed; removed on one side and changed on the other, it is kept (and
//!   reported). Items added on both sides are all kept; two different items added under one
//!   id keep both, the second with a suffixed id (reported). History has no ids: an entry
//!   either side added is kept once, an entry either side removed (rotated into the
//!   archive) goes.
//! - **Conflicts.** The same field changed differently on both sides is resolved by a fixed
//!   rule that does not depend on which side is which: statuses take the one further along
//!   (`done` over `in_progress` over `planned`); texts that both sides only appended to keep
//!   both additions; otherwise the greater value (in YAML text order) wins. The losing value
//!   is never dropped silently: every resolution is listed in [`Merged::conflicts`].
//! - **Text.** The merged value is written by the minimal-diff walker from the common
//!   version's text, so items nobody touched keep their bytes and a changed item changes only
//!   in its changed fields. Because every rule is symmetric and the text depends only on the
//!   common version and the merged value, `merge(O, A, B)` and `merge(O, B, A)` are the same
//!   bytes.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::error::StoreError;
use super::model::WorkIndex;
use super::yaml;
use lists::{history, merged_order, set_merge};

mod archive;
mod describe;
pub use archive::{MergedArchive, merge_archive};

/// The result of a merge.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The merged work index, as text.
    pub text: String,
    /// The merged work index.
    pub index: WorkIndex,
    /// How each disagreement was resolved, in a stable order.
    pub conflicts: Vec<Conflict>,
}

/// One disagreement between the two sides and how it was resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// Where: `backlog/<id>/summary`, `sprints/<id>/stories/<id>`, `backlog/<id>` …
    pub at: String,
    pub kind: ConflictKind,
    /// The value the merge kept (`None`: removed).
    pub kept: Option<Value>,
    /// The value that lost (`None`: a removal that did not happen).
    pub lost: Option<Value>,
}

/// The kinds of disagreement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ConflictKind {
    /// Both sides changed the same field differently.
    SameField,
    /// One side removed an item the other changed: it is kept.
    RemovedChanged,
    /// Both sides added different items under one id: the second got a new id (in `kept`).
    IdCollision,
}

impl ConflictKind {
    /// A stable name for machines (commit messages): `same_field`, `removed_changed`,
    /// `id_collision`.
    pub fn name(self) -> &'static str {
        match self {
            ConflictKind::SameField => "same_field",
            ConflictKind::RemovedChanged => "removed_changed",
            ConflictKind::IdCollision => "id_collision",
        }
    }

    /// The kind a [`ConflictKind::name`] names.
    pub fn from_name(name: &str) -> Option<ConflictKind> {
        [ConflictKind::SameField, ConflictKind::RemovedChanged, ConflictKind::IdCollision]
            .into_iter()
            .find(|k| k.name() == name)
    }

    /// A short name for reports and the change feed.
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictKind::SameField => "same field changed on both sides",
            ConflictKind::RemovedChanged => "removed on one side, changed on the other",
            ConflictKind::IdCollision => "one id given to two different items",
        }
    }
}

/// How [`MergeError::Unreadable`] names the side merged in (`theirs`), as against "our
/// version" and "the common version".
pub const THEIRS: &str = "their version";

/// Why a merge could not be made.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// One of the versions does not load.
    #[error("{side} does not load: {error}")]
    Unreadable { side: &'static str, error: Box<StoreError> },
}

/// Merges `ours` and `theirs`, which both derive from `base` (texts of `work-index.yaml`).
/// `path` only names the file in error messages.
pub fn merge(path: &Path, base: &str, ours: &str, theirs: &str) -> Result<Merged, MergeError> {
    let load = |side: &'static str, text: &str| {
        if let Some(line) = conflict_marker_line(text) {
            let error = StoreError::Parse {
                path: path.to_path_buf(),
                line,
                column: 1,
                message: "the file holds a conflict marker from a text merge; resolve it first".into(),
            };
            return Err(MergeError::Unreadable { side, error: Box::new(error) });
        }
        yaml::parse::<WorkIndex>(path, text).map_err(|error| MergeError::Unreadable { side, error: Box::new(error) })
    };
    let (o, a, b) = (load("the common version", base)?, load("our version", ours)?, load(THEIRS, theirs)?);
    // The trivial cases keep a side's text exactly as it is.
    if a == b && ours == theirs || a == o && ours == base {
        return Ok(Merged { text: theirs.to_string(), index: b, conflicts: Vec::new() });
    }
    if b == o && theirs == base {
        return Ok(Merged { text: ours.to_string(), index: a, conflicts: Vec::new() });
    }
    let value = |index: &WorkIndex| match serde_yaml_ng::to_value(index) {
        Ok(Value::Mapping(mapping)) => Some(mapping),
        _ => None,
    };
    let (Some(vo), Some(va), Some(vb)) = (value(&o), value(&a), value(&b)) else {
        let error = StoreError::io("represent", path, std::io::Error::other("the work index is not a mapping"));
        return Err(MergeError::Unreadable { side: "the common version", error: Box::new(error) });
    };
    let mut merger = Merger::default();
    let merged = merger.document(&vo, &va, &vb);
    let index: WorkIndex = serde_yaml_ng::from_value(Value::Mapping(merged)).map_err(|e| MergeError::Unreadable {
        side: "the merged version",
        error: Box::new(StoreError::io("merge", path, std::io::Error::other(e.to_string()))),
    })?;
    let text = render(path, base, &Value::Mapping(vo), &index);
    merger.conflicts.sort_by(|x, y| (&x.at, x.kind).cmp(&(&y.at, y.kind)));
    Ok(Merged { text, index, conflicts: merger.conflicts })
}

/// The line (1-based) of a git conflict marker in `text`, if it has one.
fn conflict_marker_line(text: &str) -> Option<usize> {
    text.lines()
        .position(|line| {
            ["<<<<<<< ", "=======", ">>>>>>> ", "||||||| "].iter().any(|m| line.starts_with(m))
                && (line.len() == 7 || line.as_bytes().get(7) == Some(&b' '))
        })
        .map(|n| n + 1)
}

/// The merged index as text, edited from the common version's text (whose index, in YAML
/// value form, is `base`); rewritten whole only if no edit of that text proves.
fn render(path: &Path, base_text: &str, base: &Value, merged: &WorkIndex) -> String {
    let proves = |text: &str| yaml::parse::<WorkIndex>(path, text).is_ok_and(|parsed| &parsed == merged);
    let edited = serde_yaml_ng::to_value(merged).ok().and_then(|new| {
        if yaml::is_linked(base_text) {
            yaml::render_linked(base_text, base, &new, proves)
        } else {
            yaml::patch_document(base_text, base, &new).filter(|text| proves(text))
        }
    });
    let text = edited.or_else(|| yaml::full_render(base_text, merged).ok()).unwrap_or_else(|| base_text.to_string());
    yaml::with_line_endings_of(base_text, text)
}

/// Walks the three versions, collecting conflicts.
#[derive(Default)]
struct Merger {
    conflicts: Vec<Conflict>,
}

/// Keys whose values are lists of items with ids, and the key of each item's own item list.
fn item_list(key: &str) -> Option<Option<&'static str>> {
    match key {
        "sprints" => Some(Some("stories")),
        "backlog" => Some(None),
        _ => None,
    }
}

impl Merger {
    fn document(&mut self, o: &Mapping, a: &Mapping, b: &Mapping) -> Mapping {
        let mut out = Mapping::new();
        for key in keys(Some(o), a, b) {
            let name = key.as_str().unwrap_or_default().to_string();
            let (vo, va, vb) = (o.get(&key), a.get(&key), b.get(&key));
            let merged = match (item_list(&name), name.as_str()) {
                (Some(nested), _) => Some(Value::Sequence(self.items(&name, seq(vo), seq(va), seq(vb), nested))),
                (None, "history") => Some(Value::Sequence(history(seq(vo), seq(va), seq(vb)))),
                _ => self.value(&name, vo, va, vb),
            };
            // A list both sides dropped (or never had) stays absent.
            let dropped = item_list(&name).is_some() || name == "history";
            if dropped && va.is_none() && vb.is_none() {
                continue;
            }
            if let Some(value) = merged {
                out.insert(key, value);
            }
        }
        out
    }

    /// The three-way merge of one value; `None` when it is removed.
    fn value(&mut self, at: &str, o: Option<&Value>, a: Option<&Value>, b: Option<&Value>) -> Option<Value> {
        if a == b {
            return a.cloned();
        }
        if a == o {
            return b.cloned();
        }
        if b == o {
            return a.cloned();
        }
        match (a, b) {
            (Some(Value::Mapping(ma)), Some(Value::Mapping(mb))) => {
                let mo = o.and_then(Value::as_mapping);
                Some(Value::Mapping(self.mapping(at, mo, ma, mb, None)))
            }
            (Some(Value::Sequence(sa)), Some(Value::Sequence(sb)))
                if sa.iter().chain(sb).all(is_scalar) && o.is_none_or(|o| o.as_sequence().is_some()) =>
            {
                Some(Value::Sequence(set_merge(seq(o), sa, sb)))
            }
            (Some(x), Some(y)) => {
                let (kept, lost) = resolve(at, o, x, y);
                if let Some(lost) = lost {
                    self.conflicts.push(Conflict {
                        at: at.to_string(),
                        kind: ConflictKind::SameField,
                        kept: Some(kept.clone()),
                        lost: Some(lost),
                    });
                }
                Some(kept)
            }
            // Removed on one side, changed on the other: the change is kept.
            (Some(changed), None) | (None, Some(changed)) => {
                self.conflicts.push(Conflict {
                    at: at.to_string(),
                    kind: ConflictKind::RemovedChanged,
                    kept: Some(changed.clone()),
                    lost: None,
                });
                Some(changed.clone())
            }
            (None, None) => None,
        }
    }

    /// Merges one mapping key by key; `nested` names a key holding an item list.
    fn mapping(&mut self, at: &str, o: Option<&Mapping>, a: &Mapping, b: &Mapping, nested: Option<&str>) -> Mapping {
        let mut out = Mapping::new();
        for key in keys(o, a, b) {
            let name = key.as_str().map(str::to_string).unwrap_or_else(|| canonical(&key));
            let here = format!("{at}/{name}");
            let (vo, va, vb) = (o.and_then(|m| m.get(&key)), a.get(&key), b.get(&key));
            let merged = if nested == Some(name.as_str()) && (va.is_some() || vb.is_some()) {
                Some(Value::Sequence(self.items(&here, seq(vo), seq(va), seq(vb), None)))
            } else {
                self.value(&here, vo, va, vb)
            };
            if let Some(value) = merged {
                out.insert(key, value);
            }
        }
        out
    }

    /// Merges a list of items with ids (sprints, stories, backlog items).
    fn items(&mut self, at: &str, o: &[Value], a: &[Value], b: &[Value], nested: Option<&str>) -> Vec<Value> {
        let (Some((ids_o, io)), Some((ids_a, ia)), Some((ids_b, ib))) = (by_id(o), by_id(a), by_id(b)) else {
            // Ids missing or repeated within one version: the list merges as one value.
            let merged = self.value(at, Some(&Value::Sequence(o.to_vec())), Some(&seq_value(a)), Some(&seq_value(b)));
            return merged.and_then(|v| v.as_sequence().cloned()).unwrap_or_default();
        };
        let mut merged: HashMap<&str, Value> = HashMap::with_capacity(io.len().max(ia.len()).max(ib.len()));
        // The second of two different items added under one id, under its new id, by the id
        // it was added under: it follows the first.
        let mut renamed: HashMap<&str, Value> = HashMap::new();
        let mut seen = HashSet::with_capacity(merged.capacity());
        for &id in ids_o.iter().chain(&ids_a).chain(&ids_b).filter(|id| seen.insert(**id)) {
            let here = || format!("{at}/{id}");
            let (vo, va, vb) = (io.get(id).copied(), ia.get(id).copied(), ib.get(id).copied());
            let item = match (vo, va, vb) {
                // The same on both sides (most items of a large plan): nothing to merge.
                (_, Some(va), Some(vb)) if va == vb => Some(va.clone()),
                (Some(vo), Some(va), Some(vb)) => Some(self.item(&here(), Some(vo), va, vb, nested)),
                (None, Some(va), Some(vb)) => {
                    // Two different items under one id: both are kept, the one that sorts
                    // second under a new id.
                    let (first, second) = ordered(va, vb);
                    let new_id = free_id(id, |candidate| {
                        io.contains_key(candidate) || ia.contains_key(candidate) || ib.contains_key(candidate)
                    });
                    let mut moved = second.clone();
                    if let Some(map) = moved.as_mapping_mut() {
                        map.insert("id".into(), Value::String(new_id));
                    }
                    self.conflicts.push(Conflict {
                        at: here(),
                        kind: ConflictKind::IdCollision,
                        kept: Some(moved.clone()),
                        lost: None,
                    });
                    renamed.insert(id, moved);
                    Some(first.clone())
                }
                (vo, va, vb) => self.value(&here(), vo, va, vb),
            };
            if let Some(item) = item {
                merged.insert(id, item);
            }
        }
        let kept: HashSet<&str> = merged.keys().copied().collect();
        let order = merged_order(&ids_o, &ids_a, &ids_b, &kept);
        let mut out = Vec::with_capacity(merged.len() + renamed.len());
        for id in order {
            out.extend(merged.remove(id));
            out.extend(renamed.remove(id));
        }
        out
    }

    /// One item present in all three versions: field by field, its own item list by id.
    fn item(&mut self, at: &str, o: Option<&Value>, a: &Value, b: &Value, nested: Option<&str>) -> Value {
        match (o.and_then(Value::as_mapping), a.as_mapping(), b.as_mapping()) {
            (mo, Some(ma), Some(mb)) if a != b => Value::Mapping(self.mapping(at, mo, ma, mb, nested)),
            _ => self.value(at, o, Some(a), Some(b)).unwrap_or_else(|| a.clone()),
        }
    }
}

/// Resolves one field both sides changed differently: `(kept, lost)`, `lost` being `None`
/// when both changes fit in the result.
fn resolve(at: &str, o: Option<&Value>, x: &Value, y: &Value) -> (Value, Option<Value>) {
    let field = at.rsplit('/').next().unwrap_or_default();
    if let (Value::String(sx), Value::String(sy)) = (x, y) {
        if field == "status" {
            let (rx, ry) = (status_rank(sx), status_rank(sy));
            if rx != ry {
                return if rx > ry { (x.clone(), Some(y.clone())) } else { (y.clone(), Some(x.clone())) };
            }
        }
        let base = o.and_then(Value::as_str).unwrap_or_default();
        // Both only appended (append_notes on two machines): keep both additions.
        if let (Some(tx), Some(ty)) = (sx.strip_prefix(base), sy.strip_prefix(base)) {
            if let Some(rest) = ty.strip_prefix(tx) {
                return (Value::String(format!("{base}{tx}{rest}")), None);
            }
            if let Some(rest) = tx.strip_prefix(ty) {
                return (Value::String(format!("{base}{ty}{rest}")), None);
            }
            let (first, second) = if tx <= ty { (tx, ty) } else { (ty, tx) };
            return (Value::String(format!("{base}{first}{second}")), None);
        }
    }
    let (first, second) = ordered(x, y);
    (second.clone(), Some(first.clone()))
}

/// How far along a status is: a later one wins a conflict.
fn status_rank(status: &str) -> u8 {
    match status {
        "done" | "completed" => 3,
        "in_progress" | "active" => 2,
        "reference" => 1,
        _ => 0,
    }
}

/// The two values in a fixed order that does not depend on which side each came from.
fn ordered<'v>(x: &'v Value, y: &'v Value) -> (&'v Value, &'v Value) {
    if canonical(x) <= canonical(y) { (x, y) } else { (y, x) }
}

/// A value's YAML text: the order in which conflicting values are compared.
fn canonical(value: &Value) -> String {
    serde_yaml_ng::to_string(value).unwrap_or_default()
}

fn is_scalar(value: &Value) -> bool {
    !matches!(value, Value::Mapping(_) | Value::Sequence(_) | Value::Tagged(_))
}

fn seq(value: Option<&Value>) -> &[Value] {
    value.and_then(Value::as_sequence).map(Vec::as_slice).unwrap_or_default()
}

fn seq_value(items: &[Value]) -> Value {
    Value::Sequence(items.to_vec())
}

/// A mapping's keys in merged order: the common version's order, then keys new on either
/// side in text order.
fn keys(o: Option<&Mapping>, a: &Mapping, b: &Mapping) -> Vec<Value> {
    let mut out: Vec<Value> = o.map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let mut added: Vec<Value> = a.keys().chain(b.keys()).filter(|k| !out.contains(k)).cloned().collect();
    added.sort_by_key(canonical);
    added.dedup();
    out.extend(added);
    out
}

fn id_of(item: &Value) -> Option<&str> {
    item.get("id")?.as_str()
}

/// The items' ids in order, and the items by id, if every item has one and none repeats.
fn by_id(items: &[Value]) -> Option<(Vec<&str>, HashMap<&str, &Value>)> {
    let mut ids = Vec::with_capacity(items.len());
    let mut map = HashMap::with_capacity(items.len());
    for item in items {
        let id = id_of(item)?;
        if map.insert(id, item).is_some() {
            return None;
        }
        ids.push(id);
    }
    Some((ids, map))
}

/// `id-2`, `id-3`, … the first that `taken` does not know.
fn free_id(id: &str, taken: impl Fn(&str) -> bool) -> String {
    (2..).map(|n| format!("{id}-{n}")).find(|candidate| !taken(candidate)).expect("an unbounded range")
}

mod lists;

#[cfg(test)]
mod tests;
