//! The sync loops of a running server: one per shared project, started, restarted and
//! stopped as `config.yaml` says which projects are shared and how.
//!
//! A loop syncs at once, then every `interval_seconds`, 50 ms after a local write (so a
//! write reaches the remote without waiting for the interval; other machines see it at their
//! next fetch), and at once when asked ([`Sharing::pull`], which waits for a sync that
//! started after the request, so that a caller sees its own writes pushed). Each loop owns its project's bare repository; the
//! data root's lock guarantees no other process syncs it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::claims::ClaimRefs;
use super::coordination::Claimer;
use super::git::GitError;
use super::ids::{self, StoryId};
use super::repo::PlanRepo;
use super::status::{ConflictLog, SyncBoard};
use super::sync::{SyncError, Synced, Syncer, repo_dir};
use crate::store::Store;
use crate::store::registry::ShareConfig;

/// How often the configuration is checked for shared projects.
const CONFIG_CHECK: Duration = Duration::from_secs(1);

/// A request for a sync now, answered with that sync's outcome.
type PullRequest = oneshot::Sender<Result<Synced, SyncError>>;

/// The running sync loops.
#[derive(Clone)]
pub struct Sharing {
    store: Store,
    shutdown: CancellationToken,
    board: SyncBoard,
    loops: Arc<Mutex<BTreeMap<String, Loop>>>,
}

struct Loop {
    config: ShareConfig,
    claims: ClaimRefs,
    machine: String,
    pulls: mpsc::UnboundedSender<PullRequest>,
    stop: CancellationToken,
}

impl Sharing {
    /// Starts following `store`'s configuration until `shutdown`.
    pub fn spawn(store: Store, shutdown: CancellationToken) -> Sharing {
        let board = SyncBoard::new(store.layout().share_dir());
        let sharing = Sharing { store, board, loops: Arc::default(), shutdown: shutdown.clone() };
        let supervisor = sharing.clone();
        tokio::spawn(async move {
            loop {
                supervisor.reconcile(&shutdown);
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(CONFIG_CHECK) => {}
                }
            }
            for (_, running) in std::mem::take(&mut *supervisor.loops.lock().unwrap_or_else(|e| e.into_inner())) {
                running.stop.cancel();
            }
        });
        sharing
    }

    /// This machine's name in shared plans.
    pub fn machine(&self) -> String {
        machine_name(self.store.published().config.settings.as_ref().and_then(|s| s.machine.as_deref()))
    }

    /// Claims in `project` go through its remote when it is shared: the claimer, else `None`.
    pub fn claimer(&self, project: &str) -> Option<Claimer> {
        let loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
        let running = loops.get(project)?;
        let settings = self.store.published().config.settings.clone().unwrap_or_default();
        Some(Claimer {
            store: self.store.clone(),
            refs: running.claims.clone(),
            project: project.to_string(),
            machine: running.machine.clone(),
            strict: settings.shared_claims_offline.as_deref() == Some("refuse"),
        })
    }

    /// A new story id for `project` if it is shared (`None`: not shared; the store picks).
    pub async fn story_id(&self, project: &str) -> Option<StoryId> {
        let (repo, machine) = {
            let loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
            let running = loops.get(project)?;
            (running.claims.repo().clone(), running.machine.clone())
        };
        let snapshot = self.store.published();
        let (index, _) = snapshot.project(project).ok()?;
        let index = index.clone();
        let local_next = index.next_story_id().trim_start_matches("STORY-").parse::<u64>().unwrap_or(1);
        let project = project.to_string();
        tokio::task::spawn_blocking(move || {
            ids::reserve(&repo, &project, local_next, &machine, |id| index.sprint_of_story(id).is_some())
        })
        .await
        .ok()
    }

    /// The sync status of every shared project.
    pub fn board(&self) -> &SyncBoard {
        &self.board
    }

    /// Syncs `project` now and returns how it went.
    pub async fn pull(&self, project: &str) -> Result<Synced, SyncError> {
        // A project shared a moment ago may not have its loop yet.
        self.store.refreshed().await;
        self.reconcile(&self.shutdown);
        let pulls = {
            let loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
            match loops.get(project) {
                Some(running) => running.pulls.clone(),
                None => {
                    return Err(SyncError::Stopped(format!(
                        "project '{project}' is not shared: share it first (worksync share {project} REMOTE)"
                    )));
                }
            }
        };
        let (reply, answer) = oneshot::channel();
        pulls.send(reply).map_err(|_| SyncError::Failed("the project's sync loop has stopped".into()))?;
        answer.await.map_err(|_| SyncError::Failed("the project's sync loop stopped before syncing".into()))?
    }

    /// Starts loops for newly shared projects, restarts those whose share settings changed,
    /// stops those no longer shared.
    fn reconcile(&self, shutdown: &CancellationToken) {
        let snapshot = self.store.published();
        let machine = machine_name(snapshot.config.settings.as_ref().and_then(|s| s.machine.as_deref()));
        let mut wanted = BTreeMap::new();
        for (name, entry) in snapshot.config.projects() {
            if let Some(share) =
                entry.share.as_ref().filter(|s| s.remote.as_deref().is_some_and(|r| !r.trim().is_empty()))
            {
                wanted.insert(name.to_string(), share.clone());
            }
        }
        let mut loops = self.loops.lock().unwrap_or_else(|e| e.into_inner());
        loops.retain(|name, running| {
            let keep =
                wanted.get(name) == Some(&running.config) && running.machine == machine && !running.stop.is_cancelled();
            if !keep {
                running.stop.cancel();
                if !wanted.contains_key(name) {
                    self.board.forget(name);
                }
            }
            keep
        });
        for (name, config) in wanted {
            if loops.contains_key(&name) {
                continue;
            }
            let syncer = match syncer_for(&self.store, &self.board, &name, &config, &machine) {
                Ok(syncer) => syncer,
                Err(e) => {
                    tracing::error!(project = %name, error = %e, "cannot open the shared project's repository");
                    continue;
                }
            };
            let (pulls, requests) = mpsc::unbounded_channel();
            let stop = shutdown.child_token();
            let claims = ClaimRefs::new(syncer.repo.clone(), &name);
            tokio::spawn(run_loop(syncer, config.interval(), requests, stop.clone()));
            loops.insert(name, Loop { config, claims, machine: machine.clone(), pulls, stop });
        }
    }
}

