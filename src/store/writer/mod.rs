//! The single writer: one thread that owns every file the server writes.
//!
//! All mutations arrive over one channel and are applied one at a time, each made durable
//! before its caller is answered. Owning the files in one place is what makes the
//! external-edit check sound: between our stat and our rename nobody else of ours writes.
//! It is a plain OS thread, not a tokio task, because its work is blocking I/O (fsync) that
//! must not stall the async workers serving reads.
//!
//! After every command the writer publishes a new [`Snapshot`]: readers clone an `Arc` and
//! never wait for a write in progress.
//!
//! This file holds the thread's loop and its commands; `batch.rs` applies and persists a
//! project's queued mutations, `load.rs` loads files and reconciles hand edits,
//! `projects.rs` registers and unregisters projects, `shared.rs` hands a shared
//! project's text to its sync and takes a merge's result back, `versions.rs` keeps the
//! versions of each work index the writer held lately, and `stale.rs` merges a hand save
//! made from an older one.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot, watch};

mod batch;
mod load;
mod projects;
mod shared;
mod stale;
mod versions;

pub use shared::{Joining, MergeApplied, MergeToApply, Shared, Travelling};
use versions::{RecentVersions, Version};

use super::atomic::{self, FileStamp};
use super::changes::ChangeFeed;
use super::coordination::Operation;
use super::error::StoreError;
use super::layout::Layout;
use super::lock::RootLock;
use super::model::WorkIndex;
use super::ops::Change;
use super::outcome::{Done, Registered, Unregistered};
use super::registry::ConfigFile;
use super::registry::ShareConfig;
use super::sidecar::{Sidecar, SidecarFile};
use super::snapshot::{Problem, ProjectView, Snapshot};
use super::yaml::Document;

/// The slot through which the writer publishes snapshots and readers pick them up.
pub type Published = Arc<RwLock<Arc<Snapshot>>>;

/// Most commands taken from the queue as one batch.
const MAX_BATCH: usize = 256;

/// A mutation waiting in a batch for its project's write.
struct Pending {
    operation: Operation,
    change: Change,
    reply: Reply<Done>,
}

/// Where a command's answer goes.
pub type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A request to the writer.
pub enum Command {
    /// Apply a mutation to one project's work index.
    Mutate { project: String, operation: Operation, change: Change, reply: Reply<Done> },
    /// Register a project (config entry, directories, empty work index).
    Register { request: Registration, change: Change, reply: Reply<Registered> },
    /// Unregister a project, optionally moving its data to the trash.
    Unregister { name: String, delete_data: bool, change: Change, reply: Reply<Unregistered> },
    /// The work index of a shared project exactly as the writer holds it, for a sync.
    Shared { project: String, reply: Reply<Shared> },
    /// Replace a shared project's work index with a merge's result, if it still is what
    /// the merge started from.
    ApplyMerged { project: String, merge: MergeToApply, reply: Reply<MergeApplied> },
    /// Record the disagreements a shared project's merge resolved in the change feed.
    NoteConflicts { project: String, agent: String, notes: Vec<(String, String)>, reply: Reply<()> },
    /// Set or remove a project's `share` entry in `config.yaml`.
    SetShare { project: String, share: Option<ShareConfig>, reply: Reply<()> },
    /// Write a plan from a remote as a new, shared project.
    Join { joining: Box<Joining>, reply: Reply<()> },
    /// Re-read whatever changed on disk and publish.
    Refresh { reply: oneshot::Sender<()> },
    /// Finish every command queued before this one, then stop; answered once all of them
    /// are durable. Commands after it are refused.
    Shutdown { reply: oneshot::Sender<()> },
}

/// The arguments of `worksync_register_project`.
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: String,
    pub repo: String,
    pub description: String,
    pub languages: Option<Vec<String>>,
}

/// One project's files as the writer holds them.
enum Slot {
    Ready {
        doc: Document<WorkIndex>,
        sidecar: Arc<Sidecar>,
        sidecar_file: SidecarFile,
    },
    /// The work index does not parse; `stamp` tells when it has been edited again.
    Broken {
        problem: Problem,
        stamp: Option<FileStamp>,
    },
    Missing {
        path: PathBuf,
    },
}

