//! Several agents at once: serialized writes, no lost or duplicated items, shared state.

use crate::common;

use std::collections::HashSet;

use common::{TestServer, call_ok, read_yaml};
use serde_json::json;

const PROJECT: &str = "orbit-api";

/// 8 clients adding 50 backlog items each, concurrently, leave exactly 400 new items with
/// 400 distinct ids in a file that parses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_clients_fifty_adds_each() {
    let server = TestServer::start().await;
    let mut clients = Vec::new();
    for n in 0..8 {
        clients.push(server.client(&format!("agent-{n}")).await);
    }
    let mut tasks = Vec::new();
    for (n, client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let args = json!({"project": PROJECT, "id": format!("load-{n}-{i}"), "summary": format!("item {i} of agent {n}"), "theme": "load"});
                call_ok(&client, "worksync_add_backlog", args).await;
            }
            client
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let yaml = read_yaml(&server.path("projects/orbit-api/work-index.yaml"));
    let backlog = yaml["backlog"].as_sequence().unwrap();
    let ids: Vec<&str> = backlog.iter().map(|b| b["id"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), 20 + 400, "the sample's 20 items plus 400 new ones");
    assert_eq!(unique.len(), ids.len(), "no id repeats");
    assert_eq!(ids.iter().filter(|id| id.starts_with("load-")).count(), 400);
}

/// Two clients see each other's writes immediately (parity of state).
#[tokio::test]
async fn two_clients_see_the_same_state() {
    let server = TestServer::start().await;
    let claude = server.client("claude-code").await;
    let codex = server.client("codex").await;

    call_ok(
        &claude,
        "worksync_add_story",
        json!({"project": PROJECT, "sprint_id": "web-fleet-map", "notes": "by claude"}),
    )
    .await;
    call_ok(
        &codex,
        "worksync_add_story",
        json!({"project": PROJECT, "sprint_id": "web-fleet-map", "notes": "by codex"}),
    )
    .await;
    let a = call_ok(&claude, "worksync_status", json!({"project": PROJECT})).await;
    let b = call_ok(&codex, "worksync_status", json!({"project": PROJECT})).await;
    assert_eq!(a["projects"], b["projects"]);
    // Each hears of the other's write in its reply, never of its own.
    assert_eq!(a["others_changed"]["latest"], json!(["codex created story STORY-20 (rev 1)"]), "{a}");
    assert!(b.get("others_changed").is_none(), "codex's previous call came after claude's write: {b}");
    let sprint =
        a["projects"][PROJECT]["sprints"].as_array().unwrap().iter().find(|s| s["id"] == "web-fleet-map").unwrap();
    let ids: Vec<&str> = sprint["stories"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert!(ids.ends_with(&["STORY-19", "STORY-20"]), "ids are assigned in order, never twice: {ids:?}");

    call_ok(
        &codex,
        "worksync_done",
        json!({"project": PROJECT, "story_id": "STORY-19", "notes": "finished for claude"}),
    )
    .await;
    let history = call_ok(&claude, "worksync_history", json!({"project": PROJECT, "limit": 1})).await;
    assert_eq!(history["history"][0]["summary"], "Completed STORY-19: finished for claude");
    assert_eq!(history["history"][0]["agent"], "codex");
}
