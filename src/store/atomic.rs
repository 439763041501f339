//! Durable, atomic file replacement: a crash at any moment leaves the old file or the new one.
//!
//! The discipline: a temp file in the target's own directory (so the rename never
//! crosses a filesystem), write, fsync the file, rename it over the target, fsync the directory
//! (so the rename itself survives a power cut). Temp files carry a recognisable suffix so that
//! the ones a crash left behind are swept at start.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::error::StoreError;

/// Suffix of our temp files; [`sweep_temp_files`] removes leftovers carrying it.
const TEMP_SUFFIX: &str = ".worksync-tmp";

/// Identity of a file's content as seen by `stat`: if any part differs, someone else wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStamp {
    len: u64,
    modified_ns: i128,
    inode: u64,
}

impl FileStamp {
    /// Stats `path`; `None` if it does not exist.
    pub fn of(path: &Path) -> Result<Option<FileStamp>, StoreError> {
        match fs::metadata(path) {
            Ok(meta) => Ok(Some(FileStamp::from_metadata(&meta))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io("inspect", path, e)),
        }
    }

    /// How long ago the file was last modified.
    pub fn age(&self) -> std::time::Duration {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or_default();
        std::time::Duration::from_nanos((now - self.modified_ns).max(0) as u64)
    }

    /// Was the file modified so recently that a second write within the same timestamp tick
    /// could go unnoticed (same size, same mtime)? Then only its bytes can tell.
    pub fn is_racy(&self) -> bool {
        self.age() < std::time::Duration::from_secs(2)
    }

    fn from_metadata(meta: &fs::Metadata) -> FileStamp {
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos() as i128)
            .unwrap_or_default();
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(meta);
        #[cfg(not(unix))]
        let inode = 0;
        FileStamp { len: meta.len(), modified_ns, inode }
    }
}

/// Replaces `path` with `contents` durably; returns the new file's stamp.
///
/// On any error the target is untouched and the temp file is removed (tempfile deletes it on
/// drop).
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<FileStamp, StoreError> {
    write_atomic_unless_changed(path, contents, |_| Ok(true))
}

/// Like [`write_atomic`], but only if the target still holds what the caller last read:
/// `unchanged(p)` says whether the file at `p` is that version. If someone else saved the
/// file meanwhile, nothing is written and the target keeps their save
/// ([`StoreError::Changed`]), so the caller can re-read it and try again.
///
/// A check followed by a rename leaves a window in which an editor's save can land and be
/// replaced. Where the system can swap two names atomically (`renameat2` with
/// `RENAME_EXCHANGE` on Linux, `renamex_np` with `RENAME_SWAP` on macOS), the new file is
/// swapped in and what it displaced is checked afterwards: if that was not the version the
/// caller read, the swap is undone, so the save that slipped in is back in place. Elsewhere
/// (or on a filesystem that cannot swap) the window stays as small as a check and a rename.
///
/// A symlink is written through: the target of the link is replaced, in its own directory,
/// and the link stays a link.
pub fn write_atomic_unless_changed(
    path: &Path,
    contents: &[u8],
    unchanged: impl Fn(&Path) -> Result<bool, StoreError>,
) -> Result<FileStamp, StoreError> {
    let target = resolve_links(path).map_err(|e| StoreError::io("follow the symlink", path, e))?;
    let dir = parent_dir(&target);
    let mut temp = temp_next_to(&target, &dir).map_err(|e| StoreError::io("create a temp file next to", path, e))?;
    temp.write_all(contents).map_err(|e| StoreError::io("write", path, e))?;
    temp.as_file().sync_all().map_err(|e| StoreError::io("fsync", path, e))?;
    let meta = temp.as_file().metadata().map_err(|e| StoreError::io("inspect", path, e))?;
    if !unchanged(&target)? {
        return Err(StoreError::Changed { path: path.to_path_buf() });
    }
    match swap::exchange(temp.path(), &target) {
        Ok(()) => {
            // The temp name now holds the file we displaced: was it the version we read?
            let displaced_ok = unchanged(temp.path());
            if !matches!(displaced_ok, Ok(true)) {
                undo_swap(temp.path(), &target, path)?;
                displaced_ok?;
                return Err(StoreError::Changed { path: path.to_path_buf() });
            }
            // Dropping the temp file removes the displaced version.
            drop(temp);
        }
        Err(swap::Unsupported) => {
            temp.persist(&target).map_err(|e| StoreError::io("rename over", path, e.error))?;
        }
    }
    sync_dir(&dir).map_err(|e| StoreError::io("fsync the directory of", path, e))?;
    Ok(FileStamp::from_metadata(&meta))
}

