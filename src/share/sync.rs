//! One sync of a shared project: fetch, merge three ways, apply, commit, push.
//!
//! A sync reads the remote branch's tip and this machine's last confirmed commit (the common
//! version), and then:
//! 1. refuses to merge without a real common version: a remote branch that no longer holds
//!    the confirmed commit (force-pushed, rewritten) or no longer exists stops sync for the
//!    project with an error that says so and how to recover; a remote that holds a plan this
//!    machine never merged must be joined, not merged into;
//! 2. merges (common, ours, theirs) with [`merge_plans`] after checking their side
//!    ([`check_incoming`]: a broken remote plan is refused, the local project is untouched);
//! 3. applies the merge through the writer only if the project has not changed since this
//!    sync read it (compare-and-swap; otherwise it starts over), crediting the changes to the
//!    machines whose commits brought them;
//! 4. commits the merged plan with the remote tip as its only parent (a linear history, no
//!    merge commits) and pushes it as a fast-forward; a rejected push starts over (bounded);
//! 5. once pushed, moves the confirmed commit forward: every change up to the sequence
//!    number it read is now on the remote ("synced through").
//!
//! Every step before 5 can be interrupted (crash, kill) without harm: the confirmed commit
//! moves last, so the next sync merges again from it, and merging what is already merged
//! changes nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::git::GitError;
use super::machines;
use super::plan_merge::{PlanMergeError, merge_incoming};
use super::repo::{Plan, PlanRepo, Pushed};
use super::status::{ConflictLog, SyncBoard};
use crate::store::plan::{WORK_INDEX, is_plan_path};
use crate::store::{MergeToApply, Store, StoreError};

/// Attempts of one sync when the project or the remote moves under it.
const MAX_ATTEMPTS: usize = 6;

/// Why a sync did not complete.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    /// Sync of the project is stopped until a person acts (the message says how).
    #[error("sync stopped: {0}")]
    Stopped(String),
    /// The remote's plan was refused as input; tried again next interval.
    #[error(transparent)]
    Refused(PlanMergeError),
    /// git, the network or the local files failed; tried again next interval.
    #[error("{0}")]
    Failed(String),
}

impl From<GitError> for SyncError {
    fn from(e: GitError) -> Self {
        SyncError::Failed(e.to_string())
    }
}

impl From<StoreError> for SyncError {
    fn from(e: StoreError) -> Self {
        SyncError::Failed(e.to_string())
    }
}

/// What a completed sync did.
#[derive(Debug, Clone, PartialEq)]
pub struct Synced {
    /// The remote tip after the sync (this machine's commit if it pushed).
    pub commit: String,
    /// Every change of the project's feed up to this sequence number is on the remote.
    pub synced_through: u64,
    /// Items changed here by what came from the remote.
    pub pulled_items: usize,
    /// Whether this sync pushed a commit.
    pub pushed: bool,
    /// Disagreements the merge resolved (also in the conflict log).
    pub conflicts: usize,
}

/// The sync of one shared project.
#[derive(Clone)]
pub struct Syncer {
    pub store: Store,
    pub project: String,
    pub repo: PlanRepo,
    pub machine: String,
    pub board: SyncBoard,
    pub conflicts: ConflictLog,
}

impl Syncer {
    /// Runs one sync and records its outcome on the board.
    pub async fn sync(&self) -> Result<Synced, SyncError> {
        self.board.started(&self.project);
        let outcome = self.sync_once().await;
        let last_seq = self.store.changes_last_seq(&self.project);
        self.board.finished(&self.project, &outcome, last_seq);
        match &outcome {
            Ok(synced) if synced.pushed || synced.pulled_items > 0 => tracing::info!(
                project = %self.project,
                commit = %short(&synced.commit),
                pulled_items = synced.pulled_items,
                pushed = synced.pushed,
                "synced the shared plan"
            ),
            Ok(_) => tracing::debug!(project = %self.project, "shared plan up to date"),
            Err(e) => tracing::warn!(project = %self.project, error = %e, "sync of the shared plan did not complete"),
        }
        outcome
    }

    async fn sync_once(&self) -> Result<Synced, SyncError> {
        let mut last_error = None;
        for _ in 0..MAX_ATTEMPTS {
            match self.attempt().await? {
                Attempt::Done(synced) => return Ok(synced),
                Attempt::Again(why) => last_error = Some(why),
            }
        }
        Err(SyncError::Failed(format!(
            "gave up after {MAX_ATTEMPTS} attempts ({}); trying again next interval",
            last_error.unwrap_or_default()
        )))
    }

