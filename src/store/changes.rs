//! The change feed: every change gets a cursor, so agents can ask what happened since.
//!
//! Each project keeps a journal, `.worksync/journal.jsonl`: a header line with the journal's
//! epoch (a random id, new whenever the journal starts afresh) and one JSON line per change
//! with its sequence number. The writer appends (durably, before answering the caller);
//! readers copy what they need under a short lock. A cursor names, per project, the epoch and
//! the last sequence number seen, so it survives restarts while the journal still holds it;
//! a cursor this server cannot serve exactly (another epoch, trimmed away, from the future)
//! gets an explicit "resync", never a silently incomplete list.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::atomic;
use super::coordination::Event;
use super::error::StoreError;

/// Changes kept per project (in memory and, between rotations, on disk).
const RETAIN: usize = 2_000;
/// Longest a `worksync_changes` call may wait.
pub const MAX_WAIT: Duration = Duration::from_secs(25);
const JOURNAL_FILE: &str = "journal.jsonl";

/// One change as agents see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub seq: u64,
    pub at: DateTime<Utc>,
    pub agent: String,
    pub kind: String,
    pub id: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rev: Option<u64>,
    /// What a history entry says (its `id` is its date), cut short.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    journal: String,
    epoch: String,
}

/// One project's journal.
#[derive(Debug)]
struct Journal {
    path: PathBuf,
    epoch: Arc<str>,
    records: VecDeque<ChangeRecord>,
    /// Sequence number of the last change (0 before any).
    last_seq: u64,
    /// Lines in the file (header included), so that an append need not read it to know
    /// when to compact it.
    lines_on_disk: usize,
}

impl Journal {
    fn open(dir: &Path) -> Journal {
        let path = dir.join(JOURNAL_FILE);
        let loaded = std::fs::read_to_string(&path).ok().and_then(|text| {
            let mut lines = text.lines();
            let header: Header = serde_json::from_str(lines.next()?).ok()?;
            // A torn last line (a crash mid-append) is skipped: that change was never answered.
            let records: VecDeque<ChangeRecord> = lines.filter_map(|l| serde_json::from_str(l).ok()).collect();
            Some((header.epoch, records, text.lines().count()))
        });
        let (epoch, mut records, lines_on_disk) = loaded.unwrap_or_else(|| (new_epoch(), VecDeque::new(), 0));
        let epoch: Arc<str> = epoch.into();
        while records.len() > RETAIN {
            records.pop_front();
        }
        let last_seq = records.back().map_or(0, |r| r.seq);
        Journal { path, epoch, records, last_seq, lines_on_disk }
    }

    /// Appends records durably; rewrites the file when it has grown to twice what is kept.
    fn append(&mut self, new: Vec<ChangeRecord>) -> Result<(), StoreError> {
        let fresh = !self.path.exists();
        self.records.extend(new.iter().cloned());
        while self.records.len() > RETAIN {
            self.records.pop_front();
        }
        if fresh || self.lines_on_disk + new.len() > 2 * RETAIN {
            return self.rewrite();
        }
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| StoreError::io("open", &self.path, e))?;
        let mut text = String::new();
        for record in &new {
            text.push_str(&serde_json::to_string(record).expect("records serialize"));
            text.push('\n');
        }
        file.write_all(text.as_bytes()).map_err(|e| StoreError::io("append to", &self.path, e))?;
        file.sync_data().map_err(|e| StoreError::io("fsync", &self.path, e))?;
        self.lines_on_disk += new.len();
        Ok(())
    }

    fn rewrite(&mut self) -> Result<(), StoreError> {
        let header = Header { journal: "worksync".into(), epoch: self.epoch.to_string() };
        let mut text = serde_json::to_string(&header).expect("header serializes");
        text.push('\n');
        for record in &self.records {
            text.push_str(&serde_json::to_string(record).expect("records serialize"));
            text.push('\n');
        }
        if let Some(dir) = self.path.parent() {
            atomic::create_dir_durable(dir)?;
        }
        atomic::write_atomic(&self.path, text.as_bytes())?;
        self.lines_on_disk = self.records.len() + 1;
        Ok(())
    }
}