/// Puts back a save that slipped in between our check and our swap. If even that fails, the
/// save is kept under a name a person will see, and the failure is logged as an error.
fn undo_swap(displaced: &Path, target: &Path, shown: &Path) -> Result<(), StoreError> {
    if swap::exchange(displaced, target).is_ok() {
        tracing::warn!(path = %shown.display(), "the file was saved by someone else during a write; their save is kept and the write is retried on top of it");
        return Ok(());
    }
    let name = target.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3f");
    let kept = target.with_file_name(format!("{name}.saved-by-hand-{stamp}"));
    match fs::rename(displaced, &kept) {
        Ok(()) => {
            tracing::error!(path = %shown.display(), kept = %kept.display(), "a save made during a write could not be put back; it is kept beside the file")
        }
        Err(e) => {
            tracing::error!(path = %shown.display(), error = %e, "a save made during a write could not be put back or kept")
        }
    }
    Err(StoreError::Changed { path: shown.to_path_buf() })
}

/// Follows `path` through symlinks (relative ones from the link's directory) to the file a
/// write must replace; a path that does not exist is its own target.
fn resolve_links(path: &Path) -> std::io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let link = fs::read_link(&current)?;
                current = if link.is_absolute() { link } else { parent_dir(&current).join(link) };
            }
            Ok(_) => return Ok(current),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(current),
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("too many levels of symbolic links"))
}

/// Atomic exchange of two names, where the system has one.
mod swap {
    use std::path::Path;

    /// The system or the filesystem cannot exchange two names atomically.
    pub struct Unsupported;

    #[cfg(any(target_os = "linux", target_os = "android", target_vendor = "apple"))]
    pub fn exchange(a: &Path, b: &Path) -> Result<(), Unsupported> {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        // Any failure (a filesystem without the flag, a target that vanished) falls back to
        // the plain rename, which reports its own errors.
        renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(|_| Unsupported)
    }

    #[cfg(not(any(target_os = "linux", target_os = "android", target_vendor = "apple")))]
    pub fn exchange(_a: &Path, _b: &Path) -> Result<(), Unsupported> {
        Err(Unsupported)
    }
}

/// Replaces `path` with `contents` atomically but without fsync: a crash leaves the old
/// file or the new one, though after a power cut the file may also be empty. For derived
/// files (the vault), which are regenerated anyway and whose fsyncs would cost more than
/// the rest of their generation.
pub fn replace_unsynced(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut temp = temp_next_to(path, &parent_dir(path))?;
    temp.write_all(contents)?;
    temp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// A temp file in `dir` named after `path` (so a sweep recognises it), with the target's
/// permissions, or 0644 for a new file (tempfile creates 0600).
fn temp_next_to(path: &Path, dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let temp = tempfile::Builder::new().prefix(&format!(".{name}.")).suffix(TEMP_SUFFIX).tempfile_in(dir)?;
    if let Ok(meta) = fs::metadata(path) {
        let _ = temp.as_file().set_permissions(meta.permissions());
    } else {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = temp.as_file().set_permissions(fs::Permissions::from_mode(0o644));
        }
    }
    Ok(temp)
}

/// Creates `dir` (and parents) and makes the new entries durable.
pub fn create_dir_durable(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        // Already there (and made durable when it was created): no fsync on the hot path.
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
    if let Some(parent) = dir.parent() {
        sync_dir(parent).map_err(|e| StoreError::io("fsync directory", parent, e))?;
    }
    Ok(())
}