    async fn attempt(&self) -> Result<Attempt, SyncError> {
        let repo = self.repo.clone();
        let (tip, confirmed) = blocking(move || {
            let tip = repo.remote_tip()?;
            // A push a crash interrupted before it was confirmed is confirmed now.
            let confirmed = repo.recover_push(repo.confirmed()?, tip.as_deref())?;
            Ok((tip, confirmed))
        })
        .await?;
        let local = self.store.shared(&self.project).await?;
        let mut ours: Plan = local.files.clone();
        ours.insert(WORK_INDEX.to_string(), local.text.clone().into_bytes());

        // `incoming`: the commits that came since the confirmed one (author, message): who to
        // credit the changes to, and the disagreements other machines resolved in them.
        let (base, theirs, incoming) = match (&confirmed, &tip) {
            // Nothing shared yet on either side: this machine's plan is the first commit.
            (None, None) => (None, None, Vec::new()),
            (Some(_), None) => return Err(SyncError::Stopped(self.branch_gone())),
            (None, Some(_)) => return Err(SyncError::Stopped(self.never_merged())),
            (Some(confirmed), Some(tip)) => {
                let (repo, at, tip) = (self.repo.clone(), confirmed.clone(), tip.clone());
                let confirmed = at.clone();
                let fetched = blocking(move || {
                    repo.fetch(&tip)?;
                    if !repo.is_ancestor(&at, &tip)? {
                        return Ok(None);
                    }
                    let base = repo.read_plan(&at)?;
                    if tip == at {
                        return Ok(Some((base.clone(), base, Vec::new())));
                    }
                    Ok(Some((base, repo.read_plan(&tip)?, repo.log(Some(&at), &tip)?)))
                })
                .await?;
                let Some((base, theirs, incoming)) = fetched else {
                    return Err(SyncError::Stopped(self.rewritten(&confirmed)));
                };
                (Some(base), Some(theirs), incoming)
            }
        };

        // Files outside the plan's allow-list (a README a person pushed) are not ours to
        // write locally: they travel as the common version holds them.
        if let Some(base) = &base {
            for (path, bytes) in base {
                if path != WORK_INDEX && !is_plan_path(path) {
                    ours.entry(path.clone()).or_insert_with(|| bytes.clone());
                }
            }
        }
        // This machine's priorities and dependencies travel in its own file (see `machines`).
        let empty = Plan::new();
        if let Some(file) = machines::ours(base.as_ref().unwrap_or(&empty), &self.machine, &local.travelling) {
            ours.insert(machines::file_of(&self.machine), file);
        }
        let (merged, conflicts) = match (&base, &theirs) {
            (Some(base), Some(theirs)) if tip != confirmed => {
                let place = format!("in commit {}", short(tip.as_deref().unwrap_or_default()));
                let merged = merge_incoming(base, &ours, theirs, &place).map_err(|e| match e {
                    PlanMergeError::Refused(_) => SyncError::Refused(e),
                    PlanMergeError::Local(why) => SyncError::Failed(why),
                })?;
                (merged.plan, merged.conflicts)
            }
            _ => (without_format(&ours), Vec::new()),
        };

        // Take the merge into the local files (compare-and-swap on what was read).
        let mut synced_through = local.seq;
        let mut pulled_items = 0;
        let merged_index = String::from_utf8(merged.get(WORK_INDEX).cloned().unwrap_or_default())
            .map_err(|_| SyncError::Failed("the merged work index is not UTF-8".into()))?;
        let file_changes = local_file_changes(&local.files, &merged);
        let travelling = machines::combined(&merged);
        if merged_index != local.text || !file_changes.is_empty() || travelling != local.travelling {
            let merge = MergeToApply {
                expected: local.text.clone(),
                merged: merged_index,
                files: file_changes,
                expected_files: local.files.clone(),
                travelling,
                expected_travelling: local.travelling.clone(),
                agent: self.credit(&incoming),
            };
            match self.store.apply_merged(&self.project, merge).await {
                Ok(applied) => {
                    synced_through = applied.seq;
                    pulled_items = applied.items;
                }
                Err(StoreError::Changed { .. }) => {
                    return Ok(Attempt::Again("the project changed during the merge".into()));
                }
                Err(e) => return Err(e.into()),
            }
        }

        // Publish the merge, unless the remote holds exactly it already.
        // A merge that resolved disagreements is pushed even when the remote already holds its
        // files: its message tells the other machines, whose values may be the ones that lost.
        let up_to_date = conflicts.is_empty() && theirs.as_ref().is_some_and(|theirs| without_format(theirs) == merged);
        let (commit, pushed) = if up_to_date {
            (tip.clone().unwrap_or_default(), false)
        } else {
            let (repo, parent) = (self.repo.clone(), tip.clone());
            let message = format!(
                "{}: {} synced from {}\n{}",
                self.project,
                describe(&conflicts),
                self.machine,
                conflict_trailers(&conflicts)
            );
            let commit = blocking(move || Ok(repo.commit(&merged, parent.as_deref(), &message)?)).await?;
            let (repo, to_push) = (self.repo.clone(), commit.clone());
            let pushed = blocking(move || {
                repo.mark_pushing(&to_push)?;
                Ok(repo.push(&to_push)?)
            });
            match pushed.await? {
                Pushed::Yes => (commit, true),
                Pushed::Rejected => return Ok(Attempt::Again("the remote moved during the push".into())),
            }
        };
        let (repo, new, old) = (self.repo.clone(), commit.clone(), confirmed.clone());
        blocking(move || Ok(repo.confirm(&new, old.as_deref())?)).await?;
        if !conflicts.is_empty() {
            self.conflicts.append(&self.project, &self.machine, &commit, &conflicts);
            let notes = conflicts.iter().map(|c| (c.at.clone(), conflict_summary(c))).collect();
            self.note(notes, "via git").await;
        }
        // Disagreements other machines resolved in the commits that came in: this machine's
        // agents hear of them too (a value of theirs may be the one that lost).
        for (author, message) in incoming.iter().filter(|(author, _)| *author != self.machine) {
            let resolved = parse_trailers(message);
            if !resolved.is_empty() {
                self.conflicts.append(&self.project, author, &commit, &resolved);
                let notes = resolved.iter().map(|c| (c.at.clone(), conflict_summary(c))).collect();
                self.note(notes, &format!("via git from {author}")).await;
            }
        }
        Ok(Attempt::Done(Synced { commit, synced_through, pulled_items, pushed, conflicts: conflicts.len() }))
    }

