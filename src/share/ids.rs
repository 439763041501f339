//! New story ids in a shared project that no other machine can hand out too.
//!
//! Online, `STORY-N` is reserved on the remote by a create-only push of
//! `refs/worksync/ids/<project>/STORY-N` (the same compare-and-swap as claims): of two
//! machines adding a story at once, each gets its own number. Offline, the id carries the
//! machine's name (`STORY-12-lap`): unique without asking anyone, accepted by the schema, and
//! never renumbered later. Either way no merge ever has to rename a story an agent may hold.

use super::git::GitError;
use super::repo::PlanRepo;

/// Numbers tried past the first free one before giving up on reserving.
const ATTEMPTS: u64 = 20;

/// A story id for a new story, and how it was obtained.
#[derive(Debug, Clone, PartialEq)]
pub enum StoryId {
    /// Reserved on the remote: no machine hands it out again.
    Reserved(String),
    /// The remote could not be reached (why): a machine-suffixed id.
    Offline(String, String),
}

impl StoryId {
    pub fn id(&self) -> &str {
        match self {
            StoryId::Reserved(id) | StoryId::Offline(id, _) => id,
        }
    }
}

/// Reserves a story id for `project`, starting at `local_next` (this machine's next free
/// number); `taken` says whether an id exists here already.
pub fn reserve(
    repo: &PlanRepo,
    project: &str,
    local_next: u64,
    machine: &str,
    taken: impl Fn(&str) -> bool,
) -> StoryId {
    match try_reserve(repo, project, local_next, machine) {
        Ok(id) => StoryId::Reserved(id),
        Err(e) => {
            let mut n = local_next;
            let mut id = format!("STORY-{n}-{machine}");
            while taken(&id) {
                n += 1;
                id = format!("STORY-{n}-{machine}");
            }
            StoryId::Offline(id, e.to_string())
        }
    }
}

fn try_reserve(repo: &PlanRepo, project: &str, local_next: u64, machine: &str) -> Result<String, GitError> {
    let prefix = format!("refs/worksync/ids/{project}/");
    let reserved = repo.remote_refs(&prefix)?;
    let highest = reserved
        .iter()
        .filter_map(|name| name.strip_prefix(&prefix)?.strip_prefix("STORY-")?.parse::<u64>().ok())
        .max();
    let mut n = local_next.max(highest.map_or(0, |h| h + 1));
    let marker = repo.claim_commit(&format!("{{\"machine\":{machine:?}}}"))?;
    for _ in 0..ATTEMPTS {
        let id = format!("STORY-{n}");
        if repo.push_ref(&format!("{prefix}{id}"), Some(&marker), None)? {
            return Ok(id);
        }
        n += 1;
    }
    Err(GitError::Failed {
        command: "push".into(),
        status: None,
        stderr: format!("{ATTEMPTS} story numbers from STORY-{n} on were all reserved by other machines meanwhile"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::share::git::Git;

    /// Two machines starting from the same local number get different ids; an unreachable
    /// remote gives a machine-suffixed id that skips ids taken here.
    #[test]
    fn reservations_never_collide() {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("plan.git");
        Git::new(&remote, "t", "t@t").init().unwrap();
        let url = remote.to_str().unwrap();
        let lap = PlanRepo::open(dir.path().join("lap.git"), url, "main", "lap").unwrap();
        let box_ = PlanRepo::open(dir.path().join("box.git"), url, "main", "box").unwrap();
        assert_eq!(reserve(&lap, "p", 7, "lap", |_| false), StoryId::Reserved("STORY-7".into()));
        assert_eq!(reserve(&box_, "p", 7, "box", |_| false), StoryId::Reserved("STORY-8".into()));
        assert_eq!(
            reserve(&box_, "p", 3, "box", |_| false),
            StoryId::Reserved("STORY-9".into()),
            "past the highest reserved"
        );
        let offline =
            PlanRepo::open(dir.path().join("x.git"), dir.path().join("gone.git").to_str().unwrap(), "main", "lap")
                .unwrap();
        let id = reserve(&offline, "p", 7, "lap", |id| id == "STORY-7-lap");
        assert!(matches!(&id, StoryId::Offline(id, _) if id == "STORY-8-lap"), "{id:?}");
        crate::store::validate::id("story_id", id.id()).unwrap();
    }
}
