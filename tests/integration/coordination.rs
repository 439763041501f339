//! Agents coordinating through the server: revisions, claims with leases, next work.

use crate::common;

use std::collections::HashSet;

use common::{TestServer, call_err, call_ok};
use serde_json::json;

const PROJECT: &str = "orbit-api";

/// A and B read rev N; A updates with expected_rev N and wins; B's update with the same
/// expected_rev is refused and gets the current item, whose rev it can retry with.
#[tokio::test]
async fn lost_update_is_prevented() {
    let server = TestServer::start().await;
    let a = server.client("agent-a").await;
    let b = server.client("agent-b").await;
    let read = |client| async move {
        let status = call_ok(client, "worksync_status", json!({"project": PROJECT})).await;
        status["projects"][PROJECT]["in_progress_backlog"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["id"] == "ws-hub-heap-growth")
            .unwrap()["rev"]
            .as_u64()
            .unwrap()
    };
    let (rev_a, rev_b) = (read(&a).await, read(&b).await);
    assert_eq!(rev_a, rev_b);
    let update = |summary: &str, rev: u64| json!({"project": PROJECT, "id": "ws-hub-heap-growth", "summary": summary, "expected_rev": rev});
    let won = call_ok(&a, "worksync_update_backlog", update("A's summary", rev_a)).await;
    assert_eq!(won["updated"]["rev"], rev_a + 1);
    let lost = call_err(&b, "worksync_update_backlog", update("B's summary", rev_b)).await;
    assert_eq!(lost["current"]["summary"], "A's summary", "B gets the item as it is now: {lost}");
    assert_eq!(lost["current"]["rev"], rev_a + 1);
    assert!(lost["hint"].as_str().unwrap().contains(&format!("expected_rev={}", rev_a + 1)));
    call_ok(&b, "worksync_update_backlog", update("B's summary on top of A's", rev_a + 1)).await;
}

/// A hand edit of an item counts as a change of that item: an agent's stale rev is refused.
#[tokio::test]
async fn hand_edit_bumps_the_revision() {
    let server = TestServer::start().await;
    let agent = server.client("agent").await;
    let created = call_ok(
        &agent,
        "worksync_add_backlog",
        json!({"project": PROJECT, "id": "edited", "summary": "s", "theme": "t"}),
    )
    .await;
    let rev = created["created"]["rev"].as_u64().unwrap();
    let cursor = call_ok(&agent, "worksync_changes", json!({"project": PROJECT})).await["cursor"].clone();
    let path = server.path("projects/orbit-api/work-index.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("- id: edited\n  theme: t\n  summary: s\n", "- id: edited\n  theme: t\n  summary: by hand\n"),
    )
    .unwrap();
    let refused = call_err(
        &agent,
        "worksync_update_backlog",
        json!({"project": PROJECT, "id": "edited", "status": "done", "expected_rev": rev}),
    )
    .await;
    assert_eq!(refused["current"]["summary"], "by hand");
    assert_eq!(refused["current"]["rev"], rev + 1);
    let feed = call_ok(&agent, "worksync_changes", json!({"project": PROJECT, "since": cursor})).await;
    let change = &feed["changes"][0];
    assert_eq!((change["id"].as_str(), change["agent"].as_str()), (Some("edited"), Some("external edit")), "{feed}");
    assert_eq!(change["rev"], rev + 1);
}

