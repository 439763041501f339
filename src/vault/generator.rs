//! Writing the vault: render what changed, write only what differs, delete only our own
//! notes.
//!
//! A run plans every note of the snapshot ([`notes`]), skips projects whose model and
//! metadata are the very same `Arc`s as last time, skips the note of each story and backlog
//! item whose key (a hash of what its builder reads) is what its file was rendered from,
//! without building it, and hashes the template input of the rest: only notes whose input
//! changed are rendered, and only notes whose text changed are written. Before a file is
//! replaced or deleted, its bytes must still be what the manifest says we wrote; otherwise a
//! person edited it (or it is theirs) and it stays untouched. Notes are written atomically
//! without fsync (they are derived; the manifest, which guards the user's files, is
//! fsync'd), in batches: before a batch is written, what it is about to write is made
//! durable in the [intent log](super::intent), so a run killed at any moment leaves no note
//! the next run would not recognise as its own. Only plain note paths in folders inside the
//! vault are ever written or deleted ([`boundary`]).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::boundary::{self, Boundary};
use super::context::{Context, Note};
use super::edits::{self, FrontmatterEdit, Inspection, Written};
use super::error::VaultError;
use super::intent::IntentLog;
use super::manifest::{self, Hash, Manifest};
use super::notes::{self, Catalog, GlobalPlan, Inputs, ProjectState};
use super::report::{Kept, LISTED, Options, Report, Skipped};
use super::templates::Templates;
use super::{FastMap, FastSet};
use crate::store::atomic;
use crate::store::model::WorkIndex;
use crate::store::registry::ProjectEntry;
use crate::store::sidecar::ItemKey;
use crate::store::sidecar::Sidecar;
use crate::store::snapshot::{ProjectView, Snapshot};

/// How long the intent log may grow (about 3,500 notes' intents) before a run saves the
/// manifest instead of leaving its notes' intents as their record.
const CHECKPOINT_BYTES: u64 = 256 * 1024;

/// Notes written per durable intent record: one fdatasync per batch, and a batch's texts
/// wait in memory until it is written (2,048 notes of 1–2 KB each).
const BATCH: usize = 2048;

/// The generator's memory between runs; one per vault.
pub struct Generator {
    vault: PathBuf,
    templates: Templates,
    manifest: Manifest,
    intent: IntentLog,
    boundary: Boundary,
    /// Per note path: the hash of the template input its current text was rendered from.
    /// Only notes the manifest lists as ours (a note that stops being ours is forgotten
    /// here too).
    rendered: FastMap<String, Hash>,
    /// Per project: the inputs of the last run, and the notes planned from them.
    planned: HashMap<String, Planned>,
    /// Per project: the catalog of the last run, reused while its key holds.
    catalogs: HashMap<String, Catalog>,
    /// Directories known to exist.
    dirs: HashSet<PathBuf>,
    /// Per note path: why a person's status or priority edit in it was not applied, at
    /// which revision of its item (shown as a callout in the note until the item changes).
    refusals: HashMap<String, (u64, String)>,
    /// Per note path: the content of an edit handed to the caller and not settled yet.
    submitted: HashMap<String, Hash>,
    /// A refusal was recorded this run: its note needs another pass to show it.
    refused_since_run: bool,
    /// Notes that changed on disk since we wrote them (seen by the server's watcher): the
    /// next run looks at them although their input did not change.
    suspects: HashSet<String>,
    /// Stops a run, as a SIGKILL would, once it has written this many notes.
    #[cfg(test)]
    pub(super) crash_after: Option<usize>,
}

/// A note about to be written: its text waits until its intent is durable.
struct Pending {
    path: String,
    text: String,
    hash: Hash,
    input: Hash,
    /// For an item's note: what it says, to recognise a person's edit of it later.
    fields: Option<Written>,
}

/// What to do with a note a person changed, after looking at the change.
enum Edited {
    /// Only its form changed: replace it.
    Replace,
    /// A change of `status`/`priority` was handed on (or refused, or waits): leave it.
    Leave,
    /// Another edit: the note is the person's.
    Keep,
}

