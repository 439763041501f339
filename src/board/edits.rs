//! A person's edits on the board: each form post becomes one operation of the writer,
//! guarded by the `rev` the page showed and credited to the board's editor, exactly as an
//! agent's tool call would be. A stale one is refused by the writer and shown on the item's
//! page with what changed since; nothing is applied to a revision the person did not see.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;

use super::LoggedIn;
use super::pages::{self, Refusal};
use super::sessions::csrf_matches;
use crate::http::AppState;
use crate::store::model::{BacklogStatus, StoryStatus};
use crate::store::{Change, Guard, ItemKey, Mutation, Operation, StoreError, Target};

/// A form that carries only the CSRF token.
#[derive(Debug, serde::Deserialize)]
pub(super) struct Csrf {
    #[serde(default)]
    pub csrf: String,
}

/// Every field an item's forms may send.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct ItemForm {
    csrf: String,
    rev: Option<u64>,
    status: Option<String>,
    priority: Option<u8>,
    note: Option<String>,
    back: Option<String>,
}

/// The answer to a form whose CSRF token is not the session's (an old tab after a new
/// login, or a forged post).
pub(super) fn stale_form() -> Response {
    (StatusCode::FORBIDDEN, "This form is from an older session or another site: reload the page and try again.")
        .into_response()
}

/// `POST /p/{project}/{kind}/{id}/{action}`: status, priority, claim, release or note.
pub(super) async fn change(
    State(state): State<AppState>,
    Extension(logged_in): Extension<LoggedIn>,
    Path((project, kind, id, action)): Path<(String, String, String, String)>,
    axum::Form(form): axum::Form<ItemForm>,
) -> Response {
    if !csrf_matches(&logged_in.session, &form.csrf) {
        return stale_form();
    }
    let refuse = |message: String| Refusal { code: StatusCode::BAD_REQUEST, message, hint: None, seen_rev: None };
    let target = match kind.as_str() {
        "story" => Target::Story,
        "backlog" => Target::Backlog,
        _ => return pages::item_page(&state, &logged_in, &project, &kind, &id, None).await,
    };
    let guard = Guard { expected_rev: form.rev, force: false };
    let operation = match (action.as_str(), target) {
        ("status", _) => match status_change(&state, &project, target, &id, form.status.as_deref()) {
            Ok(edit) => Operation::Edit { edit, guard },
            Err(why) => return pages::item_page(&state, &logged_in, &project, &kind, &id, Some(refuse(why))).await,
        },
        ("priority", Target::Backlog) => match form.priority.filter(|p| (1..=5).contains(p)) {
            Some(priority) => Operation::Edit { edit: update_backlog(&id, Some(priority), None), guard },
            None => {
                let why = "Choose a priority from 1 (highest) to 5.".to_string();
                return pages::item_page(&state, &logged_in, &project, &kind, &id, Some(refuse(why))).await;
            }
        },
        ("note", Target::Story) => match form.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
            Some(note) => Operation::Edit {
                edit: Mutation::UpdateStory {
                    sprint_id: sprint_of(&state, &project, &id),
                    story_id: id.clone(),
                    status: None,
                    notes: None,
                    append_notes: Some(note.to_string()),
                    depends_on: None,
                },
                guard,
            },
            None => {
                let why = "Write the note first: an empty note is not appended.".to_string();
                return pages::item_page(&state, &logged_in, &project, &kind, &id, Some(refuse(why))).await;
            }
        },
        // A claim has no revision guard in the writer, so the page's revision is checked
        // here: a person claims only what they saw.
        ("claim" | "release", _) => {
            if let Some(refusal) = stale(&state, &project, target, &id, form.rev).await {
                return pages::item_page(&state, &logged_in, &project, &kind, &id, Some(refusal)).await;
            }
            if action == "claim" {
                Operation::Claim { target, id: id.clone(), lease_minutes: None, force: false }
            } else {
                // A person may free an item an agent holds (the override is recorded).
                Operation::Release { target, id: id.clone(), force: true }
            }
        }
        _ => {
            let why = format!("'{action}' is not something the board can do to a {kind}.");
            return pages::item_page(&state, &logged_in, &project, &kind, &id, Some(refuse(why))).await;
        }
    };
    let change = Change { agent: super::editor(&state), now: Utc::now() };
    match state.store.mutate(&project, operation, change).await {
        Ok(_) => {
            let back = super::local_path(form.back.as_deref()).map(str::to_string);
            let item = format!("/p/{}/{kind}/{}", super::urlencode(&project), super::urlencode(&id));
            Redirect::to(&back.unwrap_or(item)).into_response()
        }
        Err(e) => {
            let refusal = refusal_of(&e, form.rev);
            pages::item_page(&state, &logged_in, &project, &kind, &id, Some(refusal)).await
        }
    }
}

