//! Dependencies between stories and backlog items over real MCP: what is ready and what is
//! blocked, `next` handing out only ready work, `unblocked` changes when work is done, and
//! the refusals an agent gets (cycles, unknown ids, removing what others wait on, starting
//! blocked work) with what forcing them records.

use crate::common;

use std::collections::HashSet;

use common::{Client, TestServer, call_err, call_ok, eventually};
use serde_json::{Value, json};

const P: &str = "plan";

/// A server with an empty project `plan` (so that only what a test adds is work).
async fn plan() -> (TestServer, Client, tempfile::TempDir) {
    let server = TestServer::start().await;
    let planner = server.client("planner").await;
    let repo = tempfile::tempdir().unwrap();
    call_ok(&planner, "worksync_register_project", json!({"name": P, "repo": repo.path().display().to_string()})).await;
    (server, planner, repo)
}

/// Adds a todo backlog item that depends on `depends_on`.
async fn add(client: &Client, id: &str, depends_on: &[&str]) -> Value {
    let mut args = json!({"project": P, "id": id, "summary": format!("do {id}"), "theme": "t"});
    if !depends_on.is_empty() {
        args["depends_on"] = json!(depends_on);
    }
    call_ok(client, "worksync_add_backlog", args).await["created"].clone()
}

async fn finish(client: &Client, id: &str) -> Value {
    call_ok(client, "worksync_update_backlog", json!({"project": P, "id": id, "status": "done"})).await
}

async fn next(client: &Client) -> Value {
    call_ok(client, "worksync_next", json!({"project": P})).await
}

async fn cursor(client: &Client) -> Value {
    call_ok(client, "worksync_changes", json!({"project": P})).await["cursor"].clone()
}