/// The writer's state; lives on the writer thread.
pub struct Writer {
    /// This process's claim to be the data root's only writer, held for the writer's life.
    _root_lock: RootLock,
    layout: Layout,
    config: Document<ConfigFile>,
    /// Set while `config.yaml` does not parse; the last good config stays in use.
    config_problem: Option<Problem>,
    /// The stamp of `config.yaml` as last examined (good or not), to re-read it only when it
    /// changes again.
    config_seen: Option<FileStamp>,
    projects: BTreeMap<String, Slot>,
    /// The last good version of projects whose file is now missing or broken: when the file
    /// comes back, it is settled like any hand edit of that version.
    last_good: BTreeMap<String, Version>,
    /// Each project's recent versions, to tell what a hand edit was made from.
    recent_versions: BTreeMap<String, RecentVersions>,
    published: Published,
    /// The change journals; the writer appends, readers query.
    changes: Arc<ChangeFeed>,
    /// Changes applied so far (see [`Snapshot::version`]), announced on `versions` when
    /// published so that followers such as the vault generator need not poll.
    version: u64,
    versions: watch::Sender<u64>,
}

impl Writer {
    /// Loads the data root and publishes the first snapshot.
    pub fn open(
        root_lock: RootLock,
        changes: Arc<ChangeFeed>,
        versions: watch::Sender<u64>,
    ) -> Result<(Writer, Published), StoreError> {
        let layout = root_lock.layout().clone();
        let config = Document::<ConfigFile>::load(&layout.config())?;
        for dir in [layout.root().to_path_buf(), layout.projects_dir()] {
            atomic::sweep_temp_files(&dir);
        }
        let published = Arc::new(RwLock::new(Arc::new(Snapshot::default())));
        let config_seen = config.stamp();
        let mut writer = Writer {
            _root_lock: root_lock,
            layout,
            config,
            config_problem: None,
            config_seen,
            projects: BTreeMap::new(),
            last_good: BTreeMap::new(),
            recent_versions: BTreeMap::new(),
            published: published.clone(),
            changes,
            version: 0,
            versions,
        };
        writer.report_invalid_names();
        writer.sync_projects();
        writer.publish();
        Ok((writer, published))
    }

