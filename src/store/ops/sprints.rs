//! Sprints: created and changed (their stories are in `stories.rs`).

use std::sync::Arc;

use super::{Applied, Effect, ids, not_found, set};
use crate::store::error::StoreError;
use crate::store::model::{Sprint, SprintStatus, WorkIndex};
use crate::store::sidecar::ItemKey;

/// The fields an update may set (`None`: unchanged).
pub(super) struct Fields<'a> {
    pub status: Option<SprintStatus>,
    pub title: Option<&'a str>,
    pub goal: Option<&'a str>,
    pub themes: Option<&'a [String]>,
}

/// `worksync_create_sprint`: a sprint with no stories yet, its note file named after its id.
pub(super) fn create(
    index: &mut WorkIndex,
    id: &str,
    title: &str,
    goal: &str,
    themes: Option<&[String]>,
    status: SprintStatus,
) -> Result<Applied, StoreError> {
    if index.sprint(id).is_some() {
        return Err(StoreError::Duplicate {
            message: format!("Sprint '{id}' already exists"),
            hint: "Choose another id, or call worksync_update_sprint to change the existing sprint.".into(),
            suggestion: None,
        });
    }
    let sprint = Sprint {
        id: id.to_string(),
        title: Some(title.to_string()),
        file: Some(format!("{}.md", id.to_uppercase())),
        status: Some(status.as_str().into()),
        goal: Some(goal.to_string()),
        themes: Some(themes.map(<[String]>::to_vec).unwrap_or_default()),
        stories: Some(Vec::new()),
        ..Default::default()
    };
    index.sprints.get_or_insert_with(Vec::new).push(Arc::new(sprint));
    let key = ItemKey::Sprint(id.to_string());
    Ok(Applied::touched(Effect::Created(key.clone()), key))
}

/// `worksync_update_sprint`.
pub(super) fn update(index: &mut WorkIndex, id: &str, fields: Fields<'_>) -> Result<Applied, StoreError> {
    let available = ids(index.sprints().iter().map(|s| &s.id));
    let sprint = index.sprint_mut(id).ok_or_else(|| not_found("Sprint", id, "", &available))?;
    set(&mut sprint.status, fields.status.map(|s| s.as_str().to_string()));
    set(&mut sprint.title, fields.title.map(str::to_string));
    set(&mut sprint.goal, fields.goal.map(str::to_string));
    set(&mut sprint.themes, fields.themes.map(<[String]>::to_vec));
    let key = ItemKey::Sprint(id.to_string());
    Ok(Applied::touched(Effect::Updated(key.clone()), key))
}
