//! `/events`: the change feed as Server-Sent Events, for open board pages.
//!
//! Each event carries the changes of one long poll of the feed (`changes`, a JSON list) and
//! the cursor after them as its `id`. When the connection drops, the browser reconnects by
//! itself and sends that id back (`Last-Event-ID`), so the page gets what happened while it
//! was away, in order and once. A cursor the feed can no longer serve gets a `resync` event
//! (the page reloads); a session that ended gets `logged-out`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::StreamExt;

use super::LoggedIn;
use crate::http::AppState;
use crate::store::Changes;

/// How long one poll of the feed waits before it checks the session again.
const POLL: Duration = Duration::from_secs(20);
/// Changes one event carries at most (the next event carries the rest).
const BATCH: usize = 200;
/// How soon a browser reconnects after a drop.
const RETRY: Duration = Duration::from_millis(500);

#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub(super) struct EventsQuery {
    project: Option<String>,
    cursor: Option<String>,
}

pub(super) async fn events(
    State(state): State<AppState>,
    Extension(logged_in): Extension<LoggedIn>,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> impl IntoResponse {
    // A reconnecting browser's last event id is newer than the page's own cursor.
    let resumed = headers.get("last-event-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let cursor = resumed.or(query.cursor).filter(|c| !c.is_empty());
    let project = query.project.filter(|p| !p.is_empty());
    let closing = state.sessions.clone();
    let start = Event::default().retry(RETRY).comment("following the change feed");
    // The seed is `None` once the last events are out: the stream ends.
    let seed = Some((state, logged_in, project, cursor));
    let stream = futures::stream::unfold(seed, |seed| async move {
        let (state, who, project, cursor) = seed?;
        if state.board.sessions.get(&who.id).is_none() {
            return Some((vec![Event::default().event("logged-out").data("the session ended")], None));
        }
        let cursor = match cursor {
            Some(cursor) => cursor,
            None => {
                let projects = match &project {
                    Some(p) => vec![p.clone()],
                    None => state.store.published().projects.keys().cloned().collect(),
                };
                state.store.changes_cursor(&projects)
            }
        };
        let polled = state.store.changes(project.as_deref(), Some(&cursor), BATCH, POLL).await;
        let (events, next) = match polled {
            Ok(Changes::Listed { changes, cursor: next, .. }) if changes.is_empty() => (Vec::new(), next),
            Ok(Changes::Listed { changes, cursor: next, .. }) => {
                let data = serde_json::to_string(&changes).expect("changes serialize");
                (vec![Event::default().event("changes").id(next.clone()).data(data)], next)
            }
            Ok(Changes::Resync { reason, cursor: next }) => {
                (vec![Event::default().event("resync").id(next.clone()).data(reason)], next)
            }
            Err(e) => return Some((vec![Event::default().event("resync").data(e.to_string())], None)),
        };
        Some((events, Some((state, who, project, Some(next)))))
    });
    let stream = futures::stream::once(async move { vec![start] })
        .chain(stream)
        .flat_map(|events| futures::stream::iter(events.into_iter().map(Ok::<_, Infallible>)))
        .take_until(closing.cancelled_owned());
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
