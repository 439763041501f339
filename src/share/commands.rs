//! `worksync share` and `worksync join`: making a project shared, and bringing a shared plan
//! in as a project. Both run where the store is: in the server (asked over HTTP by the
//! command line) or, when no server runs, in the command itself.
//!
//! Both refuse what would make a later merge wrong rather than fail later: a remote that is
//! a shallow or partial clone (its history is incomplete, so there may be no common
//! version), a plan whose attributes ask for filters or LFS (the bytes in git would not be
//! the bytes of the files), a plan in an unknown format, and a remote whose history is
//! unrelated to what this machine last synced.

use std::path::Path;

use super::git::Git;
use super::plan_merge::check_incoming;
use super::repo::PlanRepo;
use super::sync::{repo_dir, short};
use crate::store::plan::{WORK_INDEX, is_plan_path};
use crate::store::registry::{ProjectEntry, ShareConfig};
use crate::store::{Joining, Store};

/// Why `share` or `join` refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct Refusal(pub String);

impl From<super::git::GitError> for Refusal {
    fn from(e: super::git::GitError) -> Self {
        Refusal(e.to_string())
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Self {
        Refusal(e.to_string())
    }
}

/// Makes the registered `project` shared on `remote`'s `branch` (its first sync pushes it).
pub async fn share(
    store: &Store,
    project: &str,
    remote: &str,
    branch: &str,
    interval_seconds: Option<f64>,
    machine: &str,
) -> Result<(), Refusal> {
    let snapshot = store.published();
    if snapshot.config.project(project).is_none() {
        return Err(Refusal(format!(
            "no project '{project}' is registered here; register it first, or join a shared plan with worksync join"
        )));
    }
    check_remote_repository(remote)?;
    let repo = PlanRepo::open(repo_dir(&store.layout().share_dir(), project), remote, branch, machine)?;
    let probe = repo.clone();
    let tip = tokio::task::spawn_blocking(move || probe.remote_tip()).await.map_err(|e| Refusal(e.to_string()))??;
    if let Some(tip) = tip {
        let probe = repo.clone();
        let related = tokio::task::spawn_blocking(move || -> Result<bool, Refusal> {
            let Some(confirmed) = probe.confirmed()? else { return Ok(false) };
            probe.fetch(&tip)?;
            Ok(probe.is_ancestor(&confirmed, &tip)?)
        })
        .await
        .map_err(|e| Refusal(e.to_string()))??;
        if !related {
            return Err(Refusal(format!(
                "branch '{branch}' of {remote} already holds a plan whose history is unrelated to this project's: \
                 sharing would mix two plans. Use another branch (--branch NAME) or an empty repository, or bring \
                 that plan in with worksync join {remote} --project NAME"
            )));
        }
    }
    let current = snapshot.config.project(project).and_then(|e| e.share.clone()).unwrap_or_default();
    let share = ShareConfig {
        remote: Some(remote.to_string()),
        branch: (branch != crate::store::registry::DEFAULT_SHARE_BRANCH).then(|| branch.to_string()),
        interval_seconds: interval_seconds.or(current.interval_seconds),
        ..current
    };
    store.set_share(project, Some(share)).await?;
    Ok(())
}

/// Brings the plan on `remote`'s `branch` in as the new project `name`, shared from then on.
pub async fn join(
    store: &Store,
    remote: &str,
    name: &str,
    branch: &str,
    repo_path: Option<&str>,
    interval_seconds: Option<f64>,
    machine: &str,
) -> Result<String, Refusal> {
    check_remote_repository(remote)?;
    let repo = PlanRepo::open(repo_dir(&store.layout().share_dir(), name), remote, branch, machine)?;
    let fetcher = repo.clone();
    let (tip, plan, confirmed) = tokio::task::spawn_blocking(move || -> Result<_, Refusal> {
        let Some(tip) = fetcher.remote_tip()? else {
            return Err(Refusal(format!(
                "{} has no branch '{}': there is no plan to join. Share a project there first \
                 (worksync share PROJECT {}), or name the branch with --branch",
                fetcher.remote(),
                fetcher.branch(),
                fetcher.remote()
            )));
        };
        fetcher.fetch(&tip)?;
        let confirmed = fetcher.confirmed()?;
        if let Some(confirmed) = &confirmed
            && !fetcher.is_ancestor(confirmed, &tip)?
        {
            return Err(Refusal(format!(
                "this machine synced another plan under this project name before (commit {}): its history is \
                 unrelated to {}'s. Join under another name (--project NAME)",
                short(confirmed),
                fetcher.remote()
            )));
        }
        Ok((tip.clone(), fetcher.read_plan(&tip)?, confirmed))
    })
    .await
    .map_err(|e| Refusal(e.to_string()))??;
    check_incoming(&plan, &format!("in commit {}", short(&tip))).map_err(|e| Refusal(e.to_string()))?;
    check_attributes(&plan)?;
    let work_index = String::from_utf8(plan.get(WORK_INDEX).cloned().unwrap_or_default())
        .map_err(|_| Refusal(format!("{WORK_INDEX} in the remote's plan is not UTF-8 text")))?;
    let files = plan.iter().filter(|(path, _)| is_plan_path(path)).map(|(p, b)| (p.clone(), b.clone())).collect();
    let entry = ProjectEntry {
        repo: repo_path.map(str::to_string),
        description: Some(format!("Shared plan from {remote}")),
        share: Some(ShareConfig {
            remote: Some(remote.to_string()),
            branch: (branch != crate::store::registry::DEFAULT_SHARE_BRANCH).then(|| branch.to_string()),
            interval_seconds,
            ..Default::default()
        }),
        ..Default::default()
    };
    // The common version first: a crash before the project is written leaves a ref that a
    // second `join` moves forward; a project without its common version could never sync.
    let confirming = repo.clone();
    let new = tip.clone();
    tokio::task::spawn_blocking(move || confirming.confirm(&new, confirmed.as_deref()))
        .await
        .map_err(|e| Refusal(e.to_string()))??;
    store.join(Joining { name: name.to_string(), work_index, files, entry }).await?;
    Ok(tip)
}

/// The project name `join` uses when none is given: the remote's last path segment without
/// `.git`.
pub fn default_project_name(remote: &str) -> String {
    let last = remote.trim_end_matches('/').rsplit(['/', ':']).next().unwrap_or_default();
    last.strip_suffix(".git").unwrap_or(last).to_string()
}

/// A remote on local disk must hold complete history: not shallow, not partial.
fn check_remote_repository(remote: &str) -> Result<(), Refusal> {
    let path = crate::store::layout::expand_home(remote);
    if remote.contains("://") || !path.is_dir() {
        return Ok(());
    }
    let git_dir = if path.join(".git").is_dir() { path.join(".git") } else { path.clone() };
    if git_dir.join("shallow").exists() {
        return Err(Refusal(format!(
            "{remote} is a shallow clone: its history is incomplete, so merges could lack their common version. \
             Use a full clone or the original repository (git fetch --unshallow there)"
        )));
    }
    let git = Git::new(&git_dir, "worksync", "worksync@localhost");
    for key in ["extensions.partialclone", "remote.origin.promisor"] {
        if let Ok(value) = git.text(&["config", "--get", key])
            && !value.is_empty()
        {
            return Err(Refusal(format!(
                "{remote} is a partial clone ({key} = {value}): objects of its history are missing. Use a full \
                 clone or the original repository"
            )));
        }
    }
    Ok(())
}

/// A plan whose `.gitattributes` asks for filters (LFS among them) stores other bytes in git
/// than in the files.
fn check_attributes(plan: &super::repo::Plan) -> Result<(), Refusal> {
    for (path, bytes) in plan {
        if Path::new(path).file_name().is_some_and(|n| n == ".gitattributes") {
            let text = String::from_utf8_lossy(bytes);
            if let Some(line) = text.lines().find(|l| !l.trim_start().starts_with('#') && l.contains("filter=")) {
                return Err(Refusal(format!(
                    "the plan's {path} asks for a filter ({}): worksync stores plan files as they are, so a plan \
                     repository must not use filters or LFS. Remove the line from {path} in the remote",
                    line.trim()
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names() {
        assert_eq!(default_project_name("git@github.com:acme/orbit-plan.git"), "orbit-plan");
        assert_eq!(default_project_name("/srv/plans/orbit.git/"), "orbit");
        assert_eq!(default_project_name("https://gitlab.com/acme/orbit"), "orbit");
    }
}
