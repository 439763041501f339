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
}

/// `projects/<name>/Dashboard.md`.
#[derive(Debug, Serialize)]
pub struct ProjectDashboard<'a> {
    pub tags: Tags<'a>,
    pub active_sprints: Vec<SprintRow<'a>>,
    pub sprints: Counts<'a>,
    pub stories: Counts<'a>,
    pub backlog: Counts<'a>,
    pub themes: Vec<ThemeRow<'a>>,
    pub agents: Vec<AgentActivity<'a>>,
}

/// What one agent last did in a project.
#[derive(Debug, Serialize)]
pub struct AgentActivity<'a> {
    pub agent: &'a str,
    pub items: usize,
    pub last_change: Time,
}

/// `projects/<name>/Sprints/<id>.md`.
#[derive(Debug, Serialize)]
pub struct SprintNote<'a> {
    pub tags: Tags<'a>,
    pub sprint: SprintRow<'a>,
    pub file: Option<&'a str>,
    pub themes: Vec<&'a Ref>,
    pub stories: Vec<StoryRow<'a>>,
    pub details: Vec<(&'a str, Cow<'a, str>)>,
    pub meta: Option<Meta<'a>>,
}

/// `projects/<name>/Stories/<id>.md`.
#[derive(Debug, Serialize)]
pub struct StoryNote<'a> {
    pub tags: Tags<'a>,
    pub story: StoryRow<'a>,
    pub sprint: SprintRow<'a>,
    pub themes: Vec<&'a Ref>,
    pub depends_on: Vec<Dependency<'a>>,
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
