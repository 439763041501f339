//! One builder per kind of project note (story, sprint, backlog item, theme hub, history,
//! guidance, dashboard), and the rows they share, from a project's [`Catalog`].
//!
//! [`Catalog::notes`] calls them in a fixed order: the generator keeps the first of two
//! notes that map to one path, and that order decides which.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};

use super::{Catalog, FastMap, agents, count, details};
use crate::store::coordination::dependencies;
use crate::store::model::{BacklogItem, Sprint, Story, WorkIndex};
use crate::store::sidecar::{Claim, ItemMeta, Sidecar};
use crate::vault::context::*;
use crate::vault::names;
use crate::vault::pictures::{self, Node};

/// Most rows a dashboard list shows (the Bases views show all).
const LISTED: usize = 25;
/// Most links a "stories by status" group shows.
const PER_STATUS: usize = 20;
/// Recently done items a dashboard shows.
const RECENT: usize = 15;
/// Longest title shown for an item (characters).
pub const TITLE_CHARS: usize = 60;

/// Every story and backlog item of a project by storage key (`story/STORY-1`), with what
/// notes say about it: built once per run, so that looking up a dependency's status costs a
/// hash lookup, not a scan of the work index.
pub(super) struct Items<'a> {
    /// In file order: stories sprint by sprint, then the backlog (the first of two with
    /// one id).
    entries: Vec<Entry<'a>>,
    /// Positions in `entries` by id, one map per kind (no storage key is built per item).
    stories: FastMap<&'a str, usize>,
    backlog: FastMap<&'a str, usize>,
}

/// One item of [`Items`].
pub(super) struct Entry<'a> {
    pub kind: &'static str,
    pub id: &'a str,
    pub status: &'a str,
    /// The story's notes or the item's summary.
    pub text: &'a str,
    /// The story's sprint.
    pub sprint: Option<&'a Sprint>,
}

impl Entry<'_> {
    /// `story/STORY-1`, `backlog/ci-cache`.
    fn storage_key(&self) -> String {
        format!("{}/{}", self.kind, self.id)
    }
}

impl<'a> Items<'a> {
    pub(super) fn of(index: &'a WorkIndex) -> Items<'a> {
        let count = index.backlog().len() + index.sprints().iter().map(|s| s.stories().len()).sum::<usize>();
        let mut items = Items {
            entries: Vec::with_capacity(count),
            stories: FastMap::default(),
            backlog: FastMap::with_capacity_and_hasher(index.backlog().len(), Default::default()),
        };
        for sprint in index.sprints() {
            for story in sprint.stories() {
                let entry = Entry {
                    kind: "story",
                    id: &story.id,
                    status: story.status(),
                    text: story.notes.as_deref().unwrap_or_default(),
                    sprint: Some(sprint),
                };
                items.insert(entry);
            }
        }
        for item in index.backlog() {
            let entry = Entry {
                kind: "backlog",
                id: &item.id,
                status: item.status(),
                text: item.summary.as_deref().unwrap_or_default(),
                sprint: None,
            };
            items.insert(entry);
        }
        items
    }

    fn insert(&mut self, entry: Entry<'a>) {
        let (kind, id) = (entry.kind, entry.id);
        let map = if kind == "story" { &mut self.stories } else { &mut self.backlog };
        if let std::collections::hash_map::Entry::Vacant(slot) = map.entry(id) {
            slot.insert(self.entries.len());
            self.entries.push(entry);
        }
    }

    /// The item of a storage key.
    pub(super) fn get(&self, key: &str) -> Option<&Entry<'a>> {
        let (kind, id) = key.split_once('/')?;
        self.entry(kind, id)
    }

