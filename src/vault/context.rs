//! The data each template gets: one type per kind of note, serialized for minijinja and
//! hashed to tell whether a note changed.
//!
//! These types borrow from the model and from the project's catalog instead of copying:
//! the generator builds them for every note on every run (to see which changed), so at
//! 10,000 items an allocation per field is what a run would cost. Fields are what the
//! templates in `templates/` use; each template lists its variables at the top.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::ser::{SerializeSeq, SerializeStruct, Serializer};

use super::names::{self, TagText};
use crate::store::sidecar::ItemMeta;

/// Vault path of the dashboard across all projects.
pub const GLOBAL_DASHBOARD: &str = "Global Dashboard.md";

/// One note to generate.
#[derive(Debug)]
pub struct Note<'a> {
    /// Path inside the vault, `/`-separated.
    pub path: Cow<'a, str>,
    /// The project the note belongs to (`project` in its template), if any.
    pub project: Option<&'a ProjectInfo>,
    /// Name of the template that renders it.
    pub template: &'static str,
    pub context: Context<'a>,
    /// For the note of a story, a backlog item or a theme: the hash of everything it is
    /// built from, computed by its builder; other notes' contexts are hashed whole.
    pub input: Option<u128>,
}

/// The data a template renders; each variant is one kind of note.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Context<'a> {
    Global(GlobalDashboard<'a>),
    Dashboard(ProjectDashboard<'a>),
    Sprint(SprintNote<'a>),
    Story(StoryNote<'a>),
    Backlog(BacklogNote<'a>),
    Theme(ThemeNote<'a>),
    History(HistoryNote<'a>),
    Guidance(GuidanceNote<'a>),
    GuidanceIndex(GuidanceIndexNote<'a>),
    /// An Obsidian Bases file (`Board.base`): its template needs only `project`, if any.
    Base(BaseFile),
}

/// Vault path of the Bases file across all projects.
pub const GLOBAL_BASE: &str = "Board.base";

/// A `.base` file: views over the notes' frontmatter (see `templates/*.base`).
#[derive(Debug, Serialize)]
pub struct BaseFile {
    /// Every folder a project's notes are in (the global base's `file.inFolder` filters).
    pub folders: Vec<String>,
}

/// A note something links to: its id as written in the YAML, its vault path without `.md`
/// (the link target) and the text links show.
#[derive(Debug, Clone, Serialize)]
pub struct Ref {
    pub id: String,
    pub note: String,
    pub label: String,
    /// The note's file, `note` + `.md`.
    #[serde(skip)]
    pub file: String,
}

impl Ref {
    pub(super) fn new(id: &str, note: String, label: &str) -> Ref {
        Ref { id: id.to_string(), file: format!("{note}.md"), note, label: names::label(label) }
    }
}

/// A mention that may or may not have a note (a related sprint that does not exist).
#[derive(Debug, Serialize)]
pub struct Mention<'a> {
    pub id: &'a str,
    pub label: Cow<'a, str>,
    pub note: Option<&'a str>,
}

/// An item a story or backlog item depends on: its link and whether it is done yet (a
/// dependency on an item that is gone shows as plain text, with no status).
#[derive(Debug, Serialize)]
pub struct Dependency<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub note: Option<&'a str>,
    pub status: Option<&'a str>,
}

/// An item's place in the work, which people and Bases views filter on.
#[derive(Debug, Serialize)]
pub struct Work<'a> {
    /// The item's revision (1 for an item the server never changed).
    pub rev: u64,
    /// Backlog items: the priority `next` orders by (1 highest; unset counts as 3).
    pub priority: Option<u8>,
    pub claim: Option<ClaimView<'a>>,
    /// Something it depends on exists and is not done yet.
    pub blocked: bool,
    /// `next` can hand it out once nobody holds it: a planned story of an active sprint
    /// or a todo backlog item, not blocked.
    pub ready: bool,
    /// Why a status or priority a person set in this note from Obsidian was not applied.
    pub refused: Option<&'a str>,
}

/// Who holds an item, since when and until when (the lease may have run out since the note
/// was written: notes do not follow the clock).
#[derive(Debug, Serialize)]
pub struct ClaimView<'a> {
    pub agent: &'a str,
    pub since: Time,
    pub until: Time,
}

/// A story or backlog item in a dashboard list.
#[derive(Debug, Serialize)]
pub struct WorkRow<'a> {
    pub id: &'a str,
    /// Its note, when the list can link to it.
    pub note: Option<&'a str>,
    pub label: &'a str,
    /// `story` or `backlog`.
    pub kind: &'static str,
    pub title: Cow<'a, str>,
    pub status: &'a str,
    /// Who holds it (as recorded: the lease may have run out since).
    pub holder: Option<&'a str>,
    /// Who holds it, else who changed it last.
    pub agent: Option<&'a str>,
    /// Since when it is held, else when it last changed.
    pub at: Option<Time>,
    pub priority: Option<u8>,
    /// The project, on the global dashboard.
    pub project: Option<&'a Ref>,
    /// For a blocked item: what it waits for.
    pub waiting_on: Vec<Dependency<'a>>,
}

/// The first rows of a list, and how long the whole list is.
#[derive(Debug, Serialize)]
pub struct Listed<T> {
    pub rows: Vec<T>,
    pub total: usize,
}

impl<T> Listed<T> {
    /// The first `cap` of `all`.
    pub fn first(all: impl IntoIterator<Item = T>, cap: usize) -> Listed<T> {
        let mut total = 0;
        let mut rows = Vec::new();
        for row in all {
            if total < cap {
                rows.push(row);
            }
            total += 1;
        }
        Listed { rows, total }
    }

    /// The first `cap` of the rows `all` names, building only those (`row`).
    pub fn first_of<K>(all: impl IntoIterator<Item = K>, cap: usize, mut row: impl FnMut(K) -> T) -> Listed<T> {
        let mut total = 0;
        let mut rows = Vec::new();
        for key in all {
            if total < cap {
                rows.push(row(key));
            }
            total += 1;
        }
        Listed { rows, total }
    }
}

/// The stories in one status.
#[derive(Debug, Serialize)]
pub struct StatusGroup<'a> {
    pub status: &'a str,
    pub stories: Listed<WorkRow<'a>>,
}

/// The backlog items of one theme, counted by status.
#[derive(Debug, Serialize)]
pub struct ThemeCounts<'a> {
    /// The theme's hub; none for items without a theme.
    pub theme: Option<&'a Ref>,
    pub counts: Counts<'a>,
    pub total: usize,
}

/// A Mermaid picture and how many items it shows of how many.
#[derive(Debug, Serialize)]
pub struct Picture {
    pub mermaid: String,
    pub shown: usize,
    pub total: usize,
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
    /// The project's Bases file (`Board.base`).
    pub board: Ref,
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

/// A sprint as notes show it.
#[derive(Debug, Serialize)]
pub struct SprintRow<'a> {
    /// The note, whose `id`, `note` and `label` are copied beside it (serde's `flatten`
    /// would cost a map serialization per row).
    #[serde(skip)]
    pub link: &'a Ref,
    pub id: &'a str,
    pub note: &'a str,
    pub label: &'a str,
    pub title: &'a str,
    pub status: &'a str,
    pub goal: &'a str,
    pub stories_done: usize,
    pub stories_total: usize,
}

/// A story as notes show it (`notes` in full; templates shorten it with `oneline`).
#[derive(Debug, Serialize)]
pub struct StoryRow<'a> {
    /// The note, whose `id`, `note` and `label` are copied beside it (serde's `flatten`
    /// would cost a map serialization per row).
    #[serde(skip)]
    pub link: &'a Ref,
    pub id: &'a str,
    pub note: &'a str,
    pub label: &'a str,
    pub status: &'a str,
    pub notes: &'a str,
    pub sprint: &'a Ref,
}

