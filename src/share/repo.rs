//! The bare repository a server keeps for each shared project, and the plan's remote.
//!
//! `<data root>/.worksync/git/<project>.git` is used by this server alone: plumbing only, no
//! work tree, no index. Its refs:
//! - `refs/worksync/remote`: the remote branch's tip as last fetched;
//! - `refs/worksync/confirmed`: the last remote tip this machine merged into its files (and,
//!   after a push, its own commit): the common version of the next merge. It moves only by
//!   compare-and-swap, and only forward on the remote's history.
//!
//! A plan is the tree of one commit: `work-index.yaml`, the plan files (`store::plan`) and
//! `worksync/format`. Blobs are written from the bytes the writer holds, never from a work
//! tree, so what is committed is what was written.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::format::{FORMAT_FILE, FORMAT_VERSION};
use super::git::{Git, GitError, Oid, TreeFile};

/// A plan: every file of one commit's tree, path → bytes.
pub type Plan = BTreeMap<String, Vec<u8>>;

/// Where a fetched remote tip is kept.
const REMOTE_REF: &str = "refs/worksync/remote";
/// The common version of the next merge.
const CONFIRMED_REF: &str = "refs/worksync/confirmed";
/// A commit being pushed: if the process dies after the push landed and before the
/// confirmed ref moved, the next sync finds the commit on the remote and confirms it.
const PUSHING_REF: &str = "refs/worksync/pushing";

/// What a push did.
#[derive(Debug, Clone, PartialEq)]
pub enum Pushed {
    /// The remote branch now points to the commit.
    Yes,
    /// The remote branch moved meanwhile (not a fast-forward): fetch, merge, try again.
    Rejected,
}

/// A shared project's repository and remote.
#[derive(Debug, Clone)]
pub struct PlanRepo {
    git: Git,
    remote: String,
    branch: String,
    /// The plans of the last commits read (a commit never changes): most syncs read the
    /// same confirmed commit again.
    plans: std::sync::Arc<std::sync::Mutex<Vec<(Oid, Plan)>>>,
}

/// How many commits' plans [`PlanRepo::read_plan`] keeps.
const PLANS_KEPT: usize = 3;

impl PlanRepo {
    /// The repository at `dir` (created if missing) for the plan on `remote`'s `branch`;
    /// commits are made as `machine`.
    pub fn open(dir: PathBuf, remote: &str, branch: &str, machine: &str) -> Result<PlanRepo, GitError> {
        let git = Git::new(dir, machine, &format!("{machine}@worksync"));
        git.init()?;
        Ok(PlanRepo { git, remote: remote.to_string(), branch: branch.to_string(), plans: Default::default() })
    }

    /// The remote's URL or path.
    pub fn remote(&self) -> &str {
        &self.remote
    }

    /// The branch that holds the plan.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// The bare repository's directory.
    pub fn dir(&self) -> &std::path::Path {
        self.git.dir()
    }

    /// The branch's ref on the remote.
    fn branch_ref(&self) -> String {
        format!("refs/heads/{}", self.branch)
    }

    /// The remote branch's tip, asked of the remote now (`None`: the branch does not exist).
    pub fn remote_tip(&self) -> Result<Option<Oid>, GitError> {
        let out = self.git.text(&["ls-remote", "--", &self.remote, &self.branch_ref()])?;
        Ok(out.lines().find_map(|line| {
            let (oid, name) = line.split_once('\t')?;
            (name == self.branch_ref()).then(|| oid.to_string())
        }))
    }

    /// Brings the remote branch's commits in, unless `tip` is already here.
    pub fn fetch(&self, tip: &str) -> Result<(), GitError> {
        if self.git.resolve(tip)?.is_none() {
            let refspec = format!("+{}:{REMOTE_REF}", self.branch_ref());
            self.git.run(&["fetch", "--no-tags", "--no-write-fetch-head", "--", &self.remote, &refspec], None)?;
        }
        Ok(())
    }

