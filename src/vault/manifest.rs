//! The list of notes the generator wrote, with a hash of what it wrote.
//!
//! This is what keeps a person's notes safe: the generator changes or deletes a file only
//! if the manifest lists it *and* the file still holds what the generator wrote there. Kept
//! in `<vault>/.worksync/manifest.json` (Obsidian ignores dot-folders), written atomically
//! and durably after the notes it lists.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    /// The file's stamp when we last read or wrote it: anything else means another process
    /// (`worksync sync`) wrote it meanwhile.
    pub stamp: Option<FileStamp>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    generator: String,
    version: u32,
    notes: BTreeMap<String, String>,
}

impl Manifest {
    /// `<vault>/.worksync/manifest.json`.
    pub fn path(vault: &Path) -> PathBuf {
        vault.join(".worksync").join("manifest.json")
    }

    /// Reads the manifest of `vault`. A missing one is empty; an unreadable one is empty too,
    /// with a warning: then no existing note counts as generated unless it already holds
    /// exactly what would be written, which errs on the side of the user's files.
    pub fn load(vault: &Path) -> Manifest {
        let path = Manifest::path(vault);
        let stamp = FileStamp::of(&path).ok().flatten();
        let Ok(bytes) = std::fs::read(&path) else { return Manifest { notes: BTreeMap::new(), stamp } };
        match serde_json::from_slice::<OnDisk>(&bytes) {
            Ok(file) => {
                let notes = file
                    .notes
                    .into_iter()
                    .filter_map(|(path, hex)| Some((path, Hash::from_str_radix(&hex, 16).ok()?)))
                    .collect();
                Manifest { notes, stamp }
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable vault manifest; existing notes are treated as the user's");
                Manifest { notes: BTreeMap::new(), stamp }
            }
        }
    }

    /// Writes the manifest durably.
    pub fn save(&mut self, vault: &Path) -> Result<(), String> {
        let path = Manifest::path(vault);
        // One note per line, written directly: at 10,000 notes this runs after every change.
        let mut text = String::with_capacity(64 + self.notes.len() * 96);
        text.push_str("{\"generator\":\"worksync\",\"version\":1,\"notes\":{");
        for (i, (path, hash)) in self.notes.iter().enumerate() {
            let separator = if i == 0 { "\n" } else { ",\n" };
            let path = serde_json::to_string(path).expect("paths serialize");
            let _ = write!(text, "{separator}{path}:\"{hash:032x}\"");
        }
        text.push_str("\n}}\n");
        let bytes = text.into_bytes();
        atomic::create_dir_durable(path.parent().expect("manifest has a parent")).map_err(|e| e.to_string())?;
        self.stamp = Some(atomic::write_atomic(&path, &bytes).map_err(|e| e.to_string())?);
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
        let loaded = Manifest::load(dir.path());
        assert_eq!(loaded.notes, manifest.notes);
        assert_eq!(loaded.stamp, manifest.stamp);
        std::fs::write(Manifest::path(dir.path()), "{not json").unwrap();
        assert!(Manifest::load(dir.path()).notes.is_empty());
    }
}
