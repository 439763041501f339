//! What the vault contains: every note of a snapshot, as a path, a template and its
//! [context](super::context).
//!
//! Paths are the Python tool's, so bookmarks keep working. Links are always
//! vault paths (`[[projects/orbit-api/Stories/STORY-1|STORY-1]]`), never bare names, so two
//! projects that both have a `STORY-1` or a theme `security` never link into each other.
//! Nothing here depends on the clock: the same YAML always gives the same notes, which is
//! what lets the generator skip unchanged ones. A project's [`Catalog`] decides every note
//! path once (so links and files agree) and is reused while no id changes; its notes are
//! built in `kinds.rs`, one builder per kind of note.

mod kinds;

pub use kinds::{Inputs, ProjectState, TITLE_CHARS};

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_yaml_ng::Value as Yaml;

use super::FastMap;
use super::context::*;
use super::names::{self, StemAllocator};
use crate::store::guidance::GuidanceDoc;
use crate::store::model::WorkIndex;
use crate::store::registry::ProjectEntry;
use crate::store::sidecar::Sidecar;
use crate::store::snapshot::{ProjectView, Snapshot};

/// The vault folder of project `name`.
pub fn project_folder(name: &str) -> String {
    format!("projects/{}", names::file_stem(name))
}

/// The notes every item of one project gets (paths decided once, so links and files agree),
/// and the project's own data.
#[derive(Debug)]
pub struct Catalog {
    /// Hash of everything the catalog was built from except guidance: equal keys, equal
    /// catalogs (see [`Catalog::key`]).
    pub key: u128,
    pub info: ProjectInfo,
    sprints: FastMap<String, Ref>,
    stories: FastMap<String, Ref>,
    backlog: FastMap<String, Ref>,
    /// Theme → its hub and its tag, in name order.
    themes: BTreeMap<String, (Ref, String)>,
    /// Guidance documents that exist, with their note and text.
    guidance: Vec<(GuidanceDoc, Option<(Ref, String)>)>,
}

impl Catalog {
    /// What a catalog of this project is built from: its entry and every id and theme in
    /// order. Far cheaper than building one, so a run reuses the last catalog when the key
    /// is the same (a status change, a new note text).
    pub fn key(name: &str, entry: &ProjectEntry, index: &WorkIndex) -> u128 {
        let mut buffer = Vec::with_capacity(16 * (index.backlog().len() + 64));
        let mut put = |part: &str| {
            buffer.extend_from_slice(part.as_bytes());
            buffer.push(0);
        };
        put(name);
        put(entry.description.as_deref().unwrap_or_default());
        put(entry.repo.as_deref().unwrap_or_default());
        for sprint in index.sprints() {
            put(&sprint.id);
            sprint.themes.iter().flatten().for_each(|t| put(t));
            put("\u{1}stories");
            sprint.stories().iter().for_each(|s| put(&s.id));
            put("\u{1}end");
        }
        put("\u{1}backlog");
        for item in index.backlog() {
            put(&item.id);
            put(item.theme.as_deref().unwrap_or_default());
        }
        xxhash_rust::xxh3::xxh3_128(&buffer)
    }

    /// The catalog of a loaded project; reads its guidance documents.
    pub fn new(name: &str, entry: &ProjectEntry, index: &WorkIndex, guidance: Vec<GuidanceDoc>) -> Catalog {
        let info = project_info(name, entry);
        let mut catalog = Catalog::sprints_only(info, index);
        catalog.key = Catalog::key(name, entry, index);
        let folders = &catalog.info.folders;
        let (mut story_stems, mut backlog_stems) = (StemAllocator::default(), StemAllocator::default());
        let mut themes: Vec<&str> = Vec::new();
        for sprint in index.sprints() {
            for story in sprint.stories() {
                if !catalog.stories.contains_key(&story.id) {
                    let stem = story_stems.allocate(&story.id);
                    catalog.stories.insert(
                        story.id.clone(),
                        Ref::new(&story.id, format!("{}/{stem}", folders.stories), &story.id),
                    );
                }
            }
            themes.extend(sprint.themes.as_deref().unwrap_or_default().iter().map(String::as_str));
        }
        for item in index.backlog() {
            if !catalog.backlog.contains_key(&item.id) {
                let stem = backlog_stems.allocate(&item.id);
                catalog
                    .backlog
                    .insert(item.id.clone(), Ref::new(&item.id, format!("{}/{stem}", folders.backlog), &item.id));
            }
            themes.extend(item.theme.as_deref());
        }
        themes.retain(|t| !t.is_empty());
        themes.sort_unstable();
        themes.dedup();
        let mut theme_stems = StemAllocator::default();
        for theme in themes {
            let stem = theme_stems.allocate(theme);
            let hub = Ref::new(theme, format!("{}/{stem}", folders.themes), theme);
            catalog.themes.insert(theme.to_string(), (hub, names::tag(theme)));
        }
        catalog.read_guidance(guidance);
        catalog
    }

