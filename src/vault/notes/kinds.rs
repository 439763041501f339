//! One builder per kind of project note (story, sprint, backlog item, theme hub, history,
//! guidance, dashboard), and the rows they share, from a project's [`Catalog`].
//!
//! [`Catalog::notes`] calls them in a fixed order: the generator keeps the first of two
//! notes that map to one path, and that order decides which.

use std::borrow::Cow;
use std::collections::HashMap;

use super::{Catalog, agents, count, details};
use crate::store::model::{BacklogItem, Sprint, Story, WorkIndex};
use crate::store::sidecar::{ItemMeta, Sidecar};
use crate::vault::context::*;
use crate::vault::names;

/// The sidecar's metadata by kind and id, looked up without building a storage key per item.
struct MetaIndex<'a>(HashMap<(&'a str, &'a str), &'a ItemMeta>);

impl<'a> MetaIndex<'a> {
    fn of(sidecar: &'a Sidecar) -> MetaIndex<'a> {
        let mut by_key = HashMap::with_capacity(sidecar.items.len());
        for (key, meta) in &sidecar.items {
            if let Some((kind, id)) = key.split_once('/') {
                by_key.insert((kind, id), meta.as_ref());
            }
        }
        MetaIndex(by_key)
    }

    fn get(&self, kind: &str, id: &str) -> Option<Meta<'a>> {
        self.0.get(&(kind, id)).map(|meta| Meta(meta))
    }

    /// The storage keys the item depends on (none without metadata).
    fn depends_on(&self, kind: &str, id: &str) -> &'a [String] {
        self.0.get(&(kind, id)).map(|meta| meta.depends_on.as_slice()).unwrap_or_default()
    }
}

