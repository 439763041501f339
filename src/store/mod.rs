//! The domain and its files: the work-tracking model, its YAML codec, atomic writes, the
//! single writer, the read-side snapshots, and how agents coordinate (revisions, claims,
//! next work, the change feed).
//!
//! [`Store`] is the one handle the rest of the server uses. Reads take the current
//! [`Snapshot`] after a cheap `stat` of the files concerned (an external edit is re-read
//! first, by the writer); mutations ([`Operation`]) travel to the writer thread and come
//! back once they are durable, as typed results ([`Done`], [`Outcome`]). Nothing in here
//! knows about MCP or HTTP.
//!
//! The public surface is what is re-exported here, and [`model`] (the work index's types).
//! Inside the crate the other rooms also use a few modules directly: `layout`, `registry`,
//! `snapshot`, `status`, `outcome` and `sidecar` (read by the vault and `mcp`), `atomic`
//! (the vault's writes), `yaml` (doctor and the CLI read files through `Document`).

mod arguments;
pub(crate) mod atomic;
pub(crate) mod changes;
pub(crate) mod coordination;
pub(crate) mod error;
#[cfg(test)]
mod fuzz;
pub(crate) mod guidance;
pub(crate) mod history_archive;
pub(crate) mod layout;
pub(crate) mod lock;
pub(crate) mod merge;
pub mod model;
pub(crate) mod ops;
pub(crate) mod outcome;
pub(crate) mod plan;
pub(crate) mod prompt_files;
pub(crate) mod registry;
pub(crate) mod sidecar;
pub(crate) mod snapshot;
pub(crate) mod status;
pub(crate) mod validate;
pub(crate) mod values;
pub(crate) mod writer;
pub(crate) mod yaml;

use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot, watch};

pub use changes::{ChangeFeed, Changes, FeedPosition, Notice};
pub use coordination::{Guard, Operation, Target};
pub use error::StoreError;
pub use layout::Layout;
pub use lock::{Role, RootLock};
pub use merge::{Conflict, ConflictKind, MergeError, Merged, MergedArchive, merge, merge_archive};
pub use ops::{Change, Mutation};
pub use outcome::{Done, Item, Kind, Outcome, Registered, Unregistered};
pub use sidecar::{ItemKey, Sidecar, SidecarFile};
pub use snapshot::{ProjectView, Snapshot};
pub use status::{ProjectStatus, Status};
pub use writer::{Joining, MergeApplied, MergeToApply, Registration, Shared, Travelling};

use atomic::FileStamp;
use writer::{Command, Writer};

/// How many commands may wait for the writer before senders wait too.
const QUEUE_DEPTH: usize = 1024;

/// A cheap-to-clone handle on the data root.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    layout: Layout,
    /// The writer's latest snapshot. A std lock, held only to clone the `Arc`: never across
    /// an `.await`, never during I/O.
    published: Arc<RwLock<Arc<Snapshot>>>,
    commands: mpsc::Sender<Command>,
    changes: Arc<ChangeFeed>,
    versions: watch::Receiver<u64>,
}

impl Store {
    /// Takes the data root's lock ([`RootLock`]: refused if another process writes the
    /// root), loads the data root (which must hold a `config.yaml`) and starts the writer
    /// thread. The thread ends when the last clone of the handle is dropped, after finishing
    /// every queued command.
    pub fn open(layout: Layout) -> Result<Store, StoreError> {
        Store::open_locked(RootLock::acquire(&layout, Role::Serve)?)
    }

    /// Like [`Store::open`], with the lock already held (e.g. taken before bootstrapping a
    /// fresh root). The writer owns the lock and releases it when it stops.
    pub fn open_locked(lock: RootLock) -> Result<Store, StoreError> {
        let layout = lock.layout().clone();
        let changes = Arc::new(ChangeFeed::default());
        let (announce, versions) = watch::channel(0);
        let (writer, published) = Writer::open(lock, changes.clone(), announce)?;
        let (commands, queue) = mpsc::channel(QUEUE_DEPTH);
        std::thread::Builder::new()
            .name("worksync-writer".into())
            .spawn(move || writer.run(queue))
            .map_err(|e| StoreError::io("start the writer thread for", layout.root(), e))?;
        Ok(Store { inner: Arc::new(Inner { layout, published, commands, changes, versions }) })
    }

    /// The data root's layout.
    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    /// The snapshot after every command sent before this call (and whatever changed on disk).
    pub async fn refreshed(&self) -> Arc<Snapshot> {
        let (reply, done) = oneshot::channel();
        if self.inner.commands.send(Command::Refresh { reply }).await.is_ok() {
            let _ = done.await;
        }
        self.published()
    }

    /// The current state, re-read first if `config.yaml` or the work index of `project`
    /// (of every project, when `None`) changed on disk since the writer last saw it.
    pub async fn snapshot(&self, project: Option<&str>) -> Arc<Snapshot> {
        let current = self.published();
        if self.is_stale(&current, project) {
            let (reply, done) = oneshot::channel();
            if self.inner.commands.send(Command::Refresh { reply }).await.is_ok() {
                let _ = done.await;
            }
            return self.published();
        }
        current
    }