/// Claims over MCP: the lease is `claim_lease_minutes` from config.yaml; a second agent is
/// told who holds the item and until when; the holder renews; an update by another agent
/// needs force (recorded); status lists the claim; the holder's release frees the item for
/// another agent. (When a lease ends is proved on a set clock in the store's unit tests,
/// `store::coordination::tests`.)
#[tokio::test]
async fn claims_conflict_renew_force_and_release() {
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        let config = std::fs::read_to_string(layout.config()).unwrap();
        std::fs::write(
            layout.config(),
            config.replace("  history_rotation: 100\n", "  history_rotation: 100\n  claim_lease_minutes: 7\n"),
        )
        .unwrap();
    })
    .await;
    let a = server.client("agent-a").await;
    let b = server.client("agent-b").await;
    let claim = json!({"project": PROJECT, "kind": "story", "id": "STORY-14"});

    let asked = chrono::Utc::now();
    let first = call_ok(&a, "worksync_claim", claim.clone()).await;
    let answered = chrono::Utc::now();
    assert_eq!(first["claimed"], true);
    assert_eq!((first["kind"].as_str(), first["id"].as_str()), (Some("story"), Some("STORY-14")));
    assert_eq!(first["item"]["status"], "in_progress", "claiming a story starts it");
    assert_eq!(first["renewed"], false);
    let until: chrono::DateTime<chrono::Utc> = first["until"].as_str().unwrap().parse().unwrap();
    let lease = chrono::Duration::minutes(7);
    assert!(asked + lease <= until && until <= answered + lease, "a 7-minute lease from config.yaml: {first}");
    let yaml = common::read_yaml(&server.path("projects/orbit-api/work-index.yaml"));
    let story = yaml["sprints"][3]["stories"].as_sequence().unwrap().iter().find(|s| s["id"] == "STORY-14").cloned();
    assert_eq!(story.unwrap()["status"], "in_progress");

    let refused = call_err(&b, "worksync_claim", claim.clone()).await;
    assert_eq!(refused["holder"], "agent-a");
    assert!(refused["until"].is_string());
    assert!(refused["error"].as_str().unwrap().contains("claimed by 'agent-a' until"));

    let renewed = call_ok(&a, "worksync_claim", claim.clone()).await;
    assert_eq!(renewed["renewed"], true);

    let update = json!({"project": PROJECT, "sprint_id": "dispatch-realtime", "story_id": "STORY-14", "append_notes": "B was here"});
    let held = call_err(&b, "worksync_update_story", update.clone()).await;
    assert_eq!(held["holder"], "agent-a");
    let mut forced = update.clone();
    forced["force"] = json!(true);
    let forced = call_ok(&b, "worksync_update_story", forced).await;
    assert_eq!(forced["forced_over"], "agent-a");

    let status = call_ok(&b, "worksync_status", json!({"project": PROJECT})).await;
    let claims = status["projects"][PROJECT]["claims"].as_array().unwrap();
    assert!(
        claims.iter().any(|c| c["kind"] == "story" && c["id"] == "STORY-14" && c["holder"] == "agent-a"),
        "{claims:?}"
    );

    let released = call_ok(&a, "worksync_release", claim.clone()).await;
    assert_eq!(released["released"], true);
    let taken = call_ok(&b, "worksync_claim", claim.clone()).await;
    assert_eq!(taken["holder"], "agent-b", "a released claim is free to take");
    let released = call_ok(&b, "worksync_release", claim).await;
    assert_eq!(released["released"], true);
}

/// 8 agents asking for next work with claim=true at the same time each get a different story.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_agents_next_claim_distinct_stories() {
    let server = TestServer::start().await;
    let setup = server.client("setup").await;
    let repo = tempfile::tempdir().unwrap();
    call_ok(&setup, "worksync_register_project", json!({"name": "team", "repo": repo.path().display().to_string()}))
        .await;
    call_ok(
        &setup,
        "worksync_create_sprint",
        json!({"project": "team", "id": "s1", "title": "S1", "status": "active"}),
    )
    .await;
    for n in 0..8 {
        call_ok(
            &setup,
            "worksync_add_story",
            json!({"project": "team", "sprint_id": "s1", "notes": format!("story {n}")}),
        )
        .await;
    }
    let mut tasks = Vec::new();
    for n in 0..8 {
        let client = server.client(&format!("agent-{n}")).await;
        tasks.push(tokio::spawn(async move {
            let next = call_ok(&client, "worksync_next", json!({"project": "team", "claim": true})).await;
            assert_eq!(next["claimed"], true);
            assert!(next["reason"].as_str().unwrap().contains("active sprint 's1'"));
            next["next"]["id"].as_str().unwrap().to_string()
        }));
    }
    let mut ids = HashSet::new();
    for task in tasks {
        assert!(ids.insert(task.await.unwrap()), "a story was handed out twice");
    }
    assert_eq!(ids.len(), 8);
    let nothing = call_ok(&setup, "worksync_next", json!({"project": "team"})).await;
    assert!(nothing["next"].is_null(), "{nothing}");
}