    async fn note(&self, notes: Vec<(String, String)>, agent: &str) {
        if let Err(e) = self.store.note_conflicts(&self.project, agent, notes).await {
            tracing::warn!(project = %self.project, error = %e, "could not record the merge's conflicts in the change feed");
        }
    }

    /// Whom changes from the remote are credited to.
    fn credit(&self, incoming: &[(String, String)]) -> String {
        let mut others: Vec<&str> =
            incoming.iter().map(|(author, _)| author.as_str()).filter(|a| *a != self.machine).collect();
        others.sort_unstable();
        others.dedup();
        if others.is_empty() { "via git".to_string() } else { format!("via git from {}", others.join(", ")) }
    }

    fn branch_gone(&self) -> String {
        format!(
            "branch '{}' no longer exists on {}. If it was deleted by mistake, push this machine's last synced plan back: \
             git --git-dir {} push {} refs/worksync/confirmed:refs/heads/{}",
            self.repo.branch(),
            self.repo.remote(),
            self.repo.dir().display(),
            self.repo.remote(),
            self.repo.branch()
        )
    }

    fn never_merged(&self) -> String {
        format!(
            "{} already holds a plan on branch '{}' that this machine never merged; merging it without a common \
             version could duplicate every item. Join it under another name (worksync join {} --project NAME), \
             or share this project on another branch or remote",
            self.repo.remote(),
            self.repo.branch(),
            self.repo.remote()
        )
    }

    fn rewritten(&self, confirmed: &str) -> String {
        format!(
            "the history of branch '{}' on {} was rewritten: it no longer contains commit {}, the last one this \
             machine synced, so there is no common version to merge from. Nothing was merged. To go on, restore \
             the branch (git --git-dir {} push --force {} refs/worksync/confirmed:refs/heads/{}) once you know \
             nobody's work is on the rewritten branch",
            self.repo.branch(),
            self.repo.remote(),
            short(confirmed),
            self.repo.dir().display(),
            self.repo.remote(),
            self.repo.branch()
        )
    }
}