/// The changes after `since`, as (id, action, summary).
async fn changes_since(client: &Client, since: &Value) -> Vec<(String, String, String)> {
    let feed = call_ok(client, "worksync_changes", json!({"project": P, "since": since})).await;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    feed["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (text(&c["id"]), text(&c["action"]), text(&c["summary"])))
        .collect()
}

fn unblocked(changes: &[(String, String, String)]) -> Vec<&str> {
    changes.iter().filter(|(_, action, _)| action == "unblocked").map(|(id, _, _)| id.as_str()).collect()
}

/// A chain A → B → C (B depends on A, C on B): only A is ready, `next` says that finishing
/// it unblocks B; B cannot be claimed or started; finishing A emits `unblocked` for B and
/// `next` now offers B, then C. Status counts ready and blocked items.
#[tokio::test]
async fn a_chain_is_worked_in_order() {
    let (server, planner, _repo) = plan().await;
    add(&planner, "A", &[]).await;
    let b = add(&planner, "B", &["A"]).await;
    let c = add(&planner, "C", &["B"]).await;
    assert_eq!((b["depends_on"].clone(), b["blocked_by"].clone()), (json!(["A"]), json!(["A"])), "{b}");
    assert_eq!(c["blocked_by"], json!(["B"]));

    let status = call_ok(&planner, "worksync_status", json!({"project": P})).await;
    assert_eq!(
        (status["projects"][P]["ready"].clone(), status["projects"][P]["blocked"].clone()),
        (json!(1), json!(2))
    );

    let first = next(&planner).await;
    assert_eq!(first["next"]["id"], "A", "{first}");
    assert_eq!(first["unblocks"], json!(["B"]));
    let reason = first["reason"].as_str().unwrap();
    assert!(reason.contains("2 unfinished items wait on it") && reason.contains("unblocks B"), "{reason}");

    let worker = server.client("worker").await;
    let refused = call_err(&worker, "worksync_claim", json!({"project": P, "kind": "backlog", "id": "B"})).await;
    assert_eq!(refused["blocked_by"], json!(["A"]), "{refused}");
    assert!(refused["error"].as_str().unwrap().contains("'B' is blocked: it depends on 'A'"), "{refused}");
    assert!(refused["hint"].as_str().unwrap().contains("force=true"), "{refused}");
    let refused =
        call_err(&worker, "worksync_update_backlog", json!({"project": P, "id": "B", "status": "in_progress"})).await;
    assert_eq!(refused["blocked_by"], json!(["A"]), "starting it by status is refused too: {refused}");

    let since = cursor(&worker).await;
    finish(&planner, "A").await;
    let changes = changes_since(&worker, &since).await;
    assert_eq!(unblocked(&changes), ["B"], "{changes:?}");
    let (_, _, summary) = changes.iter().find(|(_, action, _)| action == "unblocked").unwrap();
    assert_eq!(summary, "'A' is done: nothing blocks it now");
    assert_eq!(next(&worker).await["next"]["id"], "B");
    assert_eq!(next(&worker).await["unblocks"], json!(["C"]));

    call_ok(&worker, "worksync_claim", json!({"project": P, "kind": "backlog", "id": "B"})).await;
    let nothing = next(&planner).await;
    assert!(nothing["next"].is_null(), "{nothing}");
    assert!(nothing["reason"].as_str().unwrap().contains("1 item waits on unfinished dependencies"), "{nothing}");
    let status = call_ok(&planner, "worksync_status", json!({"project": P})).await;
    assert_eq!(
        (status["projects"][P]["ready"].clone(), status["projects"][P]["blocked"].clone()),
        (json!(0), json!(1))
    );
}

/// A diamond D → (E, F) → G: finishing D frees E and F at once; G waits for both.
/// Stories and backlog items depend on each other alike; `next` prefers, at equal priority,
/// the item more work waits on.
#[tokio::test]
async fn a_diamond_frees_its_join_only_when_both_sides_are_done() {
    let (_server, planner, _repo) = plan().await;
    call_ok(&planner, "worksync_create_sprint", json!({"project": P, "id": "s1", "title": "S1", "status": "active"}))
        .await;
    add(&planner, "side", &[]).await;
    add(&planner, "D", &[]).await;
    add(&planner, "E", &["D"]).await;
    add(&planner, "F", &["D"]).await;
    let g = call_ok(
        &planner,
        "worksync_add_story",
        json!({"project": P, "sprint_id": "s1", "notes": "join", "depends_on": ["E", "backlog/F"]}),
    )
    .await;
    let g_id = g["created"]["id"].as_str().unwrap().to_string();
    assert_eq!(g["created"]["blocked_by"], json!(["E", "F"]), "{g}");

    let first = next(&planner).await;
    assert_eq!(first["next"]["id"], "D", "D (3 waiting) before 'side', which is older: {first}");
    let mut unblocks: Vec<String> = serde_json::from_value(first["unblocks"].clone()).unwrap();
    unblocks.sort();
    assert_eq!(unblocks, ["E", "F"]);

    let since = cursor(&planner).await;
    finish(&planner, "D").await;
    let mut freed = unblocked(&changes_since(&planner, &since).await).into_iter().map(String::from).collect::<Vec<_>>();
    freed.sort();
    assert_eq!(freed, ["E", "F"]);

    let since = cursor(&planner).await;
    finish(&planner, "E").await;
    assert!(unblocked(&changes_since(&planner, &since).await).is_empty(), "G still waits on F");
    finish(&planner, "F").await;
    assert_eq!(unblocked(&changes_since(&planner, &since).await), [g_id.as_str()]);
    let story = next(&planner).await;
    assert_eq!(story["next"]["id"], g_id, "a ready planned story of an active sprint comes first: {story}");
}

/// Eight agents ask for next work with claim=true at once: eight ready items are handed out,
/// each once, and none of the eight blocked ones; then nothing is ready, and the answer says
/// how many items wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_agents_get_only_ready_work_and_never_the_same() {
    let (server, planner, _repo) = plan().await;
    add(&planner, "gate", &[]).await;
    call_ok(&planner, "worksync_claim", json!({"project": P, "kind": "backlog", "id": "gate"})).await;
    for n in 0..8 {
        add(&planner, &format!("blocked-{n}"), &["gate"]).await;
        add(&planner, &format!("ready-{n}"), &[]).await;
    }
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let mut tasks = Vec::new();
    for n in 0..8 {
        let client = server.client(&format!("agent-{n}")).await;
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let next = call_ok(&client, "worksync_next", json!({"project": P, "claim": true})).await;
            assert_eq!(next["claimed"], true, "{next}");
            next["next"]["id"].as_str().unwrap().to_string()
        }));
    }
    let mut handed = HashSet::new();
    for task in tasks {
        let id = task.await.unwrap();
        assert!(id.starts_with("ready-"), "only ready work is handed out, got {id}");
        assert!(handed.insert(id), "an item was handed out twice");
    }
    let nothing = next(&planner).await;
    assert!(nothing["next"].is_null(), "{nothing}");
    assert!(nothing["reason"].as_str().unwrap().contains("8 items wait on unfinished dependencies"), "{nothing}");
}

