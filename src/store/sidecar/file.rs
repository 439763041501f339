//! How a project's sidecar is kept on disk at the cost of what changed.
//!
//! Rewriting the whole state on every write made a project whose 5,000 items all came
//! through worksync pay for serializing and fsyncing ~900 KB per call, beside the YAML. So
//! `state.json` is a snapshot, and `state.log` holds one JSON line per write saying what
//! changed since (entries set or removed, claims, history entries): a write appends a line
//! and fdatasyncs it. When the log has grown as large as the snapshot, the snapshot is
//! rewritten (atomically, like every file we replace) and the log emptied: amortized, a write
//! costs what it changed.
//!
//! Crash safety: each line carries a sequence number and the snapshot records the last one it
//! includes, so a crash between rewriting the snapshot and emptying the log replays nothing
//! twice; a line torn by a crash (never acknowledged) is cut off when the file is next opened,
//! before anything is appended after it.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use imbl::ordmap::DiffItem;
use serde::{Deserialize, Serialize};

use super::{Claim, HistoryMeta, ItemMeta, MovedId, Sidecar};
use crate::store::atomic;
use crate::store::error::StoreError;

/// The snapshot inside `.worksync/` (the whole state as of its `seq`).
pub const STATE_FILE: &str = "state.json";
/// The changes since the snapshot, one JSON line per write.
pub const LOG_FILE: &str = "state.log";
/// The log is folded into the snapshot once it is larger than the snapshot, or than this.
const COMPACT_AT: u64 = 64 * 1024;

/// A project's sidecar files, as the writer appends to them.
#[derive(Debug)]
pub struct SidecarFile {
    dir: PathBuf,
    /// Sequence number of the last change on disk (in the snapshot or the log).
    seq: u64,
    log_bytes: u64,
    snapshot_bytes: u64,
    /// Set when a save failed: its change is in memory (the YAML may hold it) but not on
    /// disk, and the log may end in a partial line, so the next save writes a snapshot.
    needs_snapshot: bool,
}

#[derive(Serialize)]
struct SnapshotOut<'a> {
    #[serde(flatten)]
    state: &'a Sidecar,
    seq: u64,
}

#[derive(Deserialize)]
struct SnapshotIn {
    #[serde(flatten)]
    state: Sidecar,
    #[serde(default)]
    seq: u64,
}

/// What one write changed; `None` entries were removed.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Delta {
    seq: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    items: BTreeMap<Arc<str>, Option<Arc<ItemMeta>>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    claims: BTreeMap<String, Option<Claim>>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    moved_ids: BTreeMap<String, Option<MovedId>>,
    /// History entries kept from before (the rest were dropped), then `history_added`.
    history_kept: usize,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    history_added: Vec<Arc<HistoryMeta>>,
}

impl Delta {
    /// What turns `old` into `new`. The item entries' map skips the subtrees the two
    /// versions share, so this costs what changed, not the number of entries.
    fn between(old: &Sidecar, new: &Sidecar) -> Delta {
        let history_kept =
            old.history.iter().zip(&new.history).take_while(|(a, b)| Arc::ptr_eq(a, b) || a == b).count();
        Delta {
            seq: 0,
            items: old
                .items
                .diff(&new.items)
                .map(|change| match change {
                    DiffItem::Add(key, meta) | DiffItem::Update { new: (key, meta), .. } => {
                        (key.clone(), Some(meta.clone()))
                    }
                    DiffItem::Remove(key, _) => (key.clone(), None),
                })
                .collect(),
            claims: map_changes(&old.claims, &new.claims, |a, b| a == b),
            moved_ids: map_changes(&old.moved_ids, &new.moved_ids, |a, b| a == b),
            history_kept,
            history_added: new.history[history_kept..].to_vec(),
        }
    }

    fn is_empty(&self, old: &Sidecar) -> bool {
        self.items.is_empty()
            && self.claims.is_empty()
            && self.moved_ids.is_empty()
            && self.history_kept == old.history.len()
            && self.history_added.is_empty()
    }

    fn apply(self, state: &mut Sidecar) {
        for (key, meta) in self.items {
            match meta {
                Some(meta) => state.items.insert(key, meta),
                None => state.items.remove(&key),
            };
        }
        for (key, claim) in self.claims {
            match claim {
                Some(claim) => state.claims.insert(key, claim),
                None => state.claims.remove(&key),
            };
        }
        for (key, moved) in self.moved_ids {
            match moved {
                Some(moved) => state.moved_ids.insert(key, moved),
                None => state.moved_ids.remove(&key),
            };
        }
        state.history.truncate(self.history_kept);
        state.history.extend(self.history_added);
    }
}