    fn entry(&self, kind: &str, id: &str) -> Option<&Entry<'a>> {
        let position = match kind {
            "story" => self.stories.get(id),
            "backlog" => self.backlog.get(id),
            _ => None,
        };
        position.map(|&at| &self.entries[at])
    }

    /// Every item, in file order.
    fn entries(&self) -> std::slice::Iter<'_, Entry<'a>> {
        self.entries.iter()
    }

    /// The item at `position` in file order.
    fn at(&self, position: usize) -> &Entry<'a> {
        &self.entries[position]
    }

    /// Whether any of `dependencies` exists and is not done.
    fn blocked(&self, dependencies: &[String]) -> bool {
        dependencies.iter().any(|d| self.get(d).is_some_and(|e| e.status != "done"))
    }

    /// How many items `next` could hand out (claims aside).
    pub(super) fn ready_count(&self, meta: &MetaIndex) -> usize {
        self.entries().filter(|e| self.ready(e, meta.depends_on(e.kind, e.id))).count()
    }

    /// How many items that are not done wait for something that is not done.
    pub(super) fn blocked_count(&self, meta: &MetaIndex) -> usize {
        self.entries().filter(|e| e.status != "done" && self.blocked(meta.depends_on(e.kind, e.id))).count()
    }

    /// How many unfinished items wait, directly or through others, for `key` (the
    /// tie-break of `next`: what unblocks most goes first).
    fn waiting_on(&self, dependents: &HashMap<String, Vec<String>>, key: &str) -> usize {
        dependencies::waiting_on_by(dependents, key, |next| self.get(next).is_some_and(|e| e.status != "done"))
    }

    /// The items in progress as global dashboard rows (no links: the global dashboard
    /// links projects), held since or changed at.
    pub(super) fn in_progress(&self, project: &'a Ref, meta: &MetaIndex<'a>) -> Vec<WorkRow<'a>> {
        self.entries()
            .filter(|e| e.status == "in_progress")
            .map(|e| WorkRow { project: Some(project), ..work_row(e, None, meta) })
            .collect()
    }

    /// Could `next` hand it out (claims aside)?
    fn ready(&self, entry: &Entry, dependencies: &[String]) -> bool {
        let startable = match entry.sprint {
            Some(sprint) => entry.status == "planned" && sprint.status() == "active",
            None => entry.status == "todo",
        };
        startable && !self.blocked(dependencies)
    }
}

/// A project's items and their metadata, looked up by key: built once per run and shared by
/// the project's notes and its line on the global dashboard.
pub struct ProjectState<'a> {
    pub(super) meta: MetaIndex<'a>,
    pub(super) items: Items<'a>,
}

impl<'a> ProjectState<'a> {
    pub fn of(index: &'a WorkIndex, sidecar: &'a Sidecar) -> ProjectState<'a> {
        ProjectState { meta: MetaIndex::of(sidecar), items: Items::of(index) }
    }
}

/// The sidecar's metadata by kind and id, looked up without building a storage key per item.
pub(super) struct MetaIndex<'a> {
    items: FastMap<(&'a str, &'a str), &'a ItemMeta>,
    claims: FastMap<(&'a str, &'a str), &'a Claim>,
}

impl<'a> MetaIndex<'a> {
    fn of(sidecar: &'a Sidecar) -> MetaIndex<'a> {
        let mut items = FastMap::with_capacity_and_hasher(sidecar.items.len(), Default::default());
        for (key, meta) in &sidecar.items {
            if let Some((kind, id)) = key.split_once('/') {
                items.insert((kind, id), meta.as_ref());
            }
        }
        let claims = sidecar
            .claims
            .iter()
            .filter_map(|(key, claim)| key.split_once('/').map(|kind_id| (kind_id, claim)))
            .collect();
        MetaIndex { items, claims }
    }

    fn get(&self, kind: &str, id: &str) -> Option<Meta<'a>> {
        self.items.get(&(kind, id)).map(|meta| Meta(meta))
    }

    /// The storage keys the item depends on (none without metadata).
    fn depends_on(&self, kind: &str, id: &str) -> &'a [String] {
        self.items.get(&(kind, id)).map(|meta| meta.depends_on.as_slice()).unwrap_or_default()
    }

    fn meta(&self, kind: &str, id: &str) -> Option<&'a ItemMeta> {
        self.items.get(&(kind, id)).copied()
    }

    /// Who holds the item, if anyone.
    fn claim(&self, kind: &str, id: &str) -> Option<&'a Claim> {
        if self.claims.is_empty() { None } else { self.claims.get(&(kind, id)).copied() }
    }
}

