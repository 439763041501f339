//! Dependencies between stories and backlog items, and what they make of the work: an item
//! is *blocked* while anything it depends on is not done, *ready* when it is not done, not
//! claimed and not blocked.
//!
//! Why here and not in the work index: the Python tool's schema has no room for them, so
//! they live beside revisions and priorities in the sidecar (`ItemMeta::depends_on`, storage
//! keys such as `story/STORY-3`) and, in a shared project, travel in the machines' files with
//! the priorities. Agents name dependencies by id (`STORY-3`, `db-pool`); `story/…` and
//! `backlog/…` say which one is meant when a story and a backlog item share an id.
//!
//! The rules kept here: a dependency names an existing story or backlog item of the same
//! project (never a sprint, never itself); the graph stays acyclic (a cycle is refused with
//! its path); an item that is removed (by a tool, forced, or by a hand edit) takes the edges
//! to it along, and what that frees is reported. Everything is computed on demand from the
//! index and the sidecar: nothing is cached that could disagree with them.

use std::collections::{HashMap, HashSet};

use super::Event;
use crate::store::error::StoreError;
use crate::store::model::{BacklogStatus, StoryStatus, WorkIndex};
use crate::store::outcome::Kind;
use crate::store::sidecar::{ItemKey, Sidecar};
use crate::store::validate;

/// Most dependencies one item may have (a plan, not a graph database).
pub const MAX_DEPENDENCIES: usize = 50;

/// The item a dependency reference names: `story/ID`, `backlog/ID`, or a bare id (a story
/// or a backlog item; refused if it is both).
pub fn resolve(index: &WorkIndex, reference: &str) -> Result<ItemKey, StoreError> {
    let (kind, id) = split_reference(reference);
    let story = || find_story(index, id).map(ItemKey::Story);
    let backlog = || find_backlog(index, id).map(ItemKey::Backlog);
    let found = match kind {
        Some(Kind::Story) => story(),
        Some(Kind::Backlog) => backlog(),
        _ => match (story(), backlog()) {
            (Some(_), Some(_)) => {
                return Err(StoreError::invalid(
                    "depends_on",
                    format!("'{id}' is both a story and a backlog item"),
                    format!("Say which one: 'story/{id}' or 'backlog/{id}'."),
                ));
            }
            (story, backlog) => story.or(backlog),
        },
    };
    found.ok_or_else(|| StoreError::NotFound {
        kind: "Dependency",
        id: id.to_string(),
        scope: " (no story or backlog item of this project has that id)".into(),
        hint: "Depend only on stories and backlog items of the same project, by the id worksync_status shows; add the item first if it does not exist yet.".into(),
    })
}

/// Checks a reference's shape before it reaches the writer.
pub fn validate_reference(reference: &str) -> Result<(), StoreError> {
    let (_, id) = split_reference(reference);
    validate::reference("depends_on", id)
}

/// `story/ID` → (story, ID); `backlog/ID` → (backlog, ID); else (none, the whole text).
fn split_reference(reference: &str) -> (Option<Kind>, &str) {
    let reference = reference.trim();
    if let Some(id) = reference.strip_prefix("story/") {
        (Some(Kind::Story), id)
    } else if let Some(id) = reference.strip_prefix("backlog/") {
        (Some(Kind::Backlog), id)
    } else {
        (None, reference)
    }
}

/// The stored id of a story, found by its id in any normal form.
fn find_story(index: &WorkIndex, id: &str) -> Option<String> {
    let normal = validate::normalize_id(id);
    index
        .sprints()
        .iter()
        .flat_map(|s| s.stories())
        .find(|st| st.id == id || validate::normalize_id(&st.id) == normal)
        .map(|st| st.id.clone())
}

fn find_backlog(index: &WorkIndex, id: &str) -> Option<String> {
    let normal = validate::normalize_id(id);
    index.backlog().iter().find(|b| b.id == id || validate::normalize_id(&b.id) == normal).map(|b| b.id.clone())
}

