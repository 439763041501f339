//! The read side: an immutable picture of every file, published by the writer.
//!
//! Tools that only read take the current [`Snapshot`] (an `Arc` clone) and answer from
//! memory, without parsing anything. The query methods here shape the answers exactly as
//! the Python tool did, with our additions beside them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use super::atomic::FileStamp;
use super::error::StoreError;
use super::layout::Layout;
use super::model::{HistoryEntry, WorkIndex};
use super::registry::{ConfigFile, ProjectEntry, invalid_project_error};
use super::sidecar::{Sidecar, SidecarFile};
use super::status::Summary;
use super::values;

/// Everything readers see, as of the writer's last command.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub layout: Layout,
    pub config: Arc<ConfigFile>,
    pub config_stamp: Option<FileStamp>,
    /// Why `config.yaml` on disk is not in use, if it does not parse.
    pub config_problem: Option<Problem>,
    pub projects: BTreeMap<String, ProjectView>,
    /// How many changes the writer has applied since it started (mutations, registrations,
    /// external edits it noticed): equal versions mean equal content.
    pub version: u64,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            layout: Layout::new(""),
            config: Arc::default(),
            config_stamp: None,
            config_problem: None,
            projects: BTreeMap::new(),
            version: 0,
        }
    }
}

/// One project as readers see it.
#[derive(Debug, Clone)]
pub enum ProjectView {
    Ready {
        index: Arc<WorkIndex>,
        sidecar: Arc<Sidecar>,
        stamp: Option<FileStamp>,
        /// What `status` derives from the whole project, worked out by the first status
        /// call on this version and shared by the next ones (see [`Summary`]).
        summary: OnceLock<Arc<Summary>>,
    },
    Broken {
        problem: Problem,
        stamp: Option<FileStamp>,
    },
    Missing {
        path: PathBuf,
    },
}

/// A file that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub path: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Problem {
    /// The problem a load error describes (a parse error keeps its location).
    pub fn from_error(error: &StoreError, path: &Path) -> Problem {
        match error {
            StoreError::Parse { path, line, column, message } => {
                Problem { path: path.clone(), line: *line, column: *column, message: message.clone() }
            }
            other => Problem { path: path.to_path_buf(), line: 1, column: 1, message: other.to_string() },
        }
    }

    /// The error a tool reports for this problem.
    pub fn to_error(&self) -> StoreError {
        StoreError::Parse {
            path: self.path.clone(),
            line: self.line,
            column: self.column,
            message: self.message.clone(),
        }
    }
}

impl ProjectView {
    /// A loaded project's view.
    pub fn ready(index: Arc<WorkIndex>, sidecar: Arc<Sidecar>, stamp: Option<FileStamp>) -> ProjectView {
        ProjectView::Ready { index, sidecar, stamp, summary: OnceLock::new() }
    }

    /// The on-disk stamp this view was built from.
    pub fn stamp(&self) -> Option<FileStamp> {
        match self {
            ProjectView::Ready { stamp, .. } | ProjectView::Broken { stamp, .. } => *stamp,
            ProjectView::Missing { .. } => None,
        }
    }
}

impl Snapshot {
    /// Reads the data root without the writer and without changing anything (for offline
    /// commands such as `worksync status`).
    pub fn read_only(layout: &Layout) -> Result<Snapshot, StoreError> {
        use super::yaml::Document;
        let config = Document::<ConfigFile>::load(&layout.config())?;
        let mut projects = BTreeMap::new();
        for (name, _) in config.value().projects() {
            let (path, state_dir) = (layout.work_index(name)?, layout.state_dir(name)?);
            let view = if !path.exists() {
                ProjectView::Missing { path }
            } else {
                match values::load_work_index(&path) {
                    Ok(doc) => {
                        ProjectView::ready(doc.value().clone(), Arc::new(SidecarFile::load(&state_dir)), doc.stamp())
                    }
                    Err(e) => ProjectView::Broken { problem: Problem::from_error(&e, &path), stamp: None },
                }
            };
            projects.insert(name.clone(), view);
        }
        Ok(Snapshot {
            layout: layout.clone(),
            config: config.value().clone(),
            config_stamp: config.stamp(),
            config_problem: None,
            projects,
            version: 0,
        })
    }