/// What the generator passes to every note of a project besides the model.
pub struct Inputs<'a> {
    pub sidecar: &'a Sidecar,
    /// Per note path: why a person's edit of it from Obsidian was not applied, and the
    /// item's revision then (the callout stays until the item changes).
    pub refusals: &'a HashMap<String, (u64, String)>,
    /// Hash of what every note of the project depends on besides its item (the templates'
    /// generation, the project's own data): the seed of each item's key.
    pub salt: u128,
}

impl Catalog {
    /// Every note of the project, in a stable order, except the notes of items that are
    /// `unchanged` (the note at this path is on disk as rendered from this key): their
    /// paths go to `skipped`, and they are never built.
    pub fn notes<'a>(
        &'a self,
        index: &'a WorkIndex,
        state: &ProjectState<'a>,
        inputs: &Inputs<'a>,
        unchanged: impl Fn(&str, u128) -> bool,
        skipped: &mut Vec<&'a str>,
    ) -> Vec<Note<'a>> {
        let sidecar = inputs.sidecar;
        let (meta, items) = (&state.meta, &state.items);
        let mut key = ItemKey::default();
        let mut notes = Vec::new();
        for sprint in index.sprints() {
            let themes = self.themes_of(sprint.themes.as_deref().unwrap_or_default());
            let sprint_part = self.sprint_key(sprint, &themes);
            for (story, row) in sprint.stories().iter().zip(self.story_rows(sprint)) {
                let path = row.link.file.as_str();
                let input = self.story_key(&mut key, &sprint_part, story, &row, meta, items, inputs);
                if unchanged(path, input) {
                    skipped.push(path);
                } else {
                    let mut note = self.story_note(sprint, story, row, &themes, meta, items, inputs);
                    note.input = Some(input);
                    notes.push(note);
                }
            }
            notes.push(self.sprint_note(sprint, themes, meta, items));
        }
        for item in index.backlog() {
            let path = self.backlog[&item.id].file.as_str();
            let input = self.backlog_key(&mut key, item, meta, items, inputs);
            if unchanged(path, input) {
                skipped.push(path);
            } else {
                let mut note = self.backlog_note(item, meta, items, inputs);
                note.input = Some(input);
                notes.push(note);
            }
        }
        let mut theme_rows = Vec::with_capacity(self.themes.len());
        let mut backlog_by_theme: HashMap<&str, Vec<&BacklogItem>> = HashMap::new();
        for item in index.backlog() {
            backlog_by_theme.entry(item.theme.as_deref().unwrap_or_default()).or_default().push(item);
        }
        for (theme, (hub, tag)) in &self.themes {
            let backlog = backlog_by_theme.get(theme.as_str()).map(Vec::as_slice).unwrap_or_default();
            let (note, row) = self.theme_note(index, backlog, theme, hub, tag, &mut key, inputs.salt);
            notes.push(note);
            theme_rows.push(row);
        }
        notes.push(self.history_note(index, sidecar));
        self.guidance_notes(&mut notes);
        notes.push(self.dashboard_note(index, sidecar, meta, items, theme_rows));
        notes.push(self.note(&self.info.board.file, "project.base", Context::Base(BaseFile { folders: Vec::new() })));
        notes
    }

    /// What every story note of `sprint` shows of it: its row and its themes.
    fn sprint_key(&self, sprint: &Sprint, themes: &[&Ref]) -> Vec<u8> {
        let mut key = ItemKey::default();
        let row = self.sprint_row(sprint);
        key.link(row.link).text(row.title).text(row.status).text(row.goal);
        key.number(row.stories_done as u64).number(row.stories_total as u64);
        for theme in themes {
            key.link(theme).text(&self.themes[&theme.id].1);
        }
        key.buffer
    }

    /// The key of a story's note: everything [`Catalog::story_note`] reads.
    #[allow(clippy::too_many_arguments)]
    fn story_key(
        &self,
        key: &mut ItemKey,
        sprint_part: &[u8],
        story: &Story,
        row: &StoryRow,
        meta: &MetaIndex,
        items: &Items,
        inputs: &Inputs,
    ) -> u128 {
        key.start(inputs.salt);
        key.buffer.extend_from_slice(sprint_part);
        key.link(row.link).text(row.status).text(row.notes).link(row.sprint);
        self.item_key(key, "story", &story.id, &story.extra, &row.link.file, meta, items, inputs)
    }

    /// The key of a backlog item's note: everything [`Catalog::backlog_note`] reads.
    fn backlog_key(
        &self,
        key: &mut ItemKey,
        item: &BacklogItem,
        meta: &MetaIndex,
        items: &Items,
        inputs: &Inputs,
    ) -> u128 {
        key.start(inputs.salt);
        let row = self.backlog_row(item);
        key.link(row.link).text(row.status).text(row.summary);
        if let Some(theme) = item.theme.as_deref().filter(|t| !t.is_empty()) {
            let (hub, tag) = &self.themes[theme];
            key.link(hub).text(tag);
        }
        key.text("\u{1}related");
        for mention in self.mentions(item.related_sprints.as_deref().unwrap_or_default()) {
            key.text(mention.id).text(&mention.label).maybe(mention.note);
        }
        self.item_key(key, "backlog", &item.id, &item.extra, &row.link.file, meta, items, inputs)
    }

    /// The part of a story's or backlog item's key their notes share: dependencies, work
    /// state, extra fields and metadata.
    #[allow(clippy::too_many_arguments)]
    fn item_key(
        &self,
        key: &mut ItemKey,
        kind: &'static str,
        id: &str,
        extra: &serde_yaml_ng::Mapping,
        path: &str,
        meta: &MetaIndex,
        items: &Items,
        inputs: &Inputs,
    ) -> u128 {
        let dependencies = meta.depends_on(kind, id);
        key.text("\u{1}depends");
        for dependency in self.dependencies(items, dependencies) {
            key.text(dependency.id).text(dependency.label).maybe(dependency.note).maybe(dependency.status);
        }
        let work = self.work(kind, id, dependencies, meta, items, inputs, path);
        key.number(work.rev).number(work.priority.map_or(0, |p| u64::from(p) + 1));
        key.number(u64::from(work.blocked)).number(u64::from(work.ready)).maybe(work.refused);
        if let Some(claim) = &work.claim {
            key.text(claim.agent).time(claim.since.0).time(claim.until.0);
        }
        key.text("\u{1}details");
        for (name, value) in details(extra) {
            key.text(name).text(&value);
        }
        if let Some(meta) = meta.meta(kind, id) {
            key.number(meta.rev).maybe(meta.created_by.as_deref()).text(&meta.updated_by).time(meta.updated_at);
            key.number(meta.created_at.map_or(0, |t| t.timestamp_micros() as u64));
            key.number(meta.priority.map_or(0, |p| u64::from(p) + 1));
        }
        key.finish()
    }

    /// A note of this project.
    fn note<'a>(&'a self, path: &'a str, template: &'static str, context: Context<'a>) -> Note<'a> {
        Note { path: Cow::Borrowed(path), project: Some(&self.info), template, context, input: None }
    }

    /// `Stories/<id>.md`.
    #[allow(clippy::too_many_arguments)]
    fn story_note<'a>(
        &'a self,
        sprint: &'a Sprint,
        story: &'a Story,
        row: StoryRow<'a>,
        themes: &[&'a Ref],
        meta: &MetaIndex<'a>,
        items: &Items<'a>,
        inputs: &Inputs<'a>,
    ) -> Note<'a> {
        let path = &row.link.file;
        let dependencies = meta.depends_on("story", &story.id);
        let work = self.work("story", &story.id, dependencies, meta, items, inputs, path);
        self.note(
            path,
            "story.md",
            Context::Story(StoryNote {
                tags: self.theme_tags("story", story.status(), themes),
                story: row,
                sprint: self.sprint_row(sprint),
                themes: themes.to_vec(),
                depends_on: self.dependencies(items, dependencies),
                work,
                details: details(&story.extra),
                meta: meta.get("story", &story.id),
            }),
        )
    }

    /// An item's claim, blocked and ready state, priority and refused edit.
    #[allow(clippy::too_many_arguments)]
    fn work<'a>(
        &self,
        kind: &'static str,
        id: &str,
        dependencies: &[String],
        meta: &MetaIndex<'a>,
        items: &Items<'a>,
        inputs: &Inputs<'a>,
        path: &str,
    ) -> Work<'a> {
        let ready = items.entry(kind, id).is_some_and(|entry| items.ready(entry, dependencies));
        let item_meta = meta.meta(kind, id);
        let rev = item_meta.map_or(1, |m| m.rev);
        let refusals = inputs.refusals;
        Work {
            rev,
            priority: (kind == "backlog").then(|| item_meta.and_then(|m| m.priority).unwrap_or(3)),
            claim: meta.claim(kind, id).map(claim_view),
            blocked: items.blocked(dependencies),
            ready,
            refused: if refusals.is_empty() { None } else { refusals.get(path) }
                .filter(|(at, _)| *at == rev)
                .map(|(_, why)| why.as_str()),
        }
    }

    /// `Sprints/<id>.md`.
    fn sprint_note<'a>(
        &'a self,
        sprint: &'a Sprint,
        themes: Vec<&'a Ref>,
        meta: &MetaIndex<'a>,
        items: &Items<'a>,
    ) -> Note<'a> {
        let counts = count(sprint.stories().iter().map(|s| s.status()));
        let slices: Vec<(&str, usize)> = counts.iter().map(|(status, n)| (*status, *n)).collect();
        // Its stories, then what they wait for elsewhere.
        let mut keys: Vec<String> = sprint.stories().iter().map(|s| format!("story/{}", s.id)).collect();
        for story in sprint.stories() {
            for dependency in meta.depends_on("story", &story.id) {
                if !keys.contains(dependency) {
                    keys.push(dependency.clone());
                }
            }
        }
        self.note(
            &self.sprints[&sprint.id].file,
            "sprint.md",
            Context::Sprint(SprintNote {
                tags: self.theme_tags("sprint", sprint.status(), &themes),
                sprint: self.sprint_row(sprint),
                doc: sprint.file.as_deref().map(|path| self.sprint_doc(path)),
                themes,
                stories: self.story_rows(sprint).collect(),
                pie: pictures::pie("Stories by status", &slices),
                graph: graph(&keys, meta, items),
                details: details(&sprint.extra),
                meta: meta.get("sprint", &sprint.id),
            }),
        )
    }

    /// Where a sprint's document is, and whether the repository has it.
    fn sprint_doc<'a>(&self, path: &'a str) -> SprintDoc<'a> {
        let repo = Some(self.info.repo.as_str()).filter(|r| !r.is_empty());
        let Some(repo) = repo else { return SprintDoc { path, looked_in: None, found: false } };
        let dir = crate::store::layout::expand_home(repo);
        let found = std::path::Path::new(path).is_relative() && dir.join(path).is_file();
        SprintDoc { path, looked_in: Some(repo.to_string()), found }
    }

    /// `Backlog/<id>.md`.
    fn backlog_note<'a>(
        &'a self,
        item: &'a BacklogItem,
        meta: &MetaIndex<'a>,
        items: &Items<'a>,
        inputs: &Inputs<'a>,
    ) -> Note<'a> {
        let theme = item.theme.as_deref().filter(|t| !t.is_empty()).map(|t| &self.themes[t].0);
        let path = &self.backlog[&item.id].file;
        let dependencies = meta.depends_on("backlog", &item.id);
        self.note(
            path,
            "backlog.md",
            Context::Backlog(BacklogNote {
                tags: self.theme_tags("backlog", item.status(), theme.as_slice()),
                item: self.backlog_row(item),
                theme,
                related_sprints: self.mentions(item.related_sprints.as_deref().unwrap_or_default()),
                depends_on: self.dependencies(items, dependencies),
                work: self.work("backlog", &item.id, dependencies, meta, items, inputs, path),
                details: details(&item.extra),
                meta: meta.get("backlog", &item.id),
            }),
        )
    }

    /// `Themes/<theme>.md`, the hub of everything with the theme, and the theme's row on the
    /// dashboard. Its input is hashed here from its rows, as items' keys are (serializing
    /// a theme's thousands of rows to hash them would cost several times more).
    #[allow(clippy::too_many_arguments)]
    fn theme_note<'a>(
        &'a self,
        index: &'a WorkIndex,
        backlog: &[&'a BacklogItem],
        theme: &'a String,
        hub: &'a Ref,
        tag: &'a str,
        key: &mut ItemKey,
        salt: u128,
    ) -> (Note<'a>, ThemeRow<'a>) {
        let sprints: Vec<&Sprint> = index
            .sprints()
            .iter()
            .filter(|s| s.themes.as_deref().unwrap_or_default().contains(theme))
            .map(|s| s.as_ref())
            .collect();
        let stories: Vec<StoryRow> = sprints.iter().flat_map(|s| self.story_rows(s)).collect();
        let backlog: Vec<BacklogRow> = backlog.iter().map(|b| self.backlog_row(b)).collect();
        let items = sprints.len() + stories.len() + backlog.len();
        let mut tags = self.tags("theme", None);
        tags.themes.push(tag);
        let sprints: Vec<SprintRow> = sprints.into_iter().map(|s| self.sprint_row(s)).collect();
        key.start(salt);
        key.link(hub).text(tag).number(items as u64);
        for row in &sprints {
            key.link(row.link).text(row.title).text(row.status).text(row.goal);
            key.number(row.stories_done as u64).number(row.stories_total as u64);
        }
        key.text("\u{1}stories");
        for row in &stories {
            key.link(row.link).text(row.status).text(row.notes).link(row.sprint);
        }
        key.text("\u{1}backlog");
        for row in &backlog {
            key.link(row.link).text(row.status).text(row.summary);
        }
        let input = key.finish();
        let mut note = self.note(
            &hub.file,
            "theme.md",
            Context::Theme(ThemeNote { tags, theme: ThemeRow::new(hub, tag, items), sprints, stories, backlog }),
        );
        note.input = Some(input);
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

    /// `Dashboard.md`: every section written out (no plugin needed): active sprints, work
    /// in progress, ready and blocked work, stories by status, the backlog by theme, what
    /// was done lately, the dependency graph of open work, theme hubs and agents.
    fn dashboard_note<'a>(
        &'a self,
        index: &'a WorkIndex,
        sidecar: &'a Sidecar,
        meta: &MetaIndex<'a>,
        items: &Items<'a>,
        themes: Vec<ThemeRow<'a>>,
    ) -> Note<'a> {
        let row = |entry: &Entry<'a>| self.work_row(entry, meta);
        let entries = || items.entries();
        let depends = |entry: &Entry| meta.depends_on(entry.kind, entry.id);

        // Lists are sorted and cut by key; only the rows shown are built.
        let at = |e: &Entry| {
            let claim = meta.claim(e.kind, e.id).map(|c| c.claimed_at);
            claim.or_else(|| meta.meta(e.kind, e.id).map(|m| m.updated_at))
        };
        let newest_first = |status: &str| {
            let mut keys: Vec<_> = entries().filter(|e| e.status == status).map(|e| (at(e), e)).collect();
            keys.sort_by_key(|(at, _)| std::cmp::Reverse(*at));
            keys.into_iter().map(|(_, entry)| entry)
        };
        let in_progress = Listed::first_of(newest_first("in_progress"), LISTED, row);

        let dependents = dependencies::dependents_map(sidecar);
        let mut ready: Vec<(usize, u8, usize, usize)> = entries()
            .enumerate()
            .filter(|(_, e)| items.ready(e, depends(e)))
            .map(|(position, e)| {
                let tier = usize::from(e.kind == "backlog");
                let priority = meta.meta(e.kind, e.id).and_then(|m| m.priority).unwrap_or(3);
                let waiting = if dependents.is_empty() { 0 } else { items.waiting_on(&dependents, &e.storage_key()) };
                (tier, priority, usize::MAX - waiting, position)
            })
            .collect();
        ready.sort_unstable();

        let blocked = entries().filter(|e| e.status != "done" && items.blocked(depends(e)));
        let blocked = Listed::first_of(blocked, LISTED, |e| {
            let mut row = row(e);
            row.waiting_on = depends(e)
                .iter()
                .filter(|d| items.get(d).is_some_and(|dep| dep.status != "done"))
                .map(|d| self.dependency(items, d))
                .collect();
            row
        });

        let story_counts = count(index.sprints().iter().flat_map(|s| s.stories()).map(|s| s.status()));
        let stories_by_status = story_counts
            .keys()
            .map(|status| StatusGroup {
                status,
                stories: Listed::first_of(
                    entries().filter(|e| e.kind == "story" && status_or_unset(e.status) == *status),
                    PER_STATUS,
                    row,
                ),
            })
            .collect();

        let recently_done = Listed::first_of(newest_first("done"), RECENT, row);

        let open: Vec<String> =
            entries().filter(|e| e.status != "done" && !depends(e).is_empty()).map(Entry::storage_key).collect();
        let context = Context::Dashboard(ProjectDashboard {
            tags: self.tags("dashboard", None),
            active_sprints: self.active_sprints(index),
            sprints: count(index.sprints().iter().map(|s| s.status())),
            stories: story_counts,
            backlog: count(index.backlog().iter().map(|b| b.status())),
            in_progress,
            ready: Listed::first_of(ready.iter().map(|(.., position)| items.at(*position)), LISTED, row),
            blocked,
            stories_by_status,
            backlog_by_theme: self.backlog_by_theme(index),
            recently_done,
            graph: open_work_graph(&open, meta, items),
            themes,
            agents: agents(sidecar),
        });
        self.note(&self.info.dashboard.file, "project-dashboard.md", context)
    }

    /// Backlog counts by status for each theme (theme order), items without one last.
    fn backlog_by_theme<'a>(&'a self, index: &'a WorkIndex) -> Vec<ThemeCounts<'a>> {
        let mut by_theme: HashMap<&str, Counts<'a>> = HashMap::new();
        for item in index.backlog() {
            let theme = item.theme.as_deref().unwrap_or_default();
            *by_theme.entry(theme).or_default().entry(status_or_unset(item.status())).or_default() += 1;
        }
        let mut rows: Vec<ThemeCounts> = self
            .themes
            .iter()
            .filter_map(|(theme, (hub, _))| {
                let counts = by_theme.remove(theme.as_str())?;
                Some(ThemeCounts { theme: Some(hub), total: counts.values().sum(), counts })
            })
            .collect();
        if let Some(counts) = by_theme.remove("") {
            rows.push(ThemeCounts { theme: None, total: counts.values().sum(), counts });
        }
        rows
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

    /// What an item depends on (sidecar storage keys), each linked to its note with its
    /// status now.
    fn dependencies<'a>(&'a self, items: &Items<'a>, keys: &'a [String]) -> Vec<Dependency<'a>> {
        keys.iter().map(|key| self.dependency(items, key)).collect()
    }

    fn dependency<'a>(&'a self, items: &Items<'a>, key: &'a str) -> Dependency<'a> {
        let (kind, id) = key.split_once('/').unwrap_or(("", key));
        let link = if kind == "story" { self.stories.get(id) } else { self.backlog.get(id) };
        let status = items.get(key).map(|e| e.status);
        match link {
            Some(link) if status.is_some() => Dependency { id, label: &link.label, note: Some(&link.note), status },
            _ => Dependency { id, label: id, note: None, status: None },
        }
    }

    /// A story or backlog item as a dashboard row, linked to its note.
    fn work_row<'a>(&'a self, entry: &Entry<'a>, meta: &MetaIndex<'a>) -> WorkRow<'a> {
        let link = if entry.kind == "story" { self.stories.get(entry.id) } else { self.backlog.get(entry.id) };
        work_row(entry, link, meta)
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

