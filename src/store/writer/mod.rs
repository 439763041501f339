//! The single writer: one thread that owns every file the server writes.
//!
//! All mutations arrive over one channel and are applied one at a time, each made durable
//! before its caller is answered (SPEC §2). Owning the files in one place is what makes the
//! external-edit check sound: between our stat and our rename nobody else of ours writes.
//! It is a plain OS thread, not a tokio task, because its work is blocking I/O (fsync) that
//! must not stall the async workers serving reads.
//!
//! After every command the writer publishes a new [`Snapshot`]: readers clone an `Arc` and
//! never wait for a write in progress.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot, watch};

mod projects;

use super::atomic::{self, FileStamp};
use super::changes::ChangeFeed;
use super::coordination::{self, Operation, Policy};
use super::error::StoreError;
use super::history_archive;
use super::layout::Layout;
use super::lock::RootLock;
use super::model::WorkIndex;
use super::ops::Change;
use super::outcome::{Done, Registered, Unregistered};
use super::registry::{ConfigFile, invalid_project_error};
use super::sidecar::{Sidecar, SidecarFile};
use super::snapshot::{Problem, ProjectView, Snapshot};
use super::values;
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
    /// The last good model of projects whose file is now missing or broken: when the file
    /// comes back, items it changed meanwhile get new revisions like any hand edit.
    last_good: BTreeMap<String, Arc<WorkIndex>>,
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

    /// Re-reads `config.yaml` and every project file that changed on disk.
    fn refresh(&mut self) {
        self.refresh_config();
        self.sync_projects();
    }

    fn refresh_config(&mut self) {
        let on_disk = FileStamp::of(self.config.path()).ok().flatten();
        if on_disk == self.config_seen {
            return;
        }
        self.config_seen = on_disk;
        match Document::<ConfigFile>::load(self.config.path()) {
            Ok(doc) => {
                self.version += 1;
                self.config_seen = doc.stamp();
                tracing::warn!(path = %doc.path().display(), "external edit of config.yaml detected; reloaded");
                self.config = doc;
                self.config_problem = None;
                self.report_invalid_names();
            }
            Err(e) => {
                tracing::error!(error = %e, "config.yaml does not parse; keeping the last good version");
                self.config_problem = Some(Problem::from_error(&e, self.config.path()));
            }
        }
    }

    /// Logs each project of `config.yaml` whose name cannot be a directory (the registry
    /// skips it), with the file, line and column to fix; once per version of the file.
    fn report_invalid_names(&self) {
        for (name, why) in self.config.value().invalid_projects() {
            let error = invalid_project_error(self.config.path(), self.config.text(), name, &why);
            tracing::error!(error = %error, "a project of config.yaml is skipped");
        }
    }

    /// Makes the project slots match the registry, loading new or changed files.
    fn sync_projects(&mut self) {
        let names: Vec<String> = self.config.value().projects().map(|(n, _)| n.clone()).collect();
        self.projects.retain(|name, _| names.contains(name));
        for name in names {
            self.sync_project(name, Check::Thorough);
        }
    }

    /// Loads one project's file if it is new to the writer or changed on disk.
    fn sync_project(&mut self, name: String, check: Check) {
        // Names come from the registry, which hands out only names that can be paths.
        let Ok(path) = self.layout.work_index(&name) else { return };
        let stale = match self.projects.get(&name) {
            None => true,
            Some(Slot::Ready { doc, .. }) if check == Check::Stamp => doc.stamp_changed().unwrap_or(true),
            Some(Slot::Ready { doc, .. }) => doc.is_stale().unwrap_or(true),
            Some(Slot::Broken { stamp, .. }) => FileStamp::of(&path).ok().flatten() != *stamp,
            Some(Slot::Missing { .. }) => path.exists(),
        };
        if stale {
            self.version += 1;
            let previous = self.projects.remove(&name);
            let mut slot = self.load_project(&name);
            if previous.is_some() {
                tracing::warn!(project = %name, path = %path.display(), "external edit detected; reloaded the file (the edit is kept)");
            }
            match (&previous, &mut slot) {
                (Some(Slot::Ready { doc: old, .. }), Slot::Ready { doc: new, sidecar, sidecar_file }) => {
                    self.reconcile(&name, old.value(), new.value(), sidecar, sidecar_file);
                }
                (Some(Slot::Ready { doc: old, .. }), Slot::Missing { .. } | Slot::Broken { .. }) => {
                    let action = if matches!(slot, Slot::Missing { .. }) { "deleted" } else { "unparseable" };
                    self.last_good.insert(name.clone(), old.value().clone());
                    self.file_event(&name, action);
                }
                (Some(Slot::Missing { .. } | Slot::Broken { .. }), Slot::Ready { doc: new, sidecar, sidecar_file }) => {
                    self.file_event(&name, "restored");
                    if let Some(old) = self.last_good.remove(&name) {
                        self.reconcile(&name, &old, new.value(), sidecar, sidecar_file);
                    }
                }
                _ => {}
            }
            self.projects.insert(name, slot);
        }
    }

    /// Gives every item a hand edit changed a new revision, and records that durably.
    fn reconcile(
        &self,
        project: &str,
        old: &WorkIndex,
        new: &WorkIndex,
        sidecar: &mut Arc<Sidecar>,
        sidecar_file: &mut SidecarFile,
    ) {
        let mut meta = sidecar.as_ref().clone();
        let events = coordination::reconcile(old, new, &mut meta, chrono::Utc::now());
        if events.is_empty() {
            return;
        }
        tracing::info!(project, changed = events.len(), "items changed by the external edit");
        if let Err(e) = sidecar_file.save(sidecar, &meta) {
            tracing::error!(project, error = %e, "could not record the external edit's revisions");
        }
        *sidecar = Arc::new(meta);
        let now = chrono::Utc::now();
        let recorded = self
            .layout
            .state_dir(project)
            .and_then(|state_dir| self.changes.record(project, &state_dir, coordination::EXTERNAL_EDIT, now, &events));
        if let Err(e) = recorded {
            tracing::error!(project, error = %e, "could not append the external edit to the change journal");
        }
    }

    /// Records in the change feed that the work index itself went away, broke or came back.
    fn file_event(&self, project: &str, action: &'static str) {
        let event =
            coordination::Event { kind: "file", id: "work-index.yaml".into(), action, rev: None, summary: None };
        let now = chrono::Utc::now();
        let recorded = self
            .layout
            .state_dir(project)
            .and_then(|state_dir| self.changes.record(project, &state_dir, coordination::EXTERNAL_EDIT, now, &[event]));
        if let Err(e) = recorded {
            tracing::error!(project, error = %e, "could not append to the change journal");
        }
    }

    fn load_project(&self, name: &str) -> Slot {
        let paths = (self.layout.project_dir(name), self.layout.work_index(name), self.layout.state_dir(name));
        let (project_dir, path, state_dir) = match paths {
            (Ok(project_dir), Ok(path), Ok(state_dir)) => (project_dir, path, state_dir),
            (Err(e), ..) | (_, Err(e), _) | (.., Err(e)) => {
                return Slot::Broken { problem: Problem::from_error(&e, self.layout.config().as_path()), stamp: None };
            }
        };
        if !path.exists() {
            return Slot::Missing { path };
        }
        atomic::sweep_temp_files(&project_dir);
        atomic::sweep_temp_files(&state_dir);
        match values::load_work_index(&path) {
            Ok(doc) => {
                self.changes.open(name, &state_dir);
                let (sidecar_file, sidecar) = SidecarFile::open(&state_dir);
                Slot::Ready { doc, sidecar: Arc::new(sidecar), sidecar_file }
            }
            Err(e) => {
                tracing::error!(project = %name, error = %e, "work-index.yaml does not parse or holds a value its schema does not allow; the project refuses changes until it is fixed");
                Slot::Broken { problem: Problem::from_error(&e, &path), stamp: FileStamp::of(&path).ok().flatten() }
            }
        }
    }

    /// Applies a project's queued mutations in order, each to the result of the previous
    /// successful one, then writes the file once. A mutation that fails leaves no trace; if
    /// the write fails, every mutation of the batch fails with it and nothing changes.
    fn mutate(&mut self, project: &str, batch: Vec<(&Operation, &Change)>) -> Vec<Result<Done, StoreError>> {
        // If the file changes under a write (an editor saving at that moment), nothing was
        // written: re-read it and apply the batch again on top of the new version.
        let mut attempts = 0;
        loop {
            attempts += 1;
            // The first attempt trusts the stamp: the check right before the rename compares
            // the bytes too, and a change only the bytes show comes back here as `Changed`.
            let check = if attempts == 1 { Check::Stamp } else { Check::Thorough };
            match self.mutate_batch(project, &batch, check) {
                Ok(outcomes) => return outcomes,
                Err(StoreError::Changed { path }) if attempts < 5 => {
                    tracing::warn!(project, path = %path.display(), "file changed during a write; re-reading and retrying");
                }
                Err(e) => return batch.iter().map(|_| Err(e.clone())).collect(),
            }
        }
    }

    fn mutate_batch(
        &mut self,
        project: &str,
        batch: &[(&Operation, &Change)],
        check: Check,
    ) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
        self.refresh_config();
        if self.config.value().project(project).is_none() {
            return Err(StoreError::ProjectNotFound {
                name: project.to_string(),
                available: self.config.value().project_names(),
            });
        }
        // Only the project being changed is checked on disk (a refresh covers the others).
        self.sync_project(project.to_string(), check);
        let state_dir = self.layout.state_dir(project)?;
        let policy = self.policy();
        let rotation = self
            .config
            .value()
            .settings
            .as_ref()
            .and_then(|s| s.history_rotation)
            .filter(|n| *n > 0)
            .map(|n| n as usize);
        let layout = self.layout.clone();
        let Some(slot) = self.projects.get_mut(project) else {
            return Err(StoreError::ProjectNotFound { name: project.into(), available: String::new() });
        };
        let (doc, sidecar, sidecar_file) = match slot {
            Slot::Ready { doc, sidecar, sidecar_file } => (doc, sidecar, sidecar_file),
            Slot::Broken { problem, .. } => return Err(problem.to_error()),
            Slot::Missing { path } => {
                return Err(StoreError::IndexMissing { project: project.into(), path: path.clone() });
            }
        };

        // The state after the operations so far; `None` while it is still the published one
        // (so a batch of one clones the model once, not twice).
        let mut state: Option<(WorkIndex, Sidecar)> = None;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut index_changed = false;
        let mut events = Vec::new();
        for (operation, change) in batch {
            // Each operation works on its own copy so that a refusal half-way leaves nothing.
            let (mut index_attempt, mut meta_attempt) = match &state {
                Some((index, meta)) => (index.clone(), meta.clone()),
                None => (doc.value().as_ref().clone(), sidecar.as_ref().clone()),
            };
            match operation.execute(&mut index_attempt, &mut meta_attempt, change, &policy) {
                Ok(executed) => {
                    state = Some((index_attempt, meta_attempt));
                    index_changed |= executed.index_changed;
                    events.push((change.agent.clone(), change.now, executed.events));
                    outcomes.push(Ok(Done {
                        outcome: executed.outcome,
                        agent: change.agent.clone(),
                        forced_over: executed.forced_over,
                    }));
                }
                Err(e) => outcomes.push(Err(e)),
            }
        }
        let Some((mut next, meta)) = state else {
            return Ok(outcomes);
        };
        if !index_changed && meta == **sidecar {
            // Nothing to write (a `next` without claim, a release of nothing).
            return Ok(outcomes);
        }
        if !index_changed {
            // A sidecar-only change (a claim, a release) must be durable before it is answered.
            sidecar_file.save(sidecar, &meta)?;
        } else {
            // The YAML and the sidecar are written (and fsync'd) at the same time: their
            // fsyncs overlap instead of adding up. A crash between the two leaves either the
            // YAML or the attribution new, which loading reconciles like a hand edit.
            let (written, saved) = std::thread::scope(|scope| {
                let saving = scope.spawn(|| sidecar_file.save(sidecar, &meta));
                let written = (|| {
                    if let Some(keep) = rotation {
                        let moved = history_archive::rotate(&layout.project_dir(project)?, &mut next, keep)?;
                        if moved > 0 {
                            tracing::info!(
                                project,
                                moved,
                                "rotated old history entries to {}",
                                history_archive::ARCHIVE
                            );
                        }
                    }
                    doc.replace(next)
                })();
                (written, saving.join().unwrap_or_else(|_| Err(StoreError::ShuttingDown)))
            });
            if let Err(e) = written {
                // The change did not happen: put the attribution back as it was.
                if saved.is_ok()
                    && let Err(undo) = sidecar_file.save(&meta, sidecar)
                {
                    tracing::error!(project, error = %undo, "could not restore the sidecar after a failed write");
                }
                return Err(e);
            }
            // Losing attribution must not make the agent retry (and duplicate) a change that
            // happened, so a sidecar failure after a YAML change is only logged.
            if let Err(e) = saved {
                tracing::error!(project, error = %e, "could not record attribution in .worksync/");
            }
        }
        *sidecar = Arc::new(meta);
        // Like attribution: the change is durable, so a journal failure is only logged (a
        // cursor the journal then cannot serve gets a resync). One append for the batch.
        let changes: Vec<(&str, _, &[coordination::Event])> =
            events.iter().map(|(agent, at, events)| (agent.as_str(), *at, events.as_slice())).collect();
        if let Err(e) = self.changes.record_all(project, &state_dir, &changes) {
            tracing::error!(project, error = %e, "could not append to the change journal");
        }
        Ok(outcomes)
    }

    /// The coordination rules from `config.yaml`.
    fn policy(&self) -> Policy {
        let minutes = self.config.value().settings.as_ref().and_then(|s| s.claim_lease_minutes);
        match minutes {
            Some(m) if m.is_finite() && m > 0.0 => {
                Policy { default_lease: chrono::Duration::milliseconds((m * 60_000.0) as i64) }
            }
            _ => Policy::default(),
        }
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
