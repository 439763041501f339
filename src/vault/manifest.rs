//! The list of notes the generator wrote, with a hash of what it wrote.
//!
//! This is what keeps a person's notes safe: the generator changes or deletes a file only
//! if the manifest lists it *and* the file still holds what the generator wrote there
//! ([`Manifest::proves`]). Kept in `<vault>/.worksync/manifest.json` (Obsidian ignores
//! dot-folders), written atomically and durably after the notes it lists; what a run was
//! about to write when it was killed is in the [intent log](super::intent), which loading
//! folds in. Entries are checked as they are read: one that is not a plain note path inside
//! the vault ([`boundary::check`](super::boundary::check)) is ignored and reported.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::boundary;
use super::edits::Written;
use super::error::VaultError;
use super::intent::IntentLog;
use crate::store::atomic::{self, FileStamp};

/// Content hash of a note (xxh3, 128 bits).
pub type Hash = u128;

/// The hash of `bytes`.
pub fn hash(bytes: &[u8]) -> Hash {
    xxhash_rust::xxh3::xxh3_128(bytes)
}

/// The manifest in memory.
#[derive(Debug, Default)]
pub struct Manifest {
    /// Vault-relative path (`/`-separated) → hash of the content written there.
    pub notes: BTreeMap<String, Hash>,
    /// For the notes of stories and backlog items: what was written, to tell a person's
    /// change of `status` or `priority` from any other edit ([`edits`](super::edits)).
    pub fields: HashMap<String, Written>,
    /// Per path, what the intent log says a killed run may have written there (content the
    /// file may hold besides `notes`' hash), until a run looks at the file.
    pub(crate) unsettled: HashMap<String, Vec<Hash>>,
    /// The file's stamp when we last read or wrote it: anything else means another process
    /// (`worksync sync`) wrote it meanwhile.
    pub stamp: Option<FileStamp>,
    /// Entries of the manifest or the intent log that were ignored, and why; the next run
    /// reports them.
    pub(crate) problems: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    generator: String,
    version: u32,
    notes: BTreeMap<String, String>,
    #[serde(default)]
    fields: HashMap<String, Written>,
}

impl Manifest {
    /// `<vault>/.worksync/manifest.json`.
    pub fn path(vault: &Path) -> PathBuf {
        vault.join(".worksync").join("manifest.json")
    }

