//! A person saves an old copy of work-index.yaml (their editor opened it before the agents
//! wrote): the save is merged with the agents' writes instead of wiping them.
//!
//! Each test opens the file the way an editor does (reads it into a buffer), lets agents
//! write through the server, edits the buffer and saves it, then looks at the file and the
//! change feed.

use crate::common;

use std::collections::HashSet;
use std::path::Path;

use common::{Client, TestServer, call_ok, read_yaml};
use serde_json::{Value, json};

const PROJECT: &str = "orbit-api";

/// How a person's editor saves.
#[derive(Clone, Copy, Debug)]
enum Save {
    /// The file rewritten where it is (truncate, write), as nano or a script does.
    InPlace,
    /// A new file renamed over the old one, as vim or VS Code do.
    Rename,
}

fn save(path: &Path, text: &str, how: Save) {
    match how {
        Save::InPlace => std::fs::write(path, text).unwrap(),
        Save::Rename => {
            let temp = path.with_file_name(".work-index.yaml.swp");
            std::fs::write(&temp, text).unwrap();
            std::fs::rename(&temp, path).unwrap();
        }
    }
}

/// `buffer` with `replace` instead of `find`, which must be there exactly once.
fn edit(buffer: &str, find: &str, replace: &str) -> String {
    assert_eq!(buffer.matches(find).count(), 1, "the buffer holds {find:?} once");
    buffer.replacen(find, replace, 1)
}

/// `buffer` without the backlog item `id` (its lines up to the next item).
fn without_item(buffer: &str, id: &str) -> String {
    let start = buffer.find(&format!("- id: {id}\n")).expect("the item is in the buffer");
    let end = buffer[start + 2..].find("\n- ").map_or(buffer.len(), |n| start + 2 + n + 1);
    format!("{}{}", &buffer[..start], &buffer[end..])
}

/// The backlog item `id` of the file at `path`.
fn backlog_item(path: &Path, id: &str) -> Option<Value> {
    let index = read_yaml(path);
    let item = index["backlog"].as_sequence().unwrap().iter().find(|b| b["id"].as_str() == Some(id)).cloned();
    item.map(|item| serde_json::to_value(item).unwrap())
}

/// The changes made by hand edits after `cursor`.
async fn external_changes(client: &Client, cursor: &Value) -> Vec<Value> {
    let args = json!({"project": PROJECT, "since": cursor, "limit": 1000});
    let page = call_ok(client, "worksync_changes", args).await;
    page["changes"].as_array().unwrap().iter().filter(|c| c["agent"] == "external edit").cloned().collect()
}