/// The change feeds of every project, and the signal waiting readers wake on.
#[derive(Debug)]
pub struct ChangeFeed {
    journals: Mutex<HashMap<String, Journal>>,
    tick: watch::Sender<u64>,
}

/// Where an agent was in a project's feed at its previous call: the journal's epoch and
/// the last sequence number it had seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedPosition {
    epoch: Arc<str>,
    seq: u64,
}

/// What other agents changed in a project since an agent's previous call, in brief.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// How many changes others made (those still kept in memory).
    pub count: usize,
    /// The newest of them, newest first, one line each.
    pub latest: Vec<String>,
    /// The cursor from which `worksync_changes` lists them all.
    pub since: String,
}

/// Longest line of a notice: one change, its summary cut to fit.
const NOTICE_LINE_CHARS: usize = 100;

/// What `worksync_changes` answers.
#[derive(Debug)]
pub enum Changes {
    /// The changes after the cursor, oldest first, and the cursor to pass next time.
    Listed { changes: Vec<Value>, cursor: String, more: bool },
    /// The cursor cannot be served exactly; start again from `cursor` after re-reading.
    Resync { reason: String, cursor: String },
}

impl Default for ChangeFeed {
    fn default() -> Self {
        ChangeFeed { journals: Mutex::new(HashMap::new()), tick: watch::channel(0).0 }
    }
}

impl ChangeFeed {
    fn journals(&self) -> std::sync::MutexGuard<'_, HashMap<String, Journal>> {
        self.journals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Loads a project's journal from its `.worksync/` directory (once).
    pub fn open(&self, project: &str, state_dir: &Path) {
        self.journals().entry(project.to_string()).or_insert_with(|| Journal::open(state_dir));
    }

    /// The sequence number of `project`'s last change (0 before any).
    pub fn last_seq(&self, project: &str) -> u64 {
        self.journals().get(project).map_or(0, |journal| journal.last_seq)
    }

    /// The changes others than `agent` made in `project` after `from` (the position an
    /// earlier call returned), as a [`Notice`] of at most `lines` lines (`None`: there were
    /// none), and the position now to pass next time (`None`: the project has no journal).
    /// Memory only: it never reads the disk, and takes the feed's lock only to scan the
    /// changes after `from`.
    pub fn others_since(
        &self,
        project: &str,
        agent: &str,
        from: Option<&FeedPosition>,
        lines: usize,
    ) -> (Option<Notice>, Option<FeedPosition>) {
        let journals = self.journals();
        let Some(journal) = journals.get(project) else { return (None, None) };
        let now = FeedPosition { epoch: journal.epoch.clone(), seq: journal.last_seq };
        // A first call, or a journal started afresh since: nothing to compare with.
        let Some(from) = from.filter(|from| from.epoch == journal.epoch && from.seq <= journal.last_seq) else {
            return (None, Some(now));
        };
        let oldest = journal.records.front().map_or(journal.last_seq + 1, |r| r.seq);
        let skip = (from.seq + 1).saturating_sub(oldest) as usize;
        let others: Vec<&ChangeRecord> = journal.records.iter().skip(skip).filter(|r| r.agent != agent).collect();
        if others.is_empty() {
            return (None, Some(now));
        }
        let latest = others.iter().rev().take(lines).map(|r| notice_line(r)).collect();
        let positions = BTreeMap::from([(project.to_string(), (from.epoch.to_string(), from.seq))]);
        let notice = Notice { count: others.len(), latest, since: format_cursor(&positions) };
        (Some(notice), Some(now))
    }

