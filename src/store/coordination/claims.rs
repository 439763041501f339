//! Claims with leases, and the choice of the next work.
//!
//! A claim holds a story or backlog item for one agent until its lease ends; claiming a
//! planned story or a todo backlog item also sets it in progress. `next` picks the first
//! free work in a fixed order (below) and may claim it in the same step, so agents asking at
//! once never get the same item.

use chrono::Duration;

use super::items::{item_view, key_of, missing};
use super::{Event, Executed, Policy, Target};
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
    change: &Change,
) -> Result<Executed, StoreError> {
    let key = key_of(kind(target), id);
    let (until, renewed) = claim(index, meta, &key, lease, change)?;
    let item = item_view(index, meta, &key, change.now).ok_or_else(|| missing(&key))?;
    let event = Event::item(&key, "claimed", Some(item.rev));
    Ok(Executed::changed(Outcome::Claimed { item, until, renewed }, vec![event]))
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
        return Ok(Executed { outcome, forced_over: None, events: Vec::new(), index_changed: false });
    };
    if claim.agent != change.agent && !force {
        return Err(held(&key, claim));
    }
    let holder = claim.agent.clone();
    meta.claims.remove(&key.as_storage_key());
    let event = Event::item(&key, "released", Some(meta.rev(&key)));
    let forced_over = (holder != change.agent).then(|| holder.clone());
    let outcome = Outcome::Released { kind: kind(target), id: id.to_string(), holder: Some(holder) };
    Ok(Executed { outcome, forced_over, events: vec![event], index_changed: false })
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
    let Some((key, reason)) = pick_next(index, meta, change, spread) else {
        let outcome = Outcome::Next { pick: None };
        return Ok(Executed { outcome, forced_over: None, events: Vec::new(), index_changed: false });
    };
    if !take {
        let item = item_view(index, meta, &key, change.now).ok_or_else(|| missing(&key))?;
        let outcome = Outcome::Next { pick: Some(Pick { item, reason, claimed: None }) };
        return Ok(Executed { outcome, forced_over: None, events: Vec::new(), index_changed: false });
    }
    let (until, renewed) = claim(index, meta, &key, lease_of(lease_minutes, policy), change)?;
    let item = item_view(index, meta, &key, change.now).ok_or_else(|| missing(&key))?;
    let event = Event::item(&key, "claimed", Some(item.rev));
    let pick = Pick { item, reason, claimed: Some((until, renewed)) };
    Ok(Executed::changed(Outcome::Next { pick: Some(pick) }, vec![event]))
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

/// Claims `key` for the change's agent: succeeds if unclaimed, expired, or renewed by the
/// holder. Claiming a story or a todo backlog item sets it in progress. Returns until when,
/// and whether the agent renewed its own claim.
fn claim(
    index: &mut WorkIndex,
    meta: &mut Sidecar,
    key: &ItemKey,
    lease: Duration,
    change: &Change,
) -> Result<(chrono::DateTime<chrono::Utc>, bool), StoreError> {
    item_view(index, meta, key, change.now).ok_or_else(|| missing(key))?;
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
        let (kind, id) = Kind::of(key);
        return Err(StoreError::invalid(
            "id",
            format!("{} '{id}' is already done", kind.as_str()),
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
    Ok((until, renewed))
}

/// The next work for the agent: planned stories of active sprints first (file order), then
/// todo backlog items by priority (1 highest, default 3; file order breaks ties). Items with
/// a live claim by another agent are skipped.
///
/// `spread` skips that many of the first free items (wrapping among the first
/// [`SPREAD_WINDOW`]): machines of a shared project asking at once start at different items.
fn pick_next(index: &WorkIndex, meta: &Sidecar, change: &Change, spread: usize) -> Option<(ItemKey, String)> {
    let mut candidates = Vec::new();
    let window = if spread == 0 { 1 } else { SPREAD_WINDOW };
    let free = |key: &ItemKey| meta.claim(key, change.now).is_none_or(|c| c.agent == change.agent);
    for sprint in index.sprints().iter().filter(|s| s.status() == "active") {
        for story in sprint.stories().iter().filter(|s| s.status() == StoryStatus::Planned.as_str()) {
            let key = ItemKey::Story(story.id.clone());
            if free(&key) {
                let reason = format!(
                    "the first unclaimed planned story of active sprint '{}' (stories come before backlog)",
                    sprint.id
                );
                candidates.push((key, reason));
                if candidates.len() == window {
                    return candidates.into_iter().nth(spread % window);
                }
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
    for (priority, _, key) in backlog.into_iter().take(window - candidates.len()) {
        let reason = format!(
            "no planned story is free in an active sprint; the todo backlog item with the highest priority (P{priority}) that nobody holds"
        );
        candidates.push((key, reason));
    }
    let count = candidates.len();
    if count == 0 {
        return None;
    }
    candidates.into_iter().nth(spread % count)
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
