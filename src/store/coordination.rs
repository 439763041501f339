//! How agents coordinate (SPEC §5): revisions, claims with leases, and picking the next work.
//!
//! An [`Operation`] is what the writer executes for a tool: a plain edit of the work index
//! ([`Mutation`]) behind a [`Guard`] (the revision the agent last saw, and whether it may
//! override another agent's claim), or a claim, a release, or a `next` pick. Executing one
//! changes the work index and the sidecar together (revisions, attribution, claims) and
//! lists the [`Event`]s for the change feed. Like [`Mutation::apply`] it does no I/O.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::StoreError;
use super::model::{BacklogStatus, StoryStatus, WorkIndex};
use super::ops::{Change, Mutation, to_json};
use super::sidecar::{Claim, HistoryMeta, ItemKey, Sidecar};

/// Which kind of item a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Target {
    Story,
    Backlog,
}

/// Conditions on an edit: the revision the agent last saw, and whether it may override
/// another agent's claim (the override is recorded).
#[derive(Debug, Clone, Default)]
pub struct Guard {
    pub expected_rev: Option<u64>,
    pub force: bool,
}

/// Server-wide rules that come from `config.yaml`.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Lease of a claim when the agent asks for none.
    pub default_lease: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy { default_lease: Duration::minutes(30) }
    }
}

/// What the writer executes for a tool.
#[derive(Debug, Clone)]
pub enum Operation {
    Edit { edit: Mutation, guard: Guard },
    Claim { target: Target, id: String, lease_minutes: Option<f64> },
    Release { target: Target, id: String, force: bool },
    Next { claim: bool, lease_minutes: Option<f64> },
}

impl From<Mutation> for Operation {
    fn from(edit: Mutation) -> Self {
        Operation::Edit { edit, guard: Guard::default() }
    }
}

/// One change for the change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `sprint`, `story`, `backlog` or `history`.
    pub kind: &'static str,
    pub id: String,
    /// `created`, `updated`, `removed`, `claimed`, `released` or `appended`.
    pub action: &'static str,
    /// The item's revision after the change (none for removals and history).
    pub rev: Option<u64>,
}

/// The outcome of an operation.
#[derive(Debug)]
pub struct Executed {
    pub reply: Value,
    pub events: Vec<Event>,
    /// Whether the work index changed (else only the sidecar did).
    pub index_changed: bool,
}

impl Operation {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Edit { edit, .. } => edit.name(),
            Operation::Claim { .. } => "claim",
            Operation::Release { .. } => "release",
            Operation::Next { .. } => "next",
        }
    }

    /// Executes the operation on a project's work index and sidecar.
    pub fn execute(
        &self,
        index: &mut WorkIndex,
        meta: &mut Sidecar,
        change: &Change,
        policy: &Policy,
    ) -> Result<Executed, StoreError> {
        let mut respelled = self.clone();
        if respelled.respell(index) {
            return respelled.execute_as_spelled(index, meta, change, policy);
        }
        self.execute_as_spelled(index, meta, change, policy)
    }

    fn execute_as_spelled(
        &self,
        index: &mut WorkIndex,
        meta: &mut Sidecar,
        change: &Change,
        policy: &Policy,
    ) -> Result<Executed, StoreError> {
        meta.claims.retain(|_, claim| claim.until > change.now);
        match self {
            Operation::Edit { edit, guard } => execute_edit(edit, guard, index, meta, change),
            Operation::Claim { target, id, lease_minutes } => {
                let key = key_of(*target, id);
                let lease = lease_of(*lease_minutes, policy);
                let reply = claim(index, meta, &key, lease, change)?;
                let rev = meta.rev(&key);
                Ok(Executed {
                    reply,
                    events: vec![Event { kind: kind_of(&key), id: id.clone(), action: "claimed", rev: Some(rev) }],
                    index_changed: true,
                })
            }
            Operation::Release { target, id, force } => {
                let key = key_of(*target, id);
                item_json(index, meta, &key, change.now).ok_or_else(|| missing(&key))?;
                let holder = match meta.claim(&key, change.now) {
                    None => {
                        return Ok(Executed {
                            reply: json!({ "released": false, "id": id, "note": "It was not claimed." }),
                            events: Vec::new(),
                            index_changed: false,
                        });
                    }
                    Some(claim) => claim.agent.clone(),
                };
                if holder != change.agent && !force {
                    return Err(held(&key, meta.claim(&key, change.now).expect("checked above")));
                }
                meta.claims.remove(&key.as_storage_key());
                let mut reply = json!({ "released": true, "id": id, "holder": holder });
                if holder != change.agent {
                    reply["forced"] = json!(true);
                }
                let event =
                    Event { kind: kind_of(&key), id: id.clone(), action: "released", rev: Some(meta.rev(&key)) };
                Ok(Executed { reply, events: vec![event], index_changed: false })
            }
            Operation::Next { claim: take, lease_minutes } => {
                let Some((key, reason)) = pick_next(index, meta, change) else {
                    return Ok(Executed {
                        reply: json!({
                            "next": null,
                            "reason": "Nothing is free: no planned story in an active sprint and no todo backlog item without a live claim.",
                        }),
                        events: Vec::new(),
                        index_changed: false,
                    });
                };
                if !take {
                    let item = item_json(index, meta, &key, change.now).expect("picked from the index");
                    let reply = json!({ "next": item, "kind": kind_of(&key), "reason": reason, "claimed": false });
                    return Ok(Executed { reply, events: Vec::new(), index_changed: false });
                }
                let mut reply = claim(index, meta, &key, lease_of(*lease_minutes, policy), change)?;
                let rev = meta.rev(&key);
                reply["next"] = reply["claimed"].take();
                reply["claimed"] = json!(true);
                reply["kind"] = json!(kind_of(&key));
                reply["reason"] = json!(reason);
                let id = key_id(&key).to_string();
                Ok(Executed {
                    reply,
                    events: vec![Event { kind: kind_of(&key), id, action: "claimed", rev: Some(rev) }],
                    index_changed: true,
                })
            }
        }
    }
}

