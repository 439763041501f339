//! The board's pages: overview, project board, sprint, item, activity, login. Each reads
//! the published snapshot once (a fresh one when a file changed on disk), builds its view
//! ([`super::view`]) and renders it; the time that takes is in the `Server-Timing` header.

use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, http::HeaderMap};
use chrono::Utc;
use serde_json::{Value, json};

use super::view::{self, Cards, Filter};
use super::{LoggedIn, LoginForm};
use crate::http::AppState;
use crate::store::model::{BacklogStatus, StoryStatus};
use crate::store::{ItemKey, Snapshot};

/// Changes the activity page and an item page show.
const ACTIVITY_LINES: usize = 100;

/// Adds how long the page took to the response, for people and for the benchmark.
fn timed(started: Instant, mut response: Response) -> Response {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(value) = HeaderValue::from_str(&format!("render;dur={ms:.2}")) {
        response.headers_mut().insert("server-timing", value);
    }
    response
}

/// The feed position pages follow from: changes after it are news to the page.
fn cursor(state: &AppState, project: Option<&str>) -> String {
    let snapshot = state.store.published();
    let projects: Vec<String> = match project {
        Some(p) => vec![p.to_string()],
        None => snapshot.projects.keys().cloned().collect(),
    };
    state.store.changes_cursor(&projects)
}

fn not_found(state: &AppState, logged_in: &LoggedIn, what: String) -> Response {
    message(state, logged_in, StatusCode::NOT_FOUND, "Not found", &what, None)
}

/// A page that says one thing, with a way back.
pub(super) fn message(
    state: &AppState,
    logged_in: &LoggedIn,
    code: StatusCode,
    title: &str,
    text: &str,
    back: Option<&str>,
) -> Response {
    let mut response = state
        .board
        .render("message.html", json!({ "title": title, "text": text, "back": back, "csrf": logged_in.session.csrf }));
    *response.status_mut() = code;
    response
}

/// `/`: every project, its counts, active sprints and who works on what.
pub(super) async fn overview(State(state): State<AppState>, Extension(logged_in): Extension<LoggedIn>) -> Response {
    let started = Instant::now();
    let snapshot = state.store.refreshed().await;
    let now = Utc::now();
    let projects: Vec<_> = snapshot
        .config
        .projects()
        .map(|(name, entry)| {
            let description = entry.description.as_deref().unwrap_or_default();
            match snapshot.project(name) {
                Ok((index, meta)) => view::project_line(name, description, index, meta, now),
                Err(e) => {
                    let mut line = view::project_line(name, description, &Default::default(), &Default::default(), now);
                    line.problem = Some(e.to_string());
                    line
                }
            }
        })
        .collect();
    let page = json!({
        "projects": projects,
        "csrf": logged_in.session.csrf,
        "cursor": cursor(&state, None),
    });
    timed(started, state.board.render("overview.html", page))
}

/// `/activity[?project=…]`: the latest changes, then every new one as it happens.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct ActivityQuery {
    project: Option<String>,
}

pub(super) async fn activity(
    State(state): State<AppState>,
    Extension(logged_in): Extension<LoggedIn>,
    Query(query): Query<ActivityQuery>,
) -> Response {
    let snapshot = state.store.published();
    let project = query.project.filter(|p| !p.is_empty());
    let projects: Vec<String> = match &project {
        Some(p) if snapshot.projects.contains_key(p) => vec![p.clone()],
        Some(p) => return not_found(&state, &logged_in, format!("There is no project '{p}'.")),
        None => snapshot.projects.keys().cloned().collect(),
    };
    // The cursor first: a change landing between the two is shown twice, never missed.
    let cursor = state.store.changes_cursor(&projects);
    let changes = state.store.latest_changes(&projects, ACTIVITY_LINES, |_| true);
    let page = json!({
        "project": project,
        "changes": changes.iter().map(readable_change).collect::<Vec<_>>(),
        "csrf": logged_in.session.csrf,
        "cursor": cursor,
    });
    state.board.render("activity.html", page)
}

/// A change as a person reads it: the time to the second, in UTC.
fn readable_change(change: &Value) -> Value {
    let mut change = change.clone();
    if let Some(at) = change["at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()) {
        change["at"] = json!(at.with_timezone(&Utc).format("%Y-%m-%d %H:%M:%S").to_string());
    }
    change
}

