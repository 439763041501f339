//! Claims across machines: a claim in a shared project is won only by a compare-and-swap on
//! the remote.
//!
//! Each claimed item has a ref of its own on the plan's remote,
//! `refs/worksync/claims/<project>/<kind>/<hex(id)>`, pointing to a commit whose message
//! records who holds it (agent, machine, lease). Taking it is a create-only push
//! (`--force-with-lease=<ref>:` — the push fails if the ref exists), so of two machines that
//! claim at once exactly one wins; releasing and taking over an expired claim push with the
//! old value as the lease. A push that failed for another reason (unreachable, timed out) is
//! not a win: the ref is read back, and only our own commit there counts.
//!
//! Leases expire by duration on this machine's monotonic clock, counted from when this
//! machine first saw the claim, never by another machine's wall clock: a machine whose clock
//! is ten minutes fast cannot expire others' claims early.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::git::{GitError, Oid};
use super::repo::PlanRepo;

/// Who holds a claim, as its ref's commit records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimRecord {
    pub agent: String,
    pub machine: String,
    pub lease_seconds: u64,
    /// When the holder claimed, by its own clock (shown, never used for expiry).
    pub claimed_at: String,
}

/// What a remote claim attempt did.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    /// The ref is ours now.
    Won,
    /// Someone else holds it (their record), and its lease has not ended as seen from here.
    Held(ClaimRecord),
    /// The remote could not be asked: the claim is local only.
    Unreachable(String),
}

/// The claim refs of one shared project on its remote.
#[derive(Debug, Clone)]
pub struct ClaimRefs {
    repo: PlanRepo,
    project: String,
    /// (ref, commit) → when this machine first saw that claim.
    seen: Arc<Mutex<HashMap<(String, Oid), Instant>>>,
    /// Held while a claim's ref is read or moved: two agents of this machine contesting one
    /// item take turns, so their fetches into the same local ref never collide.
    turn: Arc<Mutex<()>>,
}

impl ClaimRefs {
    pub fn new(repo: PlanRepo, project: &str) -> ClaimRefs {
        ClaimRefs { repo, project: project.to_string(), seen: Arc::default(), turn: Arc::default() }
    }

    /// The plan repository the claims go through.
    pub fn repo(&self) -> &PlanRepo {
        &self.repo
    }

    /// The ref of an item's claim.
    pub fn ref_name(&self, kind: &str, id: &str) -> String {
        let hex: String = id.bytes().map(|b| format!("{b:02x}")).collect();
        format!("refs/worksync/claims/{}/{kind}/{hex}", self.project)
    }

    /// Claims `kind`/`id` on the remote for `record`. Renewing one's own claim keeps the ref.
    pub fn take(&self, kind: &str, id: &str, record: &ClaimRecord) -> Taken {
        let name = self.ref_name(kind, id);
        let _turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        match self.try_take(&name, record) {
            Ok(taken) => taken,
            Err(e) => Taken::Unreachable(e.to_string()),
        }
    }

    fn try_take(&self, name: &str, record: &ClaimRecord) -> Result<Taken, GitError> {
        let ours = self.repo.claim_commit(&serde_json::to_string(record).unwrap_or_default())?;
        for _ in 0..3 {
            let current = self.repo.remote_ref(name)?;
            let expected = match &current {
                None => None,
                Some(oid) => {
                    let holder = self.read(name, oid)?;
                    let mine = holder.as_ref().is_some_and(|h| h.agent == record.agent && h.machine == record.machine);
                    if !mine && !self.expired(name, oid, holder.as_ref()) {
                        return Ok(match holder {
                            Some(holder) => Taken::Held(holder),
                            None => Taken::Held(unknown_holder()),
                        });
                    }
                    Some(oid.clone())
                }
            };
            match self.repo.push_ref(name, Some(&ours), expected.as_deref()) {
                Ok(true) => return Ok(Taken::Won),
                // Someone moved the ref between our read and our push: read it again.
                Ok(false) => continue,
                Err(e) => {
                    // The push may have landed before the failure: only the ref read back tells.
                    return match self.repo.remote_ref(name) {
                        Ok(Some(oid)) if oid == ours => Ok(Taken::Won),
                        _ => Err(e),
                    };
                }
            }
        }
        let current = self.repo.remote_ref(name)?;
        let holder = match current {
            Some(oid) => self.read(name, &oid)?.unwrap_or_else(unknown_holder),
            None => unknown_holder(),
        };
        Ok(Taken::Held(holder))
    }