    /// Reads the manifest of `vault`, with the intents of runs that were killed. A missing
    /// manifest is empty; an unreadable one is empty too, with a warning: then no existing
    /// note counts as generated unless it already holds exactly what would be written,
    /// which errs on the side of the user's files.
    pub fn load(vault: &Path) -> Manifest {
        let path = Manifest::path(vault);
        let stamp = FileStamp::of(&path).ok().flatten();
        let mut manifest = Manifest { stamp, ..Manifest::default() };
        match std::fs::read(&path).map(|bytes| serde_json::from_slice::<OnDisk>(&bytes)) {
            Err(_) => {}
            Ok(Ok(mut file)) => {
                manifest.fields = std::mem::take(&mut file.fields);
                for (note, hex) in file.notes {
                    match (boundary::check(&note), Hash::from_str_radix(&hex, 16)) {
                        (Ok(()), Ok(hash)) => {
                            manifest.notes.insert(note, hash);
                        }
                        (Err(why), _) => manifest.problems.push(format!("{note:?} {why}")),
                        (_, Err(_)) => manifest.problems.push(format!("{note:?} has no valid hash ({hex:?})")),
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable vault manifest; existing notes are treated as the user's");
            }
        }
        let notes = &manifest.notes;
        manifest.fields.retain(|path, _| notes.contains_key(path));
        let (intents, problems) = IntentLog::open(vault).read();
        manifest.problems.extend(problems);
        for (note, hash) in intents {
            manifest.notes.entry(note.clone()).or_insert(hash);
            manifest.unsettled.entry(note).or_default().push(hash);
        }
        manifest
    }

    /// Does `bytes`, the content of the file at `path`, prove that worksync wrote it? Only
    /// if it is what the manifest recorded there or what an unsettled intent names. Empty
    /// content proves nothing, whatever hash is recorded: worksync never writes an empty
    /// note.
    pub fn proves(&self, path: &str, bytes: &[u8]) -> bool {
        if bytes.is_empty() {
            return false;
        }
        let hash = hash(bytes);
        self.notes.get(path) == Some(&hash) || self.unsettled.get(path).is_some_and(|hashes| hashes.contains(&hash))
    }

    /// Writes the manifest durably.
    pub fn save(&mut self, vault: &Path) -> Result<(), VaultError> {
        let path = Manifest::path(vault);
        // One note per line, written directly: at 10,000 notes this runs after every change.
        let mut text = String::with_capacity(64 + self.notes.len() * 96);
        text.push_str("{\"generator\":\"worksync\",\"version\":1,\"notes\":{");
        for (i, (path, hash)) in self.notes.iter().enumerate() {
            let separator = if i == 0 { "\n" } else { ",\n" };
            let path = serde_json::to_string(path).expect("paths serialize");
            let _ = write!(text, "{separator}{path}:\"{hash:032x}\"");
        }
        text.push_str("\n},\"fields\":{");
        for (i, (path, written)) in self.fields.iter().filter(|(p, _)| self.notes.contains_key(*p)).enumerate() {
            let separator = if i == 0 { "\n" } else { ",\n" };
            let path = serde_json::to_string(path).expect("paths serialize");
            let written = serde_json::to_string(written).expect("fields serialize");
            let _ = write!(text, "{separator}{path}:{written}");
        }
        text.push_str("\n}}\n");
        let bytes = text.into_bytes();
        let failed = |cause| VaultError::Manifest { cause };
        atomic::create_dir_durable(path.parent().expect("manifest has a parent")).map_err(failed)?;
        self.stamp = Some(atomic::write_atomic(&path, &bytes).map_err(failed)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_survives_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = Manifest::default();
        manifest.notes.insert("projects/p/Dashboard.md".into(), hash(b"x"));
        manifest.save(dir.path()).unwrap();
        let written = Written { rev: 2, status: "todo".into(), priority: Some(1), rest: hash(b"rest") };
        manifest.fields.insert("projects/p/Dashboard.md".into(), written);
        manifest.fields.insert(
            "projects/p/gone.md".into(),
            Written { rev: 1, ..manifest.fields["projects/p/Dashboard.md"].clone() },
        );
        manifest.save(dir.path()).unwrap();
        let loaded = Manifest::load(dir.path());
        assert_eq!(loaded.notes, manifest.notes);
        assert_eq!(loaded.stamp, manifest.stamp);
        assert_eq!(loaded.fields.len(), 1, "only fields of listed notes are kept");
        assert_eq!(loaded.fields["projects/p/Dashboard.md"], manifest.fields["projects/p/Dashboard.md"]);
        std::fs::write(Manifest::path(dir.path()), "{not json").unwrap();
        assert!(Manifest::load(dir.path()).notes.is_empty());
    }

    #[test]
    fn bad_entries_are_ignored_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join(".worksync")).unwrap();
        let good = format!("{:032x}", hash(b"x"));
        let text = serde_json::json!({"generator": "worksync", "version": 1, "notes": {
            "projects/p/Dashboard.md": good, "/etc/x.md": good, "../x.md": good, "projects/p/Backlog/y.md": "zz",
        }});
        std::fs::write(Manifest::path(dir.path()), text.to_string()).unwrap();
        let loaded = Manifest::load(dir.path());
        assert_eq!(loaded.notes.keys().collect::<Vec<_>>(), ["projects/p/Dashboard.md"]);
        assert_eq!(loaded.problems.len(), 3, "{:?}", loaded.problems);
        assert!(loaded.problems.iter().any(|p| p.starts_with("\"/etc/x.md\" is absolute")), "{:?}", loaded.problems);
    }

    #[test]
    fn only_content_worksync_wrote_proves_anything() {
        let mut manifest = Manifest::default();
        manifest.notes.insert("a.md".into(), hash(b"old"));
        manifest.notes.insert("empty.md".into(), hash(b""));
        manifest.unsettled.insert("a.md".into(), vec![hash(b"intended")]);
        assert!(manifest.proves("a.md", b"old") && manifest.proves("a.md", b"intended"));
        assert!(!manifest.proves("a.md", b"edited by a person"));
        assert!(!manifest.proves("empty.md", b""), "a recorded hash of empty content proves nothing");
        assert!(!manifest.proves("other.md", b"old"), "content proves something only at its own path");
    }
}
