//! The writer's side of a shared project's sync: the work index exactly as written (the
//! bytes that are committed, never a re-read of the file), and a merge's result taken back
//! only if nothing changed locally since the merge started (compare-and-swap).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Check, Slot, Writer};
use crate::store::atomic;
use crate::store::coordination;
use crate::store::error::StoreError;
use crate::store::model::WorkIndex;
use crate::store::plan;
use crate::store::registry::{ProjectEntry, ShareConfig};
use crate::store::sidecar::{MovedId, Sidecar};
use crate::store::validate;

/// A shared project's work index as the writer holds it.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The text exactly as written.
    pub text: String,
    /// The plan's other files (see [`plan`]): path → bytes.
    pub files: BTreeMap<String, Vec<u8>>,
    /// The change feed's last sequence number when the text was taken: a sync that pushes
    /// this text has synced every change up to it.
    pub seq: u64,
    /// What is kept beside the file and travels in the machines' files.
    pub travelling: Travelling,
}

/// Item data the Python schema has no room for, which travels beside the work index (in
/// the machines' files of a shared plan).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Travelling {
    /// Backlog priorities: item storage key → priority.
    pub priorities: BTreeMap<String, u8>,
    /// Dependencies: item storage key → the storage keys it depends on (never empty).
    pub depends_on: BTreeMap<String, Vec<String>>,
}

impl Travelling {
    fn of(sidecar: &Sidecar) -> Travelling {
        let mut travelling = Travelling::default();
        for (key, meta) in sidecar.items.iter() {
            if let Some(priority) = meta.priority {
                travelling.priorities.insert(key.to_string(), priority);
            }
            if !meta.depends_on.is_empty() {
                travelling.depends_on.insert(key.to_string(), meta.depends_on.clone());
            }
        }
        travelling
    }

    /// Gives the items of `index` what this holds, as values that came from `agent`;
    /// returns how many items it changed. A dependency list is set only on an item the
    /// index holds; an item absent here has none.
    fn hold(&self, index: &WorkIndex, meta: &mut Sidecar, now: chrono::DateTime<chrono::Utc>, agent: &str) -> usize {
        let mut changed = 0;
        for (key, value) in &self.priorities {
            if meta.items.get(key.as_str()).and_then(|m| m.priority) != Some(*value) {
                meta.hold_priority(key, *value, agent, now);
                changed += 1;
            }
        }
        let held: Vec<String> =
            meta.items.iter().filter(|(_, m)| !m.depends_on.is_empty()).map(|(k, _)| k.to_string()).collect();
        for key in held.iter().filter(|key| !self.depends_on.contains_key(*key)) {
            meta.hold_depends_on(key, Vec::new(), agent, now);
            changed += 1;
        }
        for (key, deps) in &self.depends_on {
            let exists = coordination::dependencies::is_done(index, key).is_some();
            if exists && meta.items.get(key.as_str()).map(|m| m.depends_on.as_slice()).unwrap_or_default() != deps {
                meta.hold_depends_on(key, deps.clone(), agent, now);
                changed += 1;
            }
        }
        changed
    }
}

/// A merge to apply to a shared project.
#[derive(Debug, Clone)]
pub struct MergeToApply {
    /// The text the merge took as ours: applied only if the work index still is exactly it.
    pub expected: String,
    /// The merged text, written byte for byte (every machine holds the same bytes).
    pub merged: String,
    /// Plan files to write (`None`: remove), each applied only if it still holds what the
    /// merge took as ours (`expected_files`; absent: must not exist).
    pub files: BTreeMap<String, Option<Vec<u8>>>,
    pub expected_files: BTreeMap<String, Vec<u8>>,
    /// Priorities and dependencies to hold, as the machines' files combine to; applied only
    /// if what is held here still is `expected_travelling`.
    pub travelling: Travelling,
    pub expected_travelling: Travelling,
    /// Whom the changes are credited to (another machine).
    pub agent: String,
}

/// What applying a merge did.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeApplied {
    /// Whether the work index changed.
    pub changed: bool,
    /// How many items changed (each is in the change feed).
    pub items: usize,
    /// The change feed's last sequence number after the merge.
    pub seq: u64,
}

/// A plan brought in from a remote, to become a registered project (`worksync join`).
#[derive(Debug, Clone)]
pub struct Joining {
    pub name: String,
    /// The work index's text, written byte for byte.
    pub work_index: String,
    /// The plan's other files (see [`plan`]).
    pub files: BTreeMap<String, Vec<u8>>,
    /// The project's entry in `config.yaml` (its `share` included).
    pub entry: ProjectEntry,
}

