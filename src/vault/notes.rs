//! What the vault contains: every note of a snapshot, as a path, a template and its
//! [context](super::context).
//!
//! Paths are the Python tool's, so bookmarks keep working. Links are always
//! vault paths (`[[projects/orbit-api/Stories/STORY-1|STORY-1]]`), never bare names, so two
//! projects that both have a `STORY-1` or a theme `security` never link into each other.
//! Nothing here depends on the clock: the same YAML always gives the same notes, which is
//! what lets the generator skip unchanged ones. A project's [`Catalog`] decides every note
//! path once (so links and files agree) and is reused while no id changes.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_yaml_ng::Value as Yaml;

use super::context::*;
use super::names::{self, StemAllocator};
use crate::store::guidance::GuidanceDoc;
use crate::store::model::{BacklogItem, Sprint, WorkIndex};
use crate::store::registry::ProjectEntry;
use crate::store::sidecar::{ItemMeta, Sidecar};
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
    sprints: HashMap<String, Ref>,
    stories: HashMap<String, Ref>,
    backlog: HashMap<String, Ref>,
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
        let mut sprints = HashMap::new();
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
            stories: HashMap::new(),
            backlog: HashMap::new(),
            themes: BTreeMap::new(),
            guidance: Vec::new(),
        }
    }

    fn tags<'a>(&'a self, kind: &'static str, status: Option<&'a str>) -> Tags<'a> {
        Tags { project: &self.info.tag, kind, status, themes: Vec::new(), extra: None }
    }

    fn theme_tags<'a>(&'a self, kind: &'static str, status: &'a str, themes: &[&'a Ref]) -> Tags<'a> {
        let mut tags = self.tags(kind, Some(status));
        tags.themes = themes.iter().map(|t| self.themes[&t.id].1.as_str()).collect();
        tags
    }

    fn sprint_row<'a>(&'a self, sprint: &'a Sprint) -> SprintRow<'a> {
        let stories = sprint.stories();
        let link = &self.sprints[&sprint.id];
        SprintRow {
            link,
            id: &link.id,
            note: &link.note,
            label: &link.label,
            title: sprint.title.as_deref().unwrap_or(&sprint.id),
            status: sprint.status(),
            goal: sprint.goal.as_deref().unwrap_or_default(),
            stories_done: stories.iter().filter(|s| s.status() == "done").count(),
            stories_total: stories.len(),
        }
    }

    fn story_rows<'a>(&'a self, sprint: &'a Sprint) -> impl Iterator<Item = StoryRow<'a>> {
        let sprint_ref = &self.sprints[&sprint.id];
        sprint.stories().iter().map(move |story| {
            let link = &self.stories[&story.id];
            StoryRow {
                link,
                id: &link.id,
                note: &link.note,
                label: &link.label,
                status: story.status(),
                notes: story.notes.as_deref().unwrap_or_default(),
                sprint: sprint_ref,
            }
        })
    }

    fn backlog_row<'a>(&'a self, item: &'a BacklogItem) -> BacklogRow<'a> {
        let link = &self.backlog[&item.id];
        BacklogRow {
            link,
            id: &link.id,
            note: &link.note,
            label: &link.label,
            status: item.status(),
            summary: item.summary.as_deref().unwrap_or_default(),
        }
    }

    fn themes_of<'a>(&'a self, themes: &'a [String]) -> Vec<&'a Ref> {
        themes.iter().filter(|t| !t.is_empty()).map(|t| &self.themes[t].0).collect()
    }

    /// Sprint ids as links where the sprint exists, as plain text where it does not.
    fn mentions<'a>(&'a self, ids: &'a [String]) -> Vec<Mention<'a>> {
        ids.iter()
            .map(|id| match self.sprints.get(id) {
                Some(sprint) => Mention { id, label: Cow::Borrowed(&sprint.label), note: Some(&sprint.note) },
                None => Mention { id, label: Cow::Owned(names::label(id)), note: None },
            })
            .collect()
    }

    fn active_sprints<'a>(&'a self, index: &'a WorkIndex) -> Vec<SprintRow<'a>> {
        index.sprints().iter().filter(|s| s.status() == "active").map(|s| self.sprint_row(s)).collect()
    }

    /// Every note of the project, in a stable order.
    pub fn notes<'a>(&'a self, index: &'a WorkIndex, sidecar: &'a Sidecar) -> Vec<Note<'a>> {
        // Metadata by kind and id, looked up without building a storage key per item.
        let mut by_key: HashMap<(&str, &str), &ItemMeta> = HashMap::with_capacity(sidecar.items.len());
        for (key, meta) in &sidecar.items {
            if let Some((kind, id)) = key.split_once('/') {
                by_key.insert((kind, id), meta);
            }
        }
        let meta = |kind: &str, id: &str| by_key.get(&(kind, id)).map(|m| Meta(m));
        let info = &self.info;
        let mut notes = Vec::with_capacity(index.backlog().len() + 64);
        for sprint in index.sprints() {
            let themes = self.themes_of(sprint.themes.as_deref().unwrap_or_default());
            for (story, row) in sprint.stories().iter().zip(self.story_rows(sprint)) {
                notes.push(Note {
                    path: Cow::Borrowed(&row.link.file),
                    project: Some(&self.info),
                    template: "story.md",
                    context: Context::Story(StoryNote {
                        tags: self.theme_tags("story", story.status(), &themes),
                        story: row,
                        sprint: self.sprint_row(sprint),
                        themes: themes.clone(),
                        details: details(&story.extra),
                        meta: meta("story", &story.id),
                    }),
                });
            }
            notes.push(Note {
                path: Cow::Borrowed(&self.sprints[&sprint.id].file),
                project: Some(&self.info),
                template: "sprint.md",
                context: Context::Sprint(SprintNote {
                    tags: self.theme_tags("sprint", sprint.status(), &themes),
                    sprint: self.sprint_row(sprint),
                    file: sprint.file.as_deref(),
                    themes,
                    stories: self.story_rows(sprint).collect(),
                    details: details(&sprint.extra),
                    meta: meta("sprint", &sprint.id),
                }),
            });
        }
        for item in index.backlog() {
            let theme = item.theme.as_deref().filter(|t| !t.is_empty()).map(|t| &self.themes[t].0);
            notes.push(Note {
                path: Cow::Borrowed(&self.backlog[&item.id].file),
                project: Some(&self.info),
                template: "backlog.md",
                context: Context::Backlog(BacklogNote {
                    tags: self.theme_tags("backlog", item.status(), theme.as_slice()),
                    item: self.backlog_row(item),
                    theme,
                    related_sprints: self.mentions(item.related_sprints.as_deref().unwrap_or_default()),
                    details: details(&item.extra),
                    meta: meta("backlog", &item.id),
                }),
            });
        }
        let mut theme_rows = Vec::with_capacity(self.themes.len());
        for (theme, (hub, tag)) in &self.themes {
            let sprints: Vec<&Sprint> = index
                .sprints()
                .iter()
                .filter(|s| s.themes.as_deref().unwrap_or_default().contains(theme))
                .map(|s| s.as_ref())
                .collect();
            let stories: Vec<StoryRow> = sprints.iter().flat_map(|s| self.story_rows(s)).collect();
            let backlog: Vec<BacklogRow> = index
                .backlog()
                .iter()
                .filter(|b| b.theme.as_deref() == Some(theme))
                .map(|b| self.backlog_row(b))
                .collect();
            let items = sprints.len() + stories.len() + backlog.len();
            theme_rows.push(ThemeRow::new(hub, tag, items));
            let mut tags = self.tags("theme", None);
            tags.themes.push(tag);
            notes.push(Note {
                path: Cow::Borrowed(&hub.file),
                project: Some(&self.info),
                template: "theme.md",
                context: Context::Theme(ThemeNote {
                    tags,
                    theme: ThemeRow::new(hub, tag, items),
                    sprints: sprints.into_iter().map(|s| self.sprint_row(s)).collect(),
                    stories,
                    backlog,
                }),
            });
        }
        let entries = index
            .history()
            .iter()
            .rev()
            .map(|entry| {
                let date = entry.date.as_deref().unwrap_or_default();
                let summary = entry.summary.as_deref().unwrap_or_default();
                HistoryRow {
                    date,
                    summary,
                    agent: sidecar.history_agent(date, summary),
                    related_sprints: self.mentions(entry.related_sprints.as_deref().unwrap_or_default()),
                }
            })
            .collect();
        notes.push(Note {
            path: Cow::Borrowed(&info.history.file),
            project: Some(&self.info),
            template: "history.md",
            context: Context::History(HistoryNote { tags: self.tags("history", None), entries }),
        });
        self.guidance_notes(&mut notes);
        notes.push(Note {
            path: Cow::Borrowed(&info.dashboard.file),
            project: Some(&self.info),
            template: "project-dashboard.md",
            context: Context::Dashboard(ProjectDashboard {
                tags: self.tags("dashboard", None),
                active_sprints: self.active_sprints(index),
                sprints: count(index.sprints().iter().map(|s| s.status())),
                stories: count(index.sprints().iter().flat_map(|s| s.stories()).map(|s| s.status())),
                backlog: count(index.backlog().iter().map(|b| b.status())),
                themes: theme_rows,
                agents: agents(sidecar),
            }),
        });
        notes
    }

    /// The guidance notes: one per document that exists, and the index of all of them.
    fn guidance_notes<'a>(&'a self, notes: &mut Vec<Note<'a>>) {
        let (mut foundational, mut repo) = (Vec::new(), Vec::new());
        for (doc, found) in &self.guidance {
            let mention = Mention {
                id: &doc.name,
                label: Cow::Owned(names::label(&doc.name)),
                note: found.as_ref().map(|(r, _)| r.note.as_str()),
            };
            if doc.source == "foundational" {
                foundational.push(mention)
            } else {
                repo.push(mention)
            }
            let Some((note, body)) = found else { continue };
            let mut tags = self.tags("guidance", None);
            tags.extra = Some(if doc.source == "foundational" { "guidance/foundational" } else { "guidance/repo" });
            notes.push(Note {
                path: Cow::Borrowed(&note.file),
                project: Some(&self.info),
                template: "guidance.md",
                context: Context::Guidance(GuidanceNote {
                    tags,
                    name: &doc.name,
                    source: doc.source,
                    body: body.clone(),
                }),
            });
        }
        notes.push(Note {
            path: Cow::Borrowed(&self.info.guidance_index.file),
            project: Some(&self.info),
            template: "guidance-index.md",
            context: Context::GuidanceIndex(GuidanceIndexNote {
                tags: self.tags("guidance", None),
                foundational,
                repo,
            }),
        });
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

    /// `Global Dashboard.md`.
    pub fn note<'a>(&'a self, snapshot: &'a Snapshot) -> Note<'a> {
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
                };
                if let Some(ProjectView::Ready { index, .. }) = snapshot.projects.get(&info.name) {
                    summary.active_sprints = catalog.active_sprints(index);
                    summary.stories = count(index.sprints().iter().flat_map(|s| s.stories()).map(|s| s.status()));
                    summary.backlog = count(index.backlog().iter().map(|b| b.status()));
                }
                summary
            })
            .collect();
        Note {
            path: Cow::Borrowed(GLOBAL_DASHBOARD),
            project: None,
            template: "global-dashboard.md",
            context: Context::Global(GlobalDashboard { projects }),
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
    let mut agents: BTreeMap<&str, (usize, DateTime<Utc>)> = BTreeMap::new();
    for meta in sidecar.items.values() {
        let entry = agents.entry(&meta.updated_by).or_insert((0, meta.updated_at));
        entry.0 += 1;
        entry.1 = entry.1.max(meta.updated_at);
    }
    agents.into_iter().map(|(agent, (items, at))| AgentActivity { agent, items, last_change: Time(at) }).collect()
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