    /// Records `events` made by `agent` in `project`'s journal, durably, and wakes waiters.
    pub fn record(
        &self,
        project: &str,
        state_dir: &Path,
        agent: &str,
        at: DateTime<Utc>,
        events: &[Event],
    ) -> Result<(), StoreError> {
        self.record_all(project, state_dir, &[(agent, at, events)])
    }

    /// Records the events of several changes (a group commit's) with one durable append.
    pub fn record_all(
        &self,
        project: &str,
        state_dir: &Path,
        changes: &[(&str, DateTime<Utc>, &[Event])],
    ) -> Result<(), StoreError> {
        if changes.iter().all(|(_, _, events)| events.is_empty()) {
            return Ok(());
        }
        {
            let mut journals = self.journals();
            let journal = journals.entry(project.to_string()).or_insert_with(|| Journal::open(state_dir));
            let mut seq = journal.last_seq;
            let mut records = Vec::new();
            for (agent, at, events) in changes {
                for e in events.iter() {
                    seq += 1;
                    records.push(ChangeRecord {
                        seq,
                        at: *at,
                        agent: agent.to_string(),
                        kind: e.kind.to_string(),
                        id: e.id.clone(),
                        action: e.action.to_string(),
                        rev: e.rev,
                        summary: e.summary.clone(),
                    });
                }
            }
            journal.last_seq = seq;
            journal.append(records)?;
        }
        self.tick.send_modify(|n| *n += 1);
        Ok(())
    }

    /// The changes after `since` in `projects` (at most `limit`), waiting up to `wait` for
    /// the first one if there is none yet.
    pub async fn since(
        &self,
        projects: &[String],
        since: Option<&str>,
        limit: usize,
        wait: Duration,
    ) -> Result<Changes, StoreError> {
        let mut ticks = self.tick.subscribe();
        let deadline = tokio::time::Instant::now() + wait.min(MAX_WAIT);
        let wanted = match since {
            Some(cursor) => Some(parse_cursor(cursor)?),
            None => None,
        };
        loop {
            ticks.borrow_and_update();
            let answer = self.collect(projects, wanted.as_ref(), limit);
            let empty = matches!(&answer, Changes::Listed { changes, .. } if changes.is_empty());
            if !empty || wanted.is_none() {
                return Ok(answer);
            }
            match tokio::time::timeout_at(deadline, ticks.changed()).await {
                Ok(Ok(())) => continue,
                _ => return Ok(answer),
            }
        }
    }

    /// The cursor of `projects` now: where a reader that has seen everything so far stands.
    pub fn cursor(&self, projects: &[String]) -> String {
        let journals = self.journals();
        let positions: BTreeMap<String, (String, u64)> = projects
            .iter()
            .filter_map(|p| Some((p.clone(), journals.get(p)?)))
            .map(|(p, j)| (p, (j.epoch.to_string(), j.last_seq)))
            .collect();
        format_cursor(&positions)
    }

    /// The latest `limit` changes of `projects` that `keep` accepts, newest first (what a
    /// page shows before it follows the feed). Memory only: the last 2,000 per project.
    pub fn latest(&self, projects: &[String], limit: usize, keep: impl Fn(&ChangeRecord) -> bool) -> Vec<Value> {
        let journals = self.journals();
        let mut found: Vec<(&String, &ChangeRecord)> = projects
            .iter()
            .filter_map(|p| Some((p, journals.get(p)?)))
            .flat_map(|(p, journal)| journal.records.iter().rev().filter(|r| keep(r)).take(limit).map(move |r| (p, r)))
            .collect();
        found.sort_by_key(|(_, r)| std::cmp::Reverse((r.at, r.seq)));
        found.truncate(limit);
        found
            .into_iter()
            .map(|(project, record)| {
                let mut value = serde_json::to_value(record).expect("records serialize");
                value["project"] = json!(project);
                value
            })
            .collect()
    }