fn execute_edit(
    edit: &Mutation,
    guard: &Guard,
    index: &mut WorkIndex,
    meta: &mut Sidecar,
    change: &Change,
) -> Result<Executed, StoreError> {
    let target = edit.target();
    let mut forced_over = None;
    // A missing target is left to `apply`, which says what exists instead.
    if let Some(key) = &target {
        let rev = meta.rev(key);
        if let Some(expected) = guard.expected_rev
            && expected != rev
            && let Some(current) = item_json(index, meta, key, change.now)
        {
            return Err(StoreError::Conflict {
                message: format!(
                    "{} '{}' is at rev {rev}, not {expected}: it changed since you read it",
                    kind_of(key),
                    key_id(key)
                ),
                hint: format!(
                    "Look at `current` (the item now), re-apply your change to it, and retry with expected_rev={rev}."
                ),
                current,
            });
        }
        if let Some(claim) = meta.claim(key, change.now)
            && claim.agent != change.agent
        {
            if !guard.force {
                return Err(held(key, claim));
            }
            forced_over = Some(claim.agent.clone());
        }
    }
    let applied = edit.apply(index, change)?;
    let changed = !(applied.touched.is_empty() && applied.removed.is_empty() && applied.history.is_empty());
    let mut events = Vec::new();
    for key in &applied.touched {
        let rev = if edit.creates() {
            meta.created(key, &change.agent, change.now)
        } else {
            meta.changed(key, &change.agent, change.now)
        };
        let action = if edit.creates() { "created" } else { "updated" };
        events.push(Event { kind: kind_of(key), id: key_id(key).to_string(), action, rev: Some(rev) });
    }
    if let (Some(priority), Some(key)) = (edit.priority(), applied.touched.first()) {
        meta.set_priority(key, priority);
    }
    for key in &applied.removed {
        meta.forget(key);
        events.push(Event { kind: kind_of(key), id: key_id(key).to_string(), action: "removed", rev: None });
    }
    for entry in &applied.history {
        let summary = entry.summary.clone().unwrap_or_default();
        meta.history.push(Arc::new(HistoryMeta {
            date: entry.date.clone().unwrap_or_default(),
            summary: summary.clone(),
            agent: change.agent.clone(),
            at: change.now,
        }));
        events.push(Event { kind: "history", id: summary, action: "appended", rev: None });
    }
    if let Some(key) = &target
        && changed
        && matches!(edit, Mutation::Done { .. })
    {
        // A finished story needs no claim any more.
        meta.claims.remove(&key.as_storage_key());
    }
    let mut reply = applied.reply;
    if let Some(key) = applied.touched.first().or(target.as_ref()) {
        for field in ["created", "updated", "updated_story"] {
            if let Some(Value::Object(item)) = reply.get_mut(field) {
                item.insert("rev".into(), json!(meta.rev(key)));
            }
        }
    }
    if let Some(holder) = forced_over {
        reply["forced_over"] = json!(holder);
        tracing::warn!(agent = %change.agent, %holder, "change forced over another agent's claim");
    }
    Ok(Executed { reply, events, index_changed: changed })
}