    /// Serves commands until every sender is gone.
    ///
    /// Group commit: whatever queued up while the last write was in flight is taken as one
    /// batch, and each project's mutations in it are applied in order and written with one
    /// durable write. Every caller is still answered only after the write holding its change.
    pub fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        while let Some(first) = commands.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match commands.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            let stop = self.handle(batch);
            self.publish();
            if let Some(reply) = stop {
                commands.close();
                while let Ok(late) = commands.try_recv() {
                    refuse(late);
                }
                tracing::info!("writer stopped: every queued change is on disk");
                // Release the data root's lock before the caller hears that the writer
                // stopped, so that it can hand the root to another process at once.
                drop(self);
                let _ = reply.send(());
                return;
            }
        }
        tracing::debug!("writer stopped: no more senders");
    }

    /// Handles a batch: mutations are grouped per project (order kept within a project);
    /// any other command first flushes the mutations queued before it. Returns the reply of
    /// a shutdown request, if the batch held one.
    fn handle(&mut self, batch: Vec<Command>) -> Option<oneshot::Sender<()>> {
        let mut pending: BTreeMap<String, Vec<Pending>> = BTreeMap::new();
        let mut stop = None;
        for command in batch {
            if stop.is_some() {
                refuse(command);
                continue;
            }
            match command {
                Command::Mutate { project, operation, change, reply } => {
                    if let Some(refusal) = self.ambiguity(&project, &operation, change.now) {
                        let _ = reply.send(Err(refusal));
                        continue;
                    }
                    pending.entry(project).or_default().push(Pending { operation, change, reply });
                }
                other => {
                    self.flush(std::mem::take(&mut pending));
                    match other {
                        Command::Register { request, change, reply } => {
                            let outcome = self.register(request, &change);
                            self.version += outcome.is_ok() as u64;
                            let _ = reply.send(outcome);
                        }
                        Command::Unregister { name, delete_data, change, reply } => {
                            let outcome = self.unregister(&name, delete_data, &change);
                            self.version += outcome.is_ok() as u64;
                            let _ = reply.send(outcome);
                        }
                        Command::Shared { project, reply } => {
                            let _ = reply.send(self.shared(&project));
                        }
                        Command::ApplyMerged { project, merge, reply } => {
                            let outcome = self.apply_merged(&project, merge);
                            self.version += outcome.as_ref().is_ok_and(|applied| applied.changed) as u64;
                            let _ = reply.send(outcome);
                        }
                        Command::NoteConflicts { project, agent, notes, reply } => {
                            let _ = reply.send(self.note_conflicts(&project, &agent, &notes));
                        }
                        Command::SetShare { project, share, reply } => {
                            let _ = reply.send(self.set_share(&project, share));
                        }
                        Command::Join { joining, reply } => {
                            let _ = reply.send(self.join(*joining));
                        }
                        Command::Refresh { reply } => {
                            self.refresh();
                            // The caller reads the published snapshot as soon as it is
                            // answered: it must already show what the refresh found.
                            self.publish();
                            let _ = reply.send(());
                        }
                        Command::Shutdown { reply } => stop = Some(reply),
                        Command::Mutate { .. } => unreachable!("handled above"),
                    }
                }
            }
        }
        self.flush(pending);
        stop
    }

    fn flush(&mut self, pending: BTreeMap<String, Vec<Pending>>) {
        for (project, group) in pending {
            let started = std::time::Instant::now();
            let size = group.len();
            let outcomes = self.mutate(&project, group.iter().map(|p| (&p.operation, &p.change)).collect());
            self.version += outcomes.iter().filter(|o| o.is_ok()).count() as u64;
            for (p, outcome) in group.into_iter().zip(outcomes) {
                log_outcome(p.operation.name(), &project, &p.change.agent, started, size, &outcome);
                let _ = p.reply.send(outcome);
            }
        }
    }

    fn publish(&self) {
        let projects = self
            .projects
            .iter()
            .map(|(name, slot)| {
                let view = match slot {
                    Slot::Ready { doc, sidecar, .. } => {
                        ProjectView::ready(doc.value().clone(), sidecar.clone(), doc.stamp())
                    }
                    Slot::Broken { problem, stamp } => ProjectView::Broken { problem: problem.clone(), stamp: *stamp },
                    Slot::Missing { path } => ProjectView::Missing { path: path.clone() },
                };
                (name.clone(), view)
            })
            .collect();
        let snapshot = Snapshot {
            layout: self.layout.clone(),
            config: self.config.value().clone(),
            config_stamp: self.config_seen,
            config_problem: self.config_problem.clone(),
            projects,
            version: self.version,
        };
        *self.published.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        self.versions.send_if_modified(|announced| std::mem::replace(announced, self.version) != self.version);
    }
}

/// How closely to look for an edit behind the server's back before using a loaded file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    /// Size, mtime and inode only.
    Stamp,
    /// Also the bytes, while the file's mtime is within a timestamp tick of our last look.
    Thorough,
}

/// Answers a command that arrived after shutdown began.
fn refuse(command: Command) {
    match command {
        Command::Mutate { reply, .. } => {
            let _ = reply.send(Err(StoreError::ShuttingDown));
        }
        Command::Register { reply, .. } => {
            let _ = reply.send(Err(StoreError::ShuttingDown));
        }
        Command::Unregister { reply, .. } => {
            let _ = reply.send(Err(StoreError::ShuttingDown));
        }
        Command::Shared { reply, .. } => {
            let _ = reply.send(Err(StoreError::ShuttingDown));
        }
        Command::ApplyMerged { reply, .. } => {
            let _ = reply.send(Err(StoreError::ShuttingDown));
        }
        Command::SetShare { reply, .. } | Command::Join { reply, .. } | Command::NoteConflicts { reply, .. } => {
            let _ = reply.send(Err(StoreError::ShuttingDown));
        }
        Command::Refresh { reply } | Command::Shutdown { reply } => {
            let _ = reply.send(());
        }
    }
}

/// One log line per mutation: tool, project, agent, time in the writer, batch size, outcome.
fn log_outcome(
    tool: &str,
    project: &str,
    agent: &str,
    started: std::time::Instant,
    batch: usize,
    outcome: &Result<Done, StoreError>,
) {
    let micros = started.elapsed().as_micros() as u64;
    match outcome {
        Ok(_) => tracing::debug!(tool, project, agent, micros, batch, "mutation applied"),
        Err(e) => tracing::debug!(tool, project, agent, micros, batch, error = %e, "mutation refused"),
    }
}
