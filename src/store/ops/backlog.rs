//! Backlog items: added, changed, removed.

use std::sync::Arc;

use super::{Applied, Effect, ids, not_found, set, to_json};
use crate::store::error::StoreError;
use crate::store::model::{BacklogItem, BacklogStatus, WorkIndex};
use crate::store::sidecar::ItemKey;

/// The fields an update may set (`None`: unchanged).
pub(super) struct Fields<'a> {
    pub status: Option<BacklogStatus>,
    pub summary: Option<&'a str>,
    pub theme: Option<&'a str>,
    pub related_sprints: Option<&'a [String]>,
}

/// `worksync_add_backlog`: a new item at the end of the backlog.
pub(super) fn add(
    index: &mut WorkIndex,
    id: &str,
    summary: &str,
    theme: &str,
    status: BacklogStatus,
    related_sprints: Option<&[String]>,
) -> Result<Applied, StoreError> {
    if index.backlog_item(id).is_some() {
        return Err(StoreError::Duplicate {
            message: format!("Backlog item '{id}' already exists"),
            hint: "Choose another id, or call worksync_update_backlog to change the existing item.".into(),
            suggestion: None,
        });
    }
    let item = BacklogItem {
        id: id.to_string(),
        theme: Some(theme.to_string()),
        summary: Some(summary.to_string()),
        status: Some(status.as_str().into()),
        related_sprints: Some(related_sprints.map(<[String]>::to_vec).unwrap_or_default()),
        ..Default::default()
    };
    index.backlog.get_or_insert_with(Vec::new).push(Arc::new(item));
    let key = ItemKey::Backlog(id.to_string());
    Ok(Applied::touched(Effect::Created(key.clone()), key))
}

/// `worksync_update_backlog`.
pub(super) fn update(index: &mut WorkIndex, id: &str, fields: Fields<'_>) -> Result<Applied, StoreError> {
    let available = ids(index.backlog().iter().map(|b| &b.id));
    let item = index.backlog_item_mut(id).ok_or_else(|| not_found("Backlog item", id, "", &available))?;
    set(&mut item.status, fields.status.map(|s| s.as_str().to_string()));
    set(&mut item.summary, fields.summary.map(str::to_string));
    set(&mut item.theme, fields.theme.map(str::to_string));
    set(&mut item.related_sprints, fields.related_sprints.map(<[String]>::to_vec));
    let key = ItemKey::Backlog(id.to_string());
    Ok(Applied::touched(Effect::Updated(key.clone()), key))
}

/// `worksync_remove_backlog`: the item goes, and the answer shows it as it was.
pub(super) fn remove(index: &mut WorkIndex, id: &str) -> Result<Applied, StoreError> {
    let available = ids(index.backlog().iter().map(|b| &b.id));
    let list = index.backlog.get_or_insert_with(Vec::new);
    let at = list.iter().position(|b| b.id == id).ok_or_else(|| not_found("Backlog item", id, "", &available))?;
    let item = list.remove(at);
    let key = ItemKey::Backlog(id.to_string());
    Ok(Applied {
        effect: Effect::Removed { key: key.clone(), fields: to_json(&item) },
        touched: Vec::new(),
        removed: vec![key],
        history: Vec::new(),
    })
}