/// Claims `key` for the change's agent: succeeds if unclaimed, expired, or renewed by the
/// holder. Claiming a story or a todo backlog item sets it in progress.
fn claim(
    index: &mut WorkIndex,
    meta: &mut Sidecar,
    key: &ItemKey,
    lease: Duration,
    change: &Change,
) -> Result<Value, StoreError> {
    item_json(index, meta, key, change.now).ok_or_else(|| missing(key))?;
    if let Some(existing) = meta.claim(key, change.now)
        && existing.agent != change.agent
    {
        return Err(held(key, existing));
    }
    let renewed = meta.claim(key, change.now).is_some();
    let done = match key {
        ItemKey::Story(id) => story_status(index, id) == StoryStatus::Done.as_str(),
        ItemKey::Backlog(id) => index.backlog_item(id).is_some_and(|b| b.status() == BacklogStatus::Done.as_str()),
        ItemKey::Sprint(_) => false,
    };
    if done {
        return Err(StoreError::invalid(
            "id",
            format!("{} '{}' is already done", kind_of(key), key_id(key)),
            "Pick other work: call worksync_next.",
        ));
    }
    let until = change.now + lease;
    meta.claims.insert(key.as_storage_key(), Claim { agent: change.agent.clone(), claimed_at: change.now, until });
    let set_in_progress = match key {
        ItemKey::Story(id) => set_story_in_progress(index, id),
        ItemKey::Backlog(id) => set_backlog_in_progress(index, id),
        ItemKey::Sprint(_) => false,
    };
    if set_in_progress {
        meta.changed(key, &change.agent, change.now);
    }
    let item = item_json(index, meta, key, change.now).expect("checked above");
    Ok(json!({
        "claimed": item,
        "holder": change.agent,
        "until": until,
        "renewed": renewed,
    }))
}

/// The next work for the agent: planned stories of active sprints first (file order), then
/// todo backlog items by priority (1 highest, default 3; file order breaks ties). Items with
/// a live claim by another agent are skipped.
fn pick_next(index: &WorkIndex, meta: &Sidecar, change: &Change) -> Option<(ItemKey, String)> {
    let free = |key: &ItemKey| meta.claim(key, change.now).is_none_or(|c| c.agent == change.agent);
    for sprint in index.sprints().iter().filter(|s| s.status() == "active") {
        for story in sprint.stories().iter().filter(|s| s.status() == StoryStatus::Planned.as_str()) {
            let key = ItemKey::Story(story.id.clone());
            if free(&key) {
                let reason = format!(
                    "the first unclaimed planned story of active sprint '{}' (stories come before backlog)",
                    sprint.id
                );
                return Some((key, reason));
            }
        }
    }
    let mut backlog: Vec<(u8, usize, ItemKey)> = index
        .backlog()
        .iter()
        .enumerate()
        .filter(|(_, b)| b.status() == BacklogStatus::Todo.as_str())
        .map(|(n, b)| {
            let key = ItemKey::Backlog(b.id.clone());
            (meta.item(&key).and_then(|m| m.priority).unwrap_or(3), n, key)
        })
        .filter(|(_, _, key)| free(key))
        .collect();
    backlog.sort();
    let (priority, _, key) = backlog.into_iter().next()?;
    Some((
        key,
        format!(
            "no planned story is free in an active sprint; the todo backlog item with the highest priority (P{priority}) that nobody holds"
        ),
    ))
}

/// An item as a tool shows it: its fields plus `rev`, its sprint (for stories) and its claim.
pub fn item_json(index: &WorkIndex, meta: &Sidecar, key: &ItemKey, now: DateTime<Utc>) -> Option<Value> {
    let mut value = match key {
        ItemKey::Sprint(id) => to_json(index.sprint(id)?),
        ItemKey::Backlog(id) => to_json(index.backlog_item(id)?),
        ItemKey::Story(id) => {
            let sprint = index.sprint_of_story(id)?;
            let mut story = to_json(sprint.stories().iter().find(|s| &s.id == id)?);
            story["sprint"] = json!(sprint.id);
            story
        }
    };
    value["rev"] = json!(meta.rev(key));
    if let Some(claim) = meta.claim(key, now) {
        value["claimed_by"] = json!(claim.agent);
        value["claimed_until"] = json!(claim.until);
    }
    if let Some(priority) = meta.item(key).and_then(|m| m.priority) {
        value["priority"] = json!(priority);
    }
    Some(value)
}