/// The project a page names, read fresh; the not-found page when there is none.
async fn project_snapshot(
    state: &AppState,
    logged_in: &LoggedIn,
    project: &str,
) -> Result<std::sync::Arc<Snapshot>, Response> {
    let snapshot = state.store.snapshot(Some(project)).await;
    match snapshot.project(project) {
        Ok(_) => Ok(snapshot),
        Err(e) => Err(not_found(state, logged_in, e.to_string())),
    }
}

/// `/p/{project}`: the board, columns by status, filtered and paged.
pub(super) async fn board(
    State(state): State<AppState>,
    Extension(logged_in): Extension<LoggedIn>,
    Path(project): Path<String>,
    Query(filter): Query<Filter>,
) -> Response {
    let started = Instant::now();
    let snapshot = match project_snapshot(&state, &logged_in, &project).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let (index, meta) = snapshot.project(&project).expect("checked");
    let columns = view::board(index, meta, &filter, Utc::now());
    let sprints: Vec<_> = index.sprints().iter().map(|s| view::sprint_line(s)).collect();
    let active: Vec<_> = sprints.iter().filter(|s| s.status == "active").collect();
    let mut themes: Vec<&str> = index.backlog().iter().filter_map(|b| b.theme.as_deref()).collect();
    themes.sort_unstable();
    themes.dedup();
    let more =
        Filter { show: Some(filter.show.unwrap_or(view::COLUMN_CARDS).max(view::COLUMN_CARDS) * 4), ..filter.clone() };
    let page = json!({
        "project": project,
        "columns": columns,
        "filter": filter,
        "more_query": serde_urlencoded::to_string(&more).unwrap_or_default(),
        "sprints": sprints,
        "active": active,
        "themes": themes,
        "story_statuses": StoryStatus::NAMES,
        "backlog_statuses": BacklogStatus::NAMES,
        "back": format!("/p/{}", super::urlencode(&project)),
        "csrf": logged_in.session.csrf,
        "cursor": cursor(&state, Some(&project)),
    });
    timed(started, state.board.render("board.html", page))
}

/// `/p/{project}/sprint/{id}`: a sprint's progress and its stories.
pub(super) async fn sprint(
    State(state): State<AppState>,
    Extension(logged_in): Extension<LoggedIn>,
    Path((project, id)): Path<(String, String)>,
) -> Response {
    let started = Instant::now();
    let snapshot = match project_snapshot(&state, &logged_in, &project).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let (index, meta) = snapshot.project(&project).expect("checked");
    let Some(sprint) = index.sprint(&id) else {
        return not_found(&state, &logged_in, format!("Project '{project}' has no sprint '{id}'."));
    };
    let filter = Filter { kind: "story".into(), sprint: id.clone(), show: Some(usize::MAX), ..Default::default() };
    let page = json!({
        "project": project,
        "sprint": view::sprint_line(sprint),
        "columns": view::board(index, meta, &filter, Utc::now()),
        "story_statuses": StoryStatus::NAMES,
        "back": format!("/p/{}/sprint/{}", super::urlencode(&project), super::urlencode(&id)),
        "csrf": logged_in.session.csrf,
        "cursor": cursor(&state, Some(&project)),
    });
    timed(started, state.board.render("sprint.html", page))
}

/// `/p/{project}/{story|backlog}/{id}`: one item, all of it.
pub(super) async fn item(
    State(state): State<AppState>,
    Extension(logged_in): Extension<LoggedIn>,
    Path((project, kind, id)): Path<(String, String, String)>,
) -> Response {
    item_page(&state, &logged_in, &project, &kind, &id, None).await
}

/// A stale or refused edit, shown above the item as it is now.
pub(super) struct Refusal {
    pub code: StatusCode,
    pub message: String,
    pub hint: Option<String>,
    /// The revision the person's page showed (for what changed since).
    pub seen_rev: Option<u64>,
}