/// The item a note is generated for, as far as an edit of it is concerned.
struct NoteItem<'a> {
    project: &'a str,
    kind: &'static str,
    id: &'a str,
    sprint: Option<&'a str>,
    rev: u64,
    /// Who changed it last, and when.
    last: Option<(&'a str, String)>,
}

impl<'a> NoteItem<'a> {
    fn of(note: &'a Note) -> Option<NoteItem<'a>> {
        let project = note.project.map(|p| p.name.as_str())?;
        let last = |meta: &Option<super::context::Meta<'a>>| {
            meta.as_ref().map(|m| (m.0.updated_by.as_str(), m.0.updated_at.format("%Y-%m-%d %H:%M UTC").to_string()))
        };
        match &note.context {
            Context::Story(s) => Some(NoteItem {
                project,
                kind: "story",
                id: s.story.id,
                sprint: Some(s.sprint.id),
                rev: s.work.rev,
                last: last(&s.meta),
            }),
            Context::Backlog(b) => Some(NoteItem {
                project,
                kind: "backlog",
                id: b.item.id,
                sprint: None,
                rev: b.work.rev,
                last: last(&b.meta),
            }),
            _ => None,
        }
    }
}

struct Planned {
    index: Arc<WorkIndex>,
    sidecar: Arc<Sidecar>,
    entry: ProjectEntry,
    templates: u64,
}

impl Generator {
    /// A generator for the vault at `vault`, with template overrides from `templates_dir`.
    pub fn new(vault: PathBuf, templates_dir: &Path) -> Generator {
        Generator {
            manifest: Manifest::load(&vault),
            intent: IntentLog::open(&vault),
            boundary: Boundary::new(&vault),
            vault,
            templates: Templates::load(templates_dir),
            rendered: FastMap::default(),
            planned: HashMap::new(),
            catalogs: HashMap::new(),
            dirs: HashSet::new(),
            refusals: HashMap::new(),
            submitted: HashMap::new(),
            refused_since_run: false,
            suspects: HashSet::new(),
            #[cfg(test)]
            crash_after: None,
        }
    }

    /// The vault directory.
    pub fn vault(&self) -> &Path {
        &self.vault
    }

    /// Brings the vault up to date with `snapshot`. A note whose `status`/`priority` change
    /// was refused gets a second pass, to say so.
    pub fn run(&mut self, snapshot: &Snapshot, options: &Options) -> Result<Report, VaultError> {
        let mut report = self.run_once(snapshot, options)?;
        if std::mem::take(&mut self.refused_since_run) {
            let again = self.run_once(snapshot, &Options { full: false, ..options.clone() })?;
            report.absorb(again);
        }
        Ok(report)
    }

    /// Settles the edits a run handed out: `outcomes` says, per edit, whether the writer
    /// applied it (then the note is ours again, and the next run rewrites it with the
    /// item's new revision) or why not (then the note says why). Runs again when a refusal
    /// must be shown.
    pub fn settle(
        &mut self,
        snapshot: &Snapshot,
        outcomes: Vec<(FrontmatterEdit, Result<(), String>)>,
    ) -> Result<Report, VaultError> {
        let mut applied = Vec::new();
        let mut refused = Vec::new();
        for (edit, outcome) in outcomes {
            self.submitted.remove(&edit.path);
            match outcome {
                Ok(()) => {
                    self.manifest.notes.insert(edit.path.clone(), edit.seen);
                    if let Some(written) = self.manifest.fields.get_mut(&edit.path) {
                        written.status = edit.status.clone().unwrap_or(std::mem::take(&mut written.status));
                        written.priority = edit.priority.or(written.priority);
                    }
                    applied.push(format!("{}: {}", edit.path, describe(&edit)));
                }
                Err(why) => {
                    let why = format!("Your change ({}) was not applied: {why}", describe(&edit));
                    refused.push(super::report::Kept { path: edit.path.clone(), reason: why.clone() });
                    let rev = match snapshot.projects.get(&edit.project) {
                        Some(ProjectView::Ready { sidecar, .. }) => {
                            let key = match edit.kind {
                                "story" => ItemKey::Story(edit.id.clone()),
                                _ => ItemKey::Backlog(edit.id.clone()),
                            };
                            sidecar.items.get(key.as_storage_key().as_str()).map_or(1, |m| m.rev)
                        }
                        _ => edit.rev,
                    };
                    self.refuse(&edit.path, edit.seen, rev, why);
                }
            }
        }
        self.manifest.save(&self.vault)?;
        let mut report = if std::mem::take(&mut self.refused_since_run) {
            self.run_once(snapshot, &Options { apply_edits: true, ..Options::default() })?
        } else {
            Report { vault: self.vault.display().to_string(), ..Report::default() }
        };
        report.applied = applied;
        report.refused.extend(refused);
        Ok(report)
    }

