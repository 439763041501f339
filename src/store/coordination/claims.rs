//! Claims with leases, and the choice of the next work.
//!
//! A claim holds a story or backlog item for one agent until its lease ends; claiming a
//! planned story or a todo backlog item also sets it in progress. `next` picks the first
//! free work in a fixed order (below) and may claim it in the same step, so agents asking at
//! once never get the same item.

use chrono::Duration;

use super::items::{item_view, key_of, missing};
use super::{Event, Executed, Policy, Target, dependencies};
use crate::store::error::StoreError;
use crate::store::model::{BacklogStatus, StoryStatus, WorkIndex};
use crate::store::ops::Change;
use crate::store::outcome::{Kind, Outcome, Pick};
use crate::store::sidecar::{Claim, ItemKey, Sidecar};

/// `worksync_claim`.
pub(super) fn claim_item(
    index: &mut WorkIndex,
    meta: &mut Sidecar,
    target: Target,
    id: &str,
    lease: Duration,
    force: bool,
    change: &Change,
) -> Result<Executed, StoreError> {
    let key = key_of(kind(target), id);
    let Claimed { until, renewed, forced_over, forced_past } = claim(index, meta, &key, lease, force, change)?;
    let item = item_view(index, meta, &key, change.now).ok_or_else(|| missing(&key))?;
    let mut event = Event::item(&key, "claimed", Some(item.rev));
    if let Some(forced) = &forced_past {
        tracing::warn!(agent = %change.agent, %forced, "claim forced past dependencies");
        event.summary = Some(format!("forced: {forced}"));
    }
    if let Some(holder) = &forced_over {
        tracing::warn!(agent = %change.agent, %holder, "claim forced over another agent's claim");
    }
    let outcome = Outcome::Claimed { item, until, renewed };
    Ok(Executed { outcome, forced_over, forced_past, events: vec![event], index_changed: true })
}

/// `worksync_release`: only the holder may release, unless forced (recorded).
pub(super) fn release(
    index: &WorkIndex,
    meta: &mut Sidecar,
    target: Target,
    id: &str,
    force: bool,
    change: &Change,
) -> Result<Executed, StoreError> {
    let key = key_of(kind(target), id);
    item_view(index, meta, &key, change.now).ok_or_else(|| missing(&key))?;
    let Some(claim) = meta.claim(&key, change.now) else {
        let outcome = Outcome::Released { kind: kind(target), id: id.to_string(), holder: None };
        return Ok(Executed::unchanged(outcome));
    };
    if claim.agent != change.agent && !force {
        return Err(held(&key, claim));
    }
    let holder = claim.agent.clone();
    meta.claims.remove(&key.as_storage_key());
    let event = Event::item(&key, "released", Some(meta.rev(&key)));
    let forced_over = (holder != change.agent).then(|| holder.clone());
    let outcome = Outcome::Released { kind: kind(target), id: id.to_string(), holder: Some(holder) };
    Ok(Executed { outcome, forced_over, forced_past: None, events: vec![event], index_changed: false })
}

/// `worksync_next`: the next free work, claimed in the same step if asked.
pub(super) fn next(
    index: &mut WorkIndex,
    meta: &mut Sidecar,
    take: bool,
    lease_minutes: Option<f64>,
    spread: usize,
    policy: &Policy,
    change: &Change,
) -> Result<Executed, StoreError> {
    let Some(Candidate { key, reason, unblocks }) = pick_next(index, meta, change, spread) else {
        let outcome = Outcome::Next { pick: None, blocked: dependencies::blocked_count(index, meta) };
        return Ok(Executed::unchanged(outcome));
    };
    if !take {
        let item = item_view(index, meta, &key, change.now).ok_or_else(|| missing(&key))?;
        let outcome = Outcome::Next { pick: Some(Pick { item, reason, unblocks, claimed: None }), blocked: 0 };
        return Ok(Executed::unchanged(outcome));
    }
    let Claimed { until, renewed, .. } = claim(index, meta, &key, lease_of(lease_minutes, policy), false, change)?;
    let item = item_view(index, meta, &key, change.now).ok_or_else(|| missing(&key))?;
    let event = Event::item(&key, "claimed", Some(item.rev));
    let pick = Pick { item, reason, unblocks, claimed: Some((until, renewed)) };
    Ok(Executed::changed(Outcome::Next { pick: Some(pick), blocked: 0 }, vec![event]))
}