/// What `worksync share`, `join` and `pull` answer (over HTTP, or printed by the command):
/// how the sync went, and the project's status after it.
pub fn report(outcome: &Result<Synced, SyncError>, status: Option<super::status::SyncStatus>) -> serde_json::Value {
    match outcome {
        Ok(synced) => serde_json::json!({
            "synced": true,
            "commit": synced.commit,
            "pushed": synced.pushed,
            "pulled_items": synced.pulled_items,
            "conflicts": synced.conflicts,
            "status": status,
        }),
        Err(e) => serde_json::json!({ "synced": false, "error": e.to_string(), "status": status }),
    }
}

/// One attempt of a sync: done, or to be started over because something moved.
enum Attempt {
    Done(Synced),
    Again(String),
}

/// The plan files to write locally so that the project holds `merged` (`None`: remove).
fn local_file_changes(local: &BTreeMap<String, Vec<u8>>, merged: &Plan) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut changes = BTreeMap::new();
    for (path, bytes) in merged {
        if is_plan_path(path) && local.get(path) != Some(bytes) {
            changes.insert(path.clone(), Some(bytes.clone()));
        }
    }
    for path in local.keys() {
        if !merged.contains_key(path) {
            changes.insert(path.clone(), None);
        }
    }
    changes
}

/// The trailer lines of a commit message naming each disagreement the merge resolved, so that
/// every machine that fetches the commit can tell its agents (at most [`MAX_TRAILERS`]).
fn conflict_trailers(conflicts: &[crate::store::merge::Conflict]) -> String {
    conflicts
        .iter()
        .take(MAX_TRAILERS)
        .filter_map(|c| {
            let json = serde_json::json!({ "at": c.at, "kind": c.kind.name(), "kept": c.kept, "lost": c.lost });
            Some(format!("{TRAILER}{}\n", serde_json::to_string(&json).ok()?))
        })
        .collect()
}

/// The disagreements a commit message's trailers name.
fn parse_trailers(message: &str) -> Vec<crate::store::merge::Conflict> {
    message
        .lines()
        .filter_map(|line| {
            let json: serde_json::Value = serde_json::from_str(line.strip_prefix(TRAILER)?).ok()?;
            let value =
                |key: &str| serde_json::from_value::<Option<serde_yaml_ng::Value>>(json[key].clone()).ok().flatten();
            Some(crate::store::merge::Conflict {
                at: json["at"].as_str()?.to_string(),
                kind: crate::store::merge::ConflictKind::from_name(json["kind"].as_str()?)?,
                kept: value("kept"),
                lost: value("lost"),
            })
        })
        .collect()
}

/// How a resolved disagreement is named in a commit message.
const TRAILER: &str = "worksync-conflict: ";
/// Disagreements named in one commit message at most (the conflict log has them all).
const MAX_TRAILERS: usize = 200;

/// What the change feed says of a resolved disagreement.
fn conflict_summary(conflict: &crate::store::merge::Conflict) -> String {
    let show = |v: &Option<serde_yaml_ng::Value>| match v {
        None => "(removed)".to_string(),
        Some(serde_yaml_ng::Value::String(s)) => format!("{s:?}"),
        Some(v) => serde_json::to_string(v).unwrap_or_default(),
    };
    format!(
        "{}: kept {}, lost {} (see the conflict log)",
        conflict.kind.as_str(),
        show(&conflict.kept),
        show(&conflict.lost)
    )
}

fn without_format(plan: &Plan) -> Plan {
    let mut plan = plan.clone();
    plan.remove(super::format::FORMAT_FILE);
    plan
}

fn describe(conflicts: &[crate::store::merge::Conflict]) -> String {
    match conflicts.len() {
        0 => "plan".to_string(),
        1 => "plan (1 conflict resolved)".to_string(),
        n => format!("plan ({n} conflicts resolved)"),
    }
}

/// The first 10 hex digits of a commit id.
pub fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

/// Runs git calls off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SyncError> + Send + 'static,
) -> Result<T, SyncError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| SyncError::Failed(format!("the sync task failed: {e}")))?
}

/// Where a shared project's bare repository is.
pub fn repo_dir(share_dir: &std::path::Path, project: &str) -> PathBuf {
    share_dir.join(format!("{project}.git"))
}
