//! What the vault contains: every note of a snapshot, as a path, a template and the data
//! the template gets.
//!
//! Paths are the Python tool's (SPEC §6), so bookmarks keep working. Links are always
//! vault paths (`[[projects/orbit-api/Stories/STORY-1|STORY-1]]`), never bare names, so two
//! projects that both have a `STORY-1` or a theme `security` never link into each other.
//! Nothing here depends on the clock: the same YAML always gives the same notes, which is
//! what lets the generator skip unchanged ones.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::Serialize;
use serde_yaml_ng::Value as Yaml;

use super::names::{self, StemAllocator};
use crate::store::guidance::GuidanceDoc;
use crate::store::model::{Sprint, WorkIndex};
use crate::store::registry::ProjectEntry;
use crate::store::sidecar::{ItemKey, ItemMeta, Sidecar};
use crate::store::snapshot::{ProjectView, Snapshot};

/// Vault path of the dashboard across all projects.
pub const GLOBAL_DASHBOARD: &str = "Global Dashboard.md";

/// One note to generate.
#[derive(Debug)]
pub struct Note {
    /// Path inside the vault, `/`-separated.
    pub path: String,
    /// Name of the template that renders it.
    pub template: &'static str,
    pub context: Context,
}

/// The data a template renders; each variant is one kind of note.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Context {
    Global(GlobalDashboard),
    Dashboard(ProjectDashboard),
    Sprint(SprintNote),
    Story(StoryNote),
    Backlog(BacklogNote),
    Theme(ThemeNote),
    History(HistoryNote),
    Guidance(GuidanceNote),
    GuidanceIndex(GuidanceIndexNote),
}

/// A note something links to: its id as written in the YAML, its vault path without `.md`
/// (the link target) and the text links show.
#[derive(Debug, Clone, Serialize)]
pub struct Ref {
    pub id: String,
    pub note: String,
    pub label: String,
}

/// A mention that may or may not have a note (a related sprint that does not exist).
#[derive(Debug, Clone, Serialize)]
pub struct Mention {
    pub id: String,
    pub label: String,
    pub note: Option<String>,
}

/// Who created and last changed an item, and when (from `.worksync/state.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Meta {
    pub rev: u64,
    pub created: Option<String>,
    pub created_by: Option<String>,
    pub updated: String,
    pub updated_by: String,
    pub priority: Option<u8>,
}

/// The project every project note belongs to.
#[derive(Debug, Serialize)]
pub struct ProjectInfo {
    pub name: String,
    pub description: String,
    pub repo: String,
    pub tag: String,
    pub dashboard: Ref,
    pub history: Ref,
    pub guidance_index: Ref,
    /// Vault folders of the project, for Dataview `FROM` clauses.
    pub folders: Folders,
}

/// The project's folders inside the vault.
#[derive(Debug, Serialize)]
pub struct Folders {
    pub root: String,
    pub sprints: String,
    pub stories: String,
    pub backlog: String,
    pub themes: String,
    pub guidance: String,
}

/// A sprint as other notes list it.
#[derive(Debug, Clone, Serialize)]
pub struct SprintRow {
    #[serde(flatten)]
    pub link: Ref,
    pub title: String,
    pub status: String,
    pub goal: String,
    pub stories_done: usize,
    pub stories_total: usize,
}

/// A story as other notes list it.
#[derive(Debug, Clone, Serialize)]
pub struct StoryRow {
    #[serde(flatten)]
    pub link: Ref,
    pub status: String,
    /// The first line of its notes, shortened.
    pub summary: String,
    pub sprint: Ref,
}

/// A backlog item as other notes list it.
#[derive(Debug, Clone, Serialize)]
pub struct BacklogRow {
    #[serde(flatten)]
    pub link: Ref,
    pub status: String,
    pub summary: String,
}

/// A theme hub as other notes list it.
#[derive(Debug, Clone, Serialize)]
pub struct ThemeRow {
    #[serde(flatten)]
    pub link: Ref,
    pub tag: String,
    pub items: usize,
}

/// Counts per status of one kind of item, in a stable order.
pub type Counts = BTreeMap<String, usize>;

