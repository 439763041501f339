//! Writing the vault: render what changed, write only what differs, delete only our own
//! notes.
//!
//! A run plans every note of the snapshot ([`notes`]), skips projects whose model and
//! metadata are the very same `Arc`s as last time, and for the rest hashes each note's
//! template input: only notes whose input changed are rendered, and only notes whose text
//! changed are written. Before a file is replaced or deleted, its bytes must still be what
//! the manifest says we wrote; otherwise a person edited it (or it is theirs) and it stays
//! untouched. Notes are written atomically without fsync (they are derived; the manifest,
//! which guards the user's files, is fsync'd).

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::context::Note;
use super::manifest::{self, Hash, Manifest};
use super::notes::{self, Catalog, GlobalPlan};
use super::templates::Templates;
use crate::store::atomic;
use crate::store::model::WorkIndex;
use crate::store::registry::ProjectEntry;
use crate::store::sidecar::Sidecar;
use crate::store::snapshot::{ProjectView, Snapshot};

/// How many paths a report lists by name (the counts are always complete).
const LISTED: usize = 50;

/// What a run should do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Re-render every note and compare it with the file on disk, not with our memory.
    pub full: bool,
    /// Take over files at generated paths that worksync did not write (migrating a vault
    /// the Python tool generated). Never the default.
    pub adopt: bool,
    /// Only this project's notes (and the global dashboard); `None` for all.
    pub project: Option<String>,
}

/// What a run did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub vault: String,
    pub full: bool,
    /// Notes the vault should hold.
    pub notes: usize,
    pub written: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Up to 50 of the written and removed paths.
    pub written_paths: Vec<String>,
    pub removed_paths: Vec<String>,
    /// Files left alone because they are not (or no longer) what worksync wrote.
    pub kept: Vec<Kept>,
    /// Notes that could not be rendered or written; their old version stays.
    pub errors: Vec<String>,
    /// Problems with the user's template overrides.
    pub template_problems: Vec<String>,
    pub millis: f64,
}

/// A file the generator did not touch, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    pub path: String,
    pub reason: String,
}

/// The generator's memory between runs; one per vault.
pub struct Generator {
    vault: PathBuf,
    templates: Templates,
    manifest: Manifest,
    /// Per note path: the hash of the template input its current text was rendered from.
    rendered: HashMap<String, Hash>,
    /// Per project: the inputs of the last run, and the notes planned from them.
    planned: HashMap<String, Planned>,
    /// Per project: the catalog of the last run, reused while its key holds.
    catalogs: HashMap<String, Catalog>,
    /// Directories known to exist.
    dirs: HashSet<PathBuf>,
}

struct Planned {
    index: Arc<WorkIndex>,
    sidecar: Arc<Sidecar>,
    entry: ProjectEntry,
    templates: u64,
    paths: Vec<String>,
}

impl Generator {
    /// A generator for the vault at `vault`, with template overrides from `templates_dir`.
    pub fn new(vault: PathBuf, templates_dir: &Path) -> Generator {
        Generator {
            manifest: Manifest::load(&vault),
            vault,
            templates: Templates::load(templates_dir),
            rendered: HashMap::new(),
            planned: HashMap::new(),
            catalogs: HashMap::new(),
            dirs: HashSet::new(),
        }
    }

    /// The vault directory.
    pub fn vault(&self) -> &Path {
        &self.vault
    }