/// The entries of `new` that differ from `old`'s, and `None` for the keys `new` lacks; one
/// merge walk over both (sorted) maps.
fn map_changes<K: Ord + Clone, V: Clone>(
    old: &BTreeMap<K, V>,
    new: &BTreeMap<K, V>,
    same: impl Fn(&V, &V) -> bool,
) -> BTreeMap<K, Option<V>> {
    let mut changes = BTreeMap::new();
    let (mut old_entries, mut new_entries) = (old.iter().peekable(), new.iter().peekable());
    loop {
        match (old_entries.peek(), new_entries.peek()) {
            (None, None) => break,
            (Some((key, _)), None) => {
                changes.insert((*key).clone(), None);
                old_entries.next();
            }
            (None, Some((key, value))) => {
                changes.insert((*key).clone(), Some((*value).clone()));
                new_entries.next();
            }
            (Some((old_key, old_value)), Some((new_key, new_value))) => match old_key.cmp(new_key) {
                std::cmp::Ordering::Less => {
                    changes.insert((*old_key).clone(), None);
                    old_entries.next();
                }
                std::cmp::Ordering::Greater => {
                    changes.insert((*new_key).clone(), Some((*new_value).clone()));
                    new_entries.next();
                }
                std::cmp::Ordering::Equal => {
                    if !same(old_value, new_value) {
                        changes.insert((*new_key).clone(), Some((*new_value).clone()));
                    }
                    old_entries.next();
                    new_entries.next();
                }
            },
        }
    }
    changes
}

/// What was found on disk.
struct Loaded {
    state: Sidecar,
    seq: u64,
    snapshot_bytes: u64,
    /// Bytes of the log up to the end of its last complete, readable line.
    log_good: u64,
    log_bytes: u64,
}

impl SidecarFile {
    /// Loads a project's sidecar from `dir` (`.worksync/`) for the writer, cutting off a
    /// torn last line of the log.
    ///
    /// Missing files are an empty sidecar; an unreadable snapshot is logged and read as
    /// empty, since it only holds attribution, which must never block work.
    pub fn open(dir: &Path) -> (SidecarFile, Sidecar) {
        let loaded = load(dir);
        let mut log_bytes = loaded.log_bytes;
        if loaded.log_good < loaded.log_bytes {
            let path = dir.join(LOG_FILE);
            tracing::warn!(path = %path.display(), "cutting off the torn end of the sidecar log (a write interrupted by a crash)");
            let cut = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|file| file.set_len(loaded.log_good).and_then(|()| file.sync_all()));
            match cut {
                Ok(()) => log_bytes = loaded.log_good,
                Err(e) => tracing::error!(path = %path.display(), error = %e, "could not cut the sidecar log"),
            }
        }
        let file = SidecarFile {
            dir: dir.to_path_buf(),
            seq: loaded.seq,
            log_bytes,
            snapshot_bytes: loaded.snapshot_bytes,
            needs_snapshot: false,
        };
        (file, loaded.state)
    }

    /// Loads a project's sidecar without changing anything on disk (for readers such as
    /// the offline `worksync status`).
    pub fn load(dir: &Path) -> Sidecar {
        load(dir).state
    }

    /// Makes the change from `old` to `new` durable (nothing to do if there is none).
    pub fn save(&mut self, old: &Sidecar, new: &Sidecar) -> Result<(), StoreError> {
        let saved = self.try_save(old, new);
        self.needs_snapshot = saved.is_err();
        saved
    }

    fn try_save(&mut self, old: &Sidecar, new: &Sidecar) -> Result<(), StoreError> {
        let mut delta = Delta::between(old, new);
        if delta.is_empty(old) && !self.needs_snapshot {
            return Ok(());
        }
        atomic::create_dir_durable(&self.dir)?;
        delta.seq = self.seq + 1;
        let mut line = serde_json::to_string(&delta).expect("sidecar changes serialize");
        line.push('\n');
        let log = self.dir.join(LOG_FILE);
        if self.needs_snapshot || self.log_bytes + line.len() as u64 > COMPACT_AT.max(self.snapshot_bytes) {
            self.compact(new, delta.seq)?;
        } else if self.log_bytes == 0 && !log.exists() {
            // A new file: created like any replaced one, so that its name survives a crash.
            atomic::write_atomic(&log, line.as_bytes())?;
            self.log_bytes = line.len() as u64;
        } else {
            let mut file =
                std::fs::OpenOptions::new().append(true).open(&log).map_err(|e| StoreError::io("open", &log, e))?;
            file.write_all(line.as_bytes()).map_err(|e| StoreError::io("append to", &log, e))?;
            file.sync_data().map_err(|e| StoreError::io("fsync", &log, e))?;
            self.log_bytes += line.len() as u64;
        }
        self.seq = delta.seq;
        Ok(())
    }

    /// Writes `state` as the snapshot up to `seq` and empties the log. Emptying need not be
    /// durable on its own: lines it leaves behind are at or below `seq`, so they are skipped,
    /// and the next append's fdatasync covers the new length.
    fn compact(&mut self, state: &Sidecar, seq: u64) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(&SnapshotOut { state, seq }).expect("sidecar state serializes");
        let snapshot = self.dir.join(STATE_FILE);
        atomic::write_atomic(&snapshot, &bytes)?;
        self.snapshot_bytes = bytes.len() as u64;
        let log = self.dir.join(LOG_FILE);
        match std::fs::OpenOptions::new().write(true).open(&log) {
            Ok(file) => file.set_len(0).map_err(|e| StoreError::io("empty", &log, e))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::io("open", &log, e)),
        }
        self.log_bytes = 0;
        Ok(())
    }
}