/// The storage keys `key` is to depend on, from the agent's references: each must exist
/// and be another story or backlog item, duplicates are dropped, and no cycle may result.
pub fn checked(
    index: &WorkIndex,
    meta: &Sidecar,
    key: &ItemKey,
    references: &[String],
) -> Result<Vec<String>, StoreError> {
    if references.len() > MAX_DEPENDENCIES {
        return Err(StoreError::invalid(
            "depends_on",
            format!("{} dependencies given; an item may have at most {MAX_DEPENDENCIES}", references.len()),
            "Group the prerequisites (e.g. depend on one item that depends on the others).",
        ));
    }
    let own = key.as_storage_key();
    let mut keys: Vec<String> = Vec::new();
    for reference in references {
        let target = resolve(index, reference)?.as_storage_key();
        if target == own {
            let (kind, id) = Kind::of(key);
            return Err(StoreError::invalid(
                "depends_on",
                format!("{} '{id}' cannot depend on itself", kind.as_str()),
                "Remove it from depends_on.",
            ));
        }
        if !keys.contains(&target) {
            keys.push(target);
        }
    }
    if let Some(path) = cycle(meta, &own, &keys) {
        return Err(StoreError::invalid(
            "depends_on",
            format!("this would make a cycle: {}", path.iter().map(|k| display(k)).collect::<Vec<_>>().join(" → ")),
            "Dependencies must not go round in a circle: remove one of the edges of that cycle (worksync_depend with remove) or depend on something else.",
        ));
    }
    Ok(keys)
}

/// The cycle `own → one of deps → … → own` that giving `own` the dependencies `deps` would
/// make, as a path of storage keys from `own` back to it; `None` if there is none.
fn cycle(meta: &Sidecar, own: &str, deps: &[String]) -> Option<Vec<String>> {
    // Depth-first from each new dependency along the edges the sidecar holds, looking for
    // `own`; `parent` lets the path be read back.
    let mut parent: HashMap<String, String> = HashMap::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = Vec::new();
    for dep in deps {
        if seen.insert(dep.clone()) {
            parent.insert(dep.clone(), own.to_string());
            stack.push(dep.clone());
        }
    }
    while let Some(at) = stack.pop() {
        let next = meta.items.get(at.as_str()).map(|m| m.depends_on.clone()).unwrap_or_default();
        for dep in next {
            if dep == own {
                let mut path = vec![own.to_string(), at.clone()];
                let mut walk = at.clone();
                while let Some(up) = parent.get(&walk) {
                    if up == own {
                        break;
                    }
                    path.insert(1, up.clone());
                    walk = up.clone();
                }
                path.push(own.to_string());
                return Some(path);
            }
            if seen.insert(dep.clone()) {
                parent.insert(dep.clone(), at.clone());
                stack.push(dep);
            }
        }
    }
    None
}

/// Whether the item a storage key names is done (`None`: the index does not hold it).
pub fn is_done(index: &WorkIndex, storage_key: &str) -> Option<bool> {
    if let Some(id) = storage_key.strip_prefix("story/") {
        let story = index.sprints().iter().flat_map(|s| s.stories()).find(|st| st.id == id)?;
        Some(story.status() == StoryStatus::Done.as_str())
    } else if let Some(id) = storage_key.strip_prefix("backlog/") {
        Some(index.backlog_item(id)?.status() == BacklogStatus::Done.as_str())
    } else {
        None
    }
}

/// Whether each story and backlog item of an index is done, by storage key, in one pass
/// over the index. [`is_done`] scans the index per lookup; where the dependencies of many
/// items are checked at once (status, `next`, the board) build this instead: with 2,000
/// dependencies among 10,000 items, scanning made a status after a write or a `next` take
/// 100 ms. It borrows the index, so it cannot outlive a change to it.
pub struct DoneIndex<'a> {
    /// (is a story, id) → done.
    done: HashMap<(bool, &'a str), bool>,
}