    /// Brings the vault up to date with `snapshot`.
    pub fn run(&mut self, snapshot: &Snapshot, options: &Options) -> Result<Report, String> {
        let started = Instant::now();
        std::fs::create_dir_all(self.vault.join(".worksync")).map_err(|e| {
            format!("cannot create the vault at {}: {e}; check vault_path in config.yaml", self.vault.display())
        })?;
        let _lock = lock(&self.vault)?;
        self.forget_if_stale(options.full);
        let mut report = Report { vault: self.vault.display().to_string(), full: options.full, ..Report::default() };
        report.template_problems = self.templates.problems.clone();

        let mut live: HashSet<String> = HashSet::new();
        let global = GlobalPlan::new(snapshot);
        let mut catalogs = Vec::new();
        let mut previous = std::mem::take(&mut self.catalogs);
        for (name, entry) in snapshot.config.projects() {
            let folder = format!("{}/", notes::project_folder(name));
            let in_scope = options.project.as_deref().is_none_or(|p| p == name);
            match snapshot.projects.get(name) {
                Some(ProjectView::Ready { index, sidecar, .. }) if in_scope => {
                    if let Some(planned) =
                        self.planned.get(name).filter(|p| p.is_for(index, sidecar, entry, &self.templates))
                    {
                        live.extend(planned.paths.iter().cloned());
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
                _ => live.extend(self.manifest.notes.keys().filter(|p| p.starts_with(&folder)).cloned()),
            }
        }
        self.planned.retain(|name, _| snapshot.config.project(name).is_some());

        let mut candidates: Vec<Note> = vec![global.note(snapshot)];
        let mut project_inputs = HashMap::new();
        for (name, entry, index, sidecar, catalog) in &catalogs {
            project_inputs.insert(name.as_str(), fingerprint(&mut Vec::new(), "project", 0, 0, &catalog.info));
            let project_notes = catalog.notes(index, sidecar);
            let planned = Planned {
                index: Arc::clone(index),
                sidecar: Arc::clone(sidecar),
                entry: (*entry).clone(),
                templates: self.templates.generation,
                paths: project_notes.iter().map(|n| n.path.to_string()).collect(),
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
                atomic::sweep_own_temp_files(&self.vault.join(folder));
            }
        }
        let inputs = fingerprints(&candidates, &project_inputs, self.templates.generation);
        for (note, input) in candidates.iter().zip(inputs) {
            if !live.insert(note.path.to_string()) {
                report.errors.push(format!("{}: two items map to this note; only the first is shown", note.path));
                continue;
            }
            self.place(note, input, options, &mut report);
        }
        report.notes = live.len();
        drop(candidates);
        // Catalogs of projects skipped this run (unchanged) stay for the next one.
        previous.retain(|name, _| snapshot.config.project(name).is_some());
        self.catalogs = previous;
        self.catalogs.extend(catalogs.into_iter().map(|(name, _, _, _, catalog)| (name.clone(), catalog)));

        let stale: Vec<String> = self.manifest.notes.keys().filter(|p| !live.contains(*p)).cloned().collect();
        for path in stale {
            self.remove(&path, options, &mut report);
        }
        if report.written + report.removed > 0 || options.full || self.manifest.stamp.is_none() {
            self.manifest.save(&self.vault)?;
        }
        report.millis = started.elapsed().as_secs_f64() * 1000.0;
        Ok(report)
    }

    /// Drops what we remember when it may no longer match the disk: a full run, another
    /// process wrote the manifest, or the templates changed.
    fn forget_if_stale(&mut self, full: bool) {
        let on_disk = atomic::FileStamp::of(&Manifest::path(&self.vault)).ok().flatten();
        let foreign = on_disk != self.manifest.stamp;
        if foreign {
            self.manifest = Manifest::load(&self.vault);
        }
        if self.templates.refresh() || foreign || full {
            self.rendered.clear();
            self.planned.clear();
            self.dirs.clear();
        }
    }

    /// Renders `note` if its input changed, and writes it if its text changed and the file
    /// is ours to write.
    fn place(&mut self, note: &Note, input: Hash, options: &Options, report: &mut Report) {
        let path: &str = &note.path;
        let recorded = self.manifest.notes.get(path).copied();
        if !options.full && recorded.is_some() && self.rendered.get(path) == Some(&input) {
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
        if !options.full && recorded == Some(hash) {
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
        match on_disk {
            Some(bytes) if manifest::hash(&bytes) == hash => {
                // Already right (or written by a run that crashed before its manifest).
                self.manifest.notes.insert(path.to_string(), hash);
                self.rendered.insert(path.to_string(), input);
                report.unchanged += 1;
            }
            Some(bytes) if !ours(recorded, &bytes) && !options.adopt => {
                self.manifest.notes.remove(path);
                report.kept.push(Kept { reason: not_ours_reason(recorded), path: path.to_string() });
            }
            _ => match self.write(&target, text.as_bytes()) {
                Ok(()) => {
                    self.manifest.notes.insert(path.to_string(), hash);
                    self.rendered.insert(path.to_string(), input);
                    report.written += 1;
                    if report.written_paths.len() < LISTED {
                        report.written_paths.push(path.to_string());
                    }
                }
                Err(e) => report.errors.push(format!("{path}: cannot be written ({e}); the old version stays")),
            },
        }
    }

    /// Deletes a note whose item is gone, if the file is still what we wrote.
    fn remove(&mut self, path: &str, options: &Options, report: &mut Report) {
        let recorded = self.manifest.notes.remove(path);
        self.rendered.remove(path);
        let target = self.vault.join(path);
        match std::fs::read(&target) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                self.manifest.notes.insert(path.to_string(), recorded.unwrap_or_default());
                report.errors.push(format!("{path}: cannot be read ({e}); left as it is"));
            }
            Ok(bytes) if !ours(recorded, &bytes) && !options.adopt => report.kept.push(Kept {
                path: path.to_string(),
                reason: "edited by hand since worksync wrote it, so kept although its item is gone; delete it \
                         yourself if it is no longer needed"
                    .into(),
            }),
            Ok(_) => match std::fs::remove_file(&target) {
                Ok(()) => {
                    report.removed += 1;
                    if report.removed_paths.len() < LISTED {
                        report.removed_paths.push(path.to_string());
                    }
                    self.remove_empty_dirs(&target);
                }
                Err(e) => {
                    self.manifest.notes.insert(path.to_string(), recorded.unwrap_or_default());
                    report.errors.push(format!("{path}: cannot be removed ({e})"));
                }
            },
        }
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

/// Is this file's content ours to replace? It is if it is what we last wrote there, or
/// empty (what a power cut can leave of an unsynced note).
fn ours(recorded: Option<Hash>, bytes: &[u8]) -> bool {
    recorded.is_some() && (bytes.is_empty() || recorded == Some(manifest::hash(bytes)))
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
fn lock(vault: &Path) -> Result<File, String> {
    let path = vault.join(".worksync").join("lock");
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    file.lock().map_err(|e| format!("cannot lock {}: {e}", path.display()))?;
    Ok(file)
}

/// The fingerprint of every note (at 10,000 notes, most of an incremental run).
fn fingerprints(notes: &[Note], projects: &HashMap<&str, Hash>, generation: u64) -> Vec<Hash> {
    // One reused buffer: hashing a note's input in one piece is several times faster than
    // feeding the serializer's many small writes to the hasher.
    let mut buffer = Vec::new();
    notes
        .iter()
        .map(|note| {
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
