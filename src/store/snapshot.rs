//! The read side: an immutable picture of every file, published by the writer.
//!
//! Tools that only read take the current [`Snapshot`] (an `Arc` clone) and answer from
//! memory, without parsing anything. The query methods here shape the answers exactly as
//! the Python tool did (SPEC §4), with our additions beside them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::{Map, Value, json};

use super::atomic::FileStamp;
use super::coordination::item_json;
use super::error::StoreError;
use super::layout::Layout;
use super::model::WorkIndex;
use super::ops::to_json;
use super::registry::{ConfigFile, invalid_project_error};
use super::sidecar::{ItemKey, Sidecar, SidecarFile};
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

/// The parts of a project's status that depend on every item but not on the time: counting
/// 5,000 backlog items and grouping 5,000 attributions by agent cost more than the rest of
/// the answer, and the answer is asked for far more often than the project changes.
#[derive(Debug)]
pub struct Summary {
    stats: Value,
    in_progress_stories: Vec<String>,
    in_progress_backlog: Vec<String>,
    activity: Value,
}

impl Summary {
    fn of(index: &WorkIndex, sidecar: &Sidecar) -> Summary {
        let backlog = index.backlog();
        let count = |status: &str| backlog.iter().filter(|b| b.status() == status).count();
        Summary {
            stats: json!({
                "total_backlog": backlog.len(),
                "todo": count("todo"),
                "in_progress": count("in_progress"),
                "done": count("done"),
            }),
            in_progress_stories: index
                .sprints()
                .iter()
                .flat_map(|s| s.stories())
                .filter(|st| st.status() == "in_progress")
                .map(|st| st.id.clone())
                .collect(),
            in_progress_backlog: backlog.iter().filter(|b| b.status() == "in_progress").map(|b| b.id.clone()).collect(),
            activity: activity(sidecar),
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

    /// `worksync_status`: active sprints, in-progress work and backlog counts per project.
    ///
    /// Asked for one project that cannot be read, it fails with that project's error (file,
    /// line and column), which the agent can act on. Asked for every project, it answers
    /// as long as one can be read: an agent working on a healthy project must not see its
    /// status fail over another project's file. The unreadable ones are listed in place
    /// with their error, file, line and column, and named in `warning`. When none can be
    /// read there is no status to give, and it fails.
    pub fn status(&self, project: Option<&str>) -> Result<Value, StoreError> {
        if let Some(name) = project {
            let (index, sidecar, summary) = self.ready(name)?;
            return Ok(json!({ "projects": { name: project_status(index, sidecar, summary) } }));
        }
        let mut projects = Map::new();
        for (name, _) in self.config.projects() {
            if let Ok((index, sidecar, summary)) = self.ready(name) {
                projects.insert(name.clone(), project_status(index, sidecar, summary));
            }
        }
        let unreadable = self.unreadable();
        if !unreadable.is_empty() && projects.is_empty() {
            return Err(match <[_; 1]>::try_from(unreadable) {
                Ok([(_, error)]) => error,
                Err(all) => StoreError::Unavailable {
                    message: format!(
                        "No project can be read: {}",
                        all.iter().map(|(name, e)| format!("{name}: {e}")).collect::<Vec<_>>().join("; ")
                    ),
                    hint: "Fix the files named (each error gives file, line and column), then retry; \
                           `worksync doctor` checks them all."
                        .into(),
                },
            });
        }
        let names: Vec<&str> = unreadable.iter().map(|(name, _)| name.as_str()).collect();
        let warning = (!names.is_empty()).then(|| {
            format!(
                "{} of {} projects cannot be read ({}); their entries say which file to fix, and where.",
                names.len(),
                names.len() + projects.len(),
                names.join(", ")
            )
        });
        for (name, error) in &unreadable {
            projects.insert(name.clone(), error_entry(error));
        }
        let mut out = json!({ "projects": projects });
        if let Some(warning) = warning {
            out["warning"] = json!(warning);
        }
        Ok(out)
    }

    /// A loaded project with its status summary, or the error a tool should report.
    fn ready(&self, project: &str) -> Result<(&WorkIndex, &Sidecar, &Summary), StoreError> {
        match self.projects.get(project) {
            Some(ProjectView::Ready { index, sidecar, summary, .. }) => {
                let summary = summary.get_or_init(|| Arc::new(Summary::of(index, sidecar)));
                Ok((index.as_ref(), sidecar.as_ref(), summary.as_ref()))
            }
            _ => Err(self.project(project).err().unwrap_or_else(|| self.unknown_project(project))),
        }
    }

    /// `worksync_projects`: the registry, or one project's entry.
    pub fn projects(&self, project: Option<&str>) -> Result<Value, StoreError> {
        match project {
            Some(name) => {
                let entry = self.config.project(name).ok_or_else(|| self.unknown_project(name))?;
                let mut out = json!({ "project": name });
                if let (Value::Object(out), Value::Object(fields)) = (&mut out, to_json(entry)) {
                    out.extend(fields);
                }
                Ok(out)
            }
            None => {
                let projects: Map<String, Value> =
                    self.config.projects().map(|(n, e)| (n.clone(), to_json(e))).collect();
                Ok(json!({ "projects": projects }))
            }
        }
    }

    /// `worksync_history` with `action=list`: entries oldest first, paged from the newest end
    /// (`limit` newest, skipping `offset` newest), each with its agent when known.
    pub fn history(&self, project: &str, limit: Option<usize>, offset: usize) -> Result<Value, StoreError> {
        let (index, sidecar) = self.project(project)?;
        let all = index.history();
        let end = all.len().saturating_sub(offset);
        let start = limit.map_or(0, |l| end.saturating_sub(l));
        let entries: Vec<Value> = all[start..end]
            .iter()
            .map(|entry| {
                let mut value = to_json(entry);
                let agent = sidecar.history_agent(
                    entry.date.as_deref().unwrap_or_default(),
                    entry.summary.as_deref().unwrap_or_default(),
                );
                if let (Value::Object(map), Some(agent)) = (&mut value, agent) {
                    map.insert("agent".into(), json!(agent));
                }
                value
            })
            .collect();
        Ok(json!({ "history": entries, "total": all.len(), "offset": offset, "returned": entries.len() }))
    }
}

/// A project that cannot be read, as `status` lists it: the error, what to do, and for a
/// file that does not parse (or a name in `config.yaml`) its file, line and column.
fn error_entry(error: &StoreError) -> Value {
    let mut entry = json!({ "error": error.to_string(), "hint": error.hint() });
    if let StoreError::Parse { path, line, column, .. } = error {
        entry["file"] = json!(path.display().to_string());
        entry["line"] = json!(line);
        entry["column"] = json!(column);
    }
    entry
}

/// The status block of one project, in the Python tool's shape, each item with its `rev`
/// and claim, plus the live claims and recent activity per agent.
fn project_status(index: &WorkIndex, sidecar: &Sidecar, summary: &Summary) -> Value {
    let now = chrono::Utc::now();
    let show = |key: ItemKey| item_json(index, sidecar, &key, now).unwrap_or(Value::Null);
    let active: Vec<Value> = index
        .sprints()
        .iter()
        .filter(|s| s.status() == "active")
        .map(|sprint| {
            let mut value = show(ItemKey::Sprint(sprint.id.clone()));
            value["stories"] = sprint.stories().iter().map(|st| show(ItemKey::Story(st.id.clone()))).collect();
            value
        })
        .collect();
    let in_progress_stories: Vec<Value> =
        summary.in_progress_stories.iter().map(|id| show(ItemKey::Story(id.clone()))).collect();
    let in_progress_backlog: Vec<Value> =
        summary.in_progress_backlog.iter().map(|id| show(ItemKey::Backlog(id.clone()))).collect();
    let claims: Vec<Value> = sidecar
        .claims
        .iter()
        .filter(|(_, c)| c.until > now)
        .map(|(key, c)| json!({ "item": key, "holder": c.agent, "until": c.until }))
        .collect();
    json!({
        "sprints": active,
        "in_progress_stories": in_progress_stories,
        "in_progress_backlog": in_progress_backlog,
        "stats": summary.stats,
        "claims": claims,
        "activity": summary.activity,
        "recent_history": index.history().iter().rev().take(3).map(to_json).collect::<Vec<_>>(),
    })
}

/// Per agent: when it last changed something, what, and how many items it changed last.
fn activity(sidecar: &Sidecar) -> Value {
    let mut agents: BTreeMap<&str, (chrono::DateTime<chrono::Utc>, &str, usize)> = BTreeMap::new();
    for (key, meta) in &sidecar.items {
        let entry = agents.entry(meta.updated_by.as_str()).or_insert((meta.updated_at, &**key, 0));
        entry.2 += 1;
        if meta.updated_at > entry.0 {
            (entry.0, entry.1) = (meta.updated_at, &**key);
        }
    }
    agents
        .into_iter()
        .map(|(agent, (at, item, count))| {
            (agent.to_string(), json!({ "last_change_at": at, "last_item": item, "items_last_changed": count }))
        })
        .collect::<Map<String, Value>>()
        .into()
}