/// The lease a claim gets: what the agent asked for, else the configured default.
pub(super) fn lease_of(minutes: Option<f64>, policy: &Policy) -> Duration {
    minutes.map_or(policy.default_lease, |m| Duration::milliseconds((m * 60_000.0) as i64))
}

fn kind(target: Target) -> Kind {
    match target {
        Target::Story => Kind::Story,
        Target::Backlog => Kind::Backlog,
    }
}

/// A claim taken: until when, whether the agent renewed its own, and what `force` let
/// through (another agent's claim, unfinished dependencies).
struct Claimed {
    until: chrono::DateTime<chrono::Utc>,
    renewed: bool,
    forced_over: Option<String>,
    forced_past: Option<String>,
}

/// Claims `key` for the change's agent: succeeds if unclaimed, expired, or renewed by the
/// holder, and if nothing blocks it (or `force`, recorded). Claiming a story or a todo
/// backlog item sets it in progress.
fn claim(
    index: &mut WorkIndex,
    meta: &mut Sidecar,
    key: &ItemKey,
    lease: Duration,
    force: bool,
    change: &Change,
) -> Result<Claimed, StoreError> {
    item_view(index, meta, key, change.now).ok_or_else(|| missing(key))?;
    let mut forced_over = None;
    if let Some(existing) = meta.claim(key, change.now)
        && existing.agent != change.agent
    {
        if !force {
            return Err(held(key, existing));
        }
        forced_over = Some(existing.agent.clone());
    }
    let renewed = meta.claim(key, change.now).is_some_and(|c| c.agent == change.agent);
    let done = match key {
        ItemKey::Story(id) => story_status(index, id) == StoryStatus::Done.as_str(),
        ItemKey::Backlog(id) => index.backlog_item(id).is_some_and(|b| b.status() == BacklogStatus::Done.as_str()),
        ItemKey::Sprint(_) => false,
    };
    if done {
        let (kind, id) = Kind::of(key);
        return Err(StoreError::invalid(
            "id",
            format!("{} '{id}' is already done", kind.as_str()),
            "Pick other work: call worksync_next.",
        ));
    }
    let blockers = dependencies::blockers(index, meta, key);
    let mut forced_past = None;
    if !blockers.is_empty() && !renewed {
        if !force {
            return Err(dependencies::refused_as_blocked(key, &blockers, "claimed"));
        }
        forced_past = Some(format!("claimed while {} was not done", dependencies::ids(&blockers).join(", ")));
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
    Ok(Claimed { until, renewed, forced_over, forced_past })
}

/// A candidate for `next`: the item, why it comes first, and what finishing it frees.
struct Candidate {
    key: ItemKey,
    reason: String,
    unblocks: Vec<String>,
}

/// A ready item with what `next` orders by, in that order (derived `Ord` compares the
/// fields top to bottom; `position` is unique, so `key` and `sprint` never decide).
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct Ranked {
    /// 0: a planned story of an active sprint; 1: a todo backlog item.
    tier: u8,
    priority: u8,
    /// How many unfinished items wait on it (more first).
    waiting: std::cmp::Reverse<usize>,
    /// Its place in the file: older first.
    position: usize,
    key: ItemKey,
    sprint: Option<String>,
}

/// The next work for the agent: only *ready* work (not done, not claimed by another agent,
/// nothing it depends on unfinished), in this order:
///
/// 1. planned stories of active sprints before todo backlog items (a sprint is a
///    commitment; the backlog is what is left);
/// 2. then priority (1 highest; unset is 3; stories have none, so they rank as 3);
/// 3. then how many unfinished items wait on it, directly or through others (finishing
///    it unblocks the most);
/// 4. then age: the order in the file (older first).
///
/// `spread` skips that many of the first ready items (wrapping among the first
/// [`SPREAD_WINDOW`]): machines of a shared project asking at once start at different items.
fn pick_next(index: &WorkIndex, meta: &Sidecar, change: &Change, spread: usize) -> Option<Candidate> {
    let free = |key: &ItemKey| meta.claim(key, change.now).is_none_or(|c| c.agent == change.agent);
    let with_dependencies = meta.has_dependencies();
    let dependents = if with_dependencies { dependencies::dependents_map(meta) } else { Default::default() };
    let done = with_dependencies.then(|| dependencies::DoneIndex::of(index));
    let ready = |key: &ItemKey| free(key) && done.as_ref().is_none_or(|done| done.blockers(meta, key).is_empty());
    let waiting = |key: &ItemKey| {
        let Some(done) = &done else { return 0 };
        dependencies::waiting_on_by(&dependents, &key.as_storage_key(), |k| done.is_done(k) == Some(false))
    };
    let mut ranked: Vec<Ranked> = Vec::new();
    let mut position = 0;
    for sprint in index.sprints().iter().filter(|s| s.status() == "active") {
        for story in sprint.stories().iter().filter(|s| s.status() == StoryStatus::Planned.as_str()) {
            position += 1;
            let key = ItemKey::Story(story.id.clone());
            if ready(&key) {
                let priority = meta.item(&key).and_then(|m| m.priority).unwrap_or(3);
                let waiting = std::cmp::Reverse(waiting(&key));
                ranked.push(Ranked { tier: 0, priority, waiting, position, key, sprint: Some(sprint.id.clone()) });
            }
        }
    }
    for item in index.backlog().iter().filter(|b| b.status() == BacklogStatus::Todo.as_str()) {
        position += 1;
        let key = ItemKey::Backlog(item.id.clone());
        if ready(&key) {
            let priority = meta.item(&key).and_then(|m| m.priority).unwrap_or(3);
            let waiting = std::cmp::Reverse(waiting(&key));
            ranked.push(Ranked { tier: 1, priority, waiting, position, key, sprint: None });
        }
    }
    if ranked.is_empty() {
        return None;
    }
    ranked.sort();
    let window = if spread == 0 { 1 } else { SPREAD_WINDOW.min(ranked.len()) };
    let Ranked { tier, priority, waiting: std::cmp::Reverse(waits), key, sprint, .. } =
        ranked.swap_remove(spread % window);
    let storage_key = key.as_storage_key();
    let unblocks = match dependents.get(&storage_key) {
        Some(direct) => dependencies::ids(&dependencies::would_free(index, meta, direct, &storage_key)),
        None => Vec::new(),
    };
    let mut reason = match (tier, sprint) {
        (0, Some(sprint)) => format!(
            "the first ready planned story of active sprint '{sprint}' (stories come before backlog; ready: nothing it depends on is unfinished and nobody holds it)"
        ),
        _ => format!(
            "no planned story is ready in an active sprint; the ready todo backlog item with the highest priority (P{priority}) that nobody holds"
        ),
    };
    if waits > 0 {
        reason.push_str(&format!(
            "; {waits} unfinished item{} wait{} on it",
            if waits == 1 { "" } else { "s" },
            if waits == 1 { "s" } else { "" }
        ));
    }
    if !unblocks.is_empty() {
        reason.push_str(&format!("; finishing it unblocks {}", unblocks.join(", ")));
    }
    Some(Candidate { key, reason, unblocks })
}

/// How many of the first free items `next` spreads machines over.
const SPREAD_WINDOW: usize = 4;

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

/// The refusal for an item another agent holds.
pub(super) fn held(key: &ItemKey, claim: &Claim) -> StoreError {
    let (kind, id) = Kind::of(key);
    StoreError::Held {
        message: format!(
            "{} '{id}' is claimed by '{}' until {}",
            kind.as_str(),
            claim.agent,
            claim.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
        hint: "Pick other work (worksync_next), wait until the lease ends, or pass force=true if you must take it over (it is recorded)."
            .into(),
        holder: claim.agent.clone(),
        until: claim.until,
    }
}