impl Catalog {
    /// Every note of the project, in a stable order.
    pub fn notes<'a>(&'a self, index: &'a WorkIndex, sidecar: &'a Sidecar) -> Vec<Note<'a>> {
        let meta = MetaIndex::of(sidecar);
        let mut notes = Vec::with_capacity(index.backlog().len() + 64);
        for sprint in index.sprints() {
            let themes = self.themes_of(sprint.themes.as_deref().unwrap_or_default());
            for (story, row) in sprint.stories().iter().zip(self.story_rows(sprint)) {
                notes.push(self.story_note(index, sprint, story, row, &themes, &meta));
            }
            notes.push(self.sprint_note(sprint, themes, &meta));
        }
        notes.extend(index.backlog().iter().map(|item| self.backlog_note(index, item, &meta)));
        let mut theme_rows = Vec::with_capacity(self.themes.len());
        for (theme, (hub, tag)) in &self.themes {
            let (note, row) = self.theme_note(index, theme, hub, tag);
            notes.push(note);
            theme_rows.push(row);
        }
        notes.push(self.history_note(index, sidecar));
        self.guidance_notes(&mut notes);
        notes.push(self.dashboard_note(index, sidecar, theme_rows));
        notes
    }

    /// A note of this project.
    fn note<'a>(&'a self, path: &'a str, template: &'static str, context: Context<'a>) -> Note<'a> {
        Note { path: Cow::Borrowed(path), project: Some(&self.info), template, context }
    }

    /// `Stories/<id>.md`.
    fn story_note<'a>(
        &'a self,
        index: &'a WorkIndex,
        sprint: &'a Sprint,
        story: &'a Story,
        row: StoryRow<'a>,
        themes: &[&'a Ref],
        meta: &MetaIndex<'a>,
    ) -> Note<'a> {
        let path = &row.link.file;
        self.note(
            path,
            "story.md",
            Context::Story(StoryNote {
                tags: self.theme_tags("story", story.status(), themes),
                story: row,
                sprint: self.sprint_row(sprint),
                themes: themes.to_vec(),
                depends_on: self.dependencies(index, meta.depends_on("story", &story.id)),
                details: details(&story.extra),
                meta: meta.get("story", &story.id),
            }),
        )
    }

    /// `Sprints/<id>.md`.
    fn sprint_note<'a>(&'a self, sprint: &'a Sprint, themes: Vec<&'a Ref>, meta: &MetaIndex<'a>) -> Note<'a> {
        self.note(
            &self.sprints[&sprint.id].file,
            "sprint.md",
            Context::Sprint(SprintNote {
                tags: self.theme_tags("sprint", sprint.status(), &themes),
                sprint: self.sprint_row(sprint),
                file: sprint.file.as_deref(),
                themes,
                stories: self.story_rows(sprint).collect(),
                details: details(&sprint.extra),
                meta: meta.get("sprint", &sprint.id),
            }),
        )
    }

    /// `Backlog/<id>.md`.
    fn backlog_note<'a>(&'a self, index: &'a WorkIndex, item: &'a BacklogItem, meta: &MetaIndex<'a>) -> Note<'a> {
        let theme = item.theme.as_deref().filter(|t| !t.is_empty()).map(|t| &self.themes[t].0);
        self.note(
            &self.backlog[&item.id].file,
            "backlog.md",
            Context::Backlog(BacklogNote {
                tags: self.theme_tags("backlog", item.status(), theme.as_slice()),
                item: self.backlog_row(item),
                theme,
                related_sprints: self.mentions(item.related_sprints.as_deref().unwrap_or_default()),
                depends_on: self.dependencies(index, meta.depends_on("backlog", &item.id)),
                details: details(&item.extra),
                meta: meta.get("backlog", &item.id),
            }),
        )
    }

    /// `Themes/<theme>.md`, the hub of everything with the theme, and the theme's row on the
    /// dashboard.
    fn theme_note<'a>(
        &'a self,
        index: &'a WorkIndex,
        theme: &'a String,
        hub: &'a Ref,
        tag: &'a str,
    ) -> (Note<'a>, ThemeRow<'a>) {
        let sprints: Vec<&Sprint> = index
            .sprints()
            .iter()
            .filter(|s| s.themes.as_deref().unwrap_or_default().contains(theme))
            .map(|s| s.as_ref())
            .collect();
        let stories: Vec<StoryRow> = sprints.iter().flat_map(|s| self.story_rows(s)).collect();
        let backlog: Vec<BacklogRow> =
            index.backlog().iter().filter(|b| b.theme.as_deref() == Some(theme)).map(|b| self.backlog_row(b)).collect();
        let items = sprints.len() + stories.len() + backlog.len();
        let mut tags = self.tags("theme", None);
        tags.themes.push(tag);
        let note = self.note(
            &hub.file,
            "theme.md",
            Context::Theme(ThemeNote {
                tags,
                theme: ThemeRow::new(hub, tag, items),
                sprints: sprints.into_iter().map(|s| self.sprint_row(s)).collect(),
                stories,
                backlog,
            }),
        );
        (note, ThemeRow::new(hub, tag, items))
    }

    /// `History.md`, newest first, each entry with the agent who added it.
    fn history_note<'a>(&'a self, index: &'a WorkIndex, sidecar: &'a Sidecar) -> Note<'a> {
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
        let context = Context::History(HistoryNote { tags: self.tags("history", None), entries });
        self.note(&self.info.history.file, "history.md", context)
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
            let context =
                Context::Guidance(GuidanceNote { tags, name: &doc.name, source: doc.source, body: body.clone() });
            notes.push(self.note(&note.file, "guidance.md", context));
        }
        let tags = self.tags("guidance", None);
        let context = Context::GuidanceIndex(GuidanceIndexNote { tags, foundational, repo });
        notes.push(self.note(&self.info.guidance_index.file, "guidance-index.md", context));
    }

    /// `Dashboard.md`: active sprints, counts by status, theme hubs and agents' activity.
    fn dashboard_note<'a>(&'a self, index: &'a WorkIndex, sidecar: &'a Sidecar, themes: Vec<ThemeRow<'a>>) -> Note<'a> {
        let context = Context::Dashboard(ProjectDashboard {
            tags: self.tags("dashboard", None),
            active_sprints: self.active_sprints(index),
            sprints: count(index.sprints().iter().map(|s| s.status())),
            stories: count(index.sprints().iter().flat_map(|s| s.stories()).map(|s| s.status())),
            backlog: count(index.backlog().iter().map(|b| b.status())),
            themes,
            agents: agents(sidecar),
        });
        self.note(&self.info.dashboard.file, "project-dashboard.md", context)
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
    /// What an item depends on (sidecar storage keys), each linked to its note with its
    /// status now.
    fn dependencies<'a>(&'a self, index: &'a WorkIndex, keys: &'a [String]) -> Vec<Dependency<'a>> {
        keys.iter()
            .map(|key| {
                let (kind, id) = key.split_once('/').unwrap_or(("", key));
                let (found, status) = match kind {
                    "story" => (
                        self.stories.get(id),
                        index.sprints().iter().flat_map(|s| s.stories()).find(|st| st.id == id).map(|st| st.status()),
                    ),
                    _ => (self.backlog.get(id), index.backlog_item(id).map(|b| b.status())),
                };
                match found {
                    Some(link) => Dependency { id, label: &link.label, note: Some(&link.note), status },
                    None => Dependency { id, label: id, note: None, status: None },
                }
            })
            .collect()
    }

    fn mentions<'a>(&'a self, ids: &'a [String]) -> Vec<Mention<'a>> {
        ids.iter()
            .map(|id| match self.sprints.get(id) {
                Some(sprint) => Mention { id, label: Cow::Borrowed(&sprint.label), note: Some(&sprint.note) },
                None => Mention { id, label: Cow::Owned(names::label(id)), note: None },
            })
            .collect()
    }

    pub(super) fn active_sprints<'a>(&'a self, index: &'a WorkIndex) -> Vec<SprintRow<'a>> {
        index.sprints().iter().filter(|s| s.status() == "active").map(|s| self.sprint_row(s)).collect()
    }
}