fn story_status<'a>(index: &'a WorkIndex, id: &str) -> &'a str {
    index.sprint_of_story(id).and_then(|s| s.stories().iter().find(|st| st.id == id)).map_or("", |st| st.status())
}

fn set_story_in_progress(index: &mut WorkIndex, id: &str) -> bool {
    if story_status(index, id) == StoryStatus::InProgress.as_str() {
        return false;
    }
    let Some(owner) = index.sprint_of_story(id).map(|s| s.id.clone()) else { return false };
    let story = index.sprint_mut(&owner).and_then(|s| s.stories.iter_mut().flatten().find(|st| st.id == id));
    match story {
        Some(story) => {
            story.status = Some(StoryStatus::InProgress.as_str().into());
            true
        }
        None => false,
    }
}

fn set_backlog_in_progress(index: &mut WorkIndex, id: &str) -> bool {
    if index.backlog_item(id).is_none_or(|item| item.status() != BacklogStatus::Todo.as_str()) {
        return false;
    }
    match index.backlog_item_mut(id) {
        Some(item) => {
            item.status = Some(BacklogStatus::InProgress.as_str().into());
            true
        }
        None => false,
    }
}

fn lease_of(minutes: Option<f64>, policy: &Policy) -> Duration {
    minutes.map_or(policy.default_lease, |m| Duration::milliseconds((m * 60_000.0) as i64))
}

fn key_of(target: Target, id: &str) -> ItemKey {
    match target {
        Target::Story => ItemKey::Story(id.to_string()),
        Target::Backlog => ItemKey::Backlog(id.to_string()),
    }
}

/// `sprint`, `story` or `backlog`.
pub fn kind_of(key: &ItemKey) -> &'static str {
    match key {
        ItemKey::Sprint(_) => "sprint",
        ItemKey::Story(_) => "story",
        ItemKey::Backlog(_) => "backlog",
    }
}

fn key_id(key: &ItemKey) -> &str {
    match key {
        ItemKey::Sprint(id) | ItemKey::Story(id) | ItemKey::Backlog(id) => id,
    }
}

fn missing(key: &ItemKey) -> StoreError {
    StoreError::NotFound {
        kind: kind_of(key),
        id: key_id(key).to_string(),
        scope: String::new(),
        hint: "Call worksync_status to see the project's stories and backlog.".into(),
    }
}

fn held(key: &ItemKey, claim: &Claim) -> StoreError {
    StoreError::Held {
        message: format!(
            "{} '{}' is claimed by '{}' until {}",
            kind_of(key),
            key_id(key),
            claim.agent,
            claim.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        hint: "Pick other work (worksync_next), wait until the lease ends, or pass force=true if you must take it over (it is recorded)."
            .into(),
        holder: claim.agent.clone(),
        until: claim.until,
    }
}

/// The agent name under which hand edits noticed by the server are recorded.
pub const EXTERNAL_EDIT: &str = "external edit";

/// Brings the sidecar up to date with a work index someone else changed (a hand edit, a
/// `git pull`): every item that differs gets a new revision, new items start at 1, and
/// removed items are forgotten. Returns the changes for the change feed.
pub fn reconcile(old: &WorkIndex, new: &WorkIndex, meta: &mut Sidecar, now: DateTime<Utc>) -> Vec<Event> {
    let mut before: std::collections::HashMap<ItemKey, Value> = items_of(old).collect();
    let mut events = Vec::new();
    for (key, value) in items_of(new) {
        let id = key_id(&key).to_string();
        match before.remove(&key) {
            Some(previous) if previous == value => {}
            Some(_) => {
                let rev = meta.changed(&key, EXTERNAL_EDIT, now);
                events.push(Event { kind: kind_of(&key), id, action: "updated", rev: Some(rev) });
            }
            None => {
                let rev = meta.created(&key, EXTERNAL_EDIT, now);
                events.push(Event { kind: kind_of(&key), id, action: "created", rev: Some(rev) });
            }
        }
    }
    for key in before.into_keys() {
        meta.forget(&key);
        events.push(Event { kind: kind_of(&key), id: key_id(&key).to_string(), action: "removed", rev: None });
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
