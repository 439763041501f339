//! Humans edit the files too: their edits are kept, and broken files are never overwritten.

use crate::common;

use common::{TestServer, call_err, call_ok, copy_tree, fixture, read_yaml};
use serde_json::json;

/// A hand edit of work-index.yaml between two calls is seen by the next read and survives
/// the next mutation, which is applied on top of it.
#[tokio::test]
async fn hand_edit_survives_next_mutation() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "before-edit", "summary": "s", "theme": "t"}),
    )
    .await;

    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text
        .replace("  summary: s\n", "  summary: summary rewritten by a human\n")
        .replace("# yaml-language-server", "# Edited by hand on Friday.\n# yaml-language-server");
    assert_ne!(edited, text);
    std::fs::write(&path, &edited).unwrap();

    let status = call_ok(&client, "worksync_status", json!({"project": "orbit-api"})).await;
    assert_eq!(status["projects"]["orbit-api"]["stats"]["total_backlog"], 21);
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "after-edit", "summary": "s2", "theme": "t"}),
    )
    .await;

    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.starts_with("# Edited by hand on Friday.\n"), "the human's comment is kept");
    assert!(after.contains("summary: summary rewritten by a human"), "the human's change is kept");
    assert!(after.starts_with(&edited[..edited.find("history:").unwrap()]), "only the new item was added");
    let ids: Vec<String> = read_yaml(&path)["backlog"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.ends_with(&["before-edit".to_string(), "after-edit".to_string()]));
}

/// A broken YAML file: the mutation fails naming file, line and column, the file's bytes
/// are unchanged, and another project keeps working. Fixing the file makes it work again.
#[tokio::test]
async fn broken_file_is_reported_and_never_overwritten() {
    let server = TestServer::start_with(|layout| copy_tree(&fixture("python-root"), layout.root())).await;
    let client = server.client("agent").await;
    let path = server.path("projects/legacy-app/work-index.yaml");
    let good = std::fs::read_to_string(&path).unwrap();
    let broken = good.replace("  title: Portal Payments\n", "  title: [Portal Payments\n");
    std::fs::write(&path, &broken).unwrap();

    let error = call_err(
        &client,
        "worksync_update_story",
        json!({"project": "legacy-app", "sprint_id": "portal-payments", "story_id": "STORY-4", "status": "done"}),
    )
    .await;
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("legacy-app/work-index.yaml:"), "{message}");
    assert_eq!((error["line"].as_u64(), error["column"].as_u64()), (Some(23), Some(10)), "{error}");
    assert!(error["column"].is_u64());
    assert!(error["hint"].as_str().unwrap().contains("not changed"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken, "the broken file is untouched");
    let status = call_ok(&client, "worksync_status", json!({})).await;
    assert!(status["projects"]["legacy-app"]["error"].as_str().unwrap().contains("work-index.yaml"));

    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "other-app", "id": "still-works", "summary": "s", "theme": "t"}),
    )
    .await;
    assert_eq!(read_yaml(&server.path("projects/other-app/work-index.yaml"))["backlog"][1]["id"], "still-works");

    std::fs::write(&path, &good).unwrap();
    call_ok(
        &client,
        "worksync_update_story",
        json!({"project": "legacy-app", "sprint_id": "portal-payments", "story_id": "STORY-4", "status": "done"}),
    )
    .await;
}

/// A broken config.yaml leaves the last good registry in use for reads, and refuses
/// registry changes with the file and line.
#[tokio::test]
async fn broken_config_keeps_serving() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let config = server.path("config.yaml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{good}\nprojects: [oops\n")).unwrap();
    let status = call_ok(&client, "worksync_status", json!({})).await;
    assert!(status["projects"]["orbit-api"]["stats"].is_object());
    let error = call_err(&client, "worksync_register_project", json!({"name": "x", "repo": "/tmp"})).await;
    assert!(error["error"].as_str().unwrap().contains("config.yaml:"), "{error}");
    assert!(std::fs::read_to_string(&config).unwrap().ends_with("projects: [oops\n"));
}

/// A hand edit that keeps the file's size, inode and mtime (same timestamp tick) is still
/// noticed before the next write, by comparing bytes.
#[tokio::test]
async fn same_size_edit_in_the_same_tick_is_kept() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "tick", "summary": "aaaa", "theme": "t"}),
    )
    .await;
    let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace("summary: aaaa\n", "summary: bbbb\n");
    assert_eq!(edited.len(), text.len());
    {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all(edited.as_bytes()).unwrap();
        file.set_modified(modified).unwrap();
    }
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), modified);
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "tock", "summary": "s", "theme": "t"}),
    )
    .await;
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.contains("summary: bbbb\n"), "the human's same-size edit survived");
    assert!(after.contains("- id: tock\n"));
}