    /// The loaded work index of `project`, or the error a tool should report.
    pub fn project(&self, project: &str) -> Result<(&Arc<WorkIndex>, &Arc<Sidecar>), StoreError> {
        match self.projects.get(project) {
            Some(ProjectView::Ready { index, sidecar, .. }) => Ok((index, sidecar)),
            Some(ProjectView::Broken { problem, .. }) => Err(problem.to_error()),
            Some(ProjectView::Missing { path }) => {
                Err(StoreError::IndexMissing { project: project.to_string(), path: path.clone() })
            }
            None => Err(self.unknown_project(project)),
        }
    }

    /// The error for a project that is not loaded: registered under a name that cannot
    /// be a directory (located in `config.yaml`), or not registered at all.
    pub fn unknown_project(&self, name: &str) -> StoreError {
        match self.invalid_projects().into_iter().find(|(invalid, _)| invalid == name) {
            Some((_, error)) => error,
            None => StoreError::ProjectNotFound { name: name.to_string(), available: self.config.project_names() },
        }
    }

    /// Projects of `config.yaml` whose names cannot be directories, each with the error
    /// that locates it. They are rare, so `config.yaml` is read again only to locate them.
    pub fn invalid_projects(&self) -> Vec<(String, StoreError)> {
        let invalid: Vec<(&String, StoreError)> = self.config.invalid_projects().collect();
        if invalid.is_empty() {
            return Vec::new();
        }
        let path = self.layout.config();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        invalid.into_iter().map(|(name, why)| (name.clone(), invalid_project_error(&path, &text, name, &why))).collect()
    }

    /// Every registered project that cannot be read (broken or missing file, or a name
    /// that cannot be a directory), in `config.yaml`'s order, with why.
    pub fn unreadable(&self) -> Vec<(String, StoreError)> {
        let mut unreadable: Vec<(String, StoreError)> = self
            .config
            .projects()
            .filter_map(|(name, _)| match self.projects.get(name) {
                Some(ProjectView::Ready { .. }) | None => None,
                Some(_) => Some((name.clone(), self.project(name).err()?)),
            })
            .collect();
        unreadable.extend(self.invalid_projects());
        unreadable
    }

    /// A registered project's entry in `config.yaml`.
    pub fn project_entry(&self, name: &str) -> Result<&ProjectEntry, StoreError> {
        self.config.project(name).ok_or_else(|| self.unknown_project(name))
    }

    /// `worksync_history` with `action=list`: entries oldest first, paged from the newest end
    /// (`limit` newest, skipping `offset` newest), each with its agent when known.
    pub fn history(&self, project: &str, limit: Option<usize>, offset: usize) -> Result<HistoryPage<'_>, StoreError> {
        let (index, sidecar) = self.project(project)?;
        let all = index.history();
        let end = all.len().saturating_sub(offset);
        let start = limit.map_or(0, |l| end.saturating_sub(l));
        let entries = all[start..end]
            .iter()
            .map(|entry| {
                let agent = sidecar.history_agent(
                    entry.date.as_deref().unwrap_or_default(),
                    entry.summary.as_deref().unwrap_or_default(),
                );
                (entry.as_ref(), agent)
            })
            .collect();
        Ok(HistoryPage { entries, total: all.len(), offset })
    }
}

/// A page of a project's history.
#[derive(Debug)]
pub struct HistoryPage<'a> {
    /// Oldest first, each with the agent that appended it, when known.
    pub entries: Vec<(&'a HistoryEntry, Option<&'a str>)>,
    /// Entries in the project's history.
    pub total: usize,
    /// How many of the newest were skipped.
    pub offset: usize,
}