/// The form's status as the edit of one item.
fn status_change(
    state: &AppState,
    project: &str,
    target: Target,
    id: &str,
    status: Option<&str>,
) -> Result<Mutation, String> {
    let status = status.unwrap_or_default();
    match target {
        Target::Story => {
            let Some(status) = StoryStatus::ALL.iter().copied().find(|s| s.as_str() == status) else {
                return Err(format!("'{status}' is not a story status: planned, in progress or done."));
            };
            Ok(Mutation::UpdateStory {
                sprint_id: sprint_of(state, project, id),
                story_id: id.to_string(),
                status: Some(status),
                notes: None,
                append_notes: None,
                depends_on: None,
            })
        }
        Target::Backlog => {
            let Some(status) = BacklogStatus::ALL.iter().copied().find(|s| s.as_str() == status) else {
                return Err(format!("'{status}' is not a backlog status: todo, in progress or done."));
            };
            Ok(update_backlog(id, None, Some(status)))
        }
    }
}

fn update_backlog(id: &str, priority: Option<u8>, status: Option<BacklogStatus>) -> Mutation {
    Mutation::UpdateBacklog {
        id: id.to_string(),
        priority,
        status,
        summary: None,
        theme: None,
        related_sprints: None,
        depends_on: None,
    }
}

/// The sprint that holds a story now (the writer checks it again; a story that moved is
/// refused there, not edited in the wrong sprint).
fn sprint_of(state: &AppState, project: &str, story: &str) -> String {
    let snapshot = state.store.published();
    let sprint =
        snapshot.project(project).ok().and_then(|(index, _)| index.sprint_of_story(story).map(|s| s.id.clone()));
    sprint.unwrap_or_default()
}

/// A refusal if the item moved past the revision the person's page showed.
async fn stale(state: &AppState, project: &str, target: Target, id: &str, seen: Option<u64>) -> Option<Refusal> {
    let seen = seen?;
    let snapshot = state.store.snapshot(Some(project)).await;
    let (_, meta) = snapshot.project(project).ok()?;
    let key = match target {
        Target::Story => ItemKey::Story(id.to_string()),
        Target::Backlog => ItemKey::Backlog(id.to_string()),
    };
    let now = meta.rev(&key);
    (now != seen).then(|| Refusal {
        code: StatusCode::CONFLICT,
        message: format!("{id} changed since you loaded the page (you saw revision {seen}, it is now at {now})."),
        hint: None,
        seen_rev: Some(seen),
    })
}

/// How a refused edit is shown: a stale one as a conflict with what changed since, any other
/// with the writer's own words.
fn refusal_of(error: &StoreError, seen_rev: Option<u64>) -> Refusal {
    match error {
        StoreError::Conflict { message, .. } => Refusal {
            code: StatusCode::CONFLICT,
            message: format!("{}.", message.trim_end_matches('.')),
            hint: None,
            seen_rev,
        },
        other => Refusal {
            code: StatusCode::CONFLICT,
            message: other.to_string(),
            hint: other.hint().filter(|h| !h.is_empty()),
            seen_rev: None,
        },
    }
}

/// What the "Add a backlog item" form sends.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct NewBacklogItem {
    csrf: String,
    id: String,
    summary: String,
    theme: String,
    priority: Option<u8>,
}

/// `POST /p/{project}/backlog`: adds a backlog item, then shows it.
pub(super) async fn add_backlog(
    State(state): State<AppState>,
    Extension(logged_in): Extension<LoggedIn>,
    Path(project): Path<String>,
    axum::Form(form): axum::Form<NewBacklogItem>,
) -> Response {
    if !csrf_matches(&logged_in.session, &form.csrf) {
        return stale_form();
    }
    let id = form.id.trim().to_string();
    let edit = Mutation::AddBacklog {
        id: id.clone(),
        priority: form.priority,
        summary: form.summary.trim().to_string(),
        theme: form.theme.trim().to_string(),
        status: BacklogStatus::Todo,
        related_sprints: None,
        depends_on: None,
    };
    let change = Change { agent: super::editor(&state), now: Utc::now() };
    match state.store.mutate(&project, edit, change).await {
        Ok(_) => Redirect::to(&format!("/p/{}/backlog/{}", super::urlencode(&project), super::urlencode(&id)))
            .into_response(),
        Err(e) => {
            let text = match e.hint().filter(|h| !h.is_empty()) {
                Some(hint) => format!("{e} {hint}"),
                None => e.to_string(),
            };
            let back = format!("/p/{}", super::urlencode(&project));
            pages::message(&state, &logged_in, StatusCode::BAD_REQUEST, "Not added", &text, Some(&back))
        }
    }
}
