//! The real binary under SIGTERM: in-flight calls finish, acknowledged writes are on disk,
//! and the process exits 0.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Process, read_yaml};
use rmcp::model::CallToolRequestParams;
use serde_json::json;

/// SIGTERM during a burst of writes from 4 clients: exit code 0, every acknowledged write is
/// in the file, the file parses, and no temp file is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_during_writes_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut server = Process::serve(&root);
    let answered = Arc::new(AtomicUsize::new(0));
    let mut writers = Vec::new();
    for n in 0..4 {
        let client = server.client(&format!("writer-{n}")).await;
        let answered = answered.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..10_000 {
                let id = format!("burst-{n}-{i}");
                let args = json!({"project": "orbit-api", "id": id, "summary": "burst", "theme": "load"});
                let request = CallToolRequestParams::new("worksync_add_backlog")
                    .with_arguments(args.as_object().unwrap().clone());
                // A call cut off by the shutdown may never be answered: not acknowledged.
                match tokio::time::timeout(Duration::from_secs(5), client.call_tool(request)).await {
                    Ok(Ok(result)) if result.is_error != Some(true) => {
                        acknowledged.push(id);
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    _ => break,
                }
            }
            acknowledged
        }));
    }
    // The burst is under way once the writers have been answered 40 times between them.
    common::eventually("the burst under way", common::PATIENCE, async || {
        let answered = answered.load(Ordering::Relaxed);
        if answered >= 40 { Ok(()) } else { Err(answered) }
    })
    .await;
    server.signal("TERM");
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait(Duration::from_secs(20));
        drop(server);
        status
    })
    .await
    .unwrap();
    assert!(status.success(), "graceful exit: {status:?}");

    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    assert!(!acknowledged.is_empty(), "the burst was under way ({} writes)", acknowledged.len());
    eprintln!("{} writes acknowledged before the shutdown", acknowledged.len());
    let index = root.join("projects/orbit-api/work-index.yaml");
    let yaml = read_yaml(&index);
    let ids: std::collections::HashSet<&str> =
        yaml["backlog"].as_sequence().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|id| !ids.contains(id.as_str())).collect();
    assert!(lost.is_empty(), "acknowledged but not on disk: {lost:?}");
    let leftovers: Vec<_> = std::fs::read_dir(index.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".worksync-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}
