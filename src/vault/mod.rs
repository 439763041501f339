//! The Obsidian vault: notes generated from the YAML for people to browse.
//!
//! [`notes`] decides what the vault holds (as [`context`] types), [`templates`] renders it,
//! [`generator`] writes only what changed and never touches a file it did not write
//! ([`manifest`]), nor anything outside the vault ([`boundary`]), and records what it is
//! about to write first ([`intent`]) so that a kill leaves nothing unclaimed; [`report`]
//! says what a run did. [`Vault`] is the server's side: it follows the store's changes,
//! waits until a burst of them is over (the debounce), and regenerates on a blocking
//! thread, so a slow disk under the vault never slows a tool call; [`debounce`] says when a
//! burst is over. [`pictures`] draws the Mermaid charts. People may change two fields of a
//! note (`status`, a backlog item's `priority`): [`Vault`] watches the notes, [`edits`] tells
//! such a change from any other edit, and it reaches the YAML only through the writer,
//! guarded by the revision the note was written at.

mod boundary;
pub mod context;
mod debounce;
pub mod edits;
mod error;
pub mod generator;
mod intent;
pub mod manifest;
pub mod names;
pub mod notes;
pub mod pictures;
pub mod report;
pub mod templates;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use debounce::Bursts;
pub use error::VaultError;
pub use generator::Generator;
pub use report::{Options, Report};

use crate::store::layout::expand_home;
use crate::store::registry::ConfigFile;
use crate::store::{Layout, Snapshot, Store};

/// Maps and sets probed for every note of every run (10,000 at a time): a fast hash, not
/// the DoS-resistant default (keys are our own note paths and item ids).
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// Who a change made in a note from Obsidian is credited to, unless
/// `settings.vault_editor` names someone.
pub const DEFAULT_EDITOR: &str = "obsidian";

/// How long notes must be quiet before edited ones are looked at.
const NOTES_SETTLE: Duration = Duration::from_millis(300);

/// How the server keeps the vault current.
#[derive(Debug, Clone, Copy)]
pub struct SyncSettings {
    /// Regenerate after changes (`WORKSYNC_AUTO_SYNC`); `worksync_sync` works either way.
    pub auto: bool,
    /// Quiet time after the last change before regenerating (`WORKSYNC_SYNC_DEBOUNCE`).
    pub debounce: Duration,
}

impl Default for SyncSettings {
    fn default() -> Self {
        SyncSettings { auto: true, debounce: Duration::from_secs(2) }
    }
}

/// The vault directory of a data root: `vault_path` from config.yaml, relative to the root.
pub fn vault_dir(layout: &Layout, config: &ConfigFile) -> PathBuf {
    let configured = expand_home(config.vault_path());
    let relative: PathBuf = configured.components().filter(|c| *c != std::path::Component::CurDir).collect();
    if configured.is_absolute() { configured } else { layout.root().join(relative) }
}

/// The server's vault: the generator behind a lock, and counters the status page shows.
#[derive(Clone)]
pub struct Vault {
    store: Store,
    settings: SyncSettings,
    generator: Arc<Mutex<Option<Generator>>>,
    stats: Arc<Mutex<Stats>>,
}

/// What `/status` shows about the vault.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Stats {
    pub auto_sync: bool,
    pub debounce_seconds: f64,
    /// Changes seen that the vault does not show yet.
    pub pending: bool,
    /// Regenerations since start (automatic and requested).
    pub regenerations: u64,
    pub last: Option<LastRun>,
}

/// The latest regeneration.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LastRun {
    /// `startup`, `changes`, `shutdown` or `request`.
    pub trigger: &'static str,
    /// Store changes it covered (e.g. 50 mutations in one burst → 50).
    pub changes: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub notes: usize,
    pub written: usize,
    pub removed: usize,
    pub kept: usize,
    /// Projects whose notes it could not bring up to date (their file does not parse).
    pub skipped: usize,
    pub errors: usize,
    /// Entries of the vault manifest it ignored (not plain note paths inside the vault).
    pub manifest_problems: usize,
    /// How long it took, in whole milliseconds.
    pub millis: u64,
    /// Why the run failed as a whole, if it did.
    pub failure: Option<String>,
}