/// Without claimed stories, next falls back to the backlog by priority.
#[tokio::test]
async fn next_prefers_priority_in_the_backlog() {
    let server = TestServer::start().await;
    let agent = server.client("agent").await;
    let repo = tempfile::tempdir().unwrap();
    call_ok(&agent, "worksync_register_project", json!({"name": "solo", "repo": repo.path().display().to_string()}))
        .await;
    for (id, priority) in [("low", 5), ("urgent", 1), ("normal", 3)] {
        call_ok(
            &agent,
            "worksync_add_backlog",
            json!({"project": "solo", "id": id, "summary": id, "theme": "t", "priority": priority}),
        )
        .await;
    }
    let next = call_ok(&agent, "worksync_next", json!({"project": "solo"})).await;
    assert_eq!(next["next"]["id"], "urgent");
    assert_eq!(next["claimed"], false);
    assert!(next["reason"].as_str().unwrap().contains("P1"));
}

/// A client waiting in worksync_changes wakes as soon as another client changes something,
/// and sees what changed, by whom, with the new rev; its next cursor lists nothing twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiting_client_wakes_on_change() {
    let server = TestServer::start().await;
    let watcher = server.client("watcher").await;
    let writer = server.client("writer").await;
    let start = call_ok(&watcher, "worksync_changes", json!({"project": PROJECT})).await;
    let cursor = start["cursor"].as_str().unwrap().to_string();
    assert!(start["changes"].as_array().unwrap().is_empty());

    let busy = server.busy_connections().await;
    let waiting = {
        let cursor = cursor.clone();
        tokio::spawn(async move {
            let answer =
                call_ok(&watcher, "worksync_changes", json!({"project": PROJECT, "since": cursor, "wait_seconds": 20}))
                    .await;
            (answer, std::time::Instant::now(), watcher)
        })
    };
    server.await_busy_connections(busy + 1).await;
    let sent = std::time::Instant::now();
    call_ok(
        &writer,
        "worksync_add_backlog",
        json!({"project": PROJECT, "id": "wake-up", "summary": "s", "theme": "t"}),
    )
    .await;
    let (answer, woke, watcher) = waiting.await.unwrap();
    let latency = woke.saturating_duration_since(sent);
    eprintln!("waiter woke {latency:?} after the mutation was sent");
    assert!(latency < std::time::Duration::from_secs(2), "woke after {latency:?}");
    let change = &answer["changes"][0];
    assert_eq!((change["id"].as_str(), change["action"].as_str()), (Some("wake-up"), Some("created")));
    assert_eq!(change["agent"], "writer");
    assert_eq!(change["rev"], 1);
    assert_eq!(change["project"], PROJECT);

    let next = answer["cursor"].as_str().unwrap();
    let again = call_ok(&watcher, "worksync_changes", json!({"project": PROJECT, "since": next})).await;
    assert!(again["changes"].as_array().unwrap().is_empty(), "nothing is listed twice: {again}");
}

/// A cursor the server cannot serve (another journal epoch) gets an explicit resync.
#[tokio::test]
async fn stale_cursor_gets_resync() {
    let server = TestServer::start().await;
    let client = server.client("c").await;
    let start = call_ok(&client, "worksync_changes", json!({"project": PROJECT})).await;
    let stale = start["cursor"].as_str().unwrap().replace('@', "@0000");
    let answer = call_ok(&client, "worksync_changes", json!({"project": PROJECT, "since": stale})).await;
    assert_eq!(answer["resync"], true, "{answer}");
    assert!(answer["cursor"].as_str().unwrap().starts_with("v1:orbit-api@"));
    let bad = call_err(&client, "worksync_changes", json!({"since": "not-a-cursor"})).await;
    assert!(bad["hint"].as_str().unwrap().contains("cursor"));
}

/// A cursor survives a restart of the server while the journal still holds it.
#[tokio::test]
async fn cursor_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let mut first = common::Process::serve(&root);
    let client = first.client("c").await;
    let start = call_ok(&client, "worksync_changes", json!({"project": PROJECT})).await;
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": PROJECT, "id": "before-restart", "summary": "s", "theme": "t"}),
    )
    .await;
    drop(client);
    first.signal("TERM");
    assert!(first.wait(std::time::Duration::from_secs(20)).success());

    let second = common::Process::serve(&root);
    let client = second.client("c").await;
    let answer =
        call_ok(&client, "worksync_changes", json!({"project": PROJECT, "since": start["cursor"].as_str().unwrap()}))
            .await;
    assert!(answer.get("resync").is_none(), "{answer}");
    assert_eq!(answer["changes"][0]["id"], "before-restart");
}

