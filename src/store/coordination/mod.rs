//! How agents coordinate: revisions, claims with leases, and picking the next work.
//!
//! An [`Operation`] is what the writer executes for a tool: a plain edit of the work index
//! ([`Mutation`]) behind a [`Guard`] (the revision the agent last saw, and whether it may
//! override another agent's claim), or a claim, a release, or a `next` pick. Executing one
//! changes the work index and the sidecar together (revisions, attribution, claims), says
//! what it did ([`Outcome`]) and lists the [`Event`]s for the change feed. Like
//! [`Mutation::apply`] it does no I/O. Claims and the next-work order are in `claims.rs`,
//! hand edits in `reconcile.rs`, items as tools show them in `items.rs`.

mod claims;
pub mod dependencies;
mod items;
mod reconcile;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use chrono::Duration;
use schemars::JsonSchema;
use serde::Deserialize;

use super::error::StoreError;
use super::model::{HistoryEntry, WorkIndex};
use super::ops::{Change, Effect, Mutation};
use super::outcome::{Kind, Outcome};
use super::sidecar::{HistoryMeta, ItemKey, Sidecar};

pub use items::item_view;
pub use reconcile::{EXTERNAL_EDIT, carry_renamed, reconcile, reconcile_as, renames};

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
    Edit {
        edit: Mutation,
        guard: Guard,
    },
    /// `force`: claim it even if it is blocked or another agent holds it (recorded).
    Claim {
        target: Target,
        id: String,
        lease_minutes: Option<f64>,
        force: bool,
    },
    Release {
        target: Target,
        id: String,
        force: bool,
    },
    /// `spread`: start that many items down the list of free work (0 in a project of one
    /// machine; see `claims::pick_next`).
    Next {
        claim: bool,
        lease_minutes: Option<f64>,
        spread: usize,
    },
    /// Adds and removes dependencies of one item (`target`: which kind the id names, when
    /// the agent said; else a story, then a backlog item).
    Depend {
        target: Option<Target>,
        id: String,
        add: Vec<String>,
        remove: Vec<String>,
        guard: Guard,
    },
}

impl From<Mutation> for Operation {
    fn from(edit: Mutation) -> Self {
        Operation::Edit { edit, guard: Guard::default() }
    }
}

/// One change for the change feed.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `sprint`, `story`, `backlog`, `history`, `file` or `conflict`.
    pub kind: &'static str,
    /// The item's id; a history entry's date; `work-index.yaml` for the file.
    pub id: String,
    /// `created`, `updated`, `removed`, `claimed`, `released` or `appended`.
    pub action: &'static str,
    /// The item's revision after the change (none for removals and history).
    pub rev: Option<u64>,
    /// What a history entry says (they have no id), cut short.
    pub summary: Option<String>,
}

impl Event {
    /// A change of an item.
    pub fn item(key: &ItemKey, action: &'static str, rev: Option<u64>) -> Event {
        let (kind, id) = Kind::of(key);
        Event { kind: kind.as_str(), id: id.to_string(), action, rev, summary: None }
    }

    /// A history entry appended.
    pub fn history(entry: &HistoryEntry) -> Event {
        let summary = entry.summary.as_deref().unwrap_or_default();
        Event {
            kind: "history",
            id: entry.date.clone().unwrap_or_default(),
            action: "appended",
            rev: None,
            summary: Some(cut_at_word(summary, 120)),
        }
    }
}

impl Event {
    /// A disagreement a merge of a shared plan resolved: `at` is where (`backlog/B-1/summary`),
    /// the summary what was kept and what lost.
    pub fn conflict(at: &str, summary: &str) -> Event {
        Event {
            kind: "conflict",
            id: at.to_string(),
            action: "resolved",
            rev: None,
            summary: Some(cut_at_word(summary, 240)),
        }
    }
}

/// `text` cut at a word boundary to at most `max` characters, with an ellipsis when cut.
fn cut_at_word(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let cut: String = text.chars().take(max).collect();
    let end = cut.rfind(char::is_whitespace).filter(|&i| i > max / 2).unwrap_or(cut.len());
    format!("{}…", cut[..end].trim_end())
}

