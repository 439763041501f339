//! What each page of the board shows, built from one published snapshot: plain structs the
//! templates render (every text in them is escaped there; nothing here is HTML).
//!
//! A board of 5,000 items is built in one pass over the project: which items are done is
//! indexed once (a dependency's state is a lookup, not a scan), every item becomes a small
//! card, and only the cards a column shows are kept; the rest are counted.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::coordination::dependencies::{self, DoneIndex};
use crate::store::model::{BacklogItem, Story, WorkIndex};
use crate::store::{ItemKey, Sidecar};
use crate::vault::names::{shorten, status_words};

/// Characters of a card's title.
const TITLE_CHARS: usize = 90;
/// Cards a column shows before "show more".
pub const COLUMN_CARDS: usize = 50;

/// A story or backlog item as a card (also the head of its own page).
#[derive(Debug, Serialize)]
pub struct Card {
    /// `story` or `backlog`.
    pub kind: &'static str,
    pub id: String,
    pub title: String,
    pub status: String,
    pub status_words: String,
    /// The board column: `todo`, `in_progress` or `done`.
    pub column: &'static str,
    pub theme: Option<String>,
    pub sprint: Option<String>,
    pub priority: Option<u8>,
    pub holder: Option<String>,
    pub lease_end: Option<String>,
    pub blocked_by: Vec<String>,
    pub agent: Option<String>,
    pub age: Option<String>,
    pub rev: u64,
    #[serde(skip)]
    updated: Option<DateTime<Utc>>,
    #[serde(skip)]
    order: usize,
}

/// One column of a project board.
#[derive(Debug, Serialize)]
pub struct Column {
    pub status: &'static str,
    pub title: &'static str,
    pub cards: Vec<Card>,
    pub total: usize,
    pub hidden: usize,
}

/// Which cards a board shows.
#[derive(Debug, Default, Clone, serde::Deserialize, Serialize)]
#[serde(default)]
pub struct Filter {
    /// Words every shown card contains (in its id, title, theme, sprint or holder).
    pub q: String,
    /// `story`, `backlog` or empty for both.
    pub kind: String,
    /// Only stories of this sprint.
    pub sprint: String,
    /// Cards per column (at least [`COLUMN_CARDS`]).
    pub show: Option<usize>,
}

/// Builds cards for one project at one instant.
pub struct Cards<'a> {
    pub meta: &'a Sidecar,
    pub done: DoneIndex<'a>,
    pub now: DateTime<Utc>,
}

impl<'a> Cards<'a> {
    pub fn new(index: &'a WorkIndex, meta: &'a Sidecar, now: DateTime<Utc>) -> Cards<'a> {
        Cards { meta, done: DoneIndex::of(index), now }
    }

    pub fn story(&self, sprint: &str, story: &Story, order: usize) -> Card {
        let key = ItemKey::Story(story.id.clone());
        let title = shorten(story.notes.as_deref().unwrap_or_default(), TITLE_CHARS).into_owned();
        let mut card = self.card("story", &key, &story.id, title, story.status(), order);
        card.sprint = Some(sprint.to_string());
        card
    }

    pub fn backlog(&self, item: &BacklogItem, order: usize) -> Card {
        let key = ItemKey::Backlog(item.id.clone());
        let title = shorten(item.summary.as_deref().unwrap_or_default(), TITLE_CHARS).into_owned();
        let mut card = self.card("backlog", &key, &item.id, title, item.status(), order);
        card.theme = item.theme.clone();
        card.priority = Some(self.meta.item(&key).and_then(|m| m.priority).unwrap_or(3));
        card
    }

    fn card(&self, kind: &'static str, key: &ItemKey, id: &str, title: String, status: &str, order: usize) -> Card {
        let meta = self.meta.item(key);
        let claim = self.meta.claim(key, self.now);
        let column = column_of(status);
        let blocked_by = match (meta, column) {
            (Some(meta), "todo" | "in_progress") => dependencies::ids(&self.done.unfinished(&meta.depends_on)),
            _ => Vec::new(),
        };
        Card {
            kind,
            id: id.to_string(),
            title,
            status: status.to_string(),
            status_words: status_words(status),
            column,
            theme: None,
            sprint: None,
            priority: None,
            holder: claim.map(|c| c.agent.clone()),
            lease_end: claim.map(|c| c.until.format("%H:%M UTC").to_string()),
            blocked_by,
            agent: meta.map(|m| m.updated_by.clone()),
            age: meta.map(|m| age(self.now - m.updated_at)),
            rev: meta.map_or(1, |m| m.rev),
            updated: meta.map(|m| m.updated_at),
            order,
        }
    }
}