/// A backlog item as notes show it.
#[derive(Debug, Serialize)]
pub struct BacklogRow<'a> {
    /// The note, whose `id`, `note` and `label` are copied beside it (serde's `flatten`
    /// would cost a map serialization per row).
    #[serde(skip)]
    pub link: &'a Ref,
    pub id: &'a str,
    pub note: &'a str,
    pub label: &'a str,
    pub status: &'a str,
    pub summary: &'a str,
}

/// A theme hub as the dashboard lists it.
#[derive(Debug, Serialize)]
pub struct ThemeRow<'a> {
    /// The note, whose `id`, `note` and `label` are copied beside it (serde's `flatten`
    /// would cost a map serialization per row).
    #[serde(skip)]
    pub link: &'a Ref,
    pub id: &'a str,
    pub note: &'a str,
    pub label: &'a str,
    pub tag: &'a str,
    pub items: usize,
}

impl<'a> ThemeRow<'a> {
    pub(super) fn new(link: &'a Ref, tag: &'a str, items: usize) -> ThemeRow<'a> {
        ThemeRow { link, id: &link.id, note: &link.note, label: &link.label, tag, items }
    }
}

/// Counts per status of one kind of item, in a stable order.
pub type Counts<'a> = BTreeMap<&'a str, usize>;

