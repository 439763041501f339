//! Watches the data root so edits made behind the server's back (an editor's save,
//! `git checkout`, `git pull`) are picked up within a second, not just at the next call.
//!
//! Events only trigger a refresh; the writer decides what changed by comparing each file
//! with what it last read or wrote (stamp, and bytes within a timestamp tick), so the
//! server's own writes are never mistaken for external edits, and a burst of events (a
//! checkout touching many files) collapses into one refresh.

use std::path::Path;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::store::Store;

/// How long to wait for more events before refreshing.
const SETTLE: Duration = Duration::from_millis(50);

/// Starts watching the store's data root until `shutdown`; logs and carries on without
/// watching if the platform refuses (reads still notice edits by their stamps).
pub fn spawn(store: Store, shutdown: CancellationToken) {
    let (events, mut changed) = mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && event.paths.iter().any(|p| is_watched(p))
        {
            let _ = events.send(());
        }
    });
    let root = store.layout().root().to_path_buf();
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch the data root; external edits are noticed at the next call");
            return;
        }
    };
    if let Err(e) = watcher.watch(&root, RecursiveMode::Recursive) {
        tracing::warn!(root = %root.display(), error = %e, "cannot watch the data root; external edits are noticed at the next call");
        return;
    }
    tokio::spawn(async move {
        let _watcher = watcher; // dropping it stops the watch
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                event = changed.recv() => if event.is_none() { return },
            }
            tokio::time::sleep(SETTLE).await;
            while changed.try_recv().is_ok() {}
            store.refresh().await;
        }
    });
}

/// YAML files are what the server reads; its own temp files and the vault are not.
fn is_watched(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    yaml && !name.starts_with('.') && !path.components().any(|c| c.as_os_str() == ".worksync")
}
