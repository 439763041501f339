//! What people and agents see of a shared project's sync: its state, how far it is synced,
//! the last error, and the log of every disagreement a merge resolved.
//!
//! The board lives in the server (`/status`, `worksync_projects`) and is also written to
//! `<data root>/.worksync/git/<project>.status.json` after every sync, so that `worksync
//! doctor` can show it without a server. The conflict log
//! (`<data root>/.worksync/git/<project>.conflicts.jsonl`, one JSON object per line) is where
//! a losing value can always be found; conflicts also go to the change feed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sync::{SyncError, Synced};
use crate::store::merge::Conflict;

/// A shared project's sync as last seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub remote: String,
    pub branch: String,
    /// This machine's name in the plan's commits.
    pub machine: String,
    /// `starting`, `syncing`, `synced`, `retrying` (the last sync failed; tried again next
    /// interval), `refused` (the remote's plan cannot be merged) or `stopped` (a person must
    /// act: see `last_error`).
    pub state: String,
    /// The remote tip after the last completed sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Every change in the project's change feed up to this sequence number is on the remote.
    pub synced_through: u64,
    /// Changes in the feed after `synced_through`: waiting for the next sync.
    pub pending_changes: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_synced_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Disagreements resolved by merges since the server started.
    pub conflicts: u64,
    /// Where every resolved disagreement is logged, with the value that lost.
    pub conflict_log: String,
}

/// The sync status of every shared project, shared by the sync loops and the readers.
#[derive(Debug, Clone)]
pub struct SyncBoard {
    dir: PathBuf,
    projects: Arc<Mutex<BTreeMap<String, SyncStatus>>>,
}

impl SyncBoard {
    /// A board whose status files go to `share_dir` (`<data root>/.worksync/git`).
    pub fn new(share_dir: PathBuf) -> SyncBoard {
        SyncBoard { dir: share_dir, projects: Arc::default() }
    }

    /// Starts following a project (keeps what is known if it is followed already).
    pub fn follow(&self, project: &str, remote: &str, branch: &str, machine: &str) {
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        let saved = read_status(&self.dir, project);
        let status = projects.entry(project.to_string()).or_insert_with(|| SyncStatus {
            state: "starting".into(),
            synced_through: saved.as_ref().map_or(0, |s| s.synced_through),
            last_synced_at: saved.as_ref().and_then(|s| s.last_synced_at),
            commit: saved.and_then(|s| s.commit),
            ..Default::default()
        });
        status.remote = remote.to_string();
        status.branch = branch.to_string();
        status.machine = machine.to_string();
        status.conflict_log = ConflictLog::path_in(&self.dir, project).display().to_string();
    }

    /// Stops following a project (no longer shared).
    pub fn forget(&self, project: &str) {
        self.projects.lock().unwrap_or_else(|e| e.into_inner()).remove(project);
    }

    pub(super) fn started(&self, project: &str) {
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(status) = projects.get_mut(project)
            && (status.state == "starting" || status.state == "synced")
        {
            status.state = "syncing".into();
        }
    }

    pub(super) fn finished(&self, project: &str, outcome: &Result<Synced, SyncError>, last_seq: u64) {
        let mut projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        let Some(status) = projects.get_mut(project) else { return };
        match outcome {
            Ok(synced) => {
                status.state = "synced".into();
                status.commit = Some(synced.commit.clone());
                status.synced_through = status.synced_through.max(synced.synced_through);
                status.last_synced_at = Some(Utc::now());
                status.last_error = None;
                status.conflicts += synced.conflicts as u64;
            }
            Err(e) => {
                status.state = match e {
                    SyncError::Stopped(_) => "stopped",
                    SyncError::Refused(_) => "refused",
                    SyncError::Failed(_) => "retrying",
                }
                .into();
                status.last_error = Some(e.to_string());
            }
        }
        status.pending_changes = last_seq.saturating_sub(status.synced_through);
        let snapshot = status.clone();
        drop(projects);
        let path = self.dir.join(format!("{project}.status.json"));
        if let Ok(json) = serde_json::to_vec_pretty(&snapshot)
            && let Err(e) = crate::store::atomic::write_atomic(&path, &json)
        {
            tracing::warn!(path = %path.display(), error = %e, "could not save the sync status");
        }
    }

    /// One project's status, with `pending_changes` counted against the feed's `last_seq`.
    pub fn get(&self, project: &str, last_seq: u64) -> Option<SyncStatus> {
        let projects = self.projects.lock().unwrap_or_else(|e| e.into_inner());
        let mut status = projects.get(project)?.clone();
        status.pending_changes = last_seq.saturating_sub(status.synced_through);
        Some(status)
    }

    /// The projects followed.
    pub fn projects(&self) -> Vec<String> {
        self.projects.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect()
    }
}

/// The status file a server left for `project`, if any (read by `worksync doctor`).
pub fn read_status(share_dir: &Path, project: &str) -> Option<SyncStatus> {
    let bytes = std::fs::read(share_dir.join(format!("{project}.status.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The log of resolved disagreements: one JSON object per line.
#[derive(Debug, Clone)]
pub struct ConflictLog {
    dir: PathBuf,
}

/// One line of the conflict log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoggedConflict {
    pub time: DateTime<Utc>,
    pub project: String,
    /// The commit holding the merge.
    pub commit: String,
    /// The machine that logged it (every machine merging the same versions logs it).
    pub machine: String,
    /// Where: `backlog/<id>/<field>`, `sprints/<id>/stories/<id>`, a file's path …
    pub at: String,
    pub kind: String,
    pub kept: Option<serde_json::Value>,
    pub lost: Option<serde_json::Value>,
}

impl ConflictLog {
    pub fn new(share_dir: PathBuf) -> ConflictLog {
        ConflictLog { dir: share_dir }
    }

    /// Where a project's conflicts are logged.
    pub fn path_in(share_dir: &Path, project: &str) -> PathBuf {
        share_dir.join(format!("{project}.conflicts.jsonl"))
    }

    /// Appends `conflicts` (durably) and warns in the server's log.
    pub fn append(&self, project: &str, machine: &str, commit: &str, conflicts: &[Conflict]) {
        use std::io::Write;
        let path = Self::path_in(&self.dir, project);
        let mut lines = Vec::new();
        for conflict in conflicts {
            tracing::warn!(
                project,
                at = %conflict.at,
                kind = conflict.kind.as_str(),
                kept = ?conflict.kept,
                lost = ?conflict.lost,
                "merge resolved a disagreement between machines; the losing value is in the conflict log"
            );
            let line = LoggedConflict {
                time: Utc::now(),
                project: project.to_string(),
                commit: commit.to_string(),
                machine: machine.to_string(),
                at: conflict.at.clone(),
                kind: conflict.kind.as_str().to_string(),
                kept: conflict.kept.as_ref().and_then(|v| serde_json::to_value(v).ok()),
                lost: conflict.lost.as_ref().and_then(|v| serde_json::to_value(v).ok()),
            };
            if let Ok(mut json) = serde_json::to_vec(&line) {
                json.push(b'\n');
                lines.extend(json);
            }
        }
        let written = std::fs::create_dir_all(&self.dir).and_then(|()| {
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
            file.write_all(&lines)?;
            file.sync_data()
        });
        if let Err(e) = written {
            tracing::error!(path = %path.display(), error = %e, "could not log the merge's conflicts");
        }
    }

    /// Every conflict logged for `project`.
    pub fn read(&self, project: &str) -> Vec<LoggedConflict> {
        let text = std::fs::read_to_string(Self::path_in(&self.dir, project)).unwrap_or_default();
        text.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
    }
}
