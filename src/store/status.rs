//! `worksync_status`, typed: what each project looks like now (active sprints, work in
//! progress, counts, claims, who did what), for tools, the CLI and `/status` alike.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::coordination::{dependencies, item_view};
use super::error::StoreError;
use super::model::{BacklogStatus, HistoryEntry, StoryStatus, WorkIndex};
use super::outcome::{Item, Kind};
use super::sidecar::{ItemKey, Sidecar};
use super::snapshot::{ProjectView, Snapshot};

/// The status of the projects asked for.
#[derive(Debug)]
pub struct Status {
    /// Each project with its status, in `config.yaml`'s order (unreadable ones at the end).
    pub projects: Vec<(String, ProjectStatus)>,
    /// Set when some projects cannot be read: which, and that their entries say where.
    pub warning: Option<String>,
}

/// One project's status.
#[derive(Debug)]
pub enum ProjectStatus {
    Ready(Box<ReadyStatus>),
    /// The project cannot be read: why (a parse error carries file, line and column).
    Unreadable(StoreError),
}

/// The status of a project that loads.
#[derive(Debug)]
pub struct ReadyStatus {
    /// Active sprints, each with its stories.
    pub sprints: Vec<(Item, Vec<Item>)>,
    /// At most [`SHOWN_IN_PROGRESS`] of each kind, the most recently changed first when
    /// there are more; `not_shown` counts the rest.
    pub in_progress_stories: Vec<Item>,
    pub in_progress_backlog: Vec<Item>,
    /// In-progress stories and backlog items left out of the lists above.
    pub not_shown: NotShown,
    pub stats: Stats,
    /// Work `worksync_next` can hand out now: planned stories of active sprints and todo
    /// backlog items that nobody holds and that nothing unfinished blocks.
    pub ready: usize,
    /// Stories and backlog items not done that wait on an unfinished dependency (in-progress
    /// ones show theirs in `blocked_by`).
    pub blocked: usize,
    /// Live claims.
    pub claims: Vec<ClaimEntry>,
    /// Per agent, what it last changed.
    pub activity: Arc<Vec<Activity>>,
    /// The three newest history entries, newest first.
    pub recent_history: Vec<HistoryEntry>,
}

/// How many in-progress items of each kind a status lists at most: the reply an agent reads
/// at the start of every session must not grow with the project (`stats` has the counts).
pub const SHOWN_IN_PROGRESS: usize = 50;

/// In-progress items a status left out, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotShown {
    pub stories: usize,
    pub backlog: usize,
}

/// Backlog counts (the Python tool's `stats`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub total_backlog: usize,
    pub todo: usize,
    pub in_progress: usize,
    pub done: usize,
}

/// A live claim.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimEntry {
    pub kind: Kind,
    pub id: String,
    pub holder: String,
    pub until: DateTime<Utc>,
}

/// What one agent did last.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    pub agent: String,
    pub last_change_at: DateTime<Utc>,
    /// The item it changed last.
    pub last_item: (Kind, String),
    /// How many items it was the last to change.
    pub items_last_changed: usize,
}

/// The parts of a project's status that depend on every item but not on the time: counting
/// 5,000 backlog items and grouping 5,000 attributions by agent cost more than the rest of
/// the answer, and the answer is asked for far more often than the project changes.
#[derive(Debug)]
pub struct Summary {
    stats: Stats,
    /// Planned stories of active sprints and todo backlog items that nothing blocks: ready
    /// but for claims, which expire with time and so are counted per call.
    unblocked_open: usize,
    blocked: usize,
    in_progress_stories: Vec<String>,
    in_progress_backlog: Vec<String>,
    activity: Arc<Vec<Activity>>,
}

impl Status {
    /// Until when this status stays true of the version it was made from: the end of the
    /// first live claim it lists (a lapsed claim leaves it though nothing was written), or
    /// `None` when it lists none and holds until the next change.
    pub fn holds_until(&self) -> Option<DateTime<Utc>> {
        let ready = self.projects.iter().filter_map(|(_, project)| match project {
            ProjectStatus::Ready(ready) => Some(ready),
            ProjectStatus::Unreadable(_) => None,
        });
        ready.flat_map(|ready| ready.claims.iter().map(|claim| claim.until)).min()
    }
}

