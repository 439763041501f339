//! Items as tools show them ([`Item`]): the file's fields with the revision, claim and
//! priority the sidecar keeps for them.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::dependencies;
use crate::store::error::StoreError;
use crate::store::model::WorkIndex;
use crate::store::ops::to_json;
use crate::store::outcome::{Holder, Item, Kind};
use crate::store::sidecar::{ItemKey, Sidecar};

/// The item `key` names, as a tool shows it; `None` if the index does not hold it.
pub fn item_view(index: &WorkIndex, meta: &Sidecar, key: &ItemKey, now: DateTime<Utc>) -> Option<Item> {
    let (kind, id) = Kind::of(key);
    let (fields, sprint) = match key {
        ItemKey::Sprint(id) => (to_json(index.sprint(id)?), None),
        ItemKey::Backlog(id) => (to_json(index.backlog_item(id)?), None),
        ItemKey::Story(id) => {
            let sprint = index.sprint_of_story(id)?;
            (to_json(sprint.stories().iter().find(|s| &s.id == id)?), Some(sprint.id.clone()))
        }
    };
    let item_meta = meta.item(key);
    let depends_on = item_meta.map_or(&[][..], |m| m.depends_on.as_slice());
    Some(Item {
        kind,
        id: id.to_string(),
        fields: into_map(fields),
        sprint,
        rev: meta.rev(key),
        claim: meta.claim(key, now).map(|c| Holder { agent: c.agent.clone(), until: c.until }),
        priority: item_meta.and_then(|m| m.priority),
        depends_on: dependencies::ids(depends_on),
        blocked_by: dependencies::ids(&dependencies::unfinished(index, depends_on)),
    })
}

/// An item that has just been removed from the index: `fields` as it was, and what the
/// sidecar knew of it before it forgot.
pub(super) fn removed_view(key: &ItemKey, fields: Value, meta: &Sidecar) -> Item {
    let (kind, id) = Kind::of(key);
    Item {
        kind,
        id: id.to_string(),
        fields: into_map(fields),
        sprint: None,
        rev: meta.rev(key),
        claim: None,
        priority: meta.item(key).and_then(|m| m.priority),
        depends_on: dependencies::ids(meta.depends_on(key)),
        blocked_by: Vec::new(),
    }
}

fn into_map(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The sidecar key of a kind and id.
pub(super) fn key_of(kind: Kind, id: &str) -> ItemKey {
    match kind {
        Kind::Sprint => ItemKey::Sprint(id.to_string()),
        Kind::Story => ItemKey::Story(id.to_string()),
        Kind::Backlog => ItemKey::Backlog(id.to_string()),
    }
}

/// The refusal for an item the index does not hold.
pub(super) fn missing(key: &ItemKey) -> StoreError {
    let (kind, id) = Kind::of(key);
    StoreError::NotFound {
        kind: kind.as_str(),
        id: id.to_string(),
        scope: String::new(),
        hint: "Call worksync_status to see the project's stories and backlog.".into(),
    }
}