    /// Gives the claim back if `agent` on `machine` holds it (or, with `force`, whoever does).
    pub fn release(&self, kind: &str, id: &str, agent: &str, machine: &str, force: bool) -> Result<(), GitError> {
        let name = self.ref_name(kind, id);
        let _turn = self.turn.lock().unwrap_or_else(|e| e.into_inner());
        let Some(oid) = self.repo.remote_ref(&name)? else { return Ok(()) };
        let holder = self.read(&name, &oid)?;
        let mine = holder.as_ref().is_some_and(|h| h.agent == agent && h.machine == machine);
        if mine || force {
            self.repo.push_ref(&name, None, Some(&oid))?;
        }
        Ok(())
    }

    /// The record a claim commit holds (`None`: not a claim worksync wrote).
    fn read(&self, name: &str, oid: &str) -> Result<Option<ClaimRecord>, GitError> {
        let message = self.repo.fetch_ref_message(name, oid)?;
        Ok(serde_json::from_str(message.trim()).ok())
    }

    /// Has the claim's lease ended, counted on this machine's clock from when it first saw it?
    fn expired(&self, name: &str, oid: &str, holder: Option<&ClaimRecord>) -> bool {
        let lease = Duration::from_secs(holder.map_or(30 * 60, |h| h.lease_seconds));
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let first = *seen.entry((name.to_string(), oid.to_string())).or_insert_with(Instant::now);
        first.elapsed() >= lease
    }
}

fn unknown_holder() -> ClaimRecord {
    ClaimRecord { agent: "unknown".into(), machine: "unknown".into(), lease_seconds: 0, claimed_at: String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::git::Git;

    fn record(agent: &str, machine: &str, lease_seconds: u64) -> ClaimRecord {
        ClaimRecord { agent: agent.into(), machine: machine.into(), lease_seconds, claimed_at: "t".into() }
    }

    /// Of two machines claiming one item, one wins and the other is told who holds it; the
    /// holder renews and releases; then the other wins. An expired lease (as seen here) is
    /// taken over.
    #[test]
    fn create_only_claims() {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("plan.git");
        Git::new(&remote, "t", "t@t").init().unwrap();
        let url = remote.to_str().unwrap();
        let lap = ClaimRefs::new(PlanRepo::open(dir.path().join("lap.git"), url, "main", "lap").unwrap(), "p");
        let box_ = ClaimRefs::new(PlanRepo::open(dir.path().join("box.git"), url, "main", "box").unwrap(), "p");
        assert_eq!(lap.take("story", "STORY-1", &record("a1", "lap", 600)), Taken::Won);
        assert_eq!(box_.take("story", "STORY-1", &record("b1", "box", 600)), Taken::Held(record("a1", "lap", 600)));
        assert_eq!(lap.take("story", "STORY-1", &record("a1", "lap", 600)), Taken::Won, "renewal");
        box_.release("story", "STORY-1", "b1", "box", false).unwrap();
        assert!(
            matches!(box_.take("story", "STORY-1", &record("b1", "box", 600)), Taken::Held(_)),
            "not released by others"
        );
        lap.release("story", "STORY-1", "a1", "lap", false).unwrap();
        assert_eq!(box_.take("story", "STORY-1", &record("b1", "box", 0)), Taken::Won);
        // box's lease is 0 s: as soon as lap has seen it, it has ended.
        assert_eq!(
            lap.take("story", "STORY-1", &record("a2", "lap", 600)),
            Taken::Won,
            "an expired claim is taken over"
        );
        // A machine whose clock is ten minutes fast wrote a claim "ten minutes ago" with a
        // five-minute lease: as seen here it has only just begun.
        let fast = ClaimRecord { claimed_at: "2020-01-01T00:00:00Z".into(), ..record("f1", "fast", 300) };
        assert_eq!(box_.take("backlog", "b-9", &fast), Taken::Won);
        assert_eq!(lap.take("backlog", "b-9", &record("a3", "lap", 300)), Taken::Held(fast));
        let unreachable = ClaimRefs::new(
            PlanRepo::open(dir.path().join("x.git"), dir.path().join("missing.git").to_str().unwrap(), "main", "x")
                .unwrap(),
            "p",
        );
        assert!(matches!(unreachable.take("story", "STORY-2", &record("x", "x", 60)), Taken::Unreachable(_)));
    }
}
