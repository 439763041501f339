//! A project's queued mutations: applied in memory one after the other, then made durable
//! with one write of each file (group commit), then recorded in the change feed.

use std::path::Path;
use std::sync::Arc;

use super::{Check, Slot, Writer};
use crate::store::coordination::{Event, Operation, Policy};
use crate::store::error::StoreError;
use crate::store::history_archive;
use crate::store::model::WorkIndex;
use crate::store::ops::Change;
use crate::store::outcome::Done;
use crate::store::sidecar::{Sidecar, SidecarFile};
use crate::store::yaml::Document;

/// What applying a batch in memory gave.
struct Applied {
    /// Each mutation's answer, in order.
    outcomes: Vec<Result<Done, StoreError>>,
    /// The work index and sidecar after the successful ones; `None` if none succeeded.
    state: Option<(WorkIndex, Sidecar)>,
    /// Whether any changed the work index (else only the sidecar changed, or nothing).
    index_changed: bool,
    /// The change feed's events of each successful mutation, with its agent and time.
    events: Vec<(String, chrono::DateTime<chrono::Utc>, Vec<Event>)>,
}

impl Writer {
    /// Applies a project's queued mutations in order, each to the result of the previous
    /// successful one, then writes the file once. A mutation that fails leaves no trace; if
    /// the write fails, every mutation of the batch fails with it and nothing changes.
    pub(super) fn mutate(&mut self, project: &str, batch: Vec<(&Operation, &Change)>) -> Vec<Result<Done, StoreError>> {
        // If the file changes under a write (an editor saving at that moment), nothing was
        // written: re-read it and apply the batch again on top of the new version.
        let mut attempts = 0;
        loop {
            attempts += 1;
            // The first attempt trusts the stamp: the check right before the rename compares
            // the bytes too, and a change only the bytes show comes back here as `Changed`.
            let check = if attempts == 1 { Check::Stamp } else { Check::Thorough };
            match self.mutate_once(project, &batch, check) {
                Ok(outcomes) => return outcomes,
                Err(StoreError::Changed { path }) if attempts < 5 => {
                    tracing::warn!(project, path = %path.display(), "file changed during a write; re-reading and retrying");
                }
                Err(e) => return batch.iter().map(|_| Err(e.clone())).collect(),
            }
        }
    }

    /// One attempt: the project's files as they are on disk now, the batch applied to them,
    /// the result made durable and recorded.
    fn mutate_once(
        &mut self,
        project: &str,
        batch: &[(&Operation, &Change)],
        check: Check,
    ) -> Result<Vec<Result<Done, StoreError>>, StoreError> {
        self.prepare_project(project, check)?;
        let policy = self.policy();
        let rotation = self.history_rotation();
        let (project_dir, state_dir) = (self.layout.project_dir(project)?, self.layout.state_dir(project)?);
        let Some(Slot::Ready { doc, sidecar, sidecar_file }) = self.projects.get_mut(project) else {
            return Err(StoreError::ProjectNotFound { name: project.into(), available: String::new() });
        };
        let applied = apply(doc, sidecar, batch, &policy);
        let Some((next, meta)) = applied.state else {
            return Ok(applied.outcomes);
        };
        if !applied.index_changed && meta == **sidecar {
            // Nothing to write (a `next` without claim, a release of nothing).
            return Ok(applied.outcomes);
        }
        let to_write = applied.index_changed.then_some(next);
        let rotation = rotation.map(|keep| (project_dir.as_path(), keep));
        let moved = persist(project, doc, sidecar, sidecar_file, to_write, &meta, rotation)?;
        if moved > 0 {
            tracing::info!(project, moved, "rotated old history entries to {}", history_archive::ARCHIVE);
        }
        *sidecar = Arc::new(meta);
        // Like attribution: the change is durable, so a journal failure is only logged (a
        // cursor the journal then cannot serve gets a resync). One append for the batch.
        let changes: Vec<(&str, _, &[Event])> =
            applied.events.iter().map(|(agent, at, events)| (agent.as_str(), *at, events.as_slice())).collect();
        if let Err(e) = self.changes.record_all(project, &state_dir, &changes) {
            tracing::error!(project, error = %e, "could not append to the change journal");
        }
        Ok(applied.outcomes)
    }