/// A file that was broken (or deleted) and comes back with an item changed: the item gets a
/// new revision, so an agent's stale expected_rev is refused rather than overwriting it.
#[tokio::test]
async fn item_changed_while_the_file_was_broken_gets_a_new_rev() {
    let server = TestServer::start().await;
    let agent = server.client("agent").await;
    call_ok(&agent, "worksync_add_backlog", json!({"project": PROJECT, "id": "fragile", "summary": "s", "theme": "t"}))
        .await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let good = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{good}oops: [\n")).unwrap();
    let broken =
        call_err(&agent, "worksync_update_backlog", json!({"project": PROJECT, "id": "fragile", "status": "done"}))
            .await;
    assert!(broken.get("line").is_some(), "{broken}");
    std::fs::write(
        &path,
        good.replace(
            "- id: fragile\n  theme: t\n  summary: s\n",
            "- id: fragile\n  theme: t\n  summary: fixed by hand\n",
        ),
    )
    .unwrap();
    let stale = call_err(
        &agent,
        "worksync_update_backlog",
        json!({"project": PROJECT, "id": "fragile", "status": "done", "expected_rev": 1}),
    )
    .await;
    assert_eq!(stale["current"]["summary"], "fixed by hand");
    assert_eq!(stale["current"]["rev"], 2);
}

/// A wait above the 25 s cap is served, capped, and the answer says so in `note`, so an agent
/// that asked for 600 s knows why it may get an empty answer sooner; a wait within the cap
/// gets no note. The parameter's description names the cap.
#[tokio::test]
async fn wait_above_the_cap_is_capped_and_said() {
    let server = TestServer::start().await;
    let client = server.client("c").await;
    let start = call_ok(&client, "worksync_changes", json!({"project": PROJECT})).await;
    let cursor = start["cursor"].as_str().unwrap();
    call_ok(&client, "worksync_add_backlog", json!({"project": PROJECT, "id": "capped", "summary": "s", "theme": "t"}))
        .await;
    let answer =
        call_ok(&client, "worksync_changes", json!({"project": PROJECT, "since": cursor, "wait_seconds": 600})).await;
    assert_eq!(answer["changes"][0]["id"], "capped", "{answer}");
    let note = answer["note"].as_str().unwrap_or_else(|| panic!("a note in {answer}"));
    assert!(note.contains("600") && note.contains("25"), "{note}");
    let within =
        call_ok(&client, "worksync_changes", json!({"project": PROJECT, "since": cursor, "wait_seconds": 5})).await;
    assert!(within.get("note").is_none(), "{within}");

    let tools = client.list_all_tools().await.unwrap();
    let changes = tools.iter().find(|t| t.name == "worksync_changes").unwrap();
    let description = changes.input_schema["properties"]["wait_seconds"]["description"].as_str().unwrap();
    assert!(description.contains("25"), "{description}");
}

/// Status answers are kept between changes (`src/mcp/status_answers.rs`), but not past the
/// end of a lease they show: once a claim lapses, status no longer lists it, though nothing
/// was written in between.
#[tokio::test]
async fn status_stops_listing_a_claim_when_its_lease_ends() {
    let server = TestServer::start().await;
    let a = server.client("agent-a").await;
    let item = json!({"project": PROJECT, "id": "short-lease", "summary": "held briefly", "theme": "ops"});
    call_ok(&a, "worksync_add_backlog", item).await;
    let claim = json!({"project": PROJECT, "kind": "backlog", "id": "short-lease", "lease_minutes": 0.03});
    let claimed = call_ok(&a, "worksync_claim", claim).await;
    let until: chrono::DateTime<chrono::Utc> = claimed["until"].as_str().unwrap().parse().unwrap();
    let listed = |status: &serde_json::Value| {
        let claims = status["projects"][PROJECT]["claims"].as_array().unwrap().clone();
        claims.iter().any(|c| c["id"] == "short-lease")
    };
    let status = json!({"project": PROJECT});
    for _ in 0..3 {
        let answer = call_ok(&a, "worksync_status", status.clone()).await;
        assert!(listed(&answer) || chrono::Utc::now() >= until, "a live claim is listed: {answer}");
    }
    let wait = (until - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + std::time::Duration::from_millis(50)).await;
    let answer = call_ok(&a, "worksync_status", status).await;
    assert!(!listed(&answer), "the lease ended at {until}: {}", answer["projects"][PROJECT]["claims"]);
}
