//! What the writer reads: `config.yaml` and each project's files, loaded when new or changed
//! on disk, and a hand edit settled (taken as saved, or merged when it was made from an
//! older version: `stale.rs`) and reconciled into the sidecar (new revisions, the change
//! feed).

use std::sync::Arc;

use super::stale::Settled;
use super::versions::Version;
use super::{Check, Slot, Writer};
use crate::store::atomic::{self, FileStamp};
use crate::store::coordination::{self, Event};
use crate::store::model::WorkIndex;
use crate::store::registry::{ConfigFile, invalid_project_error};
use crate::store::sidecar::{Sidecar, SidecarFile};
use crate::store::snapshot::Problem;
use crate::store::values;
use crate::store::yaml::Document;

impl Writer {
    /// Re-reads `config.yaml` and every project file that changed on disk.
    pub(super) fn refresh(&mut self) {
        self.refresh_config();
        self.sync_projects();
    }

    pub(super) fn refresh_config(&mut self) {
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
    pub(super) fn report_invalid_names(&self) {
        for (name, why) in self.config.value().invalid_projects() {
            let error = invalid_project_error(self.config.path(), self.config.text(), name, &why);
            tracing::error!(error = %error, "a project of config.yaml is skipped");
        }
    }

    /// Makes the project slots match the registry, loading new or changed files.
    pub(super) fn sync_projects(&mut self) {
        let names: Vec<String> = self.config.value().projects().map(|(n, _)| n.clone()).collect();
        self.projects.retain(|name, _| names.contains(name));
        self.recent_versions.retain(|name, _| names.contains(name));
        for name in names {
            self.sync_project(name, Check::Thorough);
        }
    }

    /// Loads one project's file if it is new to the writer or changed on disk.
    pub(super) fn sync_project(&mut self, name: String, check: Check) {
        // Names come from the registry, which hands out only names that can be paths.
        let Ok(path) = self.layout.work_index(&name) else { return };
        // Every write of the writer starts with a look here, and so does the discovery of a
        // hand edit: remembering what the writer holds at each look remembers every
        // version that was on disk, before an edit is traced back to one of them.
        if let Some(Slot::Ready { doc, .. }) = self.projects.get(&name) {
            self.recent_versions.entry(name.clone()).or_default().remember(doc.text(), doc.value());
        }
        let stale = match self.projects.get(&name) {
            None => true,
            Some(Slot::Ready { doc, .. }) if check == Check::Stamp => doc.stamp_changed().unwrap_or(true),
            Some(Slot::Ready { doc, .. }) => doc.is_stale().unwrap_or(true),
            Some(Slot::Broken { stamp, .. }) => FileStamp::of(&path).ok().flatten() != *stamp,
            Some(Slot::Missing { .. }) => path.exists(),
        };
        if !stale {
            return;
        }
        self.version += 1;
        let slot = self.load_project(&name);
        match self.projects.remove(&name) {
            Some(previous) => {
                tracing::warn!(project = %name, path = %path.display(), "external edit detected; reloaded the file (the edit is kept)");
                self.take_reload(name, previous, slot);
            }
            None => {
                self.projects.insert(name, slot);
            }
        }
    }

    /// Puts `slot`, the file just reloaded, in place of `previous`: a hand edit is settled
    /// (taken as saved, or merged) and reconciled; a file that went or came back is said in
    /// the change feed.
    fn take_reload(&mut self, name: String, previous: Slot, mut slot: Slot) {
        let held = match (&previous, &slot) {
            (Slot::Ready { doc, .. }, Slot::Ready { .. }) => Some(Version::of(doc)),
            (Slot::Ready { doc, .. }, Slot::Missing { .. } | Slot::Broken { .. }) => {
                let action = if matches!(slot, Slot::Missing { .. }) { "deleted" } else { "unparseable" };
                self.last_good.insert(name.clone(), Version::of(doc));
                self.file_event(&name, action);
                None
            }
            (Slot::Missing { .. } | Slot::Broken { .. }, Slot::Ready { .. }) => self.last_good.remove(&name),
            _ => None,
        };
        let restored = !matches!(previous, Slot::Ready { .. }) && matches!(slot, Slot::Ready { .. });
        if let (Some(held), Slot::Ready { doc: edit, sidecar, sidecar_file }) = (held, &mut slot) {
            let settled = self.settle_edit(&name, &held, edit);
            if let Settled::SavedAgain = settled {
                // Saved once more while the merge was written: the writer keeps what it held
                // and the next look settles the newest save.
                if !matches!(previous, Slot::Ready { .. }) {
                    self.last_good.insert(name.clone(), held);
                }
                self.projects.insert(name, previous);
                return;
            }
            if restored {
                self.file_event(&name, "restored");
            }
            let conflicts = settled.conflict_events();
            self.reconcile(&name, &held.value, edit.value(), sidecar, sidecar_file, conflicts);
        } else if restored {
            self.file_event(&name, "restored");
        }
        self.projects.insert(name, slot);
    }

    /// Gives every item a hand edit changed a new revision, and records that durably, with
    /// `conflicts` (a merged stale save's disagreements) in the same append.
    fn reconcile(
        &self,
        project: &str,
        old: &WorkIndex,
        new: &WorkIndex,
        sidecar: &mut Arc<Sidecar>,
        sidecar_file: &mut SidecarFile,
        conflicts: Vec<Event>,
    ) {
        let mut meta = sidecar.as_ref().clone();
        let mut events = coordination::reconcile(old, new, &mut meta, chrono::Utc::now());
        if events.is_empty() && conflicts.is_empty() {
            return;
        }
        tracing::info!(project, changed = events.len(), "items changed by the external edit");
        if let Err(e) = sidecar_file.save(sidecar, &meta) {
            tracing::error!(project, error = %e, "could not record the external edit's revisions");
        }
        *sidecar = Arc::new(meta);
        events.extend(conflicts);
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
}
