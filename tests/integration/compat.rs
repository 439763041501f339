//! A data root written by the Python tool loads, and our writes change only what they must.

use crate::common;

use common::{TestServer, call_ok, copy_tree, fixture};
use serde_json::json;

const LEGACY: &str = "legacy-app";

async fn legacy_server() -> TestServer {
    TestServer::start_with(|layout| copy_tree(&fixture("python-root"), layout.root())).await
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

/// The lines that differ between two texts, as (line number, old, new), for texts of the
/// same length.
fn changed_lines<'a>(old: &'a str, new: &'a str) -> Vec<(usize, &'a str, &'a str)> {
    let (old, new) = (lines(old), lines(new));
    assert_eq!(old.len(), new.len(), "same number of lines");
    old.iter().zip(&new).enumerate().filter(|(_, (o, n))| o != n).map(|(i, (o, n))| (i + 1, *o, *n)).collect()
}

/// The Python tool's files load: folded notes, escaped and literal unicode, quoted dates.
#[tokio::test]
async fn python_files_load() {
    let server = legacy_server().await;
    let client = server.client("compat").await;
    let status = call_ok(&client, "worksync_status", json!({"project": LEGACY})).await;
    let project = &status["projects"][LEGACY];
    assert_eq!(project["sprints"][0]["id"], "portal-payments");
    let story = &project["in_progress_stories"][0];
    assert_eq!(story["id"], "STORY-3");
    assert_eq!(story["sprint"], "portal-payments");
    assert!(story["notes"].as_str().unwrap().starts_with("Card payments through the PSP hosted fields — 3-D Secure"));
    assert_eq!(project["stats"], json!({"total_backlog": 3, "todo": 2, "in_progress": 0, "done": 1}));
    let history = call_ok(&client, "worksync_history", json!({"project": LEGACY})).await;
    assert_eq!(history["history"][0]["date"], "2026-01-12");
    assert_eq!(history["total"], 3);
    let projects = call_ok(&client, "worksync_projects", json!({"project": LEGACY})).await;
    assert_eq!(projects["guidance"]["project"][0]["path"], "docs/CODING.md");
}

/// One story update changes exactly that story's status line; nothing else moves.
#[tokio::test]
async fn update_story_diff_is_one_line() {
    let server = legacy_server().await;
    let client = server.client("compat").await;
    let path = server.path("projects/legacy-app/work-index.yaml");
    let before = std::fs::read_to_string(&path).unwrap();
    call_ok(
        &client,
        "worksync_update_story",
        json!({"project": LEGACY, "sprint_id": "portal-payments", "story_id": "STORY-4", "status": "in_progress"}),
    )
    .await;
    let after = std::fs::read_to_string(&path).unwrap();
    let changes = changed_lines(&before, &after);
    assert_eq!(changes.len(), 1, "{changes:?}");
    let (line, old, new) = changes[0];
    assert_eq!((old, new), ("    status: planned", "    status: in_progress"));
    assert_eq!(lines(&before)[line - 2], "  - id: STORY-4", "it is STORY-4's status");
}

/// New notes for a story rewrite that story's notes only; its folded neighbours and the
/// header comment stay byte for byte.
#[tokio::test]
async fn notes_change_stays_inside_the_story() {
    let server = legacy_server().await;
    let client = server.client("compat").await;
    let path = server.path("projects/legacy-app/work-index.yaml");
    let before = std::fs::read_to_string(&path).unwrap();
    call_ok(
        &client,
        "worksync_update_story",
        json!({"project": LEGACY, "sprint_id": "portal-payments", "story_id": "STORY-3", "notes": "Card flow done — über-simple now: 3DS2 only."}),
    )
    .await;
    let after = std::fs::read_to_string(&path).unwrap();
    let (old, new) = (lines(&before), lines(&after));
    let start = old.iter().position(|l| *l == "  - id: STORY-3").unwrap();
    let end = old.iter().position(|l| *l == "  - id: STORY-4").unwrap();
    assert_eq!(old[..start + 2], new[..start + 2], "everything up to STORY-3's notes is unchanged");
    let tail = old.len() - end;
    assert_eq!(old[end..], new[new.len() - tail..], "everything from STORY-4 on is unchanged");
    let yaml = common::read_yaml(&path);
    assert_eq!(yaml["sprints"][1]["stories"][0]["notes"], "Card flow done — über-simple now: 3DS2 only.");
}