/// The key of an item's note being written: its parts, each followed by a byte that never
/// occurs in UTF-8 text, in one reused buffer, hashed at the end.
///
/// A note's key must change whenever its text would: it covers every value its builder
/// reads (through the same helpers), so a field a builder starts to read must be added to
/// its key too. `tests/integration/vault.rs` checks that incremental runs end where a full run does.
#[derive(Default)]
struct ItemKey {
    buffer: Vec<u8>,
}

impl ItemKey {
    fn start(&mut self, salt: u128) {
        self.buffer.clear();
        self.buffer.extend_from_slice(&salt.to_le_bytes());
    }

    fn text(&mut self, text: &str) -> &mut ItemKey {
        self.buffer.extend_from_slice(text.as_bytes());
        self.buffer.push(0xff);
        self
    }

    fn maybe(&mut self, text: Option<&str>) -> &mut ItemKey {
        match text {
            Some(text) => self.text(text),
            None => {
                self.buffer.push(0xfe);
                self
            }
        }
    }

    fn link(&mut self, link: &Ref) -> &mut ItemKey {
        self.text(&link.id).text(&link.note).text(&link.label)
    }

    fn number(&mut self, number: u64) -> &mut ItemKey {
        self.buffer.extend_from_slice(&number.to_le_bytes());
        self
    }