/// Refusals an agent can act on: an unknown id (named), depending on itself, a cycle (its
/// path), a stale `expected_rev` (with the item as it is), removing an item unfinished work
/// depends on (naming it). Each changes nothing.
#[tokio::test]
async fn bad_dependencies_are_refused_with_what_to_do() {
    let (server, planner, _repo) = plan().await;
    add(&planner, "A", &[]).await;
    add(&planner, "B", &["A"]).await;
    let c = add(&planner, "C", &["B"]).await;
    let index = server.path("projects/plan/work-index.yaml");
    let before = std::fs::read_to_string(&index).unwrap();

    let unknown = call_err(
        &planner,
        "worksync_add_backlog",
        json!({"project": P, "id": "X", "summary": "x", "theme": "t", "depends_on": ["nope"]}),
    )
    .await;
    assert!(unknown["error"].as_str().unwrap().contains("'nope'"), "{unknown}");
    assert!(unknown["hint"].as_str().unwrap().contains("add the item first"), "{unknown}");
    let status = call_ok(&planner, "worksync_status", json!({"project": P})).await;
    assert!(!status.to_string().contains("\"X\""), "a refused add adds nothing");

    let own = call_err(&planner, "worksync_depend", json!({"project": P, "id": "A", "add": ["A"]})).await;
    assert!(own["error"].as_str().unwrap().contains("cannot depend on itself"), "{own}");

    let cycle = call_err(&planner, "worksync_depend", json!({"project": P, "id": "A", "add": ["C"]})).await;
    assert!(cycle["error"].as_str().unwrap().contains("A → C → B → A"), "the cycle's path: {cycle}");
    assert!(cycle["hint"].as_str().unwrap().contains("remove"), "{cycle}");

    let stale = call_err(
        &planner,
        "worksync_depend",
        json!({"project": P, "id": "C", "add": ["A"], "expected_rev": c["rev"].as_u64().unwrap() + 5}),
    )
    .await;
    assert_eq!(stale["current"]["id"], "C", "{stale}");

    let removal = call_err(&planner, "worksync_remove_backlog", json!({"project": P, "id": "A"})).await;
    assert!(removal["error"].as_str().unwrap().contains("'B' depends on it"), "{removal}");
    assert!(removal["hint"].as_str().unwrap().contains("force=true"), "{removal}");
    assert_eq!(std::fs::read_to_string(&index).unwrap(), before, "nothing refused changed the file");

    let depended =
        call_ok(&planner, "worksync_depend", json!({"project": P, "id": "C", "add": ["A"], "remove": ["B"]})).await;
    assert_eq!(depended["updated"]["depends_on"], json!(["A"]), "{depended}");
    assert_eq!(depended["updated"]["rev"], c["rev"].as_u64().unwrap() + 1, "a dependency change is a new revision");
}

