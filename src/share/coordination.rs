//! Claims, releases and `next(claim)` in a shared project: the local claim first (the
//! writer's rules, one item per agent on this machine), then the remote compare-and-swap
//! ([`super::claims`]) that decides between machines.
//!
//! When another machine holds the item, the local claim is given back and the other
//! machine's claim is recorded here (held by `<agent> on <machine>` for its lease), so local
//! agents and `next` skip the item without asking the remote again; `next(claim)` then tries
//! the following item, a few times at most. Machines do not all race for the first item:
//! each one starts at an offset among the free items that depends on its name.
//!
//! When the remote cannot be reached the claim stays local and the answer says so
//! (`settings.shared_claims_offline: refuse` refuses such claims instead).

use chrono::Utc;

use super::claims::{ClaimRecord, ClaimRefs, Taken};
use crate::store::outcome::Outcome;
use crate::store::{Change, Done, Operation, Store, StoreError, Target};

/// Items `next(claim)` tries before it says the remote keeps refusing.
const NEXT_ATTEMPTS: usize = 8;

/// A claim's answer in a shared project: what the store did, and how the remote took it.
#[derive(Debug, Clone)]
pub struct SharedClaim {
    pub done: Done,
    /// `"won"`: the claim holds on every machine; otherwise why it is local only.
    pub remote: String,
}

/// Where the claim is decided.
pub struct Claimer {
    pub store: Store,
    pub refs: ClaimRefs,
    pub project: String,
    pub machine: String,
    /// Refuse claims when the remote cannot be reached.
    pub strict: bool,
}

impl Claimer {
    /// `worksync_claim` in a shared project.
    pub async fn claim(
        &self,
        target: Target,
        id: &str,
        lease_minutes: Option<f64>,
        force: bool,
        agent: &str,
    ) -> Result<SharedClaim, StoreError> {
        let operation = Operation::Claim { target, id: id.to_string(), lease_minutes, force };
        let done = self.store.mutate(&self.project, operation, change(agent)).await?;
        let Outcome::Claimed { until, .. } = &done.outcome else {
            return Ok(SharedClaim { done, remote: "won".into() });
        };
        let until = *until;
        self.confirm(done, target, id, until, agent).await
    }

    /// `worksync_next` with `claim` in a shared project.
    pub async fn next(&self, lease_minutes: Option<f64>, agent: &str) -> Result<SharedClaim, StoreError> {
        let mut last = None;
        for attempt in 0..NEXT_ATTEMPTS {
            // The first try starts at an offset among the free items, so that machines asking
            // at once do not all race for the first one.
            let spread = if attempt == 0 { spread_of(&self.machine, agent) } else { 0 };
            let operation = Operation::Next { claim: true, lease_minutes, spread };
            let done = self.store.mutate(&self.project, operation, change(agent)).await?;
            let Outcome::Next { pick: Some(pick), .. } = &done.outcome else {
                return Ok(SharedClaim { done, remote: "won".into() });
            };
            let Some((until, _)) = pick.claimed else { return Ok(SharedClaim { done, remote: "won".into() }) };
            let target = match pick.item.kind {
                crate::store::Kind::Story => Target::Story,
                _ => Target::Backlog,
            };
            let id = pick.item.id.clone();
            match self.confirm(done, target, &id, until, agent).await {
                Ok(claimed) => return Ok(claimed),
                Err(held @ StoreError::Held { .. }) => last = Some(held),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| StoreError::Unavailable {
            message: "other machines hold every item tried".into(),
            hint: "Call worksync_next again in a moment.".into(),
        }))
    }