impl<'a> DoneIndex<'a> {
    pub fn of(index: &'a WorkIndex) -> DoneIndex<'a> {
        let mut done = HashMap::with_capacity(index.backlog().len());
        for story in index.sprints().iter().flat_map(|s| s.stories()) {
            done.insert((true, story.id.as_str()), story.status() == StoryStatus::Done.as_str());
        }
        for item in index.backlog() {
            done.insert((false, item.id.as_str()), item.status() == BacklogStatus::Done.as_str());
        }
        DoneIndex { done }
    }

    /// Whether the item a storage key names is done (`None`: the index does not hold it).
    pub fn is_done(&self, storage_key: &str) -> Option<bool> {
        let (kind, id) = storage_key.split_once('/')?;
        if kind != "story" && kind != "backlog" {
            return None;
        }
        self.done.get(&(kind == "story", id)).copied()
    }

    /// Those of `dependencies` (storage keys) that exist and are not done.
    pub fn unfinished(&self, dependencies: &[String]) -> Vec<String> {
        dependencies.iter().filter(|dep| self.is_done(dep) == Some(false)).cloned().collect()
    }

    /// What keeps `key` from being worked on: its dependencies that exist and are not done.
    pub fn blockers(&self, meta: &Sidecar, key: &ItemKey) -> Vec<String> {
        self.unfinished(meta.depends_on(key))
    }

    /// How many stories and backlog items not done are blocked.
    pub fn blocked_count(&self, meta: &Sidecar) -> usize {
        meta.items
            .iter()
            .filter(|(key, item)| !item.depends_on.is_empty() && self.is_done(key) == Some(false))
            .filter(|(_, item)| item.depends_on.iter().any(|dep| self.is_done(dep) == Some(false)))
            .count()
    }
}

/// What keeps `key` from being worked on: its dependencies that exist and are not done
/// (storage keys). For one item; for many, use a [`DoneIndex`].
pub fn blockers(index: &WorkIndex, meta: &Sidecar, key: &ItemKey) -> Vec<String> {
    unfinished(index, meta.depends_on(key))
}

/// Those of `dependencies` (storage keys) that exist and are not done.
pub fn unfinished(index: &WorkIndex, dependencies: &[String]) -> Vec<String> {
    dependencies.iter().filter(|dep| is_done(index, dep) == Some(false)).cloned().collect()
}

/// How many stories and backlog items not done are blocked.
pub fn blocked_count(index: &WorkIndex, meta: &Sidecar) -> usize {
    if !meta.has_dependencies() {
        return 0;
    }
    DoneIndex::of(index).blocked_count(meta)
}

/// The id a person knows a storage key by (`story/STORY-3` → `STORY-3`).
pub fn display(storage_key: &str) -> &str {
    storage_key.split_once('/').map_or(storage_key, |(_, id)| id)
}

/// The ids of storage keys, for answers and messages.
pub fn ids(storage_keys: &[String]) -> Vec<String> {
    storage_keys.iter().map(|k| display(k).to_string()).collect()
}

/// The refusal of starting work on a blocked item.
pub fn refused_as_blocked(key: &ItemKey, blockers: &[String], what: &str) -> StoreError {
    let (kind, id) = Kind::of(key);
    StoreError::Blocked {
        message: format!(
            "{} '{id}' is blocked: it depends on {} not done yet, so it cannot be {what}",
            kind.as_str(),
            ids(blockers).iter().map(|b| format!("'{b}'")).collect::<Vec<_>>().join(", ")
        ),
        hint: "Work on what blocks it first (or call worksync_next for ready work). If you must start it anyway, pass force=true (it is recorded).".into(),
        blocked_by: ids(blockers),
    }
}

/// How many not-done items wait on `storage_key`, directly or through others: what
/// finishing it helps most. `dependents` maps an item to the items depending on it; `open`
/// tells whether an item exists and is not done (from a [`DoneIndex`], or the vault's own
/// index).
pub fn waiting_on_by(
    dependents: &HashMap<String, Vec<String>>,
    storage_key: &str,
    open: impl Fn(&str) -> bool,
) -> usize {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack = vec![storage_key];
    while let Some(at) = stack.pop() {
        for next in dependents.get(at).into_iter().flatten() {
            if open(next) && seen.insert(next) {
                stack.push(next);
            }
        }
    }
    seen.len()
}

/// Item → the items that depend on it, for the whole sidecar.
pub fn dependents_map(meta: &Sidecar) -> HashMap<String, Vec<String>> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (key, item) in meta.items.iter() {
        for dep in &item.depends_on {
            map.entry(dep.clone()).or_default().push(key.to_string());
        }
    }
    map
}