    /// Records why an edit of `path` (content `seen`, made at revision `rev`) was not
    /// applied, and takes the note back so that the next pass rewrites it with the callout.
    fn refuse(&mut self, path: &str, seen: Hash, rev: u64, why: String) {
        self.refusals.insert(path.to_string(), (rev, why));
        self.manifest.notes.insert(path.to_string(), seen);
        self.manifest.unsettled.remove(path);
        self.rendered.remove(path);
        // Looked at again (with its project) by the next pass, which writes the callout.
        self.suspects.insert(path.to_string());
        self.refused_since_run = true;
    }

    /// Looks at a note a person changed: a change of `status`/`priority` only is handed on
    /// in `report.edits` (or refused, or reported as waiting); anything else keeps it theirs.
    fn edited(&mut self, note: &Note, bytes: &[u8], options: &Options, report: &mut Report) -> Edited {
        let path: &str = &note.path;
        let (Some(written), Some(item)) = (self.manifest.fields.get(path), NoteItem::of(note)) else {
            return Edited::Keep;
        };
        let seen = manifest::hash(bytes);
        if self.submitted.get(path) == Some(&seen) {
            return Edited::Leave;
        }
        let (status, priority) = match edits::inspect(bytes, written) {
            Inspection::Other => return Edited::Keep,
            Inspection::Reformatted => return Edited::Replace,
            Inspection::Changed { status, priority } => (status, priority),
        };
        let written_rev = written.rev;
        let mut edit = FrontmatterEdit {
            project: item.project.to_string(),
            kind: item.kind,
            id: item.id.to_string(),
            sprint: item.sprint.map(str::to_string),
            path: path.to_string(),
            rev: written_rev,
            status: status.clone(),
            priority: None,
            seen,
        };
        let why = match edits::allowed(item.kind, status.as_deref(), priority.as_deref()) {
            Err(why) => Some(why),
            Ok(_) if item.rev != written_rev => {
                let by = item.last.map(|(agent, at)| format!(" by {agent} at {at}")).unwrap_or_default();
                Some(format!(
                    "{} changed since this note was written (rev {written_rev}, now rev {}{by}). Set it again if it \
                     still holds",
                    item.id, item.rev
                ))
            }
            Ok(p) => {
                edit.priority = p;
                None
            }
        };
        if let Some(why) = why {
            let why = format!("Your change ({}) was not applied: {why}", describe_raw(&status, &priority));
            report.refused.push(super::report::Kept { path: path.to_string(), reason: why.clone() });
            self.refuse(path, seen, item.rev, why);
            return Edited::Leave;
        }
        if !options.apply_edits {
            report.kept.push(super::report::Kept {
                path: path.to_string(),
                reason: format!(
                    "holds a change from Obsidian ({}) that the running server applies; left as it is",
                    describe(&edit)
                ),
            });
            return Edited::Leave;
        }
        self.submitted.insert(path.to_string(), seen);
        report.edits.push(edit);
        Edited::Leave
    }