    /// Re-reads whatever changed on disk (the watcher calls this on file events).
    pub async fn refresh(&self) {
        let (reply, done) = oneshot::channel();
        if self.inner.commands.send(Command::Refresh { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Follows [`Snapshot::version`]: wakes whenever the writer publishes a changed state.
    pub fn versions(&self) -> watch::Receiver<u64> {
        self.inner.versions.clone()
    }

    /// The current state without checking the disk (for callers that just wrote).
    pub fn published(&self) -> Arc<Snapshot> {
        self.inner.published.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn is_stale(&self, snapshot: &Snapshot, project: Option<&str>) -> bool {
        let layout = &self.inner.layout;
        if FileStamp::of(&layout.config()).ok().flatten() != snapshot.config_stamp {
            return true;
        }
        let changed = |name: &str, view: &snapshot::ProjectView| {
            layout.work_index(name).ok().and_then(|path| FileStamp::of(&path).ok().flatten()) != view.stamp()
        };
        match project {
            Some(name) => snapshot.projects.get(name).is_some_and(|view| changed(name, view)),
            None => snapshot.projects.iter().any(|(name, view)| changed(name, view)),
        }
    }

    /// Executes `operation` on `project`; returns the tool's answer once the change is
    /// durable.
    pub async fn mutate(
        &self,
        project: &str,
        operation: impl Into<Operation>,
        change: Change,
    ) -> Result<Done, StoreError> {
        if validate::directory_name("project", project).is_err() {
            return Err(self.published().unknown_project(project));
        }
        let operation = operation.into().prepare()?;
        validate::agent(&change.agent)?;
        self.call(|reply| Command::Mutate { project: project.to_string(), operation, change, reply }).await
    }

    /// Registers a project.
    pub async fn register(&self, request: Registration, change: Change) -> Result<Registered, StoreError> {
        validate::agent(&change.agent)?;
        self.call(|reply| Command::Register { request, change, reply }).await
    }

    /// Unregisters a project; with `delete_data` its directory moves to `<data root>/trash/`.
    pub async fn unregister(&self, name: &str, delete_data: bool, change: Change) -> Result<Unregistered, StoreError> {
        validate::agent(&change.agent)?;
        self.call(|reply| Command::Unregister { name: name.to_string(), delete_data, change, reply }).await
    }

    /// A shared project's work index exactly as written, for its sync.
    pub async fn shared(&self, project: &str) -> Result<Shared, StoreError> {
        self.call(|reply| Command::Shared { project: project.to_string(), reply }).await
    }

    /// Applies a merge's result to a shared project if its work index is still what the
    /// merge took as ours; [`StoreError::Changed`] otherwise (merge again).
    pub async fn apply_merged(&self, project: &str, merge: MergeToApply) -> Result<MergeApplied, StoreError> {
        self.call(|reply| Command::ApplyMerged { project: project.to_string(), merge, reply }).await
    }

    /// Records disagreements a shared project's merge resolved (`at`, what was kept and
    /// lost) in its change feed.
    pub async fn note_conflicts(
        &self,
        project: &str,
        agent: &str,
        notes: Vec<(String, String)>,
    ) -> Result<(), StoreError> {
        self.call(|reply| Command::NoteConflicts {
            project: project.to_string(),
            agent: agent.to_string(),
            notes,
            reply,
        })
        .await
    }

    /// What others than `agent` changed in `project` after `from`, in brief (at most
    /// `lines` lines), and the position to pass next time. Memory only (see
    /// [`ChangeFeed::others_since`]).
    pub fn others_changed(
        &self,
        project: &str,
        agent: &str,
        from: Option<&FeedPosition>,
        lines: usize,
    ) -> (Option<Notice>, Option<FeedPosition>) {
        self.inner.changes.others_since(project, agent, from, lines)
    }

    /// The change feed's last sequence number for `project`.
    pub fn changes_last_seq(&self, project: &str) -> u64 {
        self.inner.changes.last_seq(project)
    }

    /// Sets (or removes, with `None`) a registered project's `share` entry in `config.yaml`.
    pub async fn set_share(&self, project: &str, share: Option<registry::ShareConfig>) -> Result<(), StoreError> {
        self.call(|reply| Command::SetShare { project: project.to_string(), share, reply }).await
    }

    /// Writes a plan brought in from a remote as a new, registered project.
    pub async fn join(&self, joining: Joining) -> Result<(), StoreError> {
        self.call(|reply| Command::Join { joining: Box::new(joining), reply }).await
    }

    /// `worksync_changes`: what changed in `project` (every project when `None`) after the
    /// cursor `since`, waiting up to `wait` for a first change.
    pub async fn changes(
        &self,
        project: Option<&str>,
        since: Option<&str>,
        limit: usize,
        wait: std::time::Duration,
    ) -> Result<Changes, StoreError> {
        let snapshot = self.snapshot(project).await;
        let projects: Vec<String> = match project {
            Some(name) if snapshot.projects.contains_key(name) => vec![name.to_string()],
            Some(name) => return Err(snapshot.unknown_project(name)),
            None => snapshot.projects.keys().cloned().collect(),
        };
        self.inner.changes.since(&projects, since, limit, wait).await
    }

    /// The change feed's cursor of `projects` now (what `worksync_changes` without `since`
    /// answers).
    pub fn changes_cursor(&self, projects: &[String]) -> String {
        self.inner.changes.cursor(projects)
    }

    /// The latest `limit` changes of `projects` that `keep` accepts, newest first.
    pub fn latest_changes(
        &self,
        projects: &[String],
        limit: usize,
        keep: impl Fn(&changes::ChangeRecord) -> bool,
    ) -> Vec<serde_json::Value> {
        self.inner.changes.latest(projects, limit, keep)
    }

    /// Stops the writer after every change queued so far is durable; later changes are
    /// refused with [`StoreError::ShuttingDown`]. Reads keep working from the last snapshot.
    pub async fn close(&self) {
        let (reply, done) = oneshot::channel();
        if self.inner.commands.send(Command::Shutdown { reply }).await.is_ok() {
            let _ = done.await;
        }
    }

    async fn call<T>(&self, command: impl FnOnce(writer::Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner.commands.send(command(reply)).await.map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }
}
