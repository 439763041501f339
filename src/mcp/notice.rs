//! The pending-changes notice: each reply to an agent says, in brief, what *other* agents
//! changed in the same project since that agent's previous call.
//!
//! Why in every reply: an agent hears of others' work only if something reaches it, and the
//! reply to a call it makes anyway is the one channel every client passes on to the model
//! (Claude Code drops resource-update notifications, Codex has no subscriptions). So the
//! notice is small and bounded (a count, the newest few changes as one line each, and the
//! cursor from which `worksync_changes` lists them all), absent when there is nothing, and
//! costs no disk read: it comes from the change feed's memory.
//!
//! Where an agent was is kept per (agent, project) in memory, across sessions (an agent that
//! reconnects keeps its place). A first call sets the place and carries no notice. The map
//! is bounded: when it is full it starts afresh, which only costs each agent one notice.

use std::collections::HashMap;
use std::sync::Mutex;

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};

use crate::store::{FeedPosition, Store};

/// The key of the notice in a reply.
pub const KEY: &str = "others_changed";
/// The newest changes a notice shows, one line each.
const LINES: usize = 3;
/// Agents × projects whose place is kept.
const MAX_PLACES: usize = 4096;

/// Where each agent was in each project's change feed at its previous call.
#[derive(Default)]
pub struct Notices {
    places: Mutex<HashMap<(String, String), FeedPosition>>,
}

impl Notices {
    /// After `agent`'s call of `tool` in `project`: the notice of what others changed since
    /// its previous call (`None`: nothing), and its place moved to now. A call of
    /// `worksync_changes` reads the feed itself: it only moves the place.
    pub fn after_call(&self, store: &Store, tool: &str, project: &str, agent: &str) -> Option<Value> {
        if project.is_empty() {
            return None;
        }
        let key = (agent.to_string(), project.to_string());
        let mut places = self.places.lock().unwrap_or_else(|e| e.into_inner());
        let lines = if tool == "worksync_changes" { 0 } else { LINES };
        let (notice, now) = store.others_changed(project, agent, places.get(&key), lines);
        let now = now?;
        if places.len() >= MAX_PLACES && !places.contains_key(&key) {
            places.clear();
        }
        places.insert(key, now);
        drop(places);
        let notice = notice.filter(|_| lines > 0)?;
        Some(json!({ "count": notice.count, "latest": notice.latest, "since": notice.since }))
    }
}

/// Adds the notice to a reply: to its structured content and to the JSON text copy of it,
/// spliced in rather than serialized again.
pub fn attach(result: &mut CallToolResult, notice: Value) {
    let Some(Value::Object(structured)) = &mut result.structured_content else { return };
    let notice_text = notice.to_string();
    structured.insert(KEY.to_string(), notice);
    let first_text = result.content.iter_mut().find_map(|c| match c {
        ContentBlock::Text(text) => Some(text),
        _ => None,
    });
    let Some(text) = first_text else { return };
    if let Some(body) = text.text.strip_suffix('}') {
        let separator = if body.trim_end().ends_with('{') { "" } else { "," };
        text.text = format!("{body}{separator}\"{KEY}\":{notice_text}}}");
    }
}