/// The watcher picks up an in-place edit, an editor-style atomic save (temp file + rename)
/// and a delete within a second, without any read, while another client keeps writing;
/// nothing the human wrote is clobbered.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watcher_sees_edits_saves_and_deletes() {
    let server = TestServer::start().await;
    let watcher = server.client("watcher").await;
    let writer = server.client("writer").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let busy = tokio::spawn(async move {
        for i in 0..40 {
            let args = json!({"project": "orbit-api", "id": format!("busy-{i}"), "summary": "s", "theme": "t"});
            let _ = common::call(&writer, "worksync_add_backlog", args).await;
            // The scenario's pace: a client writing now and then while the human edits, not
            // a wait for anything.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    });
    let mut cursor = call_ok(&watcher, "worksync_changes", json!({"project": "orbit-api"})).await["cursor"].clone();
    // Waits for the next change made by an external edit and returns how long it took.
    let mut external_change = async |what: &str| {
        let started = std::time::Instant::now();
        loop {
            let answer = call_ok(
                &watcher,
                "worksync_changes",
                json!({"project": "orbit-api", "since": cursor, "wait_seconds": 3}),
            )
            .await;
            cursor = answer["cursor"].clone();
            let seen = answer["changes"].as_array().unwrap().iter().any(|c| c["agent"] == "external edit");
            if seen {
                return started.elapsed();
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(5), "{what} was not noticed");
        }
    };

    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replacen(
            "summary: Issue short-lived Postgres credentials",
            "summary: EDITED in place - Issue short-lived Postgres credentials",
            1,
        ),
    )
    .unwrap();
    let took = external_change("an in-place edit").await;
    assert!(took < std::time::Duration::from_secs(1), "in-place edit noticed after {took:?}");

    let text = std::fs::read_to_string(&path).unwrap();
    let temp = path.with_file_name("work-index.yaml.editor-swap");
    std::fs::write(
        &temp,
        text.replacen(
            "summary: Ship a strict Content-Security-Policy",
            "summary: SAVED atomically - Ship a strict Content-Security-Policy",
            1,
        ),
    )
    .unwrap();
    std::fs::rename(&temp, &path).unwrap();
    let took = external_change("an atomic save").await;
    assert!(took < std::time::Duration::from_secs(1), "atomic save noticed after {took:?}");

    busy.await.unwrap();
    let after = std::fs::read_to_string(&path).unwrap();
    assert!(after.contains("EDITED in place") && after.contains("SAVED atomically"), "no edit was clobbered");

    let saved = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let took = external_change("a delete").await;
    assert!(took < std::time::Duration::from_secs(1), "delete noticed after {took:?}");
    let status = call_err(&watcher, "worksync_status", json!({"project": "orbit-api"})).await;
    assert!(status["error"].as_str().unwrap().starts_with("work-index.yaml not found"), "{status}");
    std::fs::write(&path, saved).unwrap();
    external_change("a restore").await;
    call_ok(
        &watcher,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "after-restore", "summary": "s", "theme": "t"}),
    )
    .await;
}

/// A work index emptied behind the server's back (a truncation, a save in progress) is
/// refused, not read as "no items" and then overwritten with almost nothing.
#[tokio::test]
async fn empty_file_is_refused_not_overwritten() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let saved = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, "").unwrap();
    let error = call_err(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "x", "summary": "s", "theme": "t"}),
    )
    .await;
    assert!(error["error"].as_str().unwrap().contains("no content"), "{error}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "", "the empty file was not overwritten");
    std::fs::write(&path, &saved).unwrap();
    call_ok(&client, "worksync_add_backlog", json!({"project": "orbit-api", "id": "x", "summary": "s", "theme": "t"}))
        .await;
}

/// A project registered while the server runs is watched too: a hand edit of its work index
/// reaches the change feed without any read of that project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_follows_projects_registered_later() {
    let server = TestServer::start().await;
    let client = server.client("late").await;
    let repo = tempfile::tempdir().unwrap();
    let registration = json!({"name": "late", "repo": repo.path().display().to_string()});
    call_ok(&client, "worksync_register_project", registration).await;
    let cursor = call_ok(&client, "worksync_changes", json!({"project": "late"})).await["cursor"].clone();
    // A long poll waits for the next change; only the watcher can tell it about the edit.
    let busy = server.busy_connections().await;
    // The write below is not atomic (as some editors save): the watcher may read the file
    // half written and report it unparseable first; the feed then carries the edit itself.
    let waiting = tokio::spawn(async move {
        let mut since = cursor;
        let mut seen = Vec::new();
        for _ in 0..3 {
            let args = json!({"project": "late", "since": since, "wait_seconds": 5});
            let answer = call_ok(&client, "worksync_changes", args).await;
            since = answer["cursor"].clone();
            seen.extend(answer["changes"].as_array().unwrap().iter().cloned());
            if seen.iter().any(|c| c["agent"] == "external edit" && c["id"] == "by-hand") {
                break;
            }
        }
        seen
    });
    server.await_busy_connections(busy + 1).await;
    let path = server.path("projects/late/work-index.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("backlog: []", "backlog:\n- id: by-hand\n  summary: typed in an editor\n"))
        .unwrap();
    let changes = waiting.await.unwrap();
    assert!(
        changes.iter().any(|c| c["agent"] == "external edit" && c["id"] == "by-hand"),
        "the long polls ended without the edit: {changes:?}"
    );
}