    /// The common version of the next merge, if this machine has merged the plan before.
    pub fn confirmed(&self) -> Result<Option<Oid>, GitError> {
        self.git.resolve(CONFIRMED_REF)
    }

    /// Moves the common version from `old` to `new` (compare-and-swap).
    pub fn confirm(&self, new: &str, old: Option<&str>) -> Result<(), GitError> {
        self.git.update_ref(CONFIRMED_REF, new, old)
    }

    /// Notes that `commit` is about to be pushed.
    pub fn mark_pushing(&self, commit: &str) -> Result<(), GitError> {
        self.git.run(&["update-ref", PUSHING_REF, commit], None).map(drop)
    }

    /// Completes a push that a crash interrupted: if the commit noted by
    /// [`PlanRepo::mark_pushing`] reached `tip`'s history (and descends from the confirmed
    /// commit), it becomes the confirmed commit. Returns the confirmed commit after that.
    pub fn recover_push(&self, confirmed: Option<Oid>, tip: Option<&str>) -> Result<Option<Oid>, GitError> {
        let Some(pushing) = self.git.resolve(PUSHING_REF)? else { return Ok(confirmed) };
        let mut result = confirmed.clone();
        if let Some(tip) = tip {
            self.fetch(tip)?;
            let landed = self.is_ancestor(&pushing, tip)?;
            let after_confirmed = match &confirmed {
                Some(confirmed) => confirmed != &pushing && self.is_ancestor(confirmed, &pushing)?,
                None => true,
            };
            if landed && after_confirmed {
                self.confirm(&pushing, confirmed.as_deref())?;
                result = Some(pushing);
            }
        }
        self.git.run(&["update-ref", "-d", PUSHING_REF], None)?;
        Ok(result)
    }