/// `Global Dashboard.md`.
#[derive(Debug, Serialize)]
pub struct GlobalDashboard {
    pub projects: Vec<ProjectSummary>,
}

/// One project on the global dashboard.
#[derive(Debug, Serialize)]
pub struct ProjectSummary {
    pub name: String,
    pub description: String,
    pub dashboard: Ref,
    pub folder: String,
    /// Why the project has no current notes (its file is broken or missing), if so.
    pub problem: Option<String>,
    pub active_sprints: Vec<SprintRow>,
    pub stories: Counts,
    pub backlog: Counts,
}

/// `projects/<name>/Dashboard.md`.
#[derive(Debug, Serialize)]
pub struct ProjectDashboard {
    pub project: Arc<ProjectInfo>,
    pub tags: Vec<String>,
    pub active_sprints: Vec<SprintRow>,
    pub sprints: Counts,
    pub stories: Counts,
    pub backlog: Counts,
    pub themes: Vec<ThemeRow>,
    pub agents: Vec<AgentActivity>,
}

/// What one agent last did in a project.
#[derive(Debug, Serialize)]
pub struct AgentActivity {
    pub agent: String,
    pub items: usize,
    pub last_change: String,
}

/// `projects/<name>/Sprints/<id>.md`.
#[derive(Debug, Serialize)]
pub struct SprintNote {
    pub project: Arc<ProjectInfo>,
    pub tags: Vec<String>,
    pub sprint: SprintRow,
    pub file: Option<String>,
    pub themes: Vec<Ref>,
    pub stories: Vec<StoryRow>,
    pub details: Vec<(String, String)>,
    pub meta: Option<Meta>,
}

/// `projects/<name>/Stories/<id>.md`.
#[derive(Debug, Serialize)]
pub struct StoryNote {
    pub project: Arc<ProjectInfo>,
    pub tags: Vec<String>,
    pub story: StoryRow,
    pub notes: String,
    pub sprint: SprintRow,
    pub themes: Vec<Ref>,
    pub details: Vec<(String, String)>,
    pub meta: Option<Meta>,
}

/// `projects/<name>/Backlog/<id>.md`.
#[derive(Debug, Serialize)]
pub struct BacklogNote {
    pub project: Arc<ProjectInfo>,
    pub tags: Vec<String>,
    pub item: BacklogRow,
    pub theme: Option<Ref>,
    pub related_sprints: Vec<Mention>,
    pub details: Vec<(String, String)>,
    pub meta: Option<Meta>,
}

/// `projects/<name>/Themes/<theme>.md`: the hub that clusters a theme's work in the graph.
#[derive(Debug, Serialize)]
pub struct ThemeNote {
    pub project: Arc<ProjectInfo>,
    pub tags: Vec<String>,
    pub theme: ThemeRow,
    pub sprints: Vec<SprintRow>,
    pub stories: Vec<StoryRow>,
    pub backlog: Vec<BacklogRow>,
}

/// `projects/<name>/History.md`, newest first.
#[derive(Debug, Serialize)]
pub struct HistoryNote {
    pub project: Arc<ProjectInfo>,
    pub tags: Vec<String>,
    pub entries: Vec<HistoryRow>,
}

/// One history entry.
#[derive(Debug, Serialize)]
pub struct HistoryRow {
    pub date: String,
    pub summary: String,
    pub agent: Option<String>,
    pub related_sprints: Vec<Mention>,
}

/// `projects/<name>/Guidance/<name>.md`: one merged guidance document.
#[derive(Debug, Serialize)]
pub struct GuidanceNote {
    pub project: Arc<ProjectInfo>,
    pub tags: Vec<String>,
    pub name: String,
    pub source: String,
    pub body: String,
}

/// `projects/<name>/Guidance/_index.md`.
#[derive(Debug, Serialize)]
pub struct GuidanceIndexNote {
    pub project: Arc<ProjectInfo>,
    pub tags: Vec<String>,
    pub foundational: Vec<Mention>,
    pub repo: Vec<Mention>,
}