/// The board column of a status (an unknown one counts as not started).
pub fn column_of(status: &str) -> &'static str {
    match status {
        "in_progress" => "in_progress",
        "done" => "done",
        _ => "todo",
    }
}

/// "just now", "5 min ago", "3 h ago", "2 days ago".
pub fn age(elapsed: chrono::TimeDelta) -> String {
    let minutes = elapsed.num_minutes();
    match minutes {
        i64::MIN..=0 => "just now".to_string(),
        1..=59 => format!("{minutes} min ago"),
        60..=2879 => format!("{} h ago", minutes / 60),
        _ => format!("{} days ago", minutes / 1440),
    }
}

/// The columns of a project's board under `filter`.
pub fn board(index: &WorkIndex, meta: &Sidecar, filter: &Filter, now: DateTime<Utc>) -> Vec<Column> {
    let cards = Cards::new(index, meta, now);
    let words: Vec<String> = filter.q.split_whitespace().map(str::to_lowercase).collect();
    let shown = filter.show.unwrap_or(COLUMN_CARDS).max(COLUMN_CARDS);
    let mut columns = [
        Column { status: "todo", title: "To do", cards: Vec::new(), total: 0, hidden: 0 },
        Column { status: "in_progress", title: "In progress", cards: Vec::new(), total: 0, hidden: 0 },
        Column { status: "done", title: "Done", cards: Vec::new(), total: 0, hidden: 0 },
    ];
    let mut place = |card: Card| {
        if !words.is_empty() && !matches(&card, &words) {
            return;
        }
        let column = match card.column {
            "todo" => &mut columns[0],
            "in_progress" => &mut columns[1],
            _ => &mut columns[2],
        };
        column.total += 1;
        column.cards.push(card);
    };
    let mut order = 0;
    if filter.kind != "backlog" {
        for sprint in index.sprints() {
            if !filter.sprint.is_empty() && sprint.id != filter.sprint {
                continue;
            }
            // Stories of finished sprints are history, not work: shown when their sprint is asked for.
            if filter.sprint.is_empty() && matches!(sprint.status(), "completed" | "reference") {
                continue;
            }
            for story in sprint.stories() {
                order += 1;
                place(cards.story(&sprint.id, story, order));
            }
        }
    }
    if filter.kind != "story" && filter.sprint.is_empty() {
        for item in index.backlog() {
            order += 1;
            place(cards.backlog(item, order));
        }
    }
    for column in &mut columns {
        match column.status {
            // Most urgent first, then in the file's order.
            "todo" => column.cards.sort_by_key(|c| (c.priority.unwrap_or(3), c.order)),
            // Latest change first.
            _ => column.cards.sort_by(|a, b| b.updated.cmp(&a.updated).then(a.order.cmp(&b.order))),
        }
        column.cards.truncate(shown);
        column.hidden = column.total - column.cards.len();
    }
    columns.into()
}

fn matches(card: &Card, words: &[String]) -> bool {
    let haystack = format!(
        "{} {} {} {} {}",
        card.id,
        card.title,
        card.theme.as_deref().unwrap_or_default(),
        card.sprint.as_deref().unwrap_or_default(),
        card.holder.as_deref().unwrap_or_default()
    )
    .to_lowercase();
    words.iter().all(|w| haystack.contains(w.as_str()))
}

/// A project on the overview page.
#[derive(Debug, Serialize)]
pub struct ProjectLine {
    pub name: String,
    pub description: String,
    pub problem: Option<String>,
    pub stories: StatusCounts,
    pub backlog: StatusCounts,
    pub blocked: usize,
    pub sprints: Vec<SprintLine>,
    pub working: Vec<Working>,
}

/// Items by board column.
#[derive(Debug, Default, Serialize)]
pub struct StatusCounts {
    pub todo: usize,
    pub in_progress: usize,
    pub done: usize,
}

impl StatusCounts {
    fn add(&mut self, status: &str) {
        match column_of(status) {
            "in_progress" => self.in_progress += 1,
            "done" => self.done += 1,
            _ => self.todo += 1,
        }
    }
}

