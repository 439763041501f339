//! Faults of the disk under a write: a full filesystem and a directory that refuses writes.
//! The tool errors, the old file is intact, the model is unchanged, no temp file is left,
//! and the server keeps serving. These tests need root (mount, chattr), as CI has.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{TestServer, call_err, call_ok};
use serde_json::json;

/// A tiny tmpfs mounted for one test, unmounted when dropped.
struct TinyFs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TinyFs {
    fn mount(size: &str) -> TinyFs {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).unwrap();
        let status =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(&path).status();
        assert!(status.is_ok_and(|s| s.success()), "mounting a tmpfs needs root (CI runs as root)");
        TinyFs { path, _dir: dir }
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".worksync-tmp"))
        .collect()
}

/// Disk full during a write: the tool says so, nothing is half-written or left behind, the
/// model keeps its old state, and writes work again once there is room.
#[tokio::test]
async fn disk_full_during_a_write() {
    let fs = TinyFs::mount("1m");
    let root = fs.path.join("root");
    worksync::store::Layout::new(&root).bootstrap().unwrap();
    let mut server = TestServer::serve_root(&root).await;
    let client = server.client("agent").await;
    let index = root.join("projects/orbit-api/work-index.yaml");
    let before = std::fs::read(&index).unwrap();

    // Fill the filesystem.
    let filler = fs.path.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 4096];
    while std::io::Write::write_all(&mut file, &chunk).is_ok() {}
    drop(file);

    let error = call_err(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "no-room", "summary": "s", "theme": "t"}),
    )
    .await;
    assert!(error["error"].as_str().unwrap().contains("No space left"), "{error}");
    assert!(error["hint"].as_str().unwrap().contains("Nothing was changed"), "{error}");
    assert_eq!(std::fs::read(&index).unwrap(), before, "the old file is intact");
    assert!(temp_files(index.parent().unwrap()).is_empty(), "no temp file left");
    let status = call_ok(&client, "worksync_status", json!({"project": "orbit-api"})).await;
    assert_eq!(status["projects"]["orbit-api"]["stats"]["total_backlog"], 20, "the model is unchanged");

    std::fs::remove_file(&filler).unwrap();
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "room-again", "summary": "s", "theme": "t"}),
    )
    .await;
    drop(client);
    server.stop().await;
}

/// A directory that refuses writes (immutable): the tool errors, the file is intact, the
/// model unchanged, and the server keeps serving other calls.
#[tokio::test]
async fn read_only_directory_during_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    worksync::store::Layout::new(&root).bootstrap().unwrap();
    let mut server = TestServer::serve_root(&root).await;
    let client = server.client("agent").await;
    let project = root.join("projects/orbit-api");
    let index = project.join("work-index.yaml");
    let before = std::fs::read(&index).unwrap();
    let locked = Command::new("chattr").arg("+i").arg(&project).status();
    assert!(locked.is_ok_and(|s| s.success()), "chattr +i needs root (CI runs as root)");

    let error = call_err(
        &client,
        "worksync_update_backlog",
        json!({"project": "orbit-api", "id": "web-strict-csp", "status": "done"}),
    )
    .await;
    let _ = Command::new("chattr").arg("-i").arg(&project).status();
    assert!(error["error"].as_str().unwrap().contains("failed to"), "{error}");
    assert_eq!(std::fs::read(&index).unwrap(), before);
    assert!(temp_files(&project).is_empty());
    let status = call_ok(&client, "worksync_status", json!({"project": "orbit-api"})).await;
    assert_eq!(status["projects"]["orbit-api"]["stats"]["done"], 3, "the model is unchanged");
    call_ok(
        &client,
        "worksync_update_backlog",
        json!({"project": "orbit-api", "id": "web-strict-csp", "status": "done"}),
    )
    .await;
    drop(client);
    server.stop().await;
}