impl Writer {
    /// `project`'s work index as written, re-read first if it changed on disk.
    pub(super) fn shared(&mut self, project: &str) -> Result<Shared, StoreError> {
        self.prepare_project(project, Check::Thorough)?;
        let files = plan::read_files(&self.layout.project_dir(project)?)?;
        let Some(Slot::Ready { doc, sidecar, .. }) = self.projects.get(project) else {
            return Err(StoreError::ProjectNotFound { name: project.into(), available: String::new() });
        };
        let travelling = Travelling::of(sidecar);
        Ok(Shared { text: doc.text().to_string(), files, seq: self.changes.last_seq(project), travelling })
    }

    /// Writes a merge's result if the work index still is what the merge took as ours
    /// (else [`StoreError::Changed`]: merge again from the new text), gives every item it
    /// changed a new revision credited to `merge.agent`, and records the changes.
    pub(super) fn apply_merged(&mut self, project: &str, merge: MergeToApply) -> Result<MergeApplied, StoreError> {
        self.prepare_project(project, Check::Thorough)?;
        let (project_dir, state_dir) = (self.layout.project_dir(project)?, self.layout.state_dir(project)?);
        let Some(Slot::Ready { doc, sidecar, sidecar_file }) = self.projects.get_mut(project) else {
            return Err(StoreError::ProjectNotFound { name: project.into(), available: String::new() });
        };
        if doc.text() != merge.expected || Travelling::of(sidecar) != merge.expected_travelling {
            return Err(StoreError::Changed { path: doc.path().to_path_buf() });
        }
        if !merge.files.is_empty() {
            let current = plan::read_files(&project_dir)?;
            if let Some(moved) = merge.files.keys().find(|path| current.get(*path) != merge.expected_files.get(*path)) {
                return Err(StoreError::Changed { path: project_dir.join(moved) });
            }
            plan::write_files(&project_dir, &merge.files)?;
        }
        let now = chrono::Utc::now();
        let mut meta = sidecar.as_ref().clone();
        if merge.merged == merge.expected {
            let held = merge.travelling.hold(doc.value(), &mut meta, now, &merge.agent);
            if held > 0 {
                if let Err(e) = sidecar_file.save(sidecar, &meta) {
                    tracing::error!(project, error = %e, "could not record the priorities and dependencies from the shared plan");
                }
                *sidecar = Arc::new(meta);
            }
            return Ok(MergeApplied {
                changed: !merge.files.is_empty() || held > 0,
                items: 0,
                seq: self.changes.last_seq(project),
            });
        }
        let old = doc.value().clone();
        doc.replace_text(merge.merged)?;
        let before = meta.clone();
        let events = coordination::reconcile_as(&old, doc.value(), &mut meta, now, &merge.agent);
        // An item of ours that the merge moved to a new id (another machine's item took its
        // id) keeps what the sidecar knew of it; agents here who knew it by the old id are
        // told, for a while, that the id now names another item (see `ambiguity`).
        let renames = coordination::renames(&old, doc.value());
        coordination::carry_renamed(&before, &mut meta, &renames, now, &merge.agent);
        meta.moved_ids.retain(|_, moved| moved.until > now);
        for (from, to) in &renames {
            let (_, to_id) = crate::store::outcome::Kind::of(to);
            tracing::warn!(project, from = %from.as_storage_key(), to = %to_id, "a merge gave this machine's item a new id: another machine's item took its id");
            let moved = MovedId { to: to_id.to_string(), until: now + AMBIGUITY_WINDOW };
            meta.moved_ids.insert(from.as_storage_key(), moved);
        }
        merge.travelling.hold(doc.value(), &mut meta, now, &merge.agent);
        // The merge is on disk: attribution and the feed follow, and a failure to record
        // them is only logged, like for any change that happened.
        if let Err(e) = sidecar_file.save(sidecar, &meta) {
            tracing::error!(project, error = %e, "could not record the merge's revisions");
        }
        *sidecar = Arc::new(meta);
        if let Err(e) = self.changes.record(project, &state_dir, &merge.agent, now, &events) {
            tracing::error!(project, error = %e, "could not append the merge to the change journal");
        }
        tracing::info!(project, items = events.len(), agent = %merge.agent, "applied changes from the shared plan");
        Ok(MergeApplied { changed: true, items: events.len(), seq: self.changes.last_seq(project) })
    }