/// An item's `tags:` list (`project/…`, `type/…`, `status/…`, `theme/…`), formatted while
/// it is serialized.
#[derive(Debug)]
pub struct Tags<'a> {
    pub project: &'a str,
    pub kind: &'static str,
    pub status: Option<&'a str>,
    pub themes: Vec<&'a str>,
    pub extra: Option<&'static str>,
}

impl Serialize for Tags<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(None)?;
        seq.serialize_element(&Formatted(format_args!("project/{}", self.project)))?;
        seq.serialize_element(&Formatted(format_args!("type/{}", self.kind)))?;
        if let Some(status) = self.status.filter(|s| !s.is_empty()) {
            seq.serialize_element(&Formatted(format_args!("status/{}", TagText(status))))?;
        }
        for theme in &self.themes {
            seq.serialize_element(&Formatted(format_args!("theme/{theme}")))?;
        }
        if let Some(extra) = self.extra {
            seq.serialize_element(extra)?;
        }
        seq.end()
    }
}

/// Serializes as the string its arguments format to, without an intermediate `String`.
struct Formatted<'a>(std::fmt::Arguments<'a>);

impl Serialize for Formatted<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// Who created and last changed an item, and when (from `.worksync/state.json`).
#[derive(Debug)]
pub struct Meta<'a>(pub &'a ItemMeta);

impl Serialize for Meta<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let meta = self.0;
        let mut s = serializer.serialize_struct("Meta", 6)?;
        s.serialize_field("rev", &meta.rev)?;
        s.serialize_field("created", &meta.created_at.map(Time))?;
        s.serialize_field("created_by", &meta.created_by)?;
        s.serialize_field("updated", &Time(meta.updated_at))?;
        s.serialize_field("updated_by", &meta.updated_by)?;
        s.serialize_field("priority", &meta.priority)?;
        s.end()
    }
}

/// A time as notes show it: `2026-11-21T10:15:00Z`, which Dataview reads as a date.
#[derive(Debug, Clone, Copy)]
pub struct Time(pub DateTime<Utc>);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0.format("%Y-%m-%dT%H:%M:%SZ"))
    }
}

/// `Global Dashboard.md`.
#[derive(Debug, Serialize)]
pub struct GlobalDashboard<'a> {
    pub projects: Vec<ProjectSummary<'a>>,
    pub work: GlobalWork<'a>,
}

/// One project on the global dashboard.
#[derive(Debug, Serialize)]
pub struct ProjectSummary<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub dashboard: &'a Ref,
    pub folder: &'a str,
    /// Why the project has no current notes (its file is broken or missing), if so.
    pub problem: Option<String>,
    pub active_sprints: Vec<SprintRow<'a>>,
    pub stories: Counts<'a>,
    pub backlog: Counts<'a>,
    pub ready: usize,
    pub blocked: usize,
}

/// `Global Dashboard.md`'s list of work in progress, across projects.
#[derive(Debug, Serialize)]
pub struct GlobalWork<'a> {
    pub in_progress: Listed<WorkRow<'a>>,
}

/// `projects/<name>/Dashboard.md`.
#[derive(Debug, Serialize)]
pub struct ProjectDashboard<'a> {
    pub tags: Tags<'a>,
    pub active_sprints: Vec<SprintRow<'a>>,
    pub sprints: Counts<'a>,
    pub stories: Counts<'a>,
    pub backlog: Counts<'a>,
    pub in_progress: Listed<WorkRow<'a>>,
    pub ready: Listed<WorkRow<'a>>,
    pub blocked: Listed<WorkRow<'a>>,
    pub stories_by_status: Vec<StatusGroup<'a>>,
    pub backlog_by_theme: Vec<ThemeCounts<'a>>,
    pub recently_done: Listed<WorkRow<'a>>,
    /// What waits for what among the open work.
    pub graph: Option<Picture>,
    pub themes: Vec<ThemeRow<'a>>,
    pub agents: Vec<AgentActivity<'a>>,
}