    /// Checks that `project` is registered and loads its files if they changed on disk
    /// (only this project's: a refresh covers the others); refuses a broken or missing one.
    pub(super) fn prepare_project(&mut self, project: &str, check: Check) -> Result<(), StoreError> {
        self.refresh_config();
        if self.config.value().project(project).is_none() {
            return Err(StoreError::ProjectNotFound {
                name: project.to_string(),
                available: self.config.value().project_names(),
            });
        }
        self.sync_project(project.to_string(), check);
        match self.projects.get(project) {
            Some(Slot::Ready { .. }) => Ok(()),
            Some(Slot::Broken { problem, .. }) => Err(problem.to_error()),
            Some(Slot::Missing { path }) => {
                Err(StoreError::IndexMissing { project: project.into(), path: path.clone() })
            }
            None => Err(StoreError::ProjectNotFound { name: project.into(), available: String::new() }),
        }
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

    /// `settings.history_rotation`: how many history entries the work index keeps.
    fn history_rotation(&self) -> Option<usize> {
        let keep = self.config.value().settings.as_ref().and_then(|s| s.history_rotation);
        keep.filter(|n| *n > 0).map(|n| n as usize)
    }
}

/// Applies the batch in memory, each operation on its own copy of the state so far, so
/// that a refusal half-way leaves nothing.
fn apply(
    doc: &Document<WorkIndex>,
    sidecar: &Arc<Sidecar>,
    batch: &[(&Operation, &Change)],
    policy: &Policy,
) -> Applied {
    // The state after the operations so far; `None` while it is still the published one
    // (so a batch of one clones the model once, not twice).
    let mut state: Option<(WorkIndex, Sidecar)> = None;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut index_changed = false;
    let mut events = Vec::new();
    for (operation, change) in batch {
        let (mut index, mut meta) = match &state {
            Some((index, meta)) => (index.clone(), meta.clone()),
            None => (doc.value().as_ref().clone(), sidecar.as_ref().clone()),
        };
        match operation.execute(&mut index, &mut meta, change, policy) {
            Ok(executed) => {
                state = Some((index, meta));
                index_changed |= executed.index_changed;
                events.push((change.agent.clone(), change.now, executed.events));
                let agent = change.agent.clone();
                outcomes.push(Ok(Done {
                    outcome: executed.outcome,
                    agent,
                    forced_over: executed.forced_over,
                    forced_past: executed.forced_past,
                }));
            }
            Err(e) => outcomes.push(Err(e)),
        }
    }
    Applied { outcomes, state, index_changed, events }
}

/// Makes the new state durable: the work index (if it changed; old history rotated into the
/// archive first) and the sidecar, written at the same time so that their fsyncs overlap
/// instead of adding up. A crash between the two leaves either the YAML or the attribution
/// new, which loading reconciles like a hand edit. On error nothing changed. Returns how
/// many history entries moved to the archive (`rotation`: the project directory and how
/// many entries the work index keeps).
fn persist(
    project: &str,
    doc: &mut Document<WorkIndex>,
    sidecar: &Sidecar,
    sidecar_file: &mut SidecarFile,
    index: Option<WorkIndex>,
    meta: &Sidecar,
    rotation: Option<(&Path, usize)>,
) -> Result<usize, StoreError> {
    let Some(mut next) = index else {
        // A sidecar-only change (a claim, a release) must be durable before it is answered.
        return sidecar_file.save(sidecar, meta).map(|()| 0);
    };
    let (written, saved) = std::thread::scope(|scope| {
        let saving = scope.spawn(|| sidecar_file.save(sidecar, meta));
        let written = (|| {
            let moved = match rotation {
                Some((project_dir, keep)) => history_archive::rotate(project_dir, &mut next, keep)?,
                None => 0,
            };
            doc.replace(next).map(|()| moved)
        })();
        (written, saving.join().unwrap_or_else(|_| Err(StoreError::ShuttingDown)))
    });
    let moved = match written {
        Ok(moved) => moved,
        Err(e) => {
            // The change did not happen: put the attribution back as it was.
            if saved.is_ok()
                && let Err(undo) = sidecar_file.save(meta, sidecar)
            {
                tracing::error!(project, error = %undo, "could not restore the sidecar after a failed write");
            }
            return Err(e);
        }
    };
    // Losing attribution must not make the agent retry (and duplicate) a change that
    // happened, so a sidecar failure after a YAML change is only logged.
    if let Err(e) = saved {
        tracing::error!(project, error = %e, "could not record attribution in .worksync/");
    }
    Ok(moved)
}
