//! What of a project travels when it is shared: the plan. `work-index.yaml`, and the files
//! directly in `PROMPTS/`, `SCHEMA/`, `BACKLOG/` and `COMPLETE/` (prompts, the schema,
//! archives). Never `.worksync/` (revisions, claims, the journal: this machine's), never a
//! hidden, temp or swap file, never anything deeper or elsewhere.
//!
//! Paths are `/`-separated and relative to the project directory; a path that comes from
//! another machine is used only if [`is_plan_path`] accepts it.

use std::collections::BTreeMap;
use std::path::Path;

use super::atomic;
use super::error::StoreError;

/// The directories whose files travel with the plan.
pub const PLAN_DIRS: [&str; 4] = ["PROMPTS", "SCHEMA", "BACKLOG", "COMPLETE"];
/// The work index, relative to the project directory.
pub const WORK_INDEX: &str = "work-index.yaml";
/// Largest file that travels (a plan file larger than this is left out, with a warning).
pub const MAX_PLAN_FILE: u64 = 4 * 1024 * 1024;

/// Is `path` a file the plan may hold: `DIR/name` for one of [`PLAN_DIRS`] and a plain,
/// visible file name?
pub fn is_plan_path(path: &str) -> bool {
    let Some((dir, name)) = path.split_once('/') else { return false };
    PLAN_DIRS.contains(&dir) && is_plan_name(name)
}

/// A file name that travels: visible, no separator or control character, not a temp or
/// swap file.
fn is_plan_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.ends_with('~')
        && !name.ends_with(".swp")
        && !name.ends_with(".tmp")
        && name.len() <= 255
        && !name.chars().any(|c| c.is_control() || matches!(c, '/' | '\\' | ':'))
}

/// The plan's files in `project_dir` other than the work index, path → bytes.
pub fn read_files(project_dir: &Path) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
    let mut files = BTreeMap::new();
    for dir in PLAN_DIRS {
        let Ok(entries) = std::fs::read_dir(project_dir.join(dir)) else { continue };
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if !is_file || !is_plan_name(&name) {
                continue;
            }
            let path = entry.path();
            if entry.metadata().is_ok_and(|m| m.len() > MAX_PLAN_FILE) {
                tracing::warn!(path = %path.display(), "a plan file over 4 MiB is not shared");
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| StoreError::io("read", &path, e))?;
            files.insert(format!("{dir}/{name}"), bytes);
        }
    }
    Ok(files)
}

/// Writes (or, for `None`, removes) plan files in `project_dir`, each atomically.
pub fn write_files(project_dir: &Path, files: &BTreeMap<String, Option<Vec<u8>>>) -> Result<(), StoreError> {
    for (relative, bytes) in files {
        if !is_plan_path(relative) {
            return Err(StoreError::invalid(
                "path",
                format!("'{relative}' is not a file a shared plan may hold"),
                "Plan files live directly in PROMPTS/, SCHEMA/, BACKLOG/ or COMPLETE/.",
            ));
        }
        let path = project_dir.join(relative);
        match bytes {
            Some(bytes) => {
                if let Some(dir) = path.parent() {
                    atomic::create_dir_durable(dir)?;
                }
                atomic::write_atomic(&path, bytes)?;
            }
            None => match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io("remove", &path, e)),
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only plain files directly in the plan's directories travel.
    #[test]
    fn plan_paths() {
        for ok in ["PROMPTS/review.md", "SCHEMA/work-flow-schema.json", "COMPLETE/history.yaml", "BACKLOG/old.md"] {
            assert!(is_plan_path(ok), "{ok}");
        }
        for bad in [
            "work-index.yaml",
            ".worksync/state.json",
            "PROMPTS/.hidden.md",
            "PROMPTS/a/b.md",
            "PROMPTS/../x",
            "OTHER/x.md",
            "PROMPTS/x.md~",
            "PROMPTS/.x.md.swp",
            "PROMPTS/",
            "/etc/passwd",
            "PROMPTS\\x",
        ] {
            assert!(!is_plan_path(bad), "{bad}");
        }
    }

    /// Reading picks the plan's files and nothing else; writing and removing round-trip.
    #[test]
    fn read_and_write() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("PROMPTS/deeper")).unwrap();
        std::fs::create_dir_all(root.join(".worksync")).unwrap();
        std::fs::write(root.join("PROMPTS/review.md"), "r").unwrap();
        std::fs::write(root.join("PROMPTS/.review.md.swp"), "swap").unwrap();
        std::fs::write(root.join("PROMPTS/deeper/x.md"), "deep").unwrap();
        std::fs::write(root.join(".worksync/state.json"), "{}").unwrap();
        let files = read_files(root).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["PROMPTS/review.md"]);
        let mut changes = BTreeMap::new();
        changes.insert("COMPLETE/history.yaml".to_string(), Some(b"history: []\n".to_vec()));
        changes.insert("PROMPTS/review.md".to_string(), None);
        write_files(root, &changes).unwrap();
        let files = read_files(root).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["COMPLETE/history.yaml"]);
        let mut bad = BTreeMap::new();
        bad.insert("../outside".to_string(), Some(b"x".to_vec()));
        assert!(write_files(root, &bad).is_err());
    }
}