    fn collect(&self, projects: &[String], since: Option<&BTreeMap<String, (String, u64)>>, limit: usize) -> Changes {
        let journals = self.journals();
        let mut found: Vec<(DateTime<Utc>, String, ChangeRecord)> = Vec::new();
        let mut positions: BTreeMap<String, (String, u64)> = BTreeMap::new();
        for project in projects {
            let Some(journal) = journals.get(project) else { continue };
            positions.insert(project.clone(), (journal.epoch.to_string(), journal.last_seq));
            let Some(since) = since else { continue };
            let from = match since.get(project) {
                Some((epoch, seq)) if **epoch == *journal.epoch => *seq,
                Some(_) => {
                    return resync(
                        journals.iter(),
                        projects,
                        format!("the journal of '{project}' was started afresh since that cursor"),
                    );
                }
                None => 0,
            };
            if from > journal.last_seq {
                return resync(
                    journals.iter(),
                    projects,
                    format!("the cursor is ahead of '{project}''s journal (it was reset)"),
                );
            }
            let oldest = journal.records.front().map_or(journal.last_seq + 1, |r| r.seq);
            if from + 1 < oldest {
                return resync(
                    journals.iter(),
                    projects,
                    format!("changes of '{project}' after that cursor are no longer kept"),
                );
            }
            found.extend(journal.records.iter().filter(|r| r.seq > from).map(|r| (r.at, project.clone(), r.clone())));
        }
        if since.is_none() {
            return Changes::Listed { changes: Vec::new(), cursor: format_cursor(&positions), more: false };
        }
        let since = since.expect("checked above");
        found.sort_by(|a, b| (a.0, &a.1, a.2.seq).cmp(&(b.0, &b.1, b.2.seq)));
        let more = found.len() > limit;
        found.truncate(limit);
        // The next cursor: where each project's listed changes end (or where it was asked from).
        let mut next: BTreeMap<String, (String, u64)> = positions.clone();
        for (project, (epoch, _)) in positions.iter() {
            let from = since.get(project).filter(|(e, _)| e == epoch).map_or(0, |(_, s)| *s);
            let listed = found.iter().filter(|(_, p, _)| p == project).map(|(_, _, r)| r.seq).max();
            next.insert(project.clone(), (epoch.clone(), listed.unwrap_or(from).max(from)));
        }
        let changes = found
            .into_iter()
            .map(|(_, project, record)| {
                let mut value = serde_json::to_value(&record).expect("records serialize");
                value["project"] = json!(project);
                value
            })
            .collect();
        Changes::Listed { changes, cursor: format_cursor(&next), more }
    }
}

/// One change in a line: "codex updated backlog db-pool (rev 4)", and what a history entry
/// or an `unblocked` change says, cut short.
fn notice_line(record: &ChangeRecord) -> String {
    let mut line = format!("{} {} {} {}", record.agent, record.action, record.kind, record.id);
    if let Some(rev) = record.rev {
        line.push_str(&format!(" (rev {rev})"));
    }
    if let Some(summary) = &record.summary {
        line.push_str(": ");
        line.push_str(summary);
    }
    if line.chars().count() > NOTICE_LINE_CHARS {
        line = format!("{}…", line.chars().take(NOTICE_LINE_CHARS - 1).collect::<String>().trim_end());
    }
    line
}

fn resync<'a>(
    journals: impl Iterator<Item = (&'a String, &'a Journal)>,
    projects: &[String],
    reason: String,
) -> Changes {
    let current: BTreeMap<String, (String, u64)> = journals
        .filter(|(name, _)| projects.contains(name))
        .map(|(name, j)| (name.clone(), (j.epoch.to_string(), j.last_seq)))
        .collect();
    Changes::Resync { reason, cursor: format_cursor(&current) }
}

/// `v1:orbit-api@3f2a….17,team@9c0d….4`
fn format_cursor(positions: &BTreeMap<String, (String, u64)>) -> String {
    let parts: Vec<String> = positions.iter().map(|(p, (epoch, seq))| format!("{p}@{epoch}.{seq}")).collect();
    format!("v1:{}", parts.join(","))
}