/// What one agent last did in a project.
#[derive(Debug, Serialize)]
pub struct AgentActivity<'a> {
    pub agent: &'a str,
    pub items: usize,
    pub last_change: Time,
    /// Claims it holds (as recorded; a lease may have run out since).
    pub holding: usize,
}

/// `projects/<name>/Sprints/<id>.md`.
#[derive(Debug, Serialize)]
pub struct SprintNote<'a> {
    pub tags: Tags<'a>,
    pub sprint: SprintRow<'a>,
    pub doc: Option<SprintDoc<'a>>,
    pub themes: Vec<&'a Ref>,
    pub stories: Vec<StoryRow<'a>>,
    /// Stories by status, as a pie.
    pub pie: Option<String>,
    /// What waits for what among its stories (and what they wait for elsewhere).
    pub graph: Option<Picture>,
    pub details: Vec<(&'a str, Cow<'a, str>)>,
    pub meta: Option<Meta<'a>>,
}

/// The sprint document a sprint names (`file:`), and whether the repository has it.
#[derive(Debug, Serialize)]
pub struct SprintDoc<'a> {
    pub path: &'a str,
    /// Where it was looked for; none when the project names no repository.
    pub looked_in: Option<String>,
    pub found: bool,
}

/// `projects/<name>/Stories/<id>.md`.
#[derive(Debug, Serialize)]
pub struct StoryNote<'a> {
    pub tags: Tags<'a>,
    pub story: StoryRow<'a>,
    pub sprint: SprintRow<'a>,
    pub themes: Vec<&'a Ref>,
    pub depends_on: Vec<Dependency<'a>>,
    pub work: Work<'a>,
    pub details: Vec<(&'a str, Cow<'a, str>)>,
    pub meta: Option<Meta<'a>>,
}

/// `projects/<name>/Backlog/<id>.md`.
#[derive(Debug, Serialize)]
pub struct BacklogNote<'a> {
    pub tags: Tags<'a>,
    pub item: BacklogRow<'a>,
    pub theme: Option<&'a Ref>,
    pub related_sprints: Vec<Mention<'a>>,
    pub depends_on: Vec<Dependency<'a>>,
    pub work: Work<'a>,
    pub details: Vec<(&'a str, Cow<'a, str>)>,
    pub meta: Option<Meta<'a>>,
}

/// `projects/<name>/Themes/<theme>.md`: the hub that clusters a theme's work in the graph.
#[derive(Debug, Serialize)]
pub struct ThemeNote<'a> {
    pub tags: Tags<'a>,
    pub theme: ThemeRow<'a>,
    pub sprints: Vec<SprintRow<'a>>,
    pub stories: Vec<StoryRow<'a>>,
    pub backlog: Vec<BacklogRow<'a>>,
}

/// `projects/<name>/History.md`, newest first.
#[derive(Debug, Serialize)]
pub struct HistoryNote<'a> {
    pub tags: Tags<'a>,
    pub entries: Vec<HistoryRow<'a>>,
}

/// One history entry.
#[derive(Debug, Serialize)]
pub struct HistoryRow<'a> {
    pub date: &'a str,
    pub summary: &'a str,
    pub agent: Option<&'a str>,
    pub related_sprints: Vec<Mention<'a>>,
}

/// `projects/<name>/Guidance/<name>.md`: one merged guidance document.
#[derive(Debug, Serialize)]
pub struct GuidanceNote<'a> {
    pub tags: Tags<'a>,
    pub name: &'a str,
    pub source: &'a str,
    pub body: String,
}

/// `projects/<name>/Guidance/_index.md`.
#[derive(Debug, Serialize)]
pub struct GuidanceIndexNote<'a> {
    pub tags: Tags<'a>,
    pub foundational: Vec<Mention<'a>>,
    pub repo: Vec<Mention<'a>>,
}