/// Forcing is allowed and recorded: a forced claim of a blocked item and a forced removal of
/// a depended-on item say what they forced, in the answer and in the change feed; the
/// dependents of a removed item lose that dependency and are told they are free.
#[tokio::test]
async fn forced_claims_and_removals_are_recorded() {
    let (server, planner, _repo) = plan().await;
    add(&planner, "A", &[]).await;
    add(&planner, "B", &["A"]).await;
    let worker = server.client("worker").await;
    let since = cursor(&worker).await;

    let forced =
        call_ok(&worker, "worksync_claim", json!({"project": P, "kind": "backlog", "id": "B", "force": true})).await;
    assert_eq!(forced["forced_past_dependencies"], "claimed while A was not done", "{forced}");
    assert_eq!(forced["item"]["blocked_by"], json!(["A"]), "it is still blocked, and says so");

    let removed = call_ok(&planner, "worksync_remove_backlog", json!({"project": P, "id": "A", "force": true})).await;
    assert_eq!(removed["forced_past_dependencies"], "removed although B depended on it", "{removed}");

    let changes = changes_since(&worker, &since).await;
    let summary = |id: &str, action: &str| {
        changes.iter().find(|(i, a, _)| i == id && a == action).map(|(_, _, s)| s.clone()).unwrap_or_default()
    };
    assert_eq!(summary("B", "claimed"), "forced: claimed while A was not done", "{changes:?}");
    assert_eq!(summary("A", "removed"), "forced: removed although B depended on it", "{changes:?}");
    assert_eq!(summary("B", "unblocked"), "'A', which it depended on, was removed: nothing blocks it now");
    let status = call_ok(&worker, "worksync_status", json!({"project": P})).await;
    let b = &status["projects"][P]["in_progress_backlog"][0];
    assert_eq!(b["id"], "B");
    assert!(b.get("depends_on").is_none() && b.get("blocked_by").is_none(), "{b}");
}

/// Dependencies are kept across a restart; a hand edit of the work index that removes an
/// item others depend on is taken (no crash, no refusal): the dependency is dropped and the
/// change feed says so.
#[tokio::test]
async fn dependencies_survive_a_restart_and_a_hand_removal() {
    let (mut server, planner, _repo) = plan().await;
    add(&planner, "A", &[]).await;
    add(&planner, "B", &["A"]).await;
    add(&planner, "C", &["B"]).await;
    drop(planner);
    let root = server.root().to_path_buf();
    server.stop().await;
    let server = TestServer::serve_root(&root).await;
    let agent = server.client("agent").await;
    let c = call_err(&agent, "worksync_claim", json!({"project": P, "kind": "backlog", "id": "C"})).await;
    assert_eq!(c["blocked_by"], json!(["B"]), "kept over a restart: {c}");
    assert_eq!(next(&agent).await["next"]["id"], "A");

    let since = cursor(&agent).await;
    let path = server.path("projects/plan/work-index.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("- id: A\n").expect("A in the file");
    let end = start + text[start..].find("- id: B\n").expect("B after A");
    std::fs::write(&path, format!("{}{}", &text[..start], &text[end..])).unwrap();

    let changes = eventually("the hand removal of A is taken", std::time::Duration::from_secs(10), async || {
        let changes = changes_since(&agent, &since).await;
        if changes.iter().any(|(id, action, _)| id == "B" && action == "unblocked") {
            Ok(changes)
        } else {
            Err(format!("{changes:?}"))
        }
    })
    .await;
    let (_, _, summary) = changes.iter().find(|(id, action, _)| id == "B" && action == "unblocked").unwrap();
    assert_eq!(summary, "'A', which it depended on, was removed: nothing blocks it now");
    let b = next(&agent).await;
    assert_eq!(b["next"]["id"], "B");
    assert!(b["next"].get("depends_on").is_none(), "the dependency on the removed A is gone: {b}");
    assert_eq!(b["unblocks"], json!(["C"]));
}