/// The global dashboard of `snapshot`.
pub fn global_dashboard(snapshot: &Snapshot) -> Note {
    let projects = snapshot
        .config
        .projects()
        .map(|(name, entry)| {
            let info = project_info(name, entry);
            let mut summary = ProjectSummary {
                name: name.clone(),
                description: info.description.clone(),
                dashboard: info.dashboard.clone(),
                folder: info.folders.root.clone(),
                problem: None,
                active_sprints: Vec::new(),
                stories: Counts::new(),
                backlog: Counts::new(),
            };
            match snapshot.projects.get(name) {
                Some(ProjectView::Ready { index, .. }) => {
                    let sprints = Catalog::new(&info, index);
                    summary.active_sprints = active_sprints(index, &sprints);
                    summary.stories = count(index.sprints().iter().flat_map(|s| s.stories()).map(|s| s.status()));
                    summary.backlog = count(index.backlog().iter().map(|b| b.status()));
                }
                Some(ProjectView::Broken { problem, .. }) => {
                    summary.problem = Some(format!(
                        "{} does not parse (line {}, column {}): {}",
                        problem.path.display(),
                        problem.line,
                        problem.column,
                        problem.message
                    ));
                }
                Some(ProjectView::Missing { path }) => {
                    summary.problem = Some(format!("{} does not exist", path.display()));
                }
                None => summary.problem = Some("not loaded yet".into()),
            }
            summary
        })
        .collect();
    Note {
        path: GLOBAL_DASHBOARD.into(),
        template: "global-dashboard.md",
        context: Context::Global(GlobalDashboard { projects }),
    }
}

/// The vault folder of project `name`.
pub fn project_folder(name: &str) -> String {
    format!("projects/{}", names::file_stem(name))
}