/// Adding a backlog item inserts lines at the end of the backlog; every old line survives
/// in order, and the Python tool's quoting of history dates is untouched.
#[tokio::test]
async fn add_backlog_only_inserts() {
    let server = legacy_server().await;
    let client = server.client("compat").await;
    let path = server.path("projects/legacy-app/work-index.yaml");
    let before = std::fs::read_to_string(&path).unwrap();
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": LEGACY, "id": "pdf-accessibility", "summary": "Tag PDFs for screen readers (PDF/UA)", "theme": "compliance"}),
    )
    .await;
    let after = std::fs::read_to_string(&path).unwrap();
    let (old, new) = (lines(&before), lines(&after));
    let at = old.iter().position(|l| *l == "history:").unwrap();
    assert_eq!(old[..at], new[..at]);
    assert_eq!(
        new[at..at + 5],
        [
            "- id: pdf-accessibility",
            "  theme: compliance",
            "  summary: Tag PDFs for screen readers (PDF/UA)",
            "  status: todo",
            "  related_sprints: []"
        ]
    );
    assert_eq!(old[at..], new[at + 5..]);
}

/// Registering and then unregistering a project leaves config.yaml byte-identical: the
/// Python tool's folding and ordering of other entries is never touched.
#[tokio::test]
async fn config_round_trip_is_byte_identical() {
    let server = legacy_server().await;
    let client = server.client("compat").await;
    let config = server.path("config.yaml");
    let before = std::fs::read_to_string(&config).unwrap();
    let repo = tempfile::tempdir().unwrap();
    call_ok(
        &client,
        "worksync_register_project",
        json!({"name": "scratch", "repo": repo.path().display().to_string()}),
    )
    .await;
    let during = std::fs::read_to_string(&config).unwrap();
    assert!(during.starts_with(before.split("vault_path:").next().unwrap()), "existing entries come first, unchanged");
    assert!(during.contains("  scratch:\n"));
    call_ok(&client, "worksync_unregister_project", json!({"name": "scratch"})).await;
    assert_eq!(std::fs::read_to_string(&config).unwrap(), before);
    assert!(server.path("projects/scratch/work-index.yaml").exists(), "without delete_data the data stays");
}

/// settings.history_rotation keeps at most N entries in work-index.yaml; older ones move to
/// COMPLETE/history.yaml, oldest first, and nothing is lost.
#[tokio::test]
async fn history_rotation_moves_old_entries() {
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        let config = std::fs::read_to_string(layout.config()).unwrap();
        std::fs::write(layout.config(), config.replace("history_rotation: 100", "history_rotation: 12")).unwrap();
    })
    .await;
    let client = server.client("rotator").await;
    let index = server.path("projects/orbit-api/work-index.yaml");
    let before = common::read_yaml(&index)["history"].as_sequence().unwrap().clone();
    assert_eq!(before.len(), 11);
    for n in 0..3 {
        call_ok(
            &client,
            "worksync_history",
            json!({"project": "orbit-api", "action": "add", "summary": format!("entry {n}")}),
        )
        .await;
    }
    let kept = common::read_yaml(&index)["history"].as_sequence().unwrap().clone();
    assert_eq!(kept.len(), 12);
    assert_eq!(kept.last().unwrap()["summary"], "entry 2");
    let archive = common::read_yaml(&server.path("projects/orbit-api/COMPLETE/history.yaml"));
    let moved = archive["history"].as_sequence().unwrap();
    assert_eq!(moved.as_slice(), &before[..2], "the two oldest entries moved, in order");
}

/// What the Python tool's own client test (test_client.py) checks at initialization: the
/// server instructions name their Data Model, Statuses and Guardrails sections, and the
/// tools and prompts its clients call exist. (bench/python-tool-tests.sh runs that test
/// itself, unchanged, against worksync.)
#[tokio::test]
async fn what_the_python_tools_client_test_checks() {
    let server = TestServer::start().await;
    let client = server.client("python-test-client").await;
    let instructions = client.peer_info().and_then(|info| info.instructions.clone()).unwrap_or_default();
    assert!(instructions.len() > 100);
    for section in ["Guardrails", "Data Model", "Statuses"] {
        assert!(instructions.contains(section), "instructions lack {section}:\n{instructions}");
    }
    let tools: Vec<String> = client.list_all_tools().await.unwrap().into_iter().map(|t| t.name.to_string()).collect();
    for tool in [
        "worksync_status",
        "worksync_projects",
        "worksync_add_backlog",
        "worksync_update_backlog",
        "worksync_remove_backlog",
        "worksync_create_sprint",
        "worksync_update_sprint",
        "worksync_add_story",
        "worksync_update_story",
        "worksync_done",
        "worksync_history",
        "worksync_sync",
        "worksync_guidance",
    ] {
        assert!(tools.iter().any(|t| t == tool), "missing tool {tool}");
    }
    let prompts: Vec<String> = client.list_all_prompts().await.unwrap().into_iter().map(|p| p.name).collect();
    for prompt in ["work_status", "work_sync", "work_focus", "work_done", "add_project"] {
        assert!(prompts.iter().any(|p| p == prompt), "missing prompt {prompt}");
    }
}
