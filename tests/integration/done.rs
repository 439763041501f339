//! `worksync_done` keeps what was written: completion notes are added to a story's notes
//! instead of replacing them, and completing a story that is already done changes nothing.

use crate::common;

use common::{TestServer, call_err, call_ok, read_yaml};
use serde_json::{Value, json};

const P: &str = "orbit-api";

/// The story `id` as it is in the file.
fn story(index: &serde_yaml_ng::Value, id: &str) -> serde_yaml_ng::Value {
    let sprints = index["sprints"].as_sequence().unwrap();
    let stories = sprints.iter().flat_map(|s| s["stories"].as_sequence().cloned().unwrap_or_default());
    stories.into_iter().find(|st| st["id"] == id).unwrap_or_else(|| panic!("{id} is in the file"))
}

fn history_len(index: &serde_yaml_ng::Value) -> usize {
    index["history"].as_sequence().map_or(0, |h| h.len())
}

/// The result of `worksync_done` has the Python tool's keys.
fn assert_python_keys(done: &Value) {
    for key in ["updated_story", "sprint", "history_entry"] {
        assert!(done.get(key).is_some(), "no '{key}' in {done}");
    }
}

/// Completion notes on a story that already has notes are added as a new paragraph: what
/// was written before stays, the history entry holds the completion notes, and the result
/// keeps the Python tool's keys.
#[tokio::test]
async fn done_adds_completion_notes_to_existing_notes() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let before = story(&read_yaml(&path), "STORY-14")["notes"].as_str().unwrap().to_string();
    assert!(!before.is_empty());

    let done =
        call_ok(&client, "worksync_done", json!({"project": P, "story_id": "STORY-14", "notes": "Replay shipped."}))
            .await;
    assert_python_keys(&done);
    let expected = format!("{}\n\nReplay shipped.", before.trim_end());
    assert_eq!(done["updated_story"]["notes"], expected.as_str());
    assert_eq!(done["updated_story"]["status"], "done");
    assert_eq!(done["sprint"], "dispatch-realtime");
    assert_eq!(done["history_entry"]["summary"], "Completed STORY-14: Replay shipped.");
    let on_disk = story(&read_yaml(&path), "STORY-14");
    assert_eq!(on_disk["status"], "done");
    assert_eq!(on_disk["notes"].as_str(), Some(expected.as_str()));
}

/// Completing a story that is already done: the same call again (a retry) changes nothing
/// and says so; other notes are refused with a hint naming the explicit ways, and the
/// notes, the history and the file stay byte for byte as they were.
#[tokio::test]
async fn done_twice_never_replaces_notes_or_repeats_history() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");

    let first =
        call_ok(&client, "worksync_done", json!({"project": P, "story_id": "STORY-17", "notes": "Drawer shipped."}))
            .await;
    let notes = first["updated_story"]["notes"].as_str().unwrap().to_string();
    let text = std::fs::read_to_string(&path).unwrap();
    let entries = history_len(&read_yaml(&path));

    let retry =
        call_ok(&client, "worksync_done", json!({"project": P, "story_id": "STORY-17", "notes": "Drawer shipped."}))
            .await;
    assert_python_keys(&retry);
    assert_eq!(retry["already_done"], true, "{retry}");
    assert_eq!(retry["updated_story"]["notes"], notes.as_str());
    assert_eq!(retry["history_entry"]["summary"], "Completed STORY-17: Drawer shipped.", "the entry of the first call");
    let bare = call_ok(&client, "worksync_done", json!({"project": P, "story_id": "STORY-17"})).await;
    assert_eq!(bare["already_done"], true, "{bare}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "a repeated done writes nothing");

    let other =
        call_err(&client, "worksync_done", json!({"project": P, "story_id": "STORY-17", "notes": "Something else"}))
            .await;
    assert!(other["error"].as_str().unwrap().contains("already done"), "{other}");
    let hint = other["hint"].as_str().unwrap();
    assert!(hint.contains("append_notes") && hint.contains("worksync_history"), "{hint}");

    let long_done =
        call_err(&client, "worksync_done", json!({"project": P, "story_id": "STORY-1", "notes": "Redo"})).await;
    assert!(long_done["error"].as_str().unwrap().contains("already done"), "{long_done}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text, "a refused done writes nothing");
    assert_eq!(history_len(&read_yaml(&path)), entries);
    assert_eq!(story(&read_yaml(&path), "STORY-17")["notes"].as_str(), Some(notes.as_str()));
}