/// Every note of one loaded project, in a stable order.
pub fn project_notes(
    name: &str,
    entry: &ProjectEntry,
    index: &WorkIndex,
    sidecar: &Sidecar,
    guidance: &[GuidanceDoc],
) -> Vec<Note> {
    let info = Arc::new(project_info(name, entry));
    let catalog = Catalog::new(&info, index);
    let meta = |key: ItemKey| sidecar.item(&key).map(meta_of);
    let base_tags = |kind: &str, status: Option<&str>| {
        let mut tags = vec![format!("project/{}", info.tag), format!("type/{kind}")];
        if let Some(status) = status.filter(|s| !s.is_empty()) {
            tags.push(format!("status/{}", names::tag(status)));
        }
        tags
    };
    let theme_tags = |tags: &mut Vec<String>, themes: &[Ref]| {
        tags.extend(themes.iter().map(|t| format!("theme/{}", names::tag(&t.id))));
    };
    let mut notes = Vec::new();

    for sprint in index.sprints() {
        let row = catalog.sprint_row(sprint);
        let themes = catalog.themes_of(sprint.themes.as_deref().unwrap_or_default());
        let stories: Vec<StoryRow> = sprint.stories().iter().map(|st| catalog.story_row(&st.id, sprint)).collect();
        for (story, story_row) in sprint.stories().iter().zip(&stories) {
            let mut tags = base_tags("story", Some(story.status()));
            theme_tags(&mut tags, &themes);
            notes.push(Note {
                path: format!("{}.md", story_row.link.note),
                template: "story.md",
                context: Context::Story(StoryNote {
                    project: info.clone(),
                    tags,
                    story: story_row.clone(),
                    notes: story.notes.clone().unwrap_or_default(),
                    sprint: row.clone(),
                    themes: themes.clone(),
                    details: details(&story.extra),
                    meta: meta(ItemKey::Story(story.id.clone())),
                }),
            });
        }
        let mut tags = base_tags("sprint", Some(sprint.status()));
        theme_tags(&mut tags, &themes);
        notes.push(Note {
            path: format!("{}.md", row.link.note),
            template: "sprint.md",
            context: Context::Sprint(SprintNote {
                project: info.clone(),
                tags,
                file: sprint.file.clone(),
                themes,
                stories,
                details: details(&sprint.extra),
                meta: meta(ItemKey::Sprint(sprint.id.clone())),
                sprint: row,
            }),
        });
    }

    for item in index.backlog() {
        let row = catalog.backlog_row(item);
        let theme = item.theme.as_deref().filter(|t| !t.is_empty()).map(|t| catalog.theme(t));
        let mut tags = base_tags("backlog", Some(item.status()));
        theme_tags(&mut tags, theme.as_slice());
        notes.push(Note {
            path: format!("{}.md", row.link.note),
            template: "backlog.md",
            context: Context::Backlog(BacklogNote {
                project: info.clone(),
                tags,
                theme,
                related_sprints: catalog.mentions(item.related_sprints.as_deref().unwrap_or_default()),
                details: details(&item.extra),
                meta: meta(ItemKey::Backlog(item.id.clone())),
                item: row,
            }),
        });
    }

    for (theme, link) in &catalog.themes {
        let (sprints, stories, backlog) = theme_members(index, &catalog, theme);
        let items = sprints.len() + stories.len() + backlog.len();
        let tag = names::tag(theme);
        let mut tags = base_tags("theme", None);
        tags.push(format!("theme/{tag}"));
        notes.push(Note {
            path: format!("{}.md", link.note),
            template: "theme.md",
            context: Context::Theme(ThemeNote {
                project: info.clone(),
                tags,
                theme: ThemeRow { link: link.clone(), tag, items },
                sprints,
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
            let date = entry.date.clone().unwrap_or_default();
            let summary = entry.summary.clone().unwrap_or_default();
            HistoryRow {
                agent: sidecar.history_agent(&date, &summary).map(str::to_string),
                related_sprints: catalog.mentions(entry.related_sprints.as_deref().unwrap_or_default()),
                date,
                summary,
            }
        })
        .collect();
    notes.push(Note {
        path: format!("{}.md", info.history.note),
        template: "history.md",
        context: Context::History(HistoryNote { project: info.clone(), tags: base_tags("history", None), entries }),
    });

    notes.extend(guidance_notes(&info, guidance, &base_tags("guidance", None)));

    let themes = catalog
        .themes
        .iter()
        .map(|(theme, link)| {
            let (sprints, stories, backlog) = theme_members(index, &catalog, theme);
            ThemeRow {
                link: link.clone(),
                tag: names::tag(theme),
                items: sprints.len() + stories.len() + backlog.len(),
            }
        })
        .collect();
    notes.push(Note {
        path: format!("{}.md", info.dashboard.note),
        template: "project-dashboard.md",
        context: Context::Dashboard(ProjectDashboard {
            project: info.clone(),
            tags: base_tags("dashboard", None),
            active_sprints: active_sprints(index, &catalog),
            sprints: count(index.sprints().iter().map(|s| s.status())),
            stories: count(index.sprints().iter().flat_map(|s| s.stories()).map(|s| s.status())),
            backlog: count(index.backlog().iter().map(|b| b.status())),
            themes,
            agents: agents(sidecar),
        }),
    });
    notes
}

/// The guidance notes: one per document that exists, and the index of all of them.
fn guidance_notes(info: &Arc<ProjectInfo>, docs: &[GuidanceDoc], tags: &[String]) -> Vec<Note> {
    let mut stems = StemAllocator::default();
    stems.allocate("_index");
    let mut notes = Vec::new();
    let (mut foundational, mut repo) = (Vec::new(), Vec::new());
    for doc in docs {
        let body = std::fs::read_to_string(&doc.path).ok();
        let note = body.as_ref().map(|_| format!("{}/{}", info.folders.guidance, stems.allocate(&doc.name)));
        let mention = Mention { id: doc.name.clone(), label: names::label(&doc.name), note: note.clone() };
        if doc.source == "foundational" {
            foundational.push(mention)
        } else {
            repo.push(mention)
        }
        let (Some(body), Some(note)) = (body, note) else { continue };
        let mut tags = tags.to_vec();
        tags.push(format!("guidance/{}", doc.source));
        notes.push(Note {
            path: format!("{note}.md"),
            template: "guidance.md",
            context: Context::Guidance(GuidanceNote {
                project: info.clone(),
                tags,
                name: doc.name.clone(),
                source: doc.source.to_string(),
                body,
            }),
        });
    }
    notes.push(Note {
        path: format!("{}.md", info.guidance_index.note),
        template: "guidance-index.md",
        context: Context::GuidanceIndex(GuidanceIndexNote {
            project: info.clone(),
            tags: tags.to_vec(),
            foundational,
            repo,
        }),
    });
    notes
}

fn project_info(name: &str, entry: &ProjectEntry) -> ProjectInfo {
    let root = project_folder(name);
    let link = |note: String, label: &str| Ref { id: name.to_string(), note, label: names::label(label) };
    ProjectInfo {
        name: name.to_string(),
        description: entry.description.clone().unwrap_or_default(),
        repo: entry.repo.clone().unwrap_or_default(),
        tag: names::tag(name),
        dashboard: link(format!("{root}/Dashboard"), name),
        history: link(format!("{root}/History"), &format!("{name} history")),
        guidance_index: link(format!("{root}/Guidance/_index"), &format!("{name} guidance")),
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

/// The notes every item of a project gets, decided once so that links and files agree.
struct Catalog {
    sprints: HashMap<String, Ref>,
    stories: HashMap<String, Ref>,
    backlog: HashMap<String, Ref>,
    themes: BTreeMap<String, Ref>,
}

impl Catalog {
    fn new(info: &ProjectInfo, index: &WorkIndex) -> Catalog {
        let folders = &info.folders;
        let mut catalog = Catalog {
            sprints: HashMap::new(),
            stories: HashMap::new(),
            backlog: HashMap::new(),
            themes: BTreeMap::new(),
        };
        let (mut sprint_stems, mut story_stems, mut backlog_stems) =
            (StemAllocator::default(), StemAllocator::default(), StemAllocator::default());
        let mut themes: Vec<&str> = Vec::new();
        for sprint in index.sprints() {
            catalog
                .sprints
                .entry(sprint.id.clone())
                .or_insert_with(|| make_ref(&folders.sprints, &mut sprint_stems, &sprint.id));
            for story in sprint.stories() {
                catalog
                    .stories
                    .entry(story.id.clone())
                    .or_insert_with(|| make_ref(&folders.stories, &mut story_stems, &story.id));
            }
            themes.extend(sprint.themes.as_deref().unwrap_or_default().iter().map(String::as_str));
        }
        for item in index.backlog() {
            catalog
                .backlog
                .entry(item.id.clone())
                .or_insert_with(|| make_ref(&folders.backlog, &mut backlog_stems, &item.id));
            themes.extend(item.theme.as_deref());
        }
        let mut theme_stems = StemAllocator::default();
        themes.retain(|t| !t.is_empty());
        themes.sort_unstable();
        themes.dedup();
        for theme in themes {
            catalog.themes.insert(theme.to_string(), make_ref(&folders.themes, &mut theme_stems, theme));
        }
        catalog
    }

    fn sprint_ref(&self, id: &str) -> Ref {
        self.sprints[id].clone()
    }

    fn theme(&self, theme: &str) -> Ref {
        self.themes[theme].clone()
    }

    fn themes_of(&self, themes: &[String]) -> Vec<Ref> {
        themes.iter().filter(|t| !t.is_empty()).map(|t| self.theme(t)).collect()
    }

    fn sprint_row(&self, sprint: &Sprint) -> SprintRow {
        let stories = sprint.stories();
        SprintRow {
            link: self.sprint_ref(&sprint.id),
            title: sprint.title.clone().unwrap_or_else(|| sprint.id.clone()),
            status: sprint.status().to_string(),
            goal: sprint.goal.clone().unwrap_or_default(),
            stories_done: stories.iter().filter(|s| s.status() == "done").count(),
            stories_total: stories.len(),
        }
    }

    fn story_row(&self, id: &str, sprint: &Sprint) -> StoryRow {
        let story = sprint.stories().iter().find(|s| s.id == id);
        StoryRow {
            link: self.stories[id].clone(),
            status: story.map(|s| s.status().to_string()).unwrap_or_default(),
            summary: first_line(story.and_then(|s| s.notes.as_deref()).unwrap_or_default()),
            sprint: self.sprint_ref(&sprint.id),
        }
    }

    fn backlog_row(&self, item: &crate::store::model::BacklogItem) -> BacklogRow {
        BacklogRow {
            link: self.backlog[&item.id].clone(),
            status: item.status().to_string(),
            summary: item.summary.clone().unwrap_or_default(),
        }
    }

    /// Sprint ids as links where the sprint exists, as plain text where it does not.
    fn mentions(&self, ids: &[String]) -> Vec<Mention> {
        ids.iter()
            .map(|id| Mention {
                id: id.clone(),
                label: names::label(id),
                note: self.sprints.get(id).map(|r| r.note.clone()),
            })
            .collect()
    }
}

/// What a theme hub lists: the sprints with the theme, their stories, and the backlog
/// items of the theme.
fn theme_members(
    index: &WorkIndex,
    catalog: &Catalog,
    theme: &str,
) -> (Vec<SprintRow>, Vec<StoryRow>, Vec<BacklogRow>) {
    let sprints: Vec<&Sprint> =
        index.sprints().iter().filter(|s| s.themes.as_deref().unwrap_or_default().iter().any(|t| t == theme)).collect();
    let stories = sprints.iter().flat_map(|s| s.stories().iter().map(|st| catalog.story_row(&st.id, s))).collect();
    let backlog =
        index.backlog().iter().filter(|b| b.theme.as_deref() == Some(theme)).map(|b| catalog.backlog_row(b)).collect();
    (sprints.into_iter().map(|s| catalog.sprint_row(s)).collect(), stories, backlog)
}

fn make_ref(folder: &str, stems: &mut StemAllocator, id: &str) -> Ref {
    Ref { id: id.to_string(), note: format!("{folder}/{}", stems.allocate(id)), label: names::label(id) }
}

fn active_sprints(index: &WorkIndex, catalog: &Catalog) -> Vec<SprintRow> {
    index.sprints().iter().filter(|s| s.status() == "active").map(|s| catalog.sprint_row(s)).collect()
}

fn count<'a>(statuses: impl Iterator<Item = &'a str>) -> Counts {
    let mut counts = Counts::new();
    for status in statuses {
        *counts.entry(if status.is_empty() { "unset".to_string() } else { status.to_string() }).or_default() += 1;
    }
    counts
}

fn meta_of(meta: &ItemMeta) -> Meta {
    Meta {
        rev: meta.rev,
        created: meta.created_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        created_by: meta.created_by.clone(),
        updated: meta.updated_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        updated_by: meta.updated_by.clone(),
        priority: meta.priority,
    }
}

fn agents(sidecar: &Sidecar) -> Vec<AgentActivity> {
    let mut agents: BTreeMap<&str, (usize, chrono::DateTime<chrono::Utc>)> = BTreeMap::new();
    for meta in sidecar.items.values() {
        let entry = agents.entry(&meta.updated_by).or_insert((0, meta.updated_at));
        entry.0 += 1;
        entry.1 = entry.1.max(meta.updated_at);
    }
    agents
        .into_iter()
        .map(|(agent, (items, at))| AgentActivity {
            agent: agent.to_string(),
            items,
            last_change: at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })
        .collect()
}

/// Keys the Python schema does not know, shown as-is (scalars only) so nothing is hidden.
fn details(extra: &serde_yaml_ng::Mapping) -> Vec<(String, String)> {
    extra
        .iter()
        .filter_map(|(k, v)| {
            let key = k.as_str()?.to_string();
            let value = match v {
                Yaml::String(s) => s.clone(),
                Yaml::Number(n) => n.to_string(),
                Yaml::Bool(b) => b.to_string(),
                _ => serde_yaml_ng::to_string(v).ok()?.trim_end().to_string(),
            };
            Some((key, value))
        })
        .collect()
}

/// The first line of `text`, cut to 80 characters with an ellipsis.
fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.chars().count() > 80 {
        format!("{}…", line.chars().take(79).collect::<String>().trim_end())
    } else {
        line.to_string()
    }
}
