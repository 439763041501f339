//! History rotation (`settings.history_rotation`): `work-index.yaml` keeps at most N history
//! entries; older ones move to `COMPLETE/history.yaml`, so the file agents and people read
//! every day stays small however long the project runs.
//!
//! The archive is written (durably) before the work index drops the entries, so a crash in
//! between leaves them in both places, never in neither.

use std::path::Path;
use std::sync::Arc;

use super::atomic;
use super::error::StoreError;
use super::model::{HistoryEntry, WorkIndex};
use super::yaml::{Document, Reduce};

/// The archive file, relative to the project directory.
pub const ARCHIVE: &str = "COMPLETE/history.yaml";

/// The archive's format: the same history list as the work index.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
struct Archive {
    #[serde(default)]
    history: Vec<HistoryEntry>,
    #[serde(flatten)]
    extra: serde_yaml_ng::Mapping,
}

impl Reduce for Archive {}

/// Moves the oldest history entries beyond `keep` from `index` into the project's archive.
/// Returns how many moved.
pub fn rotate(project_dir: &Path, index: &mut WorkIndex, keep: usize) -> Result<usize, StoreError> {
    let Some(history) = index.history.as_mut() else { return Ok(0) };
    if history.len() <= keep {
        return Ok(0);
    }
    let overflow: Vec<Arc<HistoryEntry>> = history.drain(..history.len() - keep).collect();
    let path = project_dir.join(ARCHIVE);
    let mut archive = if path.exists() {
        Document::<Archive>::load(&path)?
    } else {
        atomic::create_dir_durable(&project_dir.join("COMPLETE"))?;
        Document::new_file(&path, "# History moved out of work-index.yaml by worksync (settings.history_rotation).\n")
    };
    let mut next = archive.value().as_ref().clone();
    next.history.extend(overflow.iter().map(|entry| entry.as_ref().clone()));
    archive.replace(next)?;
    Ok(overflow.len())
}