/// What executing an operation did.
#[derive(Debug)]
pub struct Executed {
    pub outcome: Outcome,
    /// The agent whose claim the change overrode (`force`).
    pub forced_over: Option<String>,
    /// What `force` let the change do past dependencies ("started while 'A' was not done").
    pub forced_past: Option<String>,
    pub events: Vec<Event>,
    /// Whether the work index changed (else only the sidecar did, or nothing).
    pub index_changed: bool,
}

impl Executed {
    /// An operation that changed the work index.
    fn changed(outcome: Outcome, events: Vec<Event>) -> Executed {
        Executed { outcome, forced_over: None, forced_past: None, events, index_changed: true }
    }

    /// An operation that changed nothing (an answer only).
    fn unchanged(outcome: Outcome) -> Executed {
        Executed { outcome, forced_over: None, forced_past: None, events: Vec::new(), index_changed: false }
    }
}

impl Operation {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Edit { edit, .. } => edit.name(),
            Operation::Claim { .. } => "claim",
            Operation::Release { .. } => "release",
            Operation::Next { .. } => "next",
            Operation::Depend { .. } => "depend",
        }
    }

    /// The items the operation names by id (what a refusal of an ambiguous id looks at).
    pub fn targets(&self) -> Vec<ItemKey> {
        let key = |target: &Target, id: &str| match target {
            Target::Story => ItemKey::Story(id.to_string()),
            Target::Backlog => ItemKey::Backlog(id.to_string()),
        };
        match self {
            Operation::Edit { edit, .. } => match edit {
                Mutation::UpdateBacklog { id, .. } | Mutation::RemoveBacklog { id } => {
                    vec![ItemKey::Backlog(id.clone())]
                }
                Mutation::UpdateSprint { id, .. } => vec![ItemKey::Sprint(id.clone())],
                Mutation::AddStory { sprint_id, .. } => vec![ItemKey::Sprint(sprint_id.clone())],
                Mutation::UpdateStory { story_id, .. } | Mutation::Done { story_id, .. } => {
                    vec![ItemKey::Story(story_id.clone())]
                }
                _ => Vec::new(),
            },
            Operation::Claim { target, id, .. } | Operation::Release { target, id, .. } => vec![key(target, id)],
            Operation::Depend { target: Some(target), id, .. } => vec![key(target, id)],
            Operation::Depend { target: None, id, .. } => {
                vec![ItemKey::Story(id.clone()), ItemKey::Backlog(id.clone())]
            }
            Operation::Next { .. } => Vec::new(),
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
            Operation::Claim { target, id, lease_minutes, force } => {
                let lease = claims::lease_of(*lease_minutes, policy);
                claims::claim_item(index, meta, *target, id, lease, *force, change)
            }
            Operation::Depend { target, id, add, remove, guard } => {
                depend(index, meta, *target, id, add, remove, guard, change)
            }
            Operation::Release { target, id, force } => claims::release(index, meta, *target, id, *force, change),
            Operation::Next { claim, lease_minutes, spread } => {
                claims::next(index, meta, *claim, *lease_minutes, *spread, policy, change)
            }
        }
    }
}