pub(super) async fn item_page(
    state: &AppState,
    logged_in: &LoggedIn,
    project: &str,
    kind: &str,
    id: &str,
    refusal: Option<Refusal>,
) -> Response {
    let started = Instant::now();
    let snapshot = match project_snapshot(state, logged_in, project).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let (index, meta) = snapshot.project(project).expect("checked");
    let cards = Cards::new(index, meta, Utc::now());
    let (card, text, key, statuses) = match kind {
        "story" => {
            let found = index.sprints().iter().find_map(|s| Some((s, s.stories().iter().find(|st| st.id == id)?)));
            let Some((sprint, story)) = found else {
                return not_found(state, logged_in, format!("Project '{project}' has no story '{id}'."));
            };
            (cards.story(&sprint.id, story, 0), story.notes.clone(), ItemKey::Story(id.to_string()), StoryStatus::NAMES)
        }
        "backlog" => {
            let Some(item) = index.backlog_item(id) else {
                return not_found(state, logged_in, format!("Project '{project}' has no backlog item '{id}'."));
            };
            (cards.backlog(item, 0), item.summary.clone(), ItemKey::Backlog(id.to_string()), BacklogStatus::NAMES)
        }
        _ => return not_found(state, logged_in, format!("'{kind}' is not a kind of item: story or backlog.")),
    };
    let storage_key = key.as_storage_key();
    let link = |storage_key: &str, state: Option<&str>| {
        let (kind, id) = storage_key.split_once('/').unwrap_or(("story", storage_key));
        json!({ "kind": kind, "id": id, "state": state })
    };
    let depends_on: Vec<Value> = meta
        .depends_on(&key)
        .iter()
        .map(|d| {
            let state = match cards.done.is_done(d) {
                Some(true) => "done",
                Some(false) => "not done",
                None => "no longer exists",
            };
            link(d, Some(state))
        })
        .collect();
    let dependents: Vec<Value> = meta.dependents(&storage_key).iter().map(|d| link(d, None)).collect();
    let projects = [project.to_string()];
    let changes = state.store.latest_changes(&projects, ACTIVITY_LINES, |r| r.kind == kind && r.id == id);
    let history: Vec<Value> = index
        .history()
        .iter()
        .filter(|h| h.summary.as_deref().is_some_and(|s| mentions(s, id)))
        .map(|h| json!({ "date": h.date, "summary": h.summary }))
        .collect();
    let created = meta.item(&key).and_then(|m| {
        let at = m.created_at?.format("%Y-%m-%d %H:%M UTC");
        Some(format!("{at} by {}", m.created_by.as_deref().unwrap_or("someone")))
    });
    let code = refusal.as_ref().map_or(StatusCode::OK, |r| r.code);
    let conflict = refusal.map(|r| {
        let since: Vec<Value> = match r.seen_rev {
            Some(seen) => changes
                .iter()
                .filter(|c| c["rev"].as_u64().is_some_and(|rev| rev > seen))
                .map(readable_change)
                .rev()
                .collect(),
            None => Vec::new(),
        };
        json!({ "message": r.message, "hint": r.hint, "since": since })
    });
    let base = format!("/p/{}/{kind}/{}", super::urlencode(project), super::urlencode(id));
    let page = json!({
        "project": project,
        "card": card,
        "text": text,
        "statuses": statuses,
        "depends_on": depends_on,
        "dependents": dependents,
        "changes": changes.iter().map(readable_change).collect::<Vec<_>>(),
        "history": history,
        "created": created,
        "conflict": conflict,
        "base": base,
        "back": base,
        "editor": super::editor(state),
        "csrf": logged_in.session.csrf,
        "cursor": cursor(state, Some(project)),
    });
    let mut response = timed(started, state.board.render("item.html", page));
    *response.status_mut() = code;
    response
}

/// Whether `text` names `id` as a word (`STORY-1` is not named by `STORY-12`).
fn mentions(text: &str, id: &str) -> bool {
    text.match_indices(id).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + id.len()..].chars().next();
        let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_');
        !part(before) && !part(after)
    })
}

/// `GET /login`: trades a code from `worksync open` for a session, or shows the form.
pub(super) async fn login_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(form): Query<LoginForm>,
) -> Response {
    match form.code.as_deref() {
        Some(code) => {
            let started = state.board.sessions.redeem(code);
            super::finish_login(&state, &headers, started, form.next.as_deref())
        }
        None => login_form(&state, super::local_path(form.next.as_deref()).unwrap_or("/"), None),
    }
}

pub(super) fn login_form(state: &AppState, next: &str, message: Option<&str>) -> Response {
    let open = matches!(state.auth.as_ref(), crate::settings::Auth::Disabled);
    state.board.render("login.html", json!({ "next": next, "message": message, "open": open })).into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_id_is_mentioned_as_a_word() {
        assert!(super::mentions("Completed STORY-1.", "STORY-1"));
        assert!(!super::mentions("Completed STORY-12", "STORY-1"));
        assert!(!super::mentions("pre-db-pool", "db-pool"));
    }
}