/// The sync of `project` shared as `config`, reporting on `board`.
pub fn syncer_for(
    store: &Store,
    board: &SyncBoard,
    project: &str,
    config: &ShareConfig,
    machine: &str,
) -> Result<Syncer, GitError> {
    let remote = config.remote.clone().unwrap_or_default();
    let repo = PlanRepo::open(repo_dir(&store.layout().share_dir(), project), &remote, config.branch(), machine)?;
    board.follow(project, &remote, config.branch(), machine);
    Ok(Syncer {
        store: store.clone(),
        project: project.to_string(),
        repo,
        machine: machine.to_string(),
        board: board.clone(),
        conflicts: ConflictLog::new(store.layout().share_dir()),
    })
}

/// One project's loop: sync, then wait for the interval, a pull or the stop.
async fn run_loop(
    syncer: Syncer,
    interval: Duration,
    mut requests: mpsc::UnboundedReceiver<PullRequest>,
    stop: CancellationToken,
) {
    tracing::info!(project = %syncer.project, remote = %syncer.repo.remote(), ?interval, "sharing the project's plan");
    let mut waiting: Vec<PullRequest> = Vec::new();
    let mut versions = syncer.store.versions();
    loop {
        while let Ok(request) = requests.try_recv() {
            waiting.push(request);
        }
        let started = tokio::time::Instant::now();
        let outcome = syncer.sync().await;
        let synced_through = match &outcome {
            Ok(synced) => Some(synced.synced_through),
            Err(_) => None,
        };
        for request in waiting.drain(..) {
            let _ = request.send(outcome.clone());
        }
        // Syncs start every interval (the time a sync takes is not added to it).
        let next_interval = tokio::time::sleep_until(started + interval);
        tokio::pin!(next_interval);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = &mut next_interval => break,
                request = requests.recv() => match request {
                    Some(request) => {
                        waiting.push(request);
                        break;
                    }
                    None => return,
                },
                changed = versions.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    // A local write to push: sync soon (writes arriving meanwhile go along),
                    // not at the end of the interval. Changes the last sync brought in are
                    // synced already and do not wake it.
                    let written = syncer.store.changes_last_seq(&syncer.project);
                    if synced_through.is_some_and(|through| written > through) {
                        tokio::time::sleep(PUSH_DELAY.min(interval)).await;
                        break;
                    }
                }
            }
        }
    }
}

/// How long a sync waits after a local write before it pushes, so that a burst of writes
/// travels in one commit.
const PUSH_DELAY: Duration = Duration::from_millis(50);

/// This machine's name in shared plans: `settings.machine`, else the host name, reduced to
/// letters, digits and `-` (it becomes part of ids made offline and of commit authors).
pub fn machine_name(configured: Option<&str>) -> String {
    let raw = configured.map(str::to_string).filter(|m| !m.trim().is_empty()).unwrap_or_else(host_name);
    let cleaned: String = raw
        .split('.')
        .next()
        .unwrap_or_default()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect();
    let cleaned = cleaned.trim_matches('-').to_string();
    if cleaned.is_empty() { "machine".to_string() } else { cleaned.chars().take(32).collect() }
}

#[cfg(unix)]
fn host_name() -> String {
    rustix::system::uname().nodename().to_string_lossy().into_owned()
}

#[cfg(not(unix))]
fn host_name() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names() {
        assert_eq!(machine_name(Some("Lap Top.local")), "lap-top");
        assert_eq!(machine_name(Some("box")), "box");
        assert_eq!(machine_name(Some("---")), "machine");
        assert!(!machine_name(None).is_empty());
    }
}