/// An edit of the work index behind its guard: the revision the agent saw, and a claim
/// another agent holds.
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
            && let Some(current) = item_view(index, meta, key, change.now)
        {
            let (kind, id) = Kind::of(key);
            return Err(StoreError::Conflict {
                message: format!(
                    "{} '{id}' is at rev {rev}, not {expected}: it changed since you read it",
                    kind.as_str()
                ),
                hint: format!(
                    "Look at `current` (the item now), re-apply your change to it, and retry with expected_rev={rev}."
                ),
                current: Some(Box::new(current)),
            });
        }
        if let Some(claim) = meta.claim(key, change.now)
            && claim.agent != change.agent
        {
            if !guard.force {
                return Err(claims::held(key, claim));
            }
            forced_over = Some(claim.agent.clone());
        }
    }
    let forced_past = match &target {
        Some(key) => dependencies_allow(edit, guard, index, meta, key)?,
        None => None,
    };
    let before: Vec<(String, Option<bool>)> = target.iter().map(|key| dependencies::state_of(index, key)).collect();
    let applied = edit.apply(index, change).map_err(|error| match (error, &target) {
        // A refusal about the item itself shows it as it is now.
        (StoreError::Conflict { message, hint, current: None }, Some(key)) => {
            let current = item_view(index, meta, key, change.now).map(Box::new);
            StoreError::Conflict { message, hint, current }
        }
        (error, _) => error,
    })?;
    let changed = !(applied.touched.is_empty() && applied.removed.is_empty() && applied.history.is_empty());
    let mut events = Vec::new();
    for key in &applied.touched {
        let rev = if edit.creates() {
            meta.created(key, &change.agent, change.now)
        } else {
            meta.changed(key, &change.agent, change.now)
        };
        events.push(Event::item(key, if edit.creates() { "created" } else { "updated" }, Some(rev)));
    }
    if let (Some(priority), Some(key)) = (edit.priority(), applied.touched.first()) {
        meta.set_priority(key, priority);
    }
    if let (Some(references), Some(key)) = (edit.depends_on(), applied.touched.first()) {
        let keys = dependencies::checked(index, meta, key, references)?;
        meta.hold_depends_on(&key.as_storage_key(), keys, &change.agent, change.now);
    }
    // What a removed item was, taken before the sidecar forgets it.
    let outcome = match applied.effect {
        Effect::Removed { key, fields } => Outcome::Removed { item: items::removed_view(&key, fields, meta) },
        effect => outcome_of(effect, index, meta, change)?,
    };
    for key in &applied.removed {
        meta.forget(key);
        events.push(Event::item(key, "removed", None));
    }
    events.extend(dependencies::settle(index, meta, &before));
    if let (Some(forced), Some(first)) = (&forced_past, events.first_mut()) {
        first.summary = Some(format!("forced: {forced}"));
    }
    for entry in &applied.history {
        meta.history.push(Arc::new(HistoryMeta {
            date: entry.date.clone().unwrap_or_default(),
            summary: entry.summary.clone().unwrap_or_default(),
            agent: change.agent.clone(),
            at: change.now,
        }));
        events.push(Event::history(entry));
    }
    let outcome = match outcome {
        // The story as it is now: a finished story needs no claim any more.
        Outcome::Completed { story, entry, already_done } if changed => {
            let key = ItemKey::Story(story.id.clone());
            meta.claims.remove(&key.as_storage_key());
            let story = item_view(index, meta, &key, change.now).unwrap_or(story);
            Outcome::Completed { story, entry, already_done }
        }
        other => other,
    };
    if let Some(holder) = &forced_over {
        tracing::warn!(agent = %change.agent, %holder, "change forced over another agent's claim");
    }
    if let Some(forced) = &forced_past {
        tracing::warn!(agent = %change.agent, %forced, "change forced past dependencies");
    }
    Ok(Executed { outcome, forced_over, forced_past, events, index_changed: changed })
}

/// Whether dependencies let `edit` do what it does to `key`: moving a blocked item to
/// in_progress, or removing an item that unfinished work depends on, is refused unless
/// forced. Returns what forcing it let through, to record.
fn dependencies_allow(
    edit: &Mutation,
    guard: &Guard,
    index: &WorkIndex,
    meta: &Sidecar,
    key: &ItemKey,
) -> Result<Option<String>, StoreError> {
    if matches!(edit, Mutation::RemoveBacklog { .. }) {
        let waiting: Vec<String> = meta
            .dependents(&key.as_storage_key())
            .into_iter()
            .filter(|d| dependencies::is_done(index, d) == Some(false))
            .collect();
        if waiting.is_empty() {
            return Ok(None);
        }
        if !guard.force {
            return Err(dependencies::refused_as_depended_on(key, &waiting));
        }
        return Ok(Some(format!("removed although {} depended on it", dependencies::ids(&waiting).join(", "))));
    }
    let starts = edit.new_status() == Some("in_progress")
        && dependencies::is_done(index, &key.as_storage_key()).is_some()
        && item_status(index, key) != Some("in_progress");
    if !starts {
        return Ok(None);
    }
    let blockers = dependencies::blockers(index, meta, key);
    if blockers.is_empty() {
        return Ok(None);
    }
    if !guard.force {
        return Err(dependencies::refused_as_blocked(key, &blockers, "started"));
    }
    Ok(Some(format!("started while {} was not done", dependencies::ids(&blockers).join(", "))))
}