impl Vault {
    /// The vault of `store`'s data root; nothing runs until [`Vault::follow`] or a request.
    pub fn new(store: Store, settings: SyncSettings) -> Vault {
        let stats =
            Stats { auto_sync: settings.auto, debounce_seconds: settings.debounce.as_secs_f64(), ..Stats::default() };
        Vault { store, settings, generator: Arc::default(), stats: Arc::new(Mutex::new(stats)) }
    }

    /// The counters, for `/status`.
    pub fn stats(&self) -> Stats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Regenerates now, comparing every note with the disk (`worksync_sync`).
    pub async fn sync_now(&self, project: Option<String>) -> Result<Report, VaultError> {
        let snapshot = self.store.snapshot(project.as_deref()).await;
        let options = Options { full: true, adopt: false, project, apply_edits: true };
        self.regenerate(snapshot, options, "request", 0).await
    }

    /// Looks at notes that changed on disk (a person's edit in Obsidian, or the echo of our
    /// own writes): those that no longer hold what was written get an incremental run,
    /// which applies a change of `status`/`priority` in them.
    pub async fn check_notes(&self, paths: Vec<PathBuf>) -> Result<Option<Report>, VaultError> {
        let generator = self.generator.clone();
        let suspects = tokio::task::spawn_blocking(move || {
            let mut slot = generator.lock().unwrap_or_else(|e| e.into_inner());
            slot.as_mut().map_or(0, |g| g.suspect(&paths))
        })
        .await
        .unwrap_or(0);
        if suspects == 0 {
            return Ok(None);
        }
        let options = Options { apply_edits: true, ..Options::default() };
        self.regenerate(self.store.published(), options, "note edited", 0).await.map(Some)
    }

    /// Keeps the vault current until `stop` is cancelled: a full regeneration at start, then
    /// one after each burst of changes ([`debounce`]), and a last one for changes still
    /// pending at `stop`. Does nothing (but still ends on `stop`) when auto sync is off.
    pub fn follow(&self, stop: CancellationToken) -> JoinHandle<()> {
        let vault = self.clone();
        tokio::spawn(async move {
            if !vault.settings.auto {
                return;
            }
            let mut bursts = Bursts::new(vault.store.versions(), vault.settings.debounce);
            // Watching first: an edit made while the startup run writes is not missed.
            vault.watch_notes(stop.clone());
            let snapshot = vault.store.published();
            let startup = Options { full: true, apply_edits: true, ..Options::default() };
            let _ = vault.regenerate(snapshot, startup, "startup", 0).await;
            while bursts.begun(&stop).await {
                vault.set_pending(true);
                let burst = bursts.over(&stop).await;
                let trigger = if burst.stopped { "shutdown" } else { "changes" };
                let options = Options { apply_edits: true, ..Options::default() };
                let _ = vault.regenerate(vault.store.published(), options, trigger, burst.changes).await;
            }
            let changes = bursts.take_unseen();
            if changes > 0 {
                let options = Options { apply_edits: true, ..Options::default() };
                let _ = vault.regenerate(vault.store.published(), options, "shutdown", changes).await;
            }
            vault.checkpoint().await;
        })
    }

