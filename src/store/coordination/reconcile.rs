//! Hand edits and `git pull`s: the sidecar follows a work index someone else changed.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::Event;
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
    events
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