fn parse_cursor(cursor: &str) -> Result<BTreeMap<String, (String, u64)>, StoreError> {
    let invalid = || {
        StoreError::invalid(
            "since",
            format!("'{}' is not a cursor from worksync_changes", cursor.escape_debug()),
            "Pass the `cursor` of a previous worksync_changes answer unchanged, or omit `since` to get the current cursor.",
        )
    };
    let body = cursor.strip_prefix("v1:").ok_or_else(invalid)?;
    let mut positions = BTreeMap::new();
    for part in body.split(',').filter(|p| !p.is_empty()) {
        let (project, rest) = part.split_once('@').ok_or_else(invalid)?;
        let (epoch, seq) = rest.rsplit_once('.').ok_or_else(invalid)?;
        positions.insert(project.to_string(), (epoch.to_string(), seq.parse().map_err(|_| invalid())?));
    }
    Ok(positions)
}

fn new_epoch() -> String {
    let mut bytes = [0u8; 6];
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Event {
        Event { kind: "backlog", id: id.into(), action: "created", rev: Some(1), summary: None }
    }

    /// A batch's changes are appended together, and the file is compacted to what is kept
    /// once it holds twice that, without reading it to find out.
    #[test]
    fn batches_append_once_and_the_file_compacts() {
        let dir = tempfile::tempdir().unwrap();
        let feed = ChangeFeed::default();
        let (first, second) = ([event("a")], [event("b"), event("c")]);
        feed.record_all("p", dir.path(), &[("x", Utc::now(), &first), ("y", Utc::now(), &second)]).unwrap();
        let path = dir.path().join(JOURNAL_FILE);
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 4, "header and three records");
        let many: Vec<Event> = (0..2 * RETAIN).map(|n| event(&format!("i{n}"))).collect();
        feed.record("p", dir.path(), "z", Utc::now(), &many).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), RETAIN + 1, "compacted");
        feed.record("p", dir.path(), "z", Utc::now(), &[event("last")]).unwrap();
        let reopened = Journal::open(dir.path());
        assert_eq!(reopened.last_seq, 3 + 2 * RETAIN as u64 + 1);
        assert_eq!(reopened.lines_on_disk, RETAIN + 2);
    }

    /// Changes after a cursor are listed once; a reopened journal keeps serving the cursor;
    /// a cursor of another epoch gets a resync.
    #[tokio::test]
    async fn cursors_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let feed = ChangeFeed::default();
        let projects = vec!["p".to_string()];
        feed.open("p", dir.path());
        let Changes::Listed { cursor: start, .. } = feed.since(&projects, None, 10, Duration::ZERO).await.unwrap()
        else {
            panic!("resync")
        };
        feed.record("p", dir.path(), "a", Utc::now(), &[event("x"), event("y")]).unwrap();
        let Changes::Listed { changes, cursor, .. } =
            feed.since(&projects, Some(&start), 10, Duration::ZERO).await.unwrap()
        else {
            panic!("resync")
        };
        assert_eq!(changes.len(), 2);

        let reopened = ChangeFeed::default();
        reopened.open("p", dir.path());
        reopened.record("p", dir.path(), "b", Utc::now(), &[event("z")]).unwrap();
        let Changes::Listed { changes, .. } =
            reopened.since(&projects, Some(&cursor), 10, Duration::ZERO).await.unwrap()
        else {
            panic!("resync after reopening")
        };
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0]["id"], "z");

        let stale = cursor.replace('@', "@ffff");
        assert!(matches!(
            reopened.since(&projects, Some(&stale), 10, Duration::ZERO).await.unwrap(),
            Changes::Resync { .. }
        ));
        assert!(reopened.since(&projects, Some("garbage"), 10, Duration::ZERO).await.is_err());
    }
}