/// A sprint with its progress.
#[derive(Debug, Serialize)]
pub struct SprintLine {
    pub id: String,
    pub title: String,
    pub status: String,
    pub goal: String,
    pub done: usize,
    pub total: usize,
    /// Done, in percent (0 for a sprint without stories).
    pub percent: usize,
}

/// Who holds a claim on what.
#[derive(Debug, Serialize)]
pub struct Working {
    pub agent: String,
    pub kind: &'static str,
    pub id: String,
    pub until: String,
}

/// One project's line on the overview: counts, active sprints, who works on what.
pub fn project_line(
    name: &str,
    description: &str,
    index: &WorkIndex,
    meta: &Sidecar,
    now: DateTime<Utc>,
) -> ProjectLine {
    let done = DoneIndex::of(index);
    let mut stories = StatusCounts::default();
    let mut backlog = StatusCounts::default();
    for story in index.sprints().iter().flat_map(|s| s.stories()) {
        stories.add(story.status());
    }
    for item in index.backlog() {
        backlog.add(item.status());
    }
    let blocked = done.blocked_count(meta);
    let sprints = index.sprints().iter().filter(|s| s.status() == "active").map(|s| sprint_line(s)).collect();
    let working = meta
        .claims
        .iter()
        .filter(|(_, c)| c.until > now)
        .filter_map(|(key, c)| {
            let (kind, id) = match ItemKey::from_storage_key(key)? {
                ItemKey::Story(id) => ("story", id),
                ItemKey::Backlog(id) => ("backlog", id),
                ItemKey::Sprint(_) => return None,
            };
            Some(Working { agent: c.agent.clone(), kind, id, until: c.until.format("%H:%M UTC").to_string() })
        })
        .collect();
    ProjectLine {
        name: name.to_string(),
        description: description.to_string(),
        problem: None,
        stories,
        backlog,
        blocked,
        sprints,
        working,
    }
}

/// A sprint's line with its progress.
pub fn sprint_line(sprint: &crate::store::model::Sprint) -> SprintLine {
    let total = sprint.stories().len();
    let done = sprint.stories().iter().filter(|s| s.status() == "done").count();
    SprintLine {
        id: sprint.id.clone(),
        title: sprint.title.clone().unwrap_or_default(),
        status: status_words(sprint.status()),
        goal: sprint.goal.clone().unwrap_or_default(),
        done,
        total,
        percent: (done * 100).checked_div(total).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(items: usize) -> WorkIndex {
        let backlog = (0..items)
            .map(|i| {
                std::sync::Arc::new(BacklogItem {
                    id: format!("item-{i}"),
                    summary: Some(format!("Item number {i}")),
                    theme: Some(if i % 2 == 0 { "even" } else { "odd" }.into()),
                    status: Some(["todo", "in_progress", "done"][i % 3].into()),
                    ..Default::default()
                })
            })
            .collect();
        WorkIndex { backlog: Some(backlog), ..Default::default() }
    }

    #[test]
    fn columns_count_everything_and_show_a_page() {
        let index = project(500);
        let columns = board(&index, &Sidecar::default(), &Filter::default(), Utc::now());
        assert_eq!(columns.iter().map(|c| c.total).sum::<usize>(), 500);
        for column in &columns {
            assert_eq!(column.cards.len(), COLUMN_CARDS);
            assert_eq!(column.hidden, column.total - COLUMN_CARDS);
        }
        let more = Filter { show: Some(1000), ..Default::default() };
        let columns = board(&index, &Sidecar::default(), &more, Utc::now());
        assert_eq!(columns[0].hidden, 0);
    }

    #[test]
    fn the_filter_keeps_cards_holding_every_word() {
        let index = project(30);
        let filter = Filter { q: "ODD number 1".into(), ..Default::default() };
        let columns = board(&index, &Sidecar::default(), &filter, Utc::now());
        let ids: Vec<&str> = columns.iter().flat_map(|c| c.cards.iter().map(|card| card.id.as_str())).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ["item-1", "item-11", "item-13", "item-15", "item-17", "item-19", "item-21"]);
    }

    #[test]
    fn ages_read_as_words() {
        assert_eq!(age(chrono::TimeDelta::seconds(20)), "just now");
        assert_eq!(age(chrono::TimeDelta::minutes(5)), "5 min ago");
        assert_eq!(age(chrono::TimeDelta::hours(3)), "3 h ago");
        assert_eq!(age(chrono::TimeDelta::days(4)), "4 days ago");
    }
}