    fn time(&mut self, time: DateTime<Utc>) -> &mut ItemKey {
        self.number(time.timestamp_micros() as u64)
    }

    fn finish(&self) -> u128 {
        xxhash_rust::xxh3::xxh3_128(&self.buffer)
    }
}

/// A story or backlog item as a dashboard row: linked to `link` if given, held by its
/// claim's holder since the claim, else last changed by whom and when.
fn work_row<'a>(entry: &Entry<'a>, link: Option<&'a Ref>, meta: &MetaIndex<'a>) -> WorkRow<'a> {
    let item_meta = meta.meta(entry.kind, entry.id);
    let claim = meta.claim(entry.kind, entry.id);
    WorkRow {
        id: entry.id,
        note: link.map(|l| l.note.as_str()),
        label: link.map_or(entry.id, |l| l.label.as_str()),
        kind: entry.kind,
        title: names::shorten(entry.text, TITLE_CHARS),
        status: entry.status,
        holder: claim.map(|c| c.agent.as_str()),
        agent: claim.map(|c| c.agent.as_str()).or(item_meta.map(|m| m.updated_by.as_str())),
        at: claim.map(|c| Time(c.claimed_at)).or(item_meta.map(|m| Time(m.updated_at))),
        priority: (entry.kind == "backlog").then(|| item_meta.and_then(|m| m.priority).unwrap_or(3)),
        project: None,
        waiting_on: Vec::new(),
    }
}