    /// Of `paths` (files that changed on disk), remembers the items' notes that no longer
    /// hold what was written, for the next run to look at; returns how many.
    pub fn suspect(&mut self, paths: &[PathBuf]) -> usize {
        for path in paths {
            let Ok(relative) = path.strip_prefix(&self.vault) else { continue };
            let relative = relative.to_string_lossy().replace('\\', "/");
            if !self.manifest.fields.contains_key(&relative) {
                continue;
            }
            let Ok(bytes) = std::fs::read(path) else { continue };
            let seen = manifest::hash(&bytes);
            if self.manifest.notes.get(&relative) != Some(&seen) && self.submitted.get(&relative) != Some(&seen) {
                self.suspects.insert(relative);
            }
        }
        self.suspects.len()
    }

    fn run_once(&mut self, snapshot: &Snapshot, options: &Options) -> Result<Report, VaultError> {
        let started = Instant::now();
        std::fs::create_dir_all(self.vault.join(".worksync"))
            .map_err(|cause| VaultError::Create { vault: self.vault.clone(), cause })?;
        let _lock = lock(&self.vault)?;
        self.forget_if_stale(options.full);
        // Intents of a killed run (or of a `worksync sync` in another process) that this run
        // settles: its manifest must be saved.
        let settles_foreign_intents = !self.manifest.unsettled.is_empty();
        self.boundary.reset();
        let mut report = Report { vault: self.vault.display().to_string(), full: options.full, ..Report::default() };
        report.template_problems = self.templates.problems.clone();
        report.manifest_problems = std::mem::take(&mut self.manifest.problems);

        // Projects whose notes are all current, and folders of projects left as they are.
        let mut unchanged_projects: Vec<&str> = Vec::new();
        let mut untouched_folders: Vec<String> = Vec::new();
        let global = GlobalPlan::new(snapshot);
        let mut catalogs = Vec::new();
        let mut previous = std::mem::take(&mut self.catalogs);
        for (name, entry) in snapshot.config.projects() {
            let folder = format!("{}/", notes::project_folder(name));
            let in_scope = options.project.as_deref().is_none_or(|p| p == name);
            match snapshot.projects.get(name) {
                Some(ProjectView::Ready { index, sidecar, .. }) if in_scope => {
                    let suspected = self.suspects.iter().any(|p| p.starts_with(&folder));
                    let unchanged = !suspected
                        && self.planned.get(name).is_some_and(|p| p.is_for(index, sidecar, entry, &self.templates));
                    if unchanged && previous.contains_key(name) {
                        unchanged_projects.push(name);
                        continue;
                    }
                    let guidance = snapshot.guidance_docs(name).unwrap_or_default();
                    let catalog = match previous.remove(name) {
                        Some(mut catalog) if catalog.key == Catalog::key(name, entry, index) => {
                            catalog.read_guidance(guidance);
                            catalog
                        }
                        _ => Catalog::new(name, entry, index, guidance),
                    };
                    catalogs.push((name, entry, index, sidecar, catalog));
                }
                // Out of scope, or its file is broken or missing: its notes stay as they are.
                view => {
                    if in_scope {
                        report.skipped.extend(Skipped::of(name, view));
                    }
                    untouched_folders.push(folder);
                }
            }
        }
        self.planned.retain(|name, _| snapshot.config.project(name).is_some());

        // A copy (it holds a few entries at most): notes borrow it while `self` writes them.
        let refusals = self.refusals.clone();
        let states: HashMap<&str, ProjectState> = catalogs
            .iter()
            .map(|(name, _, index, sidecar, _)| (name.as_str(), ProjectState::of(index, sidecar)))
            .collect();
        let mut candidates: Vec<Note> = vec![global.note(snapshot, &states), global.base()];
        let mut project_inputs = HashMap::new();
        let mut skipped: Vec<&str> = Vec::new();
        for (name, entry, index, sidecar, catalog) in &catalogs {
            let project = fingerprint(&mut Vec::new(), "project", self.templates.generation, 0, &catalog.info);
            project_inputs.insert(name.as_str(), project);
            // An item's note is left out when its key is what the note on disk was rendered
            // from, as far as this generator knows and nothing since says otherwise.
            let (rendered, manifest, suspects) = (&self.rendered, &self.manifest, &self.suspects);
            debug_assert!(rendered.keys().all(|p| manifest.notes.contains_key(p)));
            let unchanged = |path: &str, key: Hash| {
                !options.full
                    && rendered.get(path) == Some(&key)
                    && (manifest.unsettled.is_empty() || !manifest.unsettled.contains_key(path))
                    && (suspects.is_empty() || !suspects.contains(path))
            };
            let inputs = Inputs { sidecar, refusals: &refusals, salt: project };
            let project_notes = catalog.notes(index, &states[name.as_str()], &inputs, unchanged, &mut skipped);
            let planned = Planned {
                index: Arc::clone(index),
                sidecar: Arc::clone(sidecar),
                entry: (*entry).clone(),
                templates: self.templates.generation,
            };
            self.planned.insert(name.to_string(), planned);
            candidates.extend(project_notes);
        }
        if options.full {
            // Temp files of a run that was killed (notes are written without fsync, so a
            // kill can leave one), in every folder notes go to or went to.
            let planned = candidates.iter().map(|n| n.path.as_ref());
            let folders: HashSet<&Path> = planned
                .chain(self.manifest.notes.keys().map(String::as_str))
                .filter_map(|p| Path::new(p).parent())
                .collect();
            for folder in folders {
                let folder = self.vault.join(folder);
                if self.boundary.is_inside(&folder) {
                    atomic::sweep_own_temp_files(&folder);
                }
            }
        }
        let inputs = fingerprints(&candidates, &project_inputs, self.templates.generation);
        report.unchanged += skipped.len();
        // Every path a note of this run is at (borrowed: a run looks at 10,000 of them).
        let mut live: FastSet<&str> = skipped.iter().copied().collect();
        for name in &unchanged_projects {
            live.extend(previous[*name].paths());
        }
        let mut batch = Vec::new();
        for (note, input) in candidates.iter().zip(inputs) {
            if !live.insert(&note.path) {
                report.errors.push(format!("{}: two items map to this note; only the first is shown", note.path));
                continue;
            }
            self.place(note, input, options, &mut batch, &mut report);
            if batch.len() >= BATCH {
                self.flush(&mut batch, &mut report)?;
            }
        }
        self.flush(&mut batch, &mut report)?;
        let untouched = |path: &str| untouched_folders.iter().any(|folder| path.starts_with(folder.as_str()));
        report.notes = live.len();
        if !untouched_folders.is_empty() {
            report.notes += self.manifest.notes.keys().filter(|p| untouched(p)).count();
        }
        let stale: Vec<String> =
            self.manifest.notes.keys().filter(|p| !live.contains(p.as_str()) && !untouched(p)).cloned().collect();
        drop(live);
        drop(candidates);
        // Catalogs of projects skipped this run (unchanged) stay for the next one.
        previous.retain(|name, _| snapshot.config.project(name).is_some());
        self.catalogs = previous;
        self.catalogs.extend(catalogs.into_iter().map(|(name, _, _, _, catalog)| (name.clone(), catalog)));

        for path in stale {
            self.remove(&path, &mut report);
        }
        report.errors.extend(self.boundary.problems());
        // An incremental run that only wrote notes leaves their durable intents as their
        // record (the manifest is 2 MB at 10,000 notes); the manifest is saved on a full
        // run, a removal, after a killed run, at shutdown, or once the log is long.
        let intents_suffice = !options.full
            && report.removed == 0
            && self.manifest.stamp.is_some()
            && !settles_foreign_intents
            && self.intent.len() < CHECKPOINT_BYTES;
        if !intents_suffice && (report.written + report.removed > 0 || options.full || self.intent.is_unsettled()) {
            self.save_manifest()?;
        } else if self.manifest.stamp.is_none() {
            self.manifest.save(&self.vault)?;
        }
        report.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        Ok(report)
    }