/// The items finishing `storage_key` would free: not done, depending on it, and blocked by
/// nothing else.
pub fn would_free(index: &WorkIndex, meta: &Sidecar, dependents: &[String], storage_key: &str) -> Vec<String> {
    dependents
        .iter()
        .filter(|d| is_done(index, d) == Some(false))
        .filter(|d| {
            let deps = meta.items.get(d.as_str()).map(|m| m.depends_on.as_slice()).unwrap_or_default();
            deps.iter().all(|dep| dep == storage_key || is_done(index, dep) != Some(false))
        })
        .cloned()
        .collect()
}

/// After a change of the index: the edges to items that are gone are dropped, and every
/// item that one of them blocked and that nothing blocks any more gets an `unblocked` event
/// saying why. `before` names the items the change touched, each with whether it was done
/// before ([`is_done`] of the old index); only they can have freed anything.
pub fn settle(new: &WorkIndex, meta: &mut Sidecar, before: &[(String, Option<bool>)]) -> Vec<Event> {
    let freeing: Vec<(&String, bool)> = before
        .iter()
        .filter_map(|(key, was)| match (was, is_done(new, key)) {
            (Some(false), Some(true)) => Some((key, false)),
            (Some(was_done), None) => Some((key, *was_done)),
            _ => None,
        })
        .collect();
    if freeing.is_empty() || !meta.has_dependencies() {
        return Vec::new();
    }
    let mut events = Vec::new();
    for (key, gone_when_done) in freeing {
        let gone = is_done(new, key).is_none();
        for dependent in meta.dependents(key) {
            if gone && let Some(item) = meta.items.get_mut(dependent.as_str()) {
                std::sync::Arc::make_mut(item).depends_on.retain(|d| d != key);
            }
            let Some(dependent_key) = ItemKey::from_storage_key(&dependent) else { continue };
            if is_done(new, &dependent) != Some(false) {
                continue;
            }
            let why = if gone {
                format!("'{}', which it depended on, was removed", display(key))
            } else {
                format!("'{}' is done", display(key))
            };
            // It was blocked by `key` unless `key` was done before it went.
            let was_blocked = !gone_when_done;
            let rev = Some(meta.rev(&dependent_key));
            if was_blocked && blockers(new, meta, &dependent_key).is_empty() {
                let mut event = Event::item(&dependent_key, "unblocked", rev);
                event.summary = Some(format!("{why}: nothing blocks it now"));
                events.push(event);
            } else if gone {
                tracing::warn!(item = %dependent, removed = %key, "an item that others depended on was removed; the dependency is dropped");
                let mut event = Event::item(&dependent_key, "updated", rev);
                event.summary = Some(format!("{why}: the dependency is dropped"));
                events.push(event);
            }
        }
    }
    events
}

/// The storage key of `key` with whether it is done now, for [`settle`] after a change.
pub fn state_of(index: &WorkIndex, key: &ItemKey) -> (String, Option<bool>) {
    let storage_key = key.as_storage_key();
    let done = is_done(index, &storage_key);
    (storage_key, done)
}

/// The refusal of removing an item others depend on (unless forced).
pub fn refused_as_depended_on(key: &ItemKey, dependents: &[String]) -> StoreError {
    let (kind, id) = Kind::of(key);
    StoreError::invalid(
        "id",
        format!(
            "{} '{id}' cannot be removed: {} depend{} on it",
            kind.as_str(),
            ids(dependents).iter().map(|d| format!("'{d}'")).collect::<Vec<_>>().join(", "),
            if dependents.len() == 1 { "s" } else { "" }
        ),
        "Remove the dependencies first (worksync_depend with remove), or pass force=true to remove it anyway: the dependencies on it are dropped and that is recorded.",
    )
}