/// A status as counts key it: an item without one counts as `unset`.
fn status_or_unset(status: &str) -> &str {
    if status.is_empty() { "unset" } else { status }
}

fn claim_view(claim: &Claim) -> ClaimView<'_> {
    ClaimView { agent: &claim.agent, since: Time(claim.claimed_at), until: Time(claim.until) }
}

/// The graph of the items `keys` name (storage keys, in the order to keep them) and the
/// dependencies between them.
fn graph(keys: &[String], meta: &MetaIndex, items: &Items) -> Option<Picture> {
    let nodes: Vec<Node> = keys
        .iter()
        .filter_map(|key| {
            let entry = items.get(key)?;
            let dependencies = meta.depends_on(entry.kind, entry.id);
            let title = entry.text.lines().next().unwrap_or_default();
            Some(Node { key, id: entry.id, title, status: entry.status, blocked: items.blocked(dependencies) })
        })
        .collect();
    let edges: Vec<(&str, &str)> = nodes
        .iter()
        .flat_map(|node| {
            let entry = items.get(node.key).expect("nodes are items");
            meta.depends_on(entry.kind, entry.id).iter().map(move |d| (node.key, d.as_str()))
        })
        .collect();
    let graph = pictures::dependency_graph(&nodes, &edges)?;
    Some(Picture { mermaid: graph.mermaid, shown: graph.shown, total: graph.total })
}

/// The dependency graph of open work: every unfinished item that waits for something (in
/// file order), then what they wait for; blocked ones first, so that a cap keeps them.
fn open_work_graph(waiting: &[String], meta: &MetaIndex, items: &Items) -> Option<Picture> {
    let (mut blocked, mut rest): (Vec<String>, Vec<String>) = waiting.iter().cloned().partition(|key| {
        let entry = items.get(key).expect("keys are items");
        items.blocked(meta.depends_on(entry.kind, entry.id))
    });
    blocked.append(&mut rest);
    let mut keys = blocked;
    let mut seen: std::collections::HashSet<String> = keys.iter().cloned().collect();
    for key in waiting {
        let entry = items.get(key).expect("keys are items");
        for dependency in meta.depends_on(entry.kind, entry.id) {
            if items.get(dependency).is_some() && seen.insert(dependency.clone()) {
                keys.push(dependency.clone());
            }
        }
    }
    graph(&keys, meta, items)
}
