//! Hand edits and `git pull`s: the sidecar follows a work index someone else changed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Event, dependencies};
use crate::store::model::WorkIndex;
use crate::store::ops::to_json;
use crate::store::sidecar::{ItemKey, Sidecar};

/// The agent name under which hand edits noticed by the server are recorded.
pub const EXTERNAL_EDIT: &str = "external edit";

/// Brings the sidecar up to date with a work index someone else changed: every item that
/// differs gets a new revision, new items start at 1, and removed items are forgotten.
/// Returns the changes for the change feed.
pub fn reconcile(old: &WorkIndex, new: &WorkIndex, meta: &mut Sidecar, now: DateTime<Utc>) -> Vec<Event> {
    reconcile_as(old, new, meta, now, EXTERNAL_EDIT)
}

/// [`reconcile`], crediting the changes to `agent` (another machine, for a shared project).
pub fn reconcile_as(
    old: &WorkIndex,
    new: &WorkIndex,
    meta: &mut Sidecar,
    now: DateTime<Utc>,
    agent: &str,
) -> Vec<Event> {
    let mut before: HashMap<ItemKey, Value> = items_of(old).collect();
    let mut events = Vec::new();
    for (key, value) in items_of(new) {
        match before.remove(&key) {
            Some(previous) if previous == value => {}
            Some(_) => {
                let rev = meta.changed(&key, agent, now);
                events.push(Event::item(&key, "updated", Some(rev)));
            }
            None => {
                let rev = meta.created(&key, agent, now);
                events.push(Event::item(&key, "created", Some(rev)));
            }
        }
    }
    for key in before.into_keys() {
        meta.forget(&key);
        events.push(Event::item(&key, "removed", None));
    }
    if meta.has_dependencies() {
        // What the edit finished or removed frees the items that waited on it.
        let touched: Vec<(String, Option<bool>)> = events
            .iter()
            .filter(|e| matches!(e.kind, "story" | "backlog") && matches!(e.action, "updated" | "removed"))
            .map(|e| {
                let key = format!("{}/{}", e.kind, e.id);
                let done = dependencies::is_done(old, &key);
                (key, done)
            })
            .collect();
        events.extend(dependencies::settle(new, meta, &touched));
    }
    events
}

/// Items a merge moved to a new id because another machine's different item took theirs
/// (an id collision): (old key, new key) for each item of `old` that is in `new` under a
/// longer id, otherwise unchanged, while its old id names something else in `new`.
pub fn renames(old: &WorkIndex, new: &WorkIndex) -> Vec<(ItemKey, ItemKey)> {
    let before: HashMap<ItemKey, Value> = items_of(old).collect();
    let after: HashMap<ItemKey, Value> = items_of(new).collect();
    let mut moved = Vec::new();
    for (to, value) in &after {
        if before.contains_key(to) {
            continue;
        }
        let found = before.iter().find(|(from, previous)| {
            let (Some(from_id), Some(to_id)) = (id_of(from), id_of(to)) else { return false };
            let same_kind = std::mem::discriminant(*from) == std::mem::discriminant(to);
            let mut renamed = (*previous).clone();
            renamed["id"] = Value::String(to_id.to_string());
            same_kind
                && to_id.starts_with(from_id)
                && after.get(from).is_some_and(|now| now != *previous)
                && renamed == *value
        });
        if let Some((from, _)) = found {
            moved.push((from.clone(), to.clone()));
        }
    }
    moved.sort_by_key(|(from, _)| from.as_storage_key());
    moved
}

/// After [`reconcile_as`] for a merge that renamed items ([`renames`]): each renamed item
/// keeps its revision, attribution, priority and claim (from `before`, the sidecar before
/// the merge) under its new id, and the other machine's item under the old id starts afresh.
pub fn carry_renamed(
    before: &Sidecar,
    meta: &mut Sidecar,
    renames: &[(ItemKey, ItemKey)],
    now: DateTime<Utc>,
    agent: &str,
) {
    for (from, to) in renames {
        let (from_key, to_key) = (from.as_storage_key(), to.as_storage_key());
        if let Some(kept) = before.items.get(from_key.as_str()) {
            let mut kept = kept.as_ref().clone();
            kept.rev += 1;
            kept.updated_at = now;
            kept.updated_by = agent.to_string();
            meta.items.insert(to_key.as_str().into(), std::sync::Arc::new(kept));
        }
        meta.items.remove(from_key.as_str());
        meta.created(from, agent, now);
        if let Some(claim) = meta.claims.remove(&from_key) {
            meta.claims.insert(to_key, claim);
        }
    }
}

fn id_of(key: &ItemKey) -> Option<&str> {
    match key {
        ItemKey::Sprint(id) | ItemKey::Story(id) | ItemKey::Backlog(id) => Some(id),
    }
}

/// Every item of a work index with its content (a sprint without its stories: a story has a
/// revision of its own).
fn items_of(index: &WorkIndex) -> impl Iterator<Item = (ItemKey, Value)> + '_ {
    let sprints = index.sprints().iter().map(|s| {
        let mut value = to_json(s);
        if let Value::Object(map) = &mut value {
            map.remove("stories");
        }
        (ItemKey::Sprint(s.id.clone()), value)
    });
    let stories =
        index.sprints().iter().flat_map(|s| s.stories()).map(|st| (ItemKey::Story(st.id.clone()), to_json(st)));
    let backlog = index.backlog().iter().map(|b| (ItemKey::Backlog(b.id.clone()), to_json(b)));
    sprints.chain(stories).chain(backlog)
}