    /// Saves the manifest if runs since the last save left their notes' intents as their
    /// record (the server does this when it stops), unless another process wrote the
    /// vault's records meanwhile: then ours are the stale ones.
    pub fn checkpoint(&mut self) -> Result<(), VaultError> {
        let _lock = lock(&self.vault)?;
        let on_disk = atomic::FileStamp::of(&Manifest::path(&self.vault)).ok().flatten();
        if self.intent.is_unsettled() && on_disk == self.manifest.stamp && !self.intent.changed_on_disk() {
            self.save_manifest()?;
        }
        Ok(())
    }

    /// Saves the manifest and empties the intent log of what it now records (keeping only
    /// intents for paths no run has looked at yet); the caller holds the lock.
    fn save_manifest(&mut self) -> Result<(), VaultError> {
        self.manifest.save(&self.vault)?;
        if self.intent.is_unsettled() {
            self.intent.settle(&self.manifest.unsettled)?;
        }
        Ok(())
    }

    /// Drops what we remember when it may no longer match the disk: a full run, another
    /// process wrote the manifest or the intent log (a `worksync sync`, finished or
    /// killed), or the templates changed.
    fn forget_if_stale(&mut self, full: bool) {
        let on_disk = atomic::FileStamp::of(&Manifest::path(&self.vault)).ok().flatten();
        let foreign = on_disk != self.manifest.stamp || self.intent.changed_on_disk();
        if foreign {
            self.manifest = Manifest::load(&self.vault);
            self.intent = IntentLog::open(&self.vault);
        }
        if self.templates.refresh() || foreign || full {
            self.rendered.clear();
            self.planned.clear();
            self.dirs.clear();
        }
    }