/// The status of a story or backlog item as the file has it.
fn item_status<'a>(index: &'a WorkIndex, key: &ItemKey) -> Option<&'a str> {
    match key {
        ItemKey::Story(id) => {
            index.sprints().iter().flat_map(|s| s.stories()).find(|st| &st.id == id).map(|st| st.status())
        }
        ItemKey::Backlog(id) => index.backlog_item(id).map(|b| b.status()),
        ItemKey::Sprint(_) => None,
    }
}

/// `worksync_depend`: adds and removes dependencies of one story or backlog item, behind
/// its revision; the item gets a new revision.
#[allow(clippy::too_many_arguments)]
fn depend(
    index: &WorkIndex,
    meta: &mut Sidecar,
    target: Option<Target>,
    id: &str,
    add: &[String],
    remove: &[String],
    guard: &Guard,
    change: &Change,
) -> Result<Executed, StoreError> {
    let reference = match target {
        Some(Target::Story) => format!("story/{id}"),
        Some(Target::Backlog) => format!("backlog/{id}"),
        None => id.to_string(),
    };
    let key = dependencies::resolve(index, &reference).map_err(|error| match error {
        StoreError::NotFound { id, .. } => items::missing(&ItemKey::Backlog(id)),
        other => other,
    })?;
    let rev = meta.rev(&key);
    if let Some(expected) = guard.expected_rev
        && expected != rev
    {
        let (kind, id) = Kind::of(&key);
        return Err(StoreError::Conflict {
            message: format!("{} '{id}' is at rev {rev}, not {expected}: it changed since you read it", kind.as_str()),
            hint: format!(
                "Look at `current` (the item now), re-apply your change to it, and retry with expected_rev={rev}."
            ),
            current: item_view(index, meta, &key, change.now).map(Box::new),
        });
    }
    // A reference names a dependency as it resolves now, or by its stored key or id (a
    // dependency on an item that is gone can still be removed).
    let removed = |dep: &String| {
        remove.iter().map(|r| r.trim()).any(|r| {
            r == dep
                || r == dependencies::display(dep)
                || dependencies::resolve(index, r).is_ok_and(|k| k.as_storage_key() == *dep)
        })
    };
    let current: Vec<String> = meta.depends_on(&key).to_vec();
    let mut wanted: Vec<String> = current.iter().filter(|d| !removed(d)).cloned().collect();
    wanted.extend(add.iter().cloned());
    let keys = dependencies::checked(index, meta, &key, &wanted)?;
    let item_before = item_view(index, meta, &key, change.now).ok_or_else(|| items::missing(&key))?;
    if keys == current {
        let outcome = Outcome::Updated { item: item_before };
        return Ok(Executed::unchanged(outcome));
    }
    let rev = meta.changed(&key, &change.agent, change.now);
    meta.hold_depends_on(&key.as_storage_key(), keys, &change.agent, change.now);
    let item = item_view(index, meta, &key, change.now).ok_or_else(|| items::missing(&key))?;
    let event = Event::item(&key, "updated", Some(rev));
    Ok(Executed {
        outcome: Outcome::Updated { item },
        forced_over: None,
        forced_past: None,
        events: vec![event],
        index_changed: false,
    })
}

/// The outcome of an edit's effect, with the items as they are after it.
fn outcome_of(effect: Effect, index: &WorkIndex, meta: &Sidecar, change: &Change) -> Result<Outcome, StoreError> {
    let view = |key: &ItemKey| item_view(index, meta, key, change.now).ok_or_else(|| items::missing(key));
    Ok(match effect {
        Effect::Created(key) => Outcome::Created { item: view(&key)? },
        Effect::Updated(key) => Outcome::Updated { item: view(&key)? },
        Effect::Completed { story, entry, already_done } => {
            Outcome::Completed { story: view(&story)?, entry, already_done }
        }
        Effect::HistoryAdded(entry) => Outcome::HistoryAdded { entry },
        Effect::Removed { key, fields } => Outcome::Removed { item: items::removed_view(&key, fields, meta) },
    })
}