/// The person opens the file; agents then make 100 acknowledged writes (80 new backlog
/// items, 10 status changes of existing items, 10 notes appended to stories); the person
/// rewrites the summary of an item nobody else touched, types a new item and a comment into
/// their old buffer, and saves it. Every agent write is still there, and so is everything
/// the person did; the feed shows the person's changes and no removal.
async fn stale_save_over_100_agent_writes(how: Save) {
    let server = TestServer::start().await;
    let agent = server.client("agent").await;
    let path = server.path(&format!("projects/{PROJECT}/work-index.yaml"));
    let buffer = std::fs::read_to_string(&path).unwrap();
    let cursor = call_ok(&agent, "worksync_changes", json!({"project": PROJECT})).await["cursor"].clone();

    let opened = read_yaml(&path);
    let stories: Vec<(String, String)> = opened["sprints"]
        .as_sequence()
        .unwrap()
        .iter()
        .flat_map(|sprint| {
            let sprint_id = sprint["id"].as_str().unwrap().to_string();
            let stories = sprint["stories"].as_sequence().cloned().unwrap_or_default();
            stories.into_iter().map(move |story| (sprint_id.clone(), story["id"].as_str().unwrap().to_string()))
        })
        .take(10)
        .collect();
    let existing: Vec<String> = opened["backlog"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|b| b["id"].as_str().unwrap().to_string())
        .filter(|id| id != "db-credentials-from-vault")
        .take(10)
        .collect();
    assert_eq!((stories.len(), existing.len()), (10, 10), "the sample has enough items");
    for n in 0..80 {
        let args = json!({"project": PROJECT, "id": format!("agent-{n}"), "summary": format!("added by an agent ({n})"), "theme": "t"});
        call_ok(&agent, "worksync_add_backlog", args).await;
    }
    for id in &existing {
        call_ok(&agent, "worksync_update_backlog", json!({"project": PROJECT, "id": id, "status": "in_progress"}))
            .await;
    }
    for (sprint_id, story_id) in &stories {
        let args = json!({"project": PROJECT, "sprint_id": sprint_id, "story_id": story_id, "append_notes": format!("Checked again by an agent ({story_id}).")});
        call_ok(&agent, "worksync_update_story", args).await;
    }

    let edited = edit(
        &buffer,
        "  summary: Issue short-lived Postgres credentials from Vault instead of the static\n    orbit_app password\n",
        "  summary: Rewritten by a person in an old buffer\n",
    );
    let edited = edit(
        &edited,
        "backlog:\n",
        "backlog:\n# Typed by a person.\n- id: typed-by-hand\n  theme: hand\n  summary: a new item typed by a person\n  status: todo\n",
    );
    save(&path, &edited, how);
    // The next read looks at the file (the watcher may have already).
    call_ok(&agent, "worksync_status", json!({"project": PROJECT})).await;

    let text = std::fs::read_to_string(&path).unwrap();
    let index = read_yaml(&path);
    let ids: HashSet<&str> = index["backlog"].as_sequence().unwrap().iter().filter_map(|b| b["id"].as_str()).collect();
    let lost: Vec<String> = (0..80).map(|n| format!("agent-{n}")).filter(|id| !ids.contains(id.as_str())).collect();
    assert!(lost.is_empty(), "{how:?}: agent items lost: {lost:?}");
    for id in &existing {
        let item = backlog_item(&path, id).unwrap_or_else(|| panic!("{how:?}: {id} is gone"));
        assert_eq!(item["status"], "in_progress", "{how:?}: the status change of {id} survives");
    }
    for (_, story_id) in &stories {
        let note = format!("Checked again by an agent ({story_id}).");
        assert!(text.contains(&note), "{how:?}: the note appended to {story_id} survives");
    }
    let rewritten = backlog_item(&path, "db-credentials-from-vault").unwrap();
    assert_eq!(rewritten["summary"], "Rewritten by a person in an old buffer", "{how:?}");
    assert_eq!(backlog_item(&path, "typed-by-hand").unwrap()["summary"], "a new item typed by a person", "{how:?}");
    assert!(text.contains("# Typed by a person.\n"), "{how:?}: the person's comment stays");

    let changes = external_changes(&agent, &cursor).await;
    let seen: HashSet<(&str, &str)> =
        changes.iter().map(|c| (c["id"].as_str().unwrap(), c["action"].as_str().unwrap())).collect();
    assert!(seen.contains(&("db-credentials-from-vault", "updated")), "{how:?}: {changes:?}");
    assert!(seen.contains(&("typed-by-hand", "created")), "{how:?}: {changes:?}");
    assert!(!changes.iter().any(|c| c["action"] == "removed"), "{how:?}: nothing was removed: {changes:?}");

    // The server holds the merge too: the next write keeps everyone's changes.
    let args = json!({"project": PROJECT, "id": "after-the-save", "summary": "s", "theme": "t"});
    call_ok(&agent, "worksync_add_backlog", args).await;
    for id in ["agent-0", "agent-79", "typed-by-hand", "after-the-save"] {
        assert!(backlog_item(&path, id).is_some(), "{how:?}: {id} after the next write");
    }
}

/// A stale buffer saved in place over 100 acknowledged agent writes loses none of them.
#[tokio::test]
async fn a_stale_save_in_place_keeps_100_agent_writes() {
    stale_save_over_100_agent_writes(Save::InPlace).await;
}

/// A stale buffer saved by rename over 100 acknowledged agent writes loses none of them.
#[tokio::test]
async fn a_stale_save_by_rename_keeps_100_agent_writes() {
    stale_save_over_100_agent_writes(Save::Rename).await;
}

