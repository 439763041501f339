//! Watches the data root so edits made behind the server's back (an editor's save,
//! `git checkout`, `git pull`) are picked up within a second, not just at the next call.
//!
//! Events only trigger a refresh; the writer decides what changed by comparing each file
//! with what it last read or wrote (stamp, and bytes within a timestamp tick), so the
//! server's own writes are never mistaken for external edits, and a burst of events (a
//! checkout touching many files) collapses into one refresh.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How long to wait for more events before refreshing.
const SETTLE: Duration = Duration::from_millis(50);

/// Starts watching the store's data root until `shutdown`; logs and carries on without
/// watching if the platform refuses (reads still notice edits by their stamps).
///
/// Only the directories that hold what the server reads are watched, each on its own: the
/// root (`config.yaml`), `projects/` (projects appearing or going) and every project's
/// directory (`work-index.yaml`). Not the vault, `.worksync/` or the archives: the server's
/// own writes there (thousands of notes per vault regeneration, two log appends per
/// write) would each cost an event to decode and drop.
pub fn spawn(store: Store, shutdown: CancellationToken) {
    let layout = store.layout().clone();
    let projects_dir = layout.projects_dir();
    let (events, mut changed) = mpsc::unbounded_channel::<()>();
    let watched_projects = projects_dir.clone();
    let root = layout.root().to_path_buf();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.paths.iter().any(|p| is_watched(&root, p) || p.parent() == Some(watched_projects.as_path()))
        {
            let _ = events.send(());
        }
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the data root; external edits are noticed at the next call");
            return;
        }
    };
    for dir in [layout.root(), projects_dir.as_path()] {
        if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the data root; external edits are noticed at the next call");
            return;
        }
    }
    let mut project_dirs = HashSet::new();
    watch_project_dirs(&mut watcher, &projects_dir, &mut project_dirs);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                event = changed.recv() => if event.is_none() { return },
            }
            tokio::time::sleep(SETTLE).await;
            while changed.try_recv().is_ok() {}
            // A project directory may have appeared (registration, a checkout) since.
            watch_project_dirs(&mut watcher, &projects_dir, &mut project_dirs);
            store.refresh().await;
        }
    });
}

/// Watches every directory under `projects/` not watched yet; forgets the ones that went
/// (their watches ended with them).
fn watch_project_dirs(watcher: &mut impl Watcher, projects_dir: &Path, watched: &mut HashSet<PathBuf>) {
    let present: HashSet<PathBuf> = std::fs::read_dir(projects_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_dir())
        .collect();
    watched.retain(|dir| present.contains(dir));
    for dir in present {
        if !watched.contains(&dir) {
            match watcher.watch(&dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    watched.insert(dir);
                }
                Err(e) => tracing::debug!(dir = %dir.display(), error = %e, "cannot watch a project directory"),
            }
        }
    }
}

/// YAML files are what the server reads; its own temp files and records are not. Only the
/// part of `path` below the data root counts: the default data root is `~/.worksync`.
fn is_watched(root: &Path, path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    let inside = path.strip_prefix(root).unwrap_or(path);
    yaml && !name.starts_with('.') && !inside.components().any(|c| c.as_os_str() == ".worksync")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Under the default data root (`~/.worksync`), a project's work index is watched; the
    /// server's own records and temp files are not.
    #[test]
    fn the_default_data_root_is_watched() {
        let root = Path::new("/home/ana/.worksync");
        assert!(is_watched(root, &root.join("projects/orbit-api/work-index.yaml")));
        assert!(is_watched(root, &root.join("config.yaml")));
        assert!(!is_watched(root, &root.join("projects/orbit-api/.worksync/state.yaml")));
        assert!(!is_watched(root, &root.join("projects/orbit-api/.work-index.yaml.tmp1.yaml")));
        assert!(is_watched(Path::new("/srv/data"), Path::new("/srv/data/projects/p/work-index.yaml")));
    }
}