    /// Renders `note` if its input changed and, if its text changed and the file is ours to
    /// write, queues it in `batch`.
    fn place(&mut self, note: &Note, input: Hash, options: &Options, batch: &mut Vec<Pending>, report: &mut Report) {
        let path: &str = &note.path;
        let recorded = self.manifest.notes.get(path).copied();
        // A note a killed run may have written: only its bytes can tell what it holds.
        let unsettled = !self.manifest.unsettled.is_empty() && self.manifest.unsettled.contains_key(path);
        let suspect = !self.suspects.is_empty() && self.suspects.remove(path);
        let trust_memory = !options.full && !unsettled && !suspect;
        if trust_memory && recorded.is_some() && self.rendered.get(path) == Some(&input) {
            report.unchanged += 1;
            return;
        }
        let text = match self.templates.render(note.template, note.project, &note.context) {
            Ok(text) => text,
            Err(e) => {
                report.errors.push(format!("{path}: {e}"));
                return;
            }
        };
        let hash = manifest::hash(text.as_bytes());
        if trust_memory && recorded == Some(hash) {
            self.rendered.insert(path.to_string(), input);
            report.unchanged += 1;
            return;
        }
        let target = self.vault.join(path);
        let on_disk = match std::fs::read(&target) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                report.errors.push(format!("{path}: cannot be read ({e}); left as it is"));
                return;
            }
        };
        // What an item's note says, for telling a person's change from a reformat; parsed
        // only for a note that is written, or whose record is missing.
        let fields = || NoteItem::of(note).and_then(|_| Written::of(&text));
        if let Some(bytes) = on_disk {
            if manifest::hash(&bytes) == hash {
                // Already right (or written by a run that was killed before its manifest).
                // Fields were recorded when these very bytes were written.
                let known = recorded == Some(hash) && self.manifest.fields.contains_key(path);
                self.claim(path, hash);
                if !known {
                    self.record_fields(path, fields());
                }
                self.rendered.insert(path.to_string(), input);
                report.unchanged += 1;
                return;
            }
            let refusal = if is_symlink(&target) {
                Some(SYMLINK.to_string())
            } else if options.adopt || self.replaceable(path, recorded, &bytes) {
                None
            } else {
                match self.edited(note, &bytes, options, report) {
                    Edited::Replace => None,
                    Edited::Leave => return,
                    Edited::Keep => Some(not_ours_reason(recorded)),
                }
            };
            if let Some(reason) = refusal {
                self.forget(path);
                report.kept.push(Kept { path: path.to_string(), reason });
                return;
            }
        }
        if let Err(why) = boundary::check(path) {
            report.errors.push(format!("{path:?} {why}; not written"));
        } else if self.boundary.allows(target.parent().expect("notes live inside the vault")) {
            let fields = fields();
            batch.push(Pending { path: path.to_string(), text, hash, input, fields });
        }
    }

    /// Records the intents of `batch` durably, then writes its notes.
    fn flush(&mut self, batch: &mut Vec<Pending>, report: &mut Report) -> Result<(), VaultError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.intent
            .record(batch.iter().map(|p| (p.path.as_str(), p.hash)))
            .map_err(|cause| VaultError::Intent { path: self.intent.path().to_path_buf(), cause })?;
        for pending in batch.drain(..) {
            match self.write(&self.vault.join(&pending.path), pending.text.as_bytes()) {
                Ok(()) => {
                    self.claim(&pending.path, pending.hash);
                    self.record_fields(&pending.path, pending.fields);
                    report.written += 1;
                    if report.written_paths.len() < LISTED {
                        report.written_paths.push(pending.path.clone());
                    }
                    self.rendered.insert(pending.path, pending.input);
                    #[cfg(test)]
                    if self.crash_after.is_some_and(|n| report.written >= n) {
                        return Err(VaultError::SimulatedCrash);
                    }
                }
                Err(e) => {
                    report.errors.push(format!("{}: cannot be written ({e}); the old version stays", pending.path))
                }
            }
        }
        Ok(())
    }

    /// Deletes a note whose item is gone, if the file still holds what we wrote there.
    fn remove(&mut self, path: &str, report: &mut Report) {
        self.rendered.remove(path);
        let target = self.vault.join(path);
        if boundary::check(path).is_err() {
            self.forget(path);
            return;
        }
        if !self.boundary.allows(target.parent().expect("notes live inside the vault")) {
            return;
        }
        let bytes = match std::fs::read(&target) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return self.forget(path),
            Err(e) => return report.errors.push(format!("{path}: cannot be read ({e}); left as it is")),
        };
        let refusal = if is_symlink(&target) {
            Some(SYMLINK)
        } else if bytes.is_empty() {
            Some(
                "empty, and worksync never writes an empty note, so it cannot tell this file is its own: kept \
                 although its item is gone; delete it yourself if it is no longer needed",
            )
        } else if !self.manifest.proves(path, &bytes) {
            Some(
                "edited by hand since worksync wrote it, so kept although its item is gone; delete it yourself if \
                 it is no longer needed",
            )
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.forget(path);
            return report.kept.push(Kept { path: path.to_string(), reason: reason.into() });
        }
        match std::fs::remove_file(&target) {
            Ok(()) => {
                self.forget(path);
                report.removed += 1;
                if report.removed_paths.len() < LISTED {
                    report.removed_paths.push(path.to_string());
                }
                self.remove_empty_dirs(&target);
            }
            Err(e) => report.errors.push(format!("{path}: cannot be removed ({e})")),
        }
    }

    /// May a file at `path` that is not what we are about to write be replaced? If it holds
    /// what we wrote there, or nothing at a path we wrote (what a power cut can leave of an
    /// unsynced note: there is nothing to lose).
    fn replaceable(&self, path: &str, recorded: Option<Hash>, bytes: &[u8]) -> bool {
        self.manifest.proves(path, bytes) || (recorded.is_some() && bytes.is_empty())
    }

    /// The file at `path` now holds `hash`, which we wrote.
    fn claim(&mut self, path: &str, hash: Hash) {
        self.manifest.notes.insert(path.to_string(), hash);
        self.manifest.unsettled.remove(path);
    }

    /// Remembers what an item's note says (or that it says nothing editable).
    fn record_fields(&mut self, path: &str, fields: Option<Written>) {
        match fields {
            Some(fields) => self.manifest.fields.insert(path.to_string(), fields),
            None => self.manifest.fields.remove(path),
        };
    }

    /// The file at `path` is not (or no longer) ours to change.
    fn forget(&mut self, path: &str) {
        self.rendered.remove(path);
        self.manifest.notes.remove(path);
        self.manifest.unsettled.remove(path);
        self.manifest.fields.remove(path);
        self.refusals.remove(path);
    }

    fn write(&mut self, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let dir = target.parent().expect("notes live inside the vault");
        if !self.dirs.contains(dir) {
            std::fs::create_dir_all(dir)?;
            self.dirs.insert(dir.to_path_buf());
        }
        atomic::replace_unsynced(target, bytes)
    }

    /// Removes the now empty folders above a removed note, up to the vault (a folder with
    /// anything else in it, the user's files included, stays).
    fn remove_empty_dirs(&mut self, removed: &Path) {
        let mut dir = removed.parent();
        while let Some(d) = dir.filter(|d| *d != self.vault && d.starts_with(&self.vault)) {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
            self.dirs.remove(d);
            dir = d.parent();
        }
    }
}