    /// Is `ancestor` on `descendant`'s history?
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
        self.git.is_ancestor(ancestor, descendant)
    }

    /// The plan a commit holds.
    pub fn read_plan(&self, commit: &str) -> Result<Plan, GitError> {
        let cached = self.plans.lock().unwrap_or_else(|e| e.into_inner()).iter().find(|(c, _)| c == commit).cloned();
        if let Some((_, plan)) = cached {
            return Ok(plan);
        }
        let files = self.git.files(commit)?;
        let blobs: Vec<&str> = files.values().map(String::as_str).collect();
        let contents = if blobs.is_empty() { Vec::new() } else { self.git.read_blobs(&blobs)? };
        let plan: Plan = files.into_keys().zip(contents).collect();
        let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
        plans.insert(0, (commit.to_string(), plan.clone()));
        plans.truncate(PLANS_KEPT);
        Ok(plan)
    }

    /// A commit of `plan` (with the format file) on top of `parent`.
    pub fn commit(&self, plan: &Plan, parent: Option<&str>, message: &str) -> Result<Oid, GitError> {
        let mut files = Vec::with_capacity(plan.len() + 1);
        for (path, bytes) in plan {
            if path != FORMAT_FILE {
                files.push(TreeFile { path: path.clone(), blob: self.git.write_blob(bytes)? });
            }
        }
        let format = format!("{FORMAT_VERSION}\n");
        files.push(TreeFile { path: FORMAT_FILE.to_string(), blob: self.git.write_blob(format.as_bytes())? });
        let tree = self.git.write_tree(&files)?;
        self.git.commit(&tree, parent.as_slice(), message)
    }

    /// Pushes `commit` to the remote branch, as a fast-forward only.
    pub fn push(&self, commit: &str) -> Result<Pushed, GitError> {
        let refspec = format!("{commit}:{}", self.branch_ref());
        match self.git.run(&["push", "--no-verify", "--", &self.remote, &refspec], None) {
            Ok(_) => Ok(Pushed::Yes),
            Err(GitError::Failed { stderr, .. }) if stderr.contains("[rejected]") => Ok(Pushed::Rejected),
            Err(e) => Err(e),
        }
    }

    /// A commit holding only `message` (an empty tree, no parent): the value of a claim ref.
    pub fn claim_commit(&self, message: &str) -> Result<Oid, GitError> {
        let tree = self.git.write_tree(&[])?;
        self.git.commit(&tree, &[], message)
    }

    /// The value of the remote's ref `name`, asked of the remote now.
    pub fn remote_ref(&self, name: &str) -> Result<Option<Oid>, GitError> {
        let out = self.git.text(&["ls-remote", "--", &self.remote, name])?;
        Ok(out.lines().find_map(|line| {
            let (oid, found) = line.split_once('\t')?;
            (found == name).then(|| oid.to_string())
        }))
    }

    /// The names of the remote's refs under `prefix` (which ends with `/`).
    pub fn remote_refs(&self, prefix: &str) -> Result<Vec<String>, GitError> {
        let pattern = format!("{prefix}*");
        let out = self.git.text(&["ls-remote", "--", &self.remote, &pattern])?;
        Ok(out.lines().filter_map(|line| Some(line.split_once('\t')?.1.to_string())).collect())
    }

    /// Sets the remote's ref `name` to `new` (`None`: deletes it) only if it is `expected`
    /// there now (`None`: only if it does not exist). `Ok(false)`: it was not.
    pub fn push_ref(&self, name: &str, new: Option<&str>, expected: Option<&str>) -> Result<bool, GitError> {
        let lease = format!("--force-with-lease={name}:{}", expected.unwrap_or_default());
        let refspec = format!("{}:{name}", new.unwrap_or_default());
        match self.git.run(&["push", "--no-verify", &lease, "--", &self.remote, &refspec], None) {
            Ok(_) => Ok(true),
            Err(GitError::Failed { stderr, .. })
                if stderr.contains("[rejected]")
                    || stderr.contains("stale info")
                    || stderr.contains("already exists") =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The message of the commit `oid` that the remote's ref `name` points to, fetched if it
    /// is not here yet.
    pub fn fetch_ref_message(&self, name: &str, oid: &str) -> Result<String, GitError> {
        if self.git.resolve(oid)?.is_none() {
            // A local ref of its own per remote ref: fetches of different claims never meet.
            let local = name.replacen("refs/worksync/", "refs/worksync/seen/", 1);
            let refspec = format!("+{name}:{local}");
            self.git.run(&["fetch", "--no-tags", "--no-write-fetch-head", "--", &self.remote, &refspec], None)?;
        }
        let raw = self.git.run(&["cat-file", "commit", oid], None)?;
        let raw = String::from_utf8_lossy(&raw);
        Ok(raw.split_once("\n\n").map(|(_, message)| message.to_string()).unwrap_or_default())
    }

    /// The commits after `from` up to `to`, oldest first: (author, message).
    pub fn log(&self, from: Option<&str>, to: &str) -> Result<Vec<(String, String)>, GitError> {
        let range = match from {
            Some(from) => format!("{from}..{to}"),
            None => to.to_string(),
        };
        let out = self.git.run(&["log", "--reverse", "--format=%an%x00%B%x1e", &range], None)?;
        Ok(String::from_utf8_lossy(&out)
            .split('\x1e')
            .filter_map(|entry| {
                let (author, message) = entry.trim_start_matches('\n').split_once('\0')?;
                Some((author.to_string(), message.to_string()))
            })
            .collect())
    }

    /// Who made the commits after `from` up to `to` (their authors: machine names), sorted.
    pub fn authors(&self, from: Option<&str>, to: &str) -> Result<Vec<String>, GitError> {
        let mut authors: Vec<String> = self.log(from, to)?.into_iter().map(|(author, _)| author).collect();
        authors.sort();
        authors.dedup();
        Ok(authors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two repositories sharing one remote: a commit, a push, the other's fetch and read;
    /// a push that is not a fast-forward is rejected, not forced.
    #[test]
    fn commit_push_fetch_and_reject() {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("plan.git");
        Git::new(&remote, "t", "t@t").init().unwrap();
        let url = remote.to_str().unwrap();
        let a = PlanRepo::open(dir.path().join("a.git"), url, "main", "lap").unwrap();
        let b = PlanRepo::open(dir.path().join("b.git"), url, "main", "box").unwrap();
        assert_eq!(a.remote_tip().unwrap(), None);
        let mut plan = Plan::new();
        plan.insert("work-index.yaml".into(), b"sprints: []\r\n".to_vec());
        plan.insert("PROMPTS/review.md".into(), b"# review\n".to_vec());
        let first = a.commit(&plan, None, "first").unwrap();
        assert_eq!(a.push(&first).unwrap(), Pushed::Yes);
        let tip = b.remote_tip().unwrap().unwrap();
        assert_eq!(tip, first);
        b.fetch(&tip).unwrap();
        let read = b.read_plan(&tip).unwrap();
        assert_eq!(read.get("work-index.yaml").unwrap(), b"sprints: []\r\n", "the bytes exactly");
        assert_eq!(read.get(FORMAT_FILE).unwrap(), b"1\n");
        assert_eq!(b.authors(None, &tip).unwrap(), ["lap"]);
        // b builds on the tip; a, still on `first`, builds a sibling: its push is rejected.
        let second = b.commit(&read, Some(&tip), "second").unwrap();
        assert_eq!(b.push(&second).unwrap(), Pushed::Yes);
        let sibling = a.commit(&plan, Some(&first), "sibling").unwrap();
        assert_eq!(a.push(&sibling).unwrap(), Pushed::Rejected);
        b.confirm(&second, None).unwrap();
        assert!(b.confirm(&first, Some(&first)).is_err(), "the common version moves only by compare-and-swap");
        assert!(b.confirm(&first, None).is_err(), "the common version moves only by compare-and-swap");
        assert_eq!(b.confirmed().unwrap(), Some(second));
    }

    /// A process killed after its push landed and before it confirmed it: the next sync's
    /// recovery confirms the pushed commit (else the remote would hold a plan this machine
    /// "never merged"); a push that did not land is forgotten.
    #[test]
    fn an_interrupted_push_is_confirmed_by_the_next_sync() {
        let dir = tempfile::tempdir().unwrap();
        let remote = dir.path().join("plan.git");
        Git::new(&remote, "t", "t@t").init().unwrap();
        let url = remote.to_str().unwrap();
        let a = PlanRepo::open(dir.path().join("a.git"), url, "main", "lap").unwrap();
        let mut plan = Plan::new();
        plan.insert("work-index.yaml".into(), b"sprints: []\n".to_vec());
        let first = a.commit(&plan, None, "first").unwrap();
        a.mark_pushing(&first).unwrap();
        assert_eq!(a.push(&first).unwrap(), Pushed::Yes);
        // killed here: nothing confirmed
        let restarted = PlanRepo::open(dir.path().join("a.git"), url, "main", "lap").unwrap();
        let tip = restarted.remote_tip().unwrap();
        assert_eq!(restarted.recover_push(None, tip.as_deref()).unwrap(), Some(first.clone()));
        assert_eq!(restarted.confirmed().unwrap(), Some(first.clone()));
        // A sibling that never landed is dropped, and the confirmed commit stays.
        let sibling = restarted.commit(&plan, None, "never pushed").unwrap();
        restarted.mark_pushing(&sibling).unwrap();
        assert_eq!(restarted.recover_push(Some(first.clone()), tip.as_deref()).unwrap(), Some(first.clone()));
        assert_eq!(restarted.recover_push(Some(first.clone()), tip.as_deref()).unwrap(), Some(first), "noted once");
    }
}