    /// Records disagreements a merge resolved in the change feed (`conflict` events), so
    /// that agents following the feed see that a value of theirs lost.
    pub(super) fn note_conflicts(
        &mut self,
        project: &str,
        agent: &str,
        notes: &[(String, String)],
    ) -> Result<(), StoreError> {
        let state_dir = self.layout.state_dir(project)?;
        let events: Vec<coordination::Event> =
            notes.iter().map(|(at, summary)| coordination::Event::conflict(at, summary)).collect();
        self.changes.record(project, &state_dir, agent, chrono::Utc::now(), &events)
    }

    /// Sets (or, with `None`, removes) a registered project's `share` entry in `config.yaml`.
    pub(super) fn set_share(&mut self, project: &str, share: Option<ShareConfig>) -> Result<(), StoreError> {
        self.refresh_config();
        if let Some(problem) = &self.config_problem {
            return Err(problem.to_error());
        }
        let mut config = self.config.value().as_ref().clone();
        let available = config.project_names();
        let Some(entry) = config.projects.as_mut().and_then(|p| p.get_mut(project)) else {
            return Err(StoreError::ProjectNotFound { name: project.into(), available });
        };
        if entry.share == share {
            return Ok(());
        }
        entry.share = share;
        self.config.replace(config)?;
        self.config_seen = self.config.stamp();
        self.version += 1;
        Ok(())
    }

    /// Writes a plan brought in from a remote as a new project and registers it. Refused if
    /// the name is registered or its directory already holds a work index: joining never
    /// overwrites a plan.
    pub(super) fn join(&mut self, joining: Joining) -> Result<(), StoreError> {
        validate::project_name(&joining.name)?;
        self.refresh_config();
        if let Some(problem) = &self.config_problem {
            return Err(problem.to_error());
        }
        let name = joining.name;
        let work_index = self.layout.work_index(&name)?;
        if self.config.value().project(&name).is_some() || work_index.exists() {
            return Err(StoreError::Duplicate {
                message: format!("A project '{name}' is already here ({})", work_index.display()),
                hint: "Join under another name (--project NAME), or unregister the local project first.".into(),
                suggestion: None,
            });
        }
        // Check the text before anything is written: a plan that does not load never lands.
        crate::store::yaml::parse::<crate::store::model::WorkIndex>(&work_index, &joining.work_index)?;
        let project_dir = self.layout.project_dir(&name)?;
        atomic::create_dir_durable(&project_dir)?;
        let files = joining.files.into_iter().map(|(path, bytes)| (path, Some(bytes))).collect();
        plan::write_files(&project_dir, &files)?;
        atomic::write_atomic(&work_index, joining.work_index.as_bytes())?;
        let mut config = self.config.value().as_ref().clone();
        config.projects.get_or_insert_with(Default::default).insert(name.clone(), joining.entry);
        self.config.replace(config)?;
        self.config_seen = self.config.stamp();
        self.sync_projects();
        self.version += 1;
        tracing::info!(project = %name, "joined a shared project");
        Ok(())
    }
}

/// How long calls naming an id a merge gave to another machine's item are refused here.
const AMBIGUITY_WINDOW: chrono::Duration = chrono::Duration::hours(1);

impl Writer {
    /// The refusal of an operation naming an id that, since a merge, names another machine's
    /// item here while this machine's item under that id got a new one.
    pub(super) fn ambiguity(
        &self,
        project: &str,
        operation: &crate::store::Operation,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<StoreError> {
        let Some(Slot::Ready { sidecar, .. }) = self.projects.get(project) else {
            return None;
        };
        if sidecar.moved_ids.is_empty() {
            return None;
        }
        operation.targets().into_iter().find_map(|key| {
            let renamed = sidecar.moved_ids.get(&key.as_storage_key()).filter(|moved| moved.until > now)?;
            let (kind, id) = crate::store::outcome::Kind::of(&key);
            let kind = kind.as_str();
            Some(StoreError::invalid(
                "id",
                format!(
                    "'{id}' names two {kind} items since this project's plan was merged with another machine's: '{id}' is now the other machine's {kind}, and the {kind} added here as '{id}' is now '{}'",
                    renamed.to
                ),
                format!(
                    "Call again with '{}' for the {kind} added here (its revision, claim and priority moved with it). Calls naming '{id}' are refused until {} so that nobody changes the other machine's {kind} by mistake.",
                    renamed.to,
                    renamed.until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
            ))
        })
    }
}