    /// `worksync_release` in a shared project: here, then on the remote.
    pub async fn release(&self, target: Target, id: &str, force: bool, agent: &str) -> Result<SharedClaim, StoreError> {
        let operation = Operation::Release { target, id: id.to_string(), force };
        let done = self.store.mutate(&self.project, operation, change(agent)).await?;
        let (refs, kind, id, agent, machine) =
            (self.refs.clone(), kind(target), id.to_string(), agent.to_string(), self.machine.clone());
        let released = tokio::task::spawn_blocking(move || refs.release(kind, &id, &agent, &machine, force)).await;
        let remote = match released {
            Ok(Ok(())) => "won".to_string(),
            Ok(Err(e)) => {
                format!("released here only: the remote could not be reached ({e}); its claim ends with its lease")
            }
            Err(e) => format!("released here only ({e})"),
        };
        Ok(SharedClaim { done, remote })
    }

    /// Takes the claim the store granted on the remote too; gives it back here if another
    /// machine holds it.
    async fn confirm(
        &self,
        done: Done,
        target: Target,
        id: &str,
        until: chrono::DateTime<Utc>,
        agent: &str,
    ) -> Result<SharedClaim, StoreError> {
        let now = Utc::now();
        let record = ClaimRecord {
            agent: agent.to_string(),
            machine: self.machine.clone(),
            lease_seconds: (until - now).num_seconds().max(1) as u64,
            claimed_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        let (refs, item_kind, item) = (self.refs.clone(), kind(target), id.to_string());
        let taken = tokio::task::spawn_blocking(move || refs.take(item_kind, &item, &record))
            .await
            .unwrap_or_else(|e| Taken::Unreachable(e.to_string()));
        match taken {
            Taken::Won => Ok(SharedClaim { done, remote: "won".into() }),
            Taken::Unreachable(why) if !self.strict => Ok(SharedClaim {
                done,
                remote: format!(
                    "local only: the shared plan's remote could not be reached ({why}); another machine may claim this item too"
                ),
            }),
            Taken::Unreachable(why) => {
                self.give_back(target, id, agent).await;
                Err(StoreError::Unavailable {
                    message: format!("the shared plan's remote could not be reached to claim '{id}' ({why})"),
                    hint: "Claims in this project must hold on every machine (settings.shared_claims_offline: refuse). Try again when the remote is reachable.".into(),
                })
            }
            Taken::Held(holder) => {
                self.give_back(target, id, agent).await;
                let until = now + chrono::Duration::seconds(holder.lease_seconds as i64);
                let who = format!("{} on {}", holder.agent, holder.machine);
                // Remember the other machine's claim here, so that local agents skip it.
                // Forced: it mirrors a claim that holds on the remote, whatever blocks it here.
                let operation = Operation::Claim {
                    target,
                    id: id.to_string(),
                    lease_minutes: Some(holder.lease_seconds as f64 / 60.0),
                    force: true,
                };
                let _ = self.store.mutate(&self.project, operation, change(&who)).await;
                Err(StoreError::Held {
                    message: format!(
                        "{} '{id}' is claimed by '{}' on machine '{}' (a claim on the shared plan's remote)",
                        kind(target),
                        holder.agent,
                        holder.machine
                    ),
                    hint: "Pick other work: call worksync_next.".into(),
                    holder: who,
                    until,
                })
            }
        }
    }

    async fn give_back(&self, target: Target, id: &str, agent: &str) {
        let operation = Operation::Release { target, id: id.to_string(), force: false };
        if let Err(e) = self.store.mutate(&self.project, operation, change(agent)).await {
            tracing::warn!(project = %self.project, id, error = %e, "could not give back a claim lost to another machine");
        }
    }
}

fn change(agent: &str) -> Change {
    Change { agent: agent.to_string(), now: Utc::now() }
}

fn kind(target: Target) -> &'static str {
    match target {
        Target::Story => "story",
        Target::Backlog => "backlog",
    }
}

/// The offset a machine and agent start `next(claim)` at: a hash of their names, so that
/// different machines (and agents) tend to start at different items.
fn spread_of(machine: &str, agent: &str) -> usize {
    let hash = xxhash_rust::xxh3::xxh3_64(format!("{machine}\u{0}{agent}").as_bytes());
    (hash % 4) as usize
}