impl Summary {
    fn of(index: &WorkIndex, sidecar: &Sidecar) -> Summary {
        let backlog = index.backlog();
        let count = |status: &str| backlog.iter().filter(|b| b.status() == status).count();
        let (unblocked_open, blocked) = readiness(index, sidecar);
        Summary {
            unblocked_open,
            blocked,
            stats: Stats {
                total_backlog: backlog.len(),
                todo: count("todo"),
                in_progress: count("in_progress"),
                done: count("done"),
            },
            in_progress_stories: index
                .sprints()
                .iter()
                .flat_map(|s| s.stories())
                .filter(|st| st.status() == "in_progress")
                .map(|st| st.id.clone())
                .collect(),
            in_progress_backlog: backlog.iter().filter(|b| b.status() == "in_progress").map(|b| b.id.clone()).collect(),
            activity: Arc::new(activity(sidecar)),
        }
    }
}

impl Snapshot {
    /// `worksync_status`: active sprints, in-progress work and backlog counts per project.
    ///
    /// Asked for one project that cannot be read, it fails with that project's error (file,
    /// line and column), which the agent can act on. Asked for every project, it answers
    /// as long as one can be read: an agent working on a healthy project must not see its
    /// status fail over another project's file. The unreadable ones are listed with their
    /// error, and named in `warning`. When none can be read there is no status to give, and
    /// it fails.
    pub fn status(&self, project: Option<&str>) -> Result<Status, StoreError> {
        if let Some(name) = project {
            let ready = self.ready_status(name)?;
            return Ok(Status { projects: vec![(name.to_string(), ProjectStatus::Ready(ready))], warning: None });
        }
        let mut projects = Vec::new();
        for (name, _) in self.config.projects() {
            if let Ok(ready) = self.ready_status(name) {
                projects.push((name.clone(), ProjectStatus::Ready(ready)));
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
        let warning = (!unreadable.is_empty()).then(|| {
            let names: Vec<&str> = unreadable.iter().map(|(name, _)| name.as_str()).collect();
            format!(
                "{} of {} projects cannot be read ({}); their entries say which file to fix, and where.",
                names.len(),
                names.len() + projects.len(),
                names.join(", ")
            )
        });
        projects.extend(unreadable.into_iter().map(|(name, error)| (name, ProjectStatus::Unreadable(error))));
        Ok(Status { projects, warning })
    }

    /// The status of one loaded project, or the error a tool should report.
    fn ready_status(&self, project: &str) -> Result<Box<ReadyStatus>, StoreError> {
        let Some(ProjectView::Ready { index, sidecar, summary, .. }) = self.projects.get(project) else {
            return Err(self.project(project).err().unwrap_or_else(|| self.unknown_project(project)));
        };
        let summary = summary.get_or_init(|| Arc::new(Summary::of(index, sidecar)));
        Ok(Box::new(ready_status(index, sidecar, summary)))
    }
}

/// The status of one project: each item as a tool shows it (with its `rev` and claim).
fn ready_status(index: &WorkIndex, sidecar: &Sidecar, summary: &Summary) -> ReadyStatus {
    let now = Utc::now();
    let show = |key: ItemKey| item_view(index, sidecar, &key, now);
    let sprints = index
        .sprints()
        .iter()
        .filter(|s| s.status() == "active")
        .filter_map(|sprint| {
            let stories = sprint.stories().iter().filter_map(|st| show(ItemKey::Story(st.id.clone()))).collect();
            Some((show(ItemKey::Sprint(sprint.id.clone()))?, stories))
        })
        .collect();
    let claims: Vec<ClaimEntry> = sidecar
        .claims
        .iter()
        .filter(|(_, c)| c.until > now)
        .filter_map(|(key, c)| {
            let (kind, id) = parse_storage_key(key)?;
            Some(ClaimEntry { kind, id: id.to_string(), holder: c.agent.clone(), until: c.until })
        })
        .collect();
    let (stories, more_stories) = newest_first(sidecar, &summary.in_progress_stories, ItemKey::Story);
    let (backlog, more_backlog) = newest_first(sidecar, &summary.in_progress_backlog, ItemKey::Backlog);
    ReadyStatus {
        sprints,
        in_progress_stories: stories.into_iter().filter_map(show).collect(),
        in_progress_backlog: backlog.into_iter().filter_map(show).collect(),
        not_shown: NotShown { stories: more_stories, backlog: more_backlog },
        stats: summary.stats,
        ready: summary.unblocked_open.saturating_sub(claims.iter().filter(|c| claimed_open(index, sidecar, c)).count()),
        blocked: summary.blocked,
        claims,
        activity: summary.activity.clone(),
        recent_history: index.history().iter().rev().take(3).map(|e| e.as_ref().clone()).collect(),
    }
}

/// The keys of `ids`, in file order when they fit in [`SHOWN_IN_PROGRESS`]; otherwise the
/// most recently changed that many, and how many were left out.
fn newest_first(sidecar: &Sidecar, ids: &[String], key: fn(String) -> ItemKey) -> (Vec<ItemKey>, usize) {
    let keys = ids.iter().map(|id| key(id.clone()));
    if ids.len() <= SHOWN_IN_PROGRESS {
        return (keys.collect(), 0);
    }
    let changed = |k: &ItemKey| sidecar.items.get(k.as_storage_key().as_str()).map(|m| m.updated_at);
    let mut dated: Vec<_> = keys.map(|k| (changed(&k), k)).collect();
    dated.sort_by_key(|(changed, _)| std::cmp::Reverse(*changed));
    dated.truncate(SHOWN_IN_PROGRESS);
    (dated.into_iter().map(|(_, k)| k).collect(), ids.len() - SHOWN_IN_PROGRESS)
}

/// How many items `next` could hand out but for claims (planned stories of active sprints,
/// todo backlog items, nothing unfinished blocking them), and how many items not done are
/// blocked.
fn readiness(index: &WorkIndex, sidecar: &Sidecar) -> (usize, usize) {
    let done = sidecar.has_dependencies().then(|| dependencies::DoneIndex::of(index));
    let blocked = |key: ItemKey| done.as_ref().is_some_and(|done| !done.blockers(sidecar, &key).is_empty());
    let mut open = 0;
    for sprint in index.sprints().iter().filter(|s| s.status() == "active") {
        let planned = sprint.stories().iter().filter(|st| st.status() == StoryStatus::Planned.as_str());
        open += planned.filter(|st| !blocked(ItemKey::Story(st.id.clone()))).count();
    }
    let todo = index.backlog().iter().filter(|b| b.status() == BacklogStatus::Todo.as_str());
    open += todo.filter(|b| !blocked(ItemKey::Backlog(b.id.clone()))).count();
    (open, done.map_or(0, |done| done.blocked_count(sidecar)))
}

/// Whether a live claim holds an item [`readiness`] counted as open (so it is not ready).
fn claimed_open(index: &WorkIndex, sidecar: &Sidecar, claim: &ClaimEntry) -> bool {
    let key = match claim.kind {
        Kind::Story => ItemKey::Story(claim.id.clone()),
        Kind::Backlog => ItemKey::Backlog(claim.id.clone()),
        Kind::Sprint => return false,
    };
    let open = match &key {
        ItemKey::Story(id) => index
            .sprints()
            .iter()
            .filter(|s| s.status() == "active")
            .flat_map(|s| s.stories())
            .any(|st| &st.id == id && st.status() == StoryStatus::Planned.as_str()),
        ItemKey::Backlog(id) => index.backlog_item(id).is_some_and(|b| b.status() == BacklogStatus::Todo.as_str()),
        ItemKey::Sprint(_) => false,
    };
    open && dependencies::blockers(index, sidecar, &key).is_empty()
}

/// The kind and id of a sidecar storage key (`story/STORY-3`).
fn parse_storage_key(key: &str) -> Option<(Kind, &str)> {
    let (kind, id) = key.split_once('/')?;
    let kind = match kind {
        "sprint" => Kind::Sprint,
        "story" => Kind::Story,
        "backlog" => Kind::Backlog,
        _ => return None,
    };
    Some((kind, id))
}

/// Per agent: when it last changed something, what, and how many items it changed last.
fn activity(sidecar: &Sidecar) -> Vec<Activity> {
    let mut agents: BTreeMap<&str, (DateTime<Utc>, &str, usize)> = BTreeMap::new();
    for (key, meta) in &sidecar.items {
        let entry = agents.entry(meta.updated_by.as_str()).or_insert((meta.updated_at, &**key, 0));
        entry.2 += 1;
        if meta.updated_at > entry.0 {
            (entry.0, entry.1) = (meta.updated_at, &**key);
        }
    }
    agents
        .into_iter()
        .filter_map(|(agent, (at, item, count))| {
            let (kind, id) = parse_storage_key(item)?;
            Some(Activity {
                agent: agent.to_string(),
                last_change_at: at,
                last_item: (kind, id.to_string()),
                items_last_changed: count,
            })
        })
        .collect()
}