impl Planned {
    fn is_for(
        &self,
        index: &Arc<WorkIndex>,
        sidecar: &Arc<Sidecar>,
        entry: &ProjectEntry,
        templates: &Templates,
    ) -> bool {
        Arc::ptr_eq(&self.index, index)
            && Arc::ptr_eq(&self.sidecar, sidecar)
            && self.entry == *entry
            && self.templates == templates.generation
    }
}

/// `status → done, priority → 1`.
fn describe(edit: &FrontmatterEdit) -> String {
    describe_raw(&edit.status, &edit.priority.map(|p| p.to_string()))
}

fn describe_raw(status: &Option<String>, priority: &Option<String>) -> String {
    let parts: Vec<String> = [("status", status), ("priority", priority)]
        .iter()
        .filter_map(|(field, value)| {
            value.as_ref().map(|v| {
                format!("{field} → {}", if v.is_empty() { "(none)".into() } else { super::names::shorten(v, 40) })
            })
        })
        .collect();
    parts.join(", ")
}

/// Why a symlink at a note's path is kept.
const SYMLINK: &str =
    "a symlink, which worksync never replaces or deletes; remove it to let worksync write the note here";

/// Is `path` itself a symlink (not what it points to)?
fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

fn not_ours_reason(recorded: Option<Hash>) -> String {
    if recorded.is_some() {
        "edited by hand since worksync wrote it, so kept as it is (and no longer updated); delete or move it to \
         let worksync write it again"
            .into()
    } else {
        "not written by worksync, so kept as it is; move it away, or run `worksync sync --adopt` to let worksync \
         take over such notes (e.g. those the Python tool generated)"
            .into()
    }
}