    /// The path of every note [`Catalog::notes`] makes.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        let info = &self.info;
        let items = self.sprints.values().chain(self.stories.values()).chain(self.backlog.values());
        let guidance = self.guidance.iter().filter_map(|(_, found)| found.as_ref().map(|(r, _)| r));
        items
            .chain(self.themes.values().map(|(hub, _)| hub))
            .chain(guidance)
            .chain([&info.history, &info.guidance_index, &info.dashboard])
            .map(|r| r.file.as_str())
            .chain([info.board.file.as_str()])
    }

    /// (Re-)reads the guidance documents: they are files of their own, which the key does
    /// not cover.
    pub fn read_guidance(&mut self, guidance: Vec<GuidanceDoc>) {
        self.guidance.clear();
        let mut guidance_stems = StemAllocator::default();
        guidance_stems.allocate("_index");
        for doc in guidance {
            let found = std::fs::read_to_string(&doc.path).ok().map(|body| {
                let note = format!("{}/{}", self.info.folders.guidance, guidance_stems.allocate(&doc.name));
                (Ref::new(&doc.name, note, &doc.name), body)
            });
            self.guidance.push((doc, found));
        }
    }

    /// Just enough for the global dashboard: the project and its sprints.
    fn sprints_only(info: ProjectInfo, index: &WorkIndex) -> Catalog {
        let mut stems = StemAllocator::default();
        let mut sprints = FastMap::default();
        for sprint in index.sprints() {
            if !sprints.contains_key(&sprint.id) {
                let note = format!("{}/{}", info.folders.sprints, stems.allocate(&sprint.id));
                sprints.insert(sprint.id.clone(), Ref::new(&sprint.id, note, &sprint.id));
            }
        }
        Catalog {
            key: 0,
            info,
            sprints,
            stories: FastMap::default(),
            backlog: FastMap::default(),
            themes: BTreeMap::new(),
            guidance: Vec::new(),
        }
    }
}

/// The projects of `snapshot` as the global dashboard shows them: each loaded project's
/// sprints (catalogued here, they are few), or why it is not loaded.
pub struct GlobalPlan {
    projects: Vec<(Catalog, Option<String>)>,
}

impl GlobalPlan {
    /// Catalogs the sprints of every registered project.
    pub fn new(snapshot: &Snapshot) -> GlobalPlan {
        let projects = snapshot
            .config
            .projects()
            .map(|(name, entry)| {
                let info = project_info(name, entry);
                match snapshot.projects.get(name) {
                    Some(ProjectView::Ready { index, .. }) => (Catalog::sprints_only(info, index), None),
                    Some(ProjectView::Broken { problem, .. }) => {
                        let why = format!(
                            "{} does not parse (line {}, column {}): {}",
                            problem.path.display(),
                            problem.line,
                            problem.column,
                            problem.message
                        );
                        (Catalog::sprints_only(info, &WorkIndex::default()), Some(why))
                    }
                    Some(ProjectView::Missing { path }) => (
                        Catalog::sprints_only(info, &WorkIndex::default()),
                        Some(format!("{} does not exist", path.display())),
                    ),
                    None => (Catalog::sprints_only(info, &WorkIndex::default()), Some("not loaded yet".into())),
                }
            })
            .collect();
        GlobalPlan { projects }
    }