/// Removes temp files a crash left in `dir` (ours, and the Python tool's `tmp*.yaml.tmp`);
/// returns how many were removed.
pub fn sweep_temp_files(dir: &Path) -> usize {
    sweep(dir, true)
}

/// Removes only our own temp files from `dir` (in the vault, where any other file may be a
/// person's).
pub fn sweep_own_temp_files(dir: &Path) -> usize {
    sweep(dir, false)
}

fn sweep(dir: &Path, python_too: bool) -> usize {
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let ours = name.starts_with('.') && name.ends_with(TEMP_SUFFIX);
        let python = python_too && name.starts_with("tmp") && name.ends_with(".yaml.tmp");
        if (ours || python) && entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
            match fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::info!(path = %entry.path().display(), "removed a temp file left by an interrupted write");
                    removed += 1;
                }
                Err(e) => {
                    tracing::warn!(path = %entry.path().display(), error = %e, "could not remove a stale temp file")
                }
            }
        }
    }
    removed
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Makes the entries of `dir` (a file just created or renamed there) durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

/// Makes the entries of `dir` durable (nothing to do where directories cannot be synced).
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write replaces the content, keeps the mode and leaves no temp file.
    #[test]
    fn replaces_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("work-index.yaml");
        fs::write(&path, "old").unwrap();
        let before = FileStamp::of(&path).unwrap();
        let stamp = write_atomic(&path, b"new content").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new content");
        assert_ne!(Some(stamp), before);
        assert_eq!(FileStamp::of(&path).unwrap(), Some(stamp));
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A person's save that lands after the writer's last look and before its rename (here
    /// the check itself saves, right after looking) is back in place afterwards, and the
    /// write reports `Changed` so it is retried on top of the save. Both kinds of save: a
    /// new file renamed over the old one, and the old file rewritten in place.
    #[test]
    fn a_save_in_the_window_before_the_rename_is_kept() {
        for in_place in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("work-index.yaml");
            fs::write(&path, "read by the writer\n").unwrap();
            let read = fs::read(&path).unwrap();
            let looked = std::cell::Cell::new(false);
            let unchanged = |p: &Path| {
                let same = fs::read(p).map_err(|e| StoreError::io("read", p, e))? == read;
                if !looked.replace(true) {
                    if in_place {
                        fs::write(&path, "saved in place by a person\n").unwrap();
                    } else {
                        let save = dir.path().join(".work-index.yaml.swp");
                        fs::write(&save, "saved by rename by a person\n").unwrap();
                        fs::rename(&save, &path).unwrap();
                    }
                }
                Ok(same)
            };
            let outcome = write_atomic_unless_changed(&path, b"the writer's version\n", unchanged);
            assert!(matches!(outcome, Err(StoreError::Changed { .. })), "in place: {in_place}: {outcome:?}");
            let on_disk = fs::read_to_string(&path).unwrap();
            assert!(on_disk.contains("by a person"), "in place: {in_place}: the save was replaced: {on_disk:?}");
            let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(names, ["work-index.yaml"], "in place: {in_place}: no temp file left");
        }
    }

    /// A symlinked file is written through: the link stays a link and its target changes.
    #[cfg(unix)]
    #[test]
    fn writes_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = dir.path().join("repo/plan");
        fs::create_dir_all(&elsewhere).unwrap();
        fs::write(elsewhere.join("work-index.yaml"), "old").unwrap();
        let link = dir.path().join("work-index.yaml");
        std::os::unix::fs::symlink("repo/plan/work-index.yaml", &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read_to_string(elsewhere.join("work-index.yaml")).unwrap(), "new");
        assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 1, "no temp file left beside the target");
    }

    /// Leftover temp files are swept; other files are not.
    #[test]
    fn sweeps_only_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".work-index.yaml.abc123.worksync-tmp"), "x").unwrap();
        fs::write(dir.path().join("tmpk2j3.yaml.tmp"), "x").unwrap();
        fs::write(dir.path().join("notes.yaml"), "keep").unwrap();
        assert_eq!(sweep_temp_files(dir.path()), 2);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