fn load(dir: &Path) -> Loaded {
    let snapshot_path = dir.join(STATE_FILE);
    let (mut state, snapshot_seq, snapshot_bytes) = match std::fs::read(&snapshot_path) {
        Ok(bytes) => match serde_json::from_slice::<SnapshotIn>(&bytes) {
            Ok(snapshot) => (snapshot.state, snapshot.seq, bytes.len() as u64),
            Err(e) => {
                tracing::warn!(path = %snapshot_path.display(), error = %e, "ignoring unreadable sidecar state");
                (Sidecar::default(), 0, 0)
            }
        },
        Err(_) => (Sidecar::default(), 0, 0),
    };
    let log = std::fs::read(dir.join(LOG_FILE)).unwrap_or_default();
    let mut seq = snapshot_seq;
    let mut log_good = 0;
    for line in log.split_inclusive(|b| *b == b'\n') {
        // A line without its newline, or one that does not parse, is where a crash tore the
        // log: nothing after it was ever acknowledged.
        let Some(json) = line.strip_suffix(b"\n") else { break };
        let Ok(delta) = serde_json::from_slice::<Delta>(json) else { break };
        log_good += line.len() as u64;
        if delta.seq > seq {
            seq = delta.seq;
            delta.apply(&mut state);
        }
    }
    Loaded { state, seq, snapshot_bytes, log_good, log_bytes: log.len() as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sidecar::ItemKey;

    fn at(minute: u32) -> chrono::DateTime<chrono::Utc> {
        format!("2026-11-21T10:{minute:02}:00Z").parse().unwrap()
    }

    /// A sequence of edits of every kind, saved one by one, reads back exactly; the log
    /// holds only what changed, and compaction (forced by many writes) loses nothing.
    #[test]
    fn saves_read_back_exactly_through_log_and_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let (mut file, mut state) = SidecarFile::open(dir.path());
        assert_eq!(state, Sidecar::default());
        for n in 0..600u32 {
            let mut next = state.clone();
            let key = ItemKey::Backlog(format!("item-{}", n % 250));
            match n % 5 {
                0 => {
                    next.created(&key, "claude", at(n % 60));
                }
                1 | 2 => {
                    next.changed(&key, "codex", at(n % 60));
                    next.set_priority(&key, (n % 5) as u8);
                }
                3 => {
                    next.claims.insert(
                        key.as_storage_key(),
                        Claim { agent: "a".into(), claimed_at: at(1), until: at(n % 60) },
                    );
                    next.history.push(Arc::new(HistoryMeta {
                        date: "2026-11-21".into(),
                        summary: format!("entry {n}"),
                        agent: "a".into(),
                        at: at(2),
                    }));
                }
                _ => {
                    next.forget(&ItemKey::Backlog(format!("item-{}", (n + 7) % 250)));
                    next.history.truncate(next.history.len().saturating_sub(1));
                    let moved = MovedId { to: format!("item-{n}-b"), until: at(n % 60) };
                    if n % 3 == 0 {
                        next.moved_ids.insert(key.as_storage_key(), moved);
                    } else {
                        next.moved_ids.pop_first();
                    }
                }
            }
            file.save(&state, &next).unwrap();
            state = next;
            if n % 97 == 0 {
                assert_eq!(SidecarFile::load(dir.path()), state, "after write {n}");
            }
        }
        assert!(dir.path().join(STATE_FILE).exists(), "the log was compacted at least once");
        let (_, reopened) = SidecarFile::open(dir.path());
        assert_eq!(reopened, state);
        // One more change appends one short line.
        let before = std::fs::metadata(dir.path().join(LOG_FILE)).map_or(0, |m| m.len());
        let mut next = state.clone();
        next.changed(&ItemKey::Story("STORY-1".into()), "claude", at(3));
        file.save(&state, &next).unwrap();
        let grown = std::fs::metadata(dir.path().join(LOG_FILE)).unwrap().len() - before;
        assert!(grown < 300, "one change costs one line, not the whole state: {grown} bytes");
    }

    /// A fresh sidecar directory with one item created and saved (one log line).
    fn one_item_saved() -> (tempfile::TempDir, SidecarFile, Sidecar) {
        let dir = tempfile::tempdir().unwrap();
        let (mut file, empty) = SidecarFile::open(dir.path());
        let mut one = empty.clone();
        one.created(&ItemKey::Backlog("a".into()), "claude", at(1));
        file.save(&empty, &one).unwrap();
        (dir, file, one)
    }

    /// A torn last line (a crash mid-append) is ignored and cut off before the next append;
    /// log lines a compaction already folded into the snapshot are not applied twice.
    #[test]
    fn torn_lines_and_interrupted_compaction() {
        let (dir, _, one) = one_item_saved();
        let log = dir.path().join(LOG_FILE);
        let good = std::fs::read(&log).unwrap();
        let mut torn = good.clone();
        torn.extend_from_slice(b"{\"seq\":2,\"items\":{\"backlog/b\":{\"rev\"");
        std::fs::write(&log, &torn).unwrap();
        let (mut file, state) = SidecarFile::open(dir.path());
        assert_eq!(state, one);
        assert_eq!(std::fs::read(&log).unwrap(), good, "the torn line was cut off");
        let mut two = state.clone();
        two.history.push(Arc::new(HistoryMeta { date: "d".into(), summary: "s".into(), agent: "a".into(), at: at(2) }));
        file.save(&state, &two).unwrap();
        assert_eq!(SidecarFile::load(dir.path()), two);

        // A compaction that wrote the snapshot but crashed before emptying the log: the
        // history entry in the log must not be appended a second time.
        let log_text = std::fs::read(&log).unwrap();
        file.compact(&two, 2).unwrap();
        std::fs::write(&log, &log_text).unwrap();
        let (_, state) = SidecarFile::open(dir.path());
        assert_eq!(state, two);
        assert_eq!(state.history.len(), 1);
    }

    /// A save that fails (here: the log cannot be opened) loses nothing once saving works
    /// again: the next save writes the whole state, the failed change included.
    #[test]
    fn a_failed_save_is_healed_by_the_next() {
        let (dir, mut file, one) = one_item_saved();
        let log = dir.path().join(LOG_FILE);
        std::fs::remove_file(&log).unwrap();
        std::fs::create_dir(&log).unwrap(); // appending to it fails
        let mut two = one.clone();
        two.created(&ItemKey::Backlog("b".into()), "claude", at(2));
        assert!(file.save(&one, &two).is_err());
        std::fs::remove_dir(&log).unwrap();
        let mut three = two.clone();
        three.changed(&ItemKey::Backlog("a".into()), "codex", at(3));
        file.save(&two, &three).unwrap();
        assert_eq!(SidecarFile::load(dir.path()), three, "b, whose save failed, is on disk too");
    }

    /// The state.json of earlier versions (no `seq`, no log) still loads.
    #[test]
    fn reads_a_plain_state_json() {
        let dir = tempfile::tempdir().unwrap();
        let text = r#"{"items":{"story/STORY-1":{"rev":3,"updated_at":"2026-11-21T10:00:00Z","updated_by":"codex"}},"history":[],"claims":{}}"#;
        std::fs::write(dir.path().join(STATE_FILE), text).unwrap();
        let (_, state) = SidecarFile::open(dir.path());
        assert_eq!(state.rev(&ItemKey::Story("STORY-1".into())), 3);
    }
}