    /// `Global Dashboard.md`, from the `states` built for this run's projects (others are
    /// looked at here).
    pub fn note<'a>(&'a self, snapshot: &'a Snapshot, states: &HashMap<&str, ProjectState<'a>>) -> Note<'a> {
        let mut in_progress = Vec::new();
        let projects = self
            .projects
            .iter()
            .map(|(catalog, problem)| {
                let info = &catalog.info;
                let mut summary = ProjectSummary {
                    name: &info.name,
                    description: &info.description,
                    dashboard: &info.dashboard,
                    folder: &info.folders.root,
                    problem: problem.clone(),
                    active_sprints: Vec::new(),
                    stories: Counts::new(),
                    backlog: Counts::new(),
                    ready: 0,
                    blocked: 0,
                };
                if let Some(ProjectView::Ready { index, sidecar, .. }) = snapshot.projects.get(&info.name) {
                    summary.active_sprints = catalog.active_sprints(index);
                    summary.stories = count(index.sprints().iter().flat_map(|s| s.stories()).map(|s| s.status()));
                    summary.backlog = count(index.backlog().iter().map(|b| b.status()));
                    let built;
                    let state = match states.get(info.name.as_str()) {
                        Some(state) => state,
                        None => {
                            built = ProjectState::of(index, sidecar);
                            &built
                        }
                    };
                    summary.ready = state.items.ready_count(&state.meta);
                    summary.blocked = state.items.blocked_count(&state.meta);
                    in_progress.extend(state.items.in_progress(&info.dashboard, &state.meta));
                }
                summary
            })
            .collect();
        in_progress.sort_by(|a, b| b.at.map(|t| t.0).cmp(&a.at.map(|t| t.0)));
        let work = GlobalWork { in_progress: Listed::first(in_progress, 30) };
        Note {
            path: Cow::Borrowed(GLOBAL_DASHBOARD),
            project: None,
            template: "global-dashboard.md",
            context: Context::Global(GlobalDashboard { projects, work }),
            input: None,
        }
    }

    /// `Board.base`: the Bases views across every project.
    pub fn base(&self) -> Note<'_> {
        let folders = self.projects.iter().map(|(catalog, _)| catalog.info.folders.root.clone()).collect();
        Note {
            path: Cow::Borrowed(GLOBAL_BASE),
            project: None,
            template: "global.base",
            context: Context::Base(BaseFile { folders }),
            input: None,
        }
    }
}

fn project_info(name: &str, entry: &ProjectEntry) -> ProjectInfo {
    let root = project_folder(name);
    ProjectInfo {
        name: name.to_string(),
        description: entry.description.clone().unwrap_or_default(),
        repo: entry.repo.clone().unwrap_or_default(),
        tag: names::tag(name),
        dashboard: Ref::new(name, format!("{root}/Dashboard"), name),
        history: Ref::new(name, format!("{root}/History"), &format!("{name} history")),
        guidance_index: Ref::new(name, format!("{root}/Guidance/_index"), &format!("{name} guidance")),
        board: Ref {
            id: name.to_string(),
            note: format!("{root}/Board.base"),
            label: "Board".to_string(),
            file: format!("{root}/Board.base"),
        },
        folders: Folders {
            sprints: format!("{root}/Sprints"),
            stories: format!("{root}/Stories"),
            backlog: format!("{root}/Backlog"),
            themes: format!("{root}/Themes"),
            guidance: format!("{root}/Guidance"),
            root,
        },
    }
}

fn count<'a>(statuses: impl Iterator<Item = &'a str>) -> Counts<'a> {
    let mut counts = Counts::new();
    for status in statuses {
        *counts.entry(if status.is_empty() { "unset" } else { status }).or_default() += 1;
    }
    counts
}

fn agents(sidecar: &Sidecar) -> Vec<AgentActivity<'_>> {
    let mut agents: BTreeMap<&str, (usize, DateTime<Utc>, usize)> = BTreeMap::new();
    for meta in sidecar.items.values() {
        let entry = agents.entry(&meta.updated_by).or_insert((0, meta.updated_at, 0));
        entry.0 += 1;
        entry.1 = entry.1.max(meta.updated_at);
    }
    for claim in sidecar.claims.values() {
        agents.entry(&claim.agent).or_insert((0, claim.claimed_at, 0)).2 += 1;
    }
    agents
        .into_iter()
        .map(|(agent, (items, at, holding))| AgentActivity { agent, items, last_change: Time(at), holding })
        .collect()
}

/// Keys the Python schema does not know, shown as-is so nothing is hidden.
fn details(extra: &serde_yaml_ng::Mapping) -> Vec<(&str, Cow<'_, str>)> {
    extra
        .iter()
        .filter_map(|(k, v)| {
            let value = match v {
                Yaml::String(s) => Cow::Borrowed(s.as_str()),
                Yaml::Number(n) => Cow::Owned(n.to_string()),
                Yaml::Bool(b) => Cow::Owned(b.to_string()),
                _ => Cow::Owned(serde_yaml_ng::to_string(v).ok()?.trim_end().to_string()),
            };
            Some((k.as_str()?, value))
        })
        .collect()
}