/// An item deleted by hand from an up-to-date buffer is deleted, and the feed says so.
#[tokio::test]
async fn a_hand_deletion_from_an_up_to_date_buffer_deletes() {
    let server = TestServer::start().await;
    let agent = server.client("agent").await;
    let path = server.path(&format!("projects/{PROJECT}/work-index.yaml"));
    for n in 0..3 {
        let args = json!({"project": PROJECT, "id": format!("agent-{n}"), "summary": "s", "theme": "t"});
        call_ok(&agent, "worksync_add_backlog", args).await;
    }
    let cursor = call_ok(&agent, "worksync_changes", json!({"project": PROJECT})).await["cursor"].clone();
    let buffer = std::fs::read_to_string(&path).unwrap();
    let edited = without_item(&without_item(&buffer, "agent-1"), "web-strict-csp");
    save(&path, &edited, Save::Rename);
    call_ok(&agent, "worksync_status", json!({"project": PROJECT})).await;

    assert_eq!(std::fs::read_to_string(&path).unwrap(), edited, "the save is the file");
    assert!(backlog_item(&path, "agent-1").is_none() && backlog_item(&path, "web-strict-csp").is_none());
    let removed: HashSet<String> = external_changes(&agent, &cursor)
        .await
        .iter()
        .filter(|c| c["action"] == "removed")
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(removed, HashSet::from(["agent-1".to_string(), "web-strict-csp".to_string()]));
}

/// A stale buffer that deletes an item an agent changed since: the item is kept with the
/// agent's change, and the feed reports the disagreement on that item, whole. (Agents also
/// added items before the change: that is what shows the buffer is older than the change.
/// Were the change the only write since, the deletion could as well have been made after
/// it, and is taken as such.)
#[tokio::test]
async fn a_stale_deletion_of_an_item_changed_since_keeps_it_and_reports_it() {
    let server = TestServer::start().await;
    let agent = server.client("agent").await;
    let path = server.path(&format!("projects/{PROJECT}/work-index.yaml"));
    let cursor = call_ok(&agent, "worksync_changes", json!({"project": PROJECT})).await["cursor"].clone();
    let buffer = std::fs::read_to_string(&path).unwrap();
    for n in 0..10 {
        if n == 5 {
            let summary = "Changed by an agent after the buffer was opened";
            let args = json!({"project": PROJECT, "id": "web-strict-csp", "summary": summary});
            call_ok(&agent, "worksync_update_backlog", args).await;
        }
        let args = json!({"project": PROJECT, "id": format!("agent-{n}"), "summary": "s", "theme": "t"});
        call_ok(&agent, "worksync_add_backlog", args).await;
    }

    save(&path, &without_item(&buffer, "web-strict-csp"), Save::InPlace);
    call_ok(&agent, "worksync_status", json!({"project": PROJECT})).await;

    let kept = backlog_item(&path, "web-strict-csp").expect("the item an agent changed is kept");
    assert_eq!(kept["summary"], "Changed by an agent after the buffer was opened");
    assert!(backlog_item(&path, "agent-9").is_some(), "the other agent writes are kept");
    let changes = external_changes(&agent, &cursor).await;
    let conflict = changes
        .iter()
        .find(|c| c["action"] == "conflict")
        .unwrap_or_else(|| panic!("the disagreement is in the feed: {changes:?}"));
    assert_eq!((&conflict["kind"], &conflict["id"]), (&json!("backlog"), &json!("web-strict-csp")));
    let summary = conflict["summary"].as_str().unwrap();
    assert!(summary.contains("removed on one side, changed on the other"), "{summary}");
    assert!(summary.contains("Changed by an agent after the buffer was opened"), "{summary}");
    assert!(!changes.iter().any(|c| c["action"] == "removed"), "nothing was removed: {changes:?}");
}

/// An editor that saves by deleting the file and writing it anew, seen in between: the
/// stale copy that comes back is merged like any other save, not taken whole.
#[tokio::test]
async fn a_stale_copy_written_after_a_deletion_is_merged() {
    let server = TestServer::start().await;
    let agent = server.client("agent").await;
    let path = server.path(&format!("projects/{PROJECT}/work-index.yaml"));
    let buffer = std::fs::read_to_string(&path).unwrap();
    for n in 0..5 {
        let args = json!({"project": PROJECT, "id": format!("agent-{n}"), "summary": "s", "theme": "t"});
        call_ok(&agent, "worksync_add_backlog", args).await;
    }
    std::fs::remove_file(&path).unwrap();
    common::call_err(&agent, "worksync_status", json!({"project": PROJECT})).await;
    save(&path, &without_item(&buffer, "web-strict-csp"), Save::InPlace);
    call_ok(&agent, "worksync_status", json!({"project": PROJECT})).await;

    assert!(backlog_item(&path, "agent-4").is_some(), "the agent writes are kept");
    assert!(backlog_item(&path, "web-strict-csp").is_none(), "the person's deletion is kept");
}