/// Holds `<vault>/.worksync/lock` so that a server and `worksync sync` never write the vault
/// at the same time (the second waits for the first).
fn lock(vault: &Path) -> Result<File, VaultError> {
    let path = vault.join(".worksync").join("lock");
    let file = match File::options().create(true).truncate(false).write(true).open(&path) {
        Ok(file) => file,
        Err(cause) => return Err(VaultError::Lock { action: "open", path, cause }),
    };
    match file.lock() {
        Ok(()) => Ok(file),
        Err(cause) => Err(VaultError::Lock { action: "lock", path, cause }),
    }
}

/// The fingerprint of every note: its item's key, or a hash of its whole context.
fn fingerprints(notes: &[Note], projects: &HashMap<&str, Hash>, generation: u64) -> Vec<Hash> {
    // One reused buffer: hashing a note's input in one piece is several times faster than
    // feeding the serializer's many small writes to the hasher.
    let mut buffer = Vec::new();
    notes
        .iter()
        .map(|note| {
            if let Some(key) = note.input {
                return key;
            }
            let project = note.project.map(|p| projects[p.name.as_str()]).unwrap_or_default();
            fingerprint(&mut buffer, note.template, generation, project, &note.context)
        })
        .collect()
}

/// Hash of everything a note's text depends on: its template, the templates' generation,
/// its project's fingerprint (`project`, hashed once per run) and its own context.
fn fingerprint(buffer: &mut Vec<u8>, template: &str, generation: u64, project: Hash, context: &impl Serialize) -> Hash {
    buffer.clear();
    buffer.extend_from_slice(template.as_bytes());
    buffer.extend_from_slice(&generation.to_le_bytes());
    buffer.extend_from_slice(&project.to_le_bytes());
    serde_json::to_writer(&mut *buffer, context).expect("note contexts serialize");
    manifest::hash(buffer)
}