    /// Watches the vault's notes for a person's edits until `stop`; a burst of events (one
    /// regeneration writes thousands of notes) is collected for [`NOTES_SETTLE`] first.
    fn watch_notes(&self, stop: CancellationToken) {
        use notify::{RecursiveMode, Watcher};
        let dir = vault_dir(self.store.layout(), &self.store.published().config);
        // A fresh data root has no vault yet: its first run creates it, after the watch.
        let _ = std::fs::create_dir_all(&dir);
        let (events, mut changed) = tokio::sync::mpsc::unbounded_channel::<PathBuf>();
        let vault = dir.clone();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            let Ok(event) = event else { return };
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            for path in event.paths {
                if is_note_event(&vault, &path) {
                    let _ = events.send(path);
                }
            }
        });
        let mut watcher = match watcher.and_then(|mut w| w.watch(&dir, RecursiveMode::Recursive).map(|()| w)) {
            Ok(watcher) => watcher,
            Err(e) => {
                tracing::warn!(vault = %dir.display(), error = %e, "cannot watch the vault: status changes made in Obsidian are applied at the next regeneration");
                return;
            }
        };
        let vault = self.clone();
        tokio::spawn(async move {
            loop {
                let first = tokio::select! {
                    _ = stop.cancelled() => break,
                    path = changed.recv() => match path { Some(path) => path, None => break },
                };
                let mut paths = std::collections::BTreeSet::from([first]);
                let quiet = tokio::time::sleep(NOTES_SETTLE);
                tokio::pin!(quiet);
                loop {
                    tokio::select! {
                        _ = &mut quiet => break,
                        Some(path) = changed.recv() => { paths.insert(path); }
                    }
                }
                if let Err(e) = vault.check_notes(paths.into_iter().collect()).await {
                    tracing::warn!(error = %e, "could not look at edited notes");
                }
            }
            let _ = watcher.unwatch(&dir);
        });
    }

    fn set_pending(&self, pending: bool) {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).pending = pending;
    }

    /// Runs the generator on a blocking thread, applies the `status`/`priority` changes
    /// people made in notes through the writer, and records the outcome.
    /// Saves the vault manifest of the runs since the last save (at shutdown: the next
    /// start then has nothing to look at again).
    async fn checkpoint(&self) {
        let generator = self.generator.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut slot = generator.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(generator) = slot.as_mut() {
                log_checkpoint(generator.checkpoint());
            }
        })
        .await;
    }

    async fn regenerate(
        &self,
        snapshot: Arc<Snapshot>,
        options: Options,
        trigger: &'static str,
        changes: u64,
    ) -> Result<Report, VaultError> {
        let generator = self.generator.clone();
        let layout = self.store.layout().clone();
        let run_on = Arc::clone(&snapshot);
        let mut outcome = tokio::task::spawn_blocking(move || {
            let mut slot = generator.lock().unwrap_or_else(|e| e.into_inner());
            let dir = vault_dir(&layout, &run_on.config);
            if slot.as_ref().is_none_or(|g| g.vault() != dir) {
                if let Some(previous) = slot.as_mut() {
                    log_checkpoint(previous.checkpoint());
                }
                *slot = Some(Generator::new(dir, &layout.templates_dir()));
            }
            slot.as_mut().expect("just set").run(&run_on, &options)
        })
        .await
        .unwrap_or_else(|e| Err(VaultError::Crashed { cause: e.to_string() }));
        if let Ok(report) = &mut outcome
            && !report.edits.is_empty()
        {
            let settled = self.apply_edits(std::mem::take(&mut report.edits), &snapshot).await;
            match settled {
                Ok(more) => {
                    report.applied.extend(more.applied);
                    report.refused.extend(more.refused);
                    report.written += more.written;
                }
                Err(e) => outcome = Err(e),
            }
        }
        self.record(trigger, changes, &outcome);
        outcome
    }

    /// Applies people's edits of notes through the writer, as the vault editor
    /// (`settings.vault_editor`, default `obsidian`), each guarded by the revision its note
    /// was written at, and lets the generator settle them.
    async fn apply_edits(&self, edits: Vec<edits::FrontmatterEdit>, snapshot: &Snapshot) -> Result<Report, VaultError> {
        use crate::store::model::{BacklogStatus, StoryStatus};
        use crate::store::{Change, Guard, Mutation, Operation};
        let editor = snapshot.config.settings.as_ref().and_then(|s| s.vault_editor.clone());
        let editor = editor.unwrap_or_else(|| DEFAULT_EDITOR.to_string());
        let mut outcomes = Vec::new();
        for edit in edits {
            let guard = Guard { expected_rev: Some(edit.rev), force: false };
            // The generator checked the values; a value it let through is one of these.
            let mutation = if edit.kind == "story" {
                let status =
                    edit.status.as_deref().and_then(|t| StoryStatus::ALL.iter().copied().find(|s| s.as_str() == t));
                Mutation::UpdateStory {
                    sprint_id: edit.sprint.clone().unwrap_or_default(),
                    story_id: edit.id.clone(),
                    status,
                    notes: None,
                    append_notes: None,
                    depends_on: None,
                }
            } else {
                let status =
                    edit.status.as_deref().and_then(|t| BacklogStatus::ALL.iter().copied().find(|s| s.as_str() == t));
                Mutation::UpdateBacklog {
                    id: edit.id.clone(),
                    priority: edit.priority,
                    status,
                    summary: None,
                    theme: None,
                    related_sprints: None,
                    depends_on: None,
                }
            };
            let change = Change { agent: editor.clone(), now: chrono::Utc::now() };
            let operation = Operation::Edit { edit: mutation, guard };
            let outcome =
                self.store.mutate(&edit.project, operation, change).await.map(|_| ()).map_err(|e| e.to_string());
            match &outcome {
                Ok(()) => tracing::info!(note = %edit.path, agent = %editor, "applied a change made in Obsidian"),
                Err(why) => tracing::warn!(note = %edit.path, %why, "a change made in Obsidian was not applied"),
            }
            outcomes.push((edit, outcome));
        }
        let generator = self.generator.clone();
        let snapshot = self.store.published();
        tokio::task::spawn_blocking(move || {
            let mut slot = generator.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_mut() {
                Some(generator) => generator.settle(&snapshot, outcomes),
                None => Ok(Report::default()),
            }
        })
        .await
        .unwrap_or_else(|e| Err(VaultError::Crashed { cause: e.to_string() }))
    }

    fn record(&self, trigger: &'static str, changes: u64, outcome: &Result<Report, VaultError>) {
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        stats.regenerations += 1;
        stats.pending = false;
        let base = LastRun { trigger, changes, at: chrono::Utc::now(), ..LastRun::default() };
        let last = match outcome {
            Ok(report) => {
                if !report.manifest_problems.is_empty() {
                    tracing::warn!(
                        entries = ?report.manifest_problems,
                        "the vault manifest had bad entries; they were ignored"
                    );
                }
                let problems = !report.errors.is_empty()
                    || !report.kept.is_empty()
                    || !report.skipped.is_empty()
                    || !report.template_problems.is_empty();
                if !problems {
                    tracing::info!(
                        trigger,
                        changes,
                        notes = report.notes,
                        written = report.written,
                        removed = report.removed,
                        millis = report.millis,
                        "vault regenerated"
                    );
                } else {
                    let skipped: Vec<String> = report.skipped.iter().map(|s| s.describe()).collect();
                    tracing::warn!(
                        trigger,
                        changes,
                        millis = report.millis,
                        ?skipped,
                        ?report.errors,
                        ?report.kept,
                        ?report.template_problems,
                        "vault regenerated with problems"
                    );
                }
                LastRun {
                    notes: report.notes,
                    written: report.written,
                    removed: report.removed,
                    kept: report.kept.len(),
                    skipped: report.skipped.len(),
                    errors: report.errors.len(),
                    manifest_problems: report.manifest_problems.len(),
                    millis: report.millis,
                    ..base
                }
            }
            Err(failure) => {
                tracing::error!(trigger, error = %failure, "vault regeneration failed");
                LastRun { failure: Some(failure.to_string()), ..base }
            }
        };
        stats.last = Some(last);
    }
}

/// Is `path` a note of `vault`, not the generator's own records in `vault/.worksync/`?
/// Only the part below the vault counts: the default vault is `~/.worksync/vault`.
fn is_note_event(vault: &Path, path: &Path) -> bool {
    let inside = path.strip_prefix(vault).unwrap_or(path);
    path.extension().is_some_and(|e| e == "md") && !inside.components().any(|c| c.as_os_str() == ".worksync")
}

/// A checkpoint that failed costs nothing but time (the intent log still records every
/// note), so it is logged, not reported.
fn log_checkpoint(result: Result<(), VaultError>) {
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not save the vault manifest; the next start will look at recent notes again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default vault lies under `~/.worksync/`: its notes are seen, its records are not.
    #[test]
    fn notes_under_a_dot_worksync_data_root_are_seen() {
        let vault = Path::new("/home/ana/.worksync/vault");
        assert!(is_note_event(vault, &vault.join("projects/orbit-api/Backlog/ci.md")));
        assert!(!is_note_event(vault, &vault.join(".worksync/manifest.json")));
        assert!(!is_note_event(vault, &vault.join(".worksync/notes.md")));
        assert!(!is_note_event(vault, &vault.join("projects/orbit-api/Board.base")));
    }
}
