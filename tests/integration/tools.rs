//! Every tool and prompt, called over real MCP, with its effect checked in the files on disk.

use crate::common;

use common::{TestServer, call_err, call_ok, read_yaml};
use rmcp::model::GetPromptRequestParams;
use serde_json::json;

const PROJECT: &str = "orbit-api";

/// The Python tool's 15 tools, then ours.
const TOOLS: [&str; 20] = [
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
    "worksync_register_project",
    "worksync_unregister_project",
    "worksync_claim",
    "worksync_release",
    "worksync_next",
    "worksync_changes",
    "worksync_depend",
];

/// tools/list has the 15 tools of the Python tool (plus our coordination tools), each with a documented object
/// schema; prompts/list has the 5 built-in prompts.
#[tokio::test]
async fn lists_tools_and_prompts() {
    let server = TestServer::start().await;
    let client = server.client("lister").await;
    let tools = client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort();
    let mut expected = TOOLS.to_vec();
    expected.sort();
    assert_eq!(names, expected);
    for tool in &tools {
        assert_eq!(tool.input_schema.get("type"), Some(&json!("object")), "{}", tool.name);
        let schema = serde_json::to_string(&tool.input_schema).unwrap();
        assert!(!schema.contains("null"), "{}: one type per parameter, no null: {schema}", tool.name);
        assert!(tool.description.as_deref().is_some_and(|d| d.len() > 20), "{} has a description", tool.name);
    }
    let add = tools.iter().find(|t| t.name == "worksync_add_backlog").unwrap();
    let required = add.input_schema["required"].as_array().unwrap();
    for field in ["project", "id", "summary", "theme"] {
        assert!(required.contains(&json!(field)), "{field} is required");
    }
    let status_enum = &add.input_schema["properties"]["status"];
    assert!(status_enum.to_string().contains("in_progress"), "status schema lists its values: {status_enum}");

    // Every agent reads the whole list on every turn (#18): it stays within a budget, its
    // descriptions are single lines (doc comments' wrapping joined), and the defaults and
    // limits that clients such as Codex strip from the schema are in the words.
    // (The `result` of tools/list as compact JSON, less the `resultType` of newer protocols.)
    let listed = serde_json::to_string(&json!({ "tools": tools })).unwrap();
    assert!(listed.len() <= 13_500, "tools/list is {} bytes, over the budget of 13,500", listed.len());
    assert!(!listed.contains("\\n"), "a description with a line break: {listed}");
    assert!(!listed.contains("$defs") && !listed.contains("oneOf"), "every schema is flat: {listed}");
    let words = |tool: &str, parameter: &str| {
        let tool = tools.iter().find(|t| t.name == tool).unwrap();
        tool.input_schema["properties"][parameter]["description"].as_str().unwrap_or_default().to_string()
    };
    for (tool, parameter, facts) in [
        ("worksync_add_backlog", "status", &["default 'todo'"][..]),
        ("worksync_add_backlog", "priority", &["1 (highest)", "5 (lowest)", "default 3"]),
        ("worksync_add_story", "status", &["default 'planned'"]),
        ("worksync_add_story", "story_id", &["omit", "STORY-N"]),
        ("worksync_claim", "lease_minutes", &["default 30"]),
        ("worksync_next", "lease_minutes", &["default 30"]),
        ("worksync_next", "claim", &["claim"]),
        ("worksync_changes", "wait_seconds", &["max 25"]),
        ("worksync_changes", "limit", &["default 100", "max 1000"]),
        ("worksync_history", "action", &["'list' (default)", "'add'"]),
        ("worksync_history", "limit", &["default all"]),
        ("worksync_unregister_project", "delete_data", &["default false"]),
        ("worksync_update_story", "expected_rev", &["refused", "current item"]),
        ("worksync_update_story", "agent", &["default"]),
    ] {
        let text = words(tool, parameter).to_lowercase();
        for fact in facts {
            assert!(text.contains(&fact.to_lowercase()), "{tool}.{parameter} says '{fact}': {text:?}");
        }
    }
    let history = tools.iter().find(|t| t.name == "worksync_history").unwrap();
    assert_eq!(history.input_schema["properties"]["action"]["enum"], json!(["list", "add"]));

    let prompts = client.list_all_prompts().await.unwrap();
    let mut builtin: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).filter(|n| !n.contains('.')).collect();
    builtin.sort();
    assert_eq!(builtin, ["add_project", "work_done", "work_focus", "work_status", "work_sync"]);

    let args = json!({"story_id": "STORY-12", "project": PROJECT}).as_object().unwrap().clone();
    let prompt = client.get_prompt(GetPromptRequestParams::new("work_focus").with_arguments(args)).await.unwrap();
    let text = serde_json::to_string(&prompt.messages).unwrap();
    assert!(text.contains("STORY-12") && text.contains("worksync_guidance"), "{text}");

    let info = client.peer_info().unwrap();
    assert_eq!(info.server_info.as_ref().map(|s| s.name.as_str()), Some("worksync"));
    assert!(info.instructions.as_deref().unwrap_or_default().contains("worksync_done"));
}

/// Each mutation tool changes the YAML file as the Python tool would, and reads see it.
#[tokio::test]
async fn every_tool_changes_the_files() {
    let server = TestServer::start().await;
    let client = server.client("claude-code").await;
    let index = server.path("projects/orbit-api/work-index.yaml");

    // Reads.
    let status = call_ok(&client, "worksync_status", json!({})).await;
    let orbit = &status["projects"][PROJECT];
    assert_eq!(orbit["sprints"].as_array().unwrap().len(), 2, "two active sprints in the sample");
    assert_eq!(orbit["stats"]["total_backlog"], 20);
    assert!(orbit["in_progress_stories"].as_array().unwrap().iter().any(|s| s["sprint"] == "dispatch-realtime"));
    let projects = call_ok(&client, "worksync_projects", json!({})).await;
    assert!(projects["projects"][PROJECT]["repo"].is_string());
    let one = call_ok(&client, "worksync_projects", json!({"project": PROJECT})).await;
    assert_eq!(one["project"], PROJECT);

    // Backlog.
    let created = call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": PROJECT, "id": "_parity-test-item", "summary": "Try the parity", "theme": "testing"}),
    )
    .await;
    assert_eq!(created["created"]["status"], "todo");
    assert_eq!(created["agent"], "claude-code");
    let item = |yaml: &serde_yaml_ng::Value, id: &str| {
        yaml["backlog"].as_sequence().unwrap().iter().find(|b| b["id"] == id).cloned()
    };
    let on_disk = item(&read_yaml(&index), "_parity-test-item").expect("added to the file");
    assert_eq!(on_disk["summary"], "Try the parity");
    assert_eq!(on_disk["related_sprints"], serde_yaml_ng::Value::Sequence(vec![]));

    call_ok(
        &client,
        "worksync_update_backlog",
        json!({"project": PROJECT, "id": "_parity-test-item", "status": "in_progress", "related_sprints": ["web-fleet-map"]}),
    )
    .await;
    let on_disk = item(&read_yaml(&index), "_parity-test-item").unwrap();
    assert_eq!(on_disk["status"], "in_progress");
    assert_eq!(on_disk["related_sprints"][0], "web-fleet-map");

    let removed =
        call_ok(&client, "worksync_remove_backlog", json!({"project": PROJECT, "id": "_parity-test-item"})).await;
    assert_eq!(removed["removed"]["id"], "_parity-test-item");
    assert!(item(&read_yaml(&index), "_parity-test-item").is_none());

    // Sprints and stories.
    call_ok(
        &client,
        "worksync_create_sprint",
        json!({"project": PROJECT, "id": "ws-test-sprint", "title": "WS Test", "goal": "Prove it", "themes": ["testing"]}),
    )
    .await;
    let sprint = |yaml: &serde_yaml_ng::Value| {
        yaml["sprints"].as_sequence().unwrap().iter().find(|s| s["id"] == "ws-test-sprint").cloned().unwrap()
    };
    let s = sprint(&read_yaml(&index));
    assert_eq!((s["status"].as_str(), s["file"].as_str()), (Some("planned"), Some("WS-TEST-SPRINT.md")));

    call_ok(&client, "worksync_update_sprint", json!({"project": PROJECT, "id": "ws-test-sprint", "status": "active"}))
        .await;
    assert_eq!(sprint(&read_yaml(&index))["status"], "active");

    let story = call_ok(
        &client,
        "worksync_add_story",
        json!({"project": PROJECT, "sprint_id": "ws-test-sprint", "notes": "First cut"}),
    )
    .await;
    assert_eq!(story["created"]["id"], "STORY-19", "auto-assigned after the sample's STORY-18");
    let duplicate = call_err(
        &client,
        "worksync_add_story",
        json!({"project": PROJECT, "sprint_id": "ws-test-sprint", "story_id": "STORY-3"}),
    )
    .await;
    assert_eq!(duplicate["suggestion"], "STORY-20");
    assert!(duplicate["error"].as_str().unwrap().contains("auth-hardening"));

    call_ok(
        &client,
        "worksync_update_story",
        json!({"project": PROJECT, "sprint_id": "ws-test-sprint", "story_id": "STORY-19", "status": "in_progress", "append_notes": "Half way"}),
    )
    .await;
    let st = sprint(&read_yaml(&index))["stories"][0].clone();
    assert_eq!(st["status"], "in_progress");
    assert_eq!(st["notes"], "First cut\n\nHalf way");

    let done =
        call_ok(&client, "worksync_done", json!({"project": PROJECT, "story_id": "STORY-19", "notes": "Shipped"}))
            .await;
    assert_eq!(done["sprint"], "ws-test-sprint");
    let yaml = read_yaml(&index);
    assert_eq!(sprint(&yaml)["stories"][0]["status"], "done");
    let last = yaml["history"].as_sequence().unwrap().last().unwrap().clone();
    assert_eq!(last["summary"], "Completed STORY-19: Shipped");
    assert_eq!(last["related_sprints"][0], "ws-test-sprint");

    // History.
    call_ok(&client, "worksync_history", json!({"project": PROJECT, "action": "add", "summary": "Retro held"})).await;
    let yaml = read_yaml(&index);
    assert_eq!(yaml["history"].as_sequence().unwrap().last().unwrap()["summary"], "Retro held");
    let listed = call_ok(&client, "worksync_history", json!({"project": PROJECT, "limit": 2})).await;
    let entries = listed["history"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["summary"], "Retro held");
    assert_eq!(entries[1]["agent"], "claude-code", "attribution from the sidecar");

    // Attribution is recorded in .worksync/, not in the YAML.
    let state = worksync::store::SidecarFile::load(&server.path("projects/orbit-api/.worksync"));
    let story = worksync::store::ItemKey::Story("STORY-19".into());
    assert_eq!(state.item(&story).unwrap().updated_by, "claude-code");
    assert!(!std::fs::read_to_string(&index).unwrap().contains("claude-code"));

    // Guidance and sync.
    let guidance = call_ok(&client, "worksync_guidance", json!({"project": PROJECT})).await;
    assert!(guidance["guidance"]["general"].as_str().unwrap().len() > 100);
    let golang = call_ok(&client, "worksync_guidance", json!({"project": PROJECT, "topic": "golang"})).await;
    assert_eq!(golang["guidance"].as_object().unwrap().len(), 1);
    let sync = call_ok(&client, "worksync_sync", json!({})).await;
    assert_eq!(sync["status"], "success", "{sync}");
    assert!(sync["written"].as_u64() > Some(40), "the vault was written: {sync}");
    assert!(server.path("vault/projects/orbit-api/Dashboard.md").exists());
    let missing = call_err(&client, "worksync_sync", json!({"project": "nope"})).await;
    assert!(missing["error"].as_str().unwrap().contains("nope"), "{missing}");

    // Projects.
    let repo = tempfile::tempdir().unwrap();
    std::fs::write(repo.path().join("Cargo.toml"), "[package]\nname='x'\n").unwrap();
    let registered = call_ok(
        &client,
        "worksync_register_project",
        json!({"name": "new-proj", "repo": repo.path().display().to_string(), "description": "A new one"}),
    )
    .await;
    assert_eq!(registered["languages_detected"], json!(["rust"]));
    assert_eq!(registered["guidance_inherit"], json!(["general", "rust", "ai-collaboration"]));
    let config = read_yaml(&server.path("config.yaml"));
    assert_eq!(config["projects"]["new-proj"]["description"], "A new one");
    let new_index = std::fs::read_to_string(server.path("projects/new-proj/work-index.yaml")).unwrap();
    assert!(new_index.starts_with("# yaml-language-server: $schema=./SCHEMA/work-flow-schema.json"));
    assert!(server.path("projects/new-proj/SCHEMA/work-flow-schema.json").exists());
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "new-proj", "id": "first", "summary": "s", "theme": "t"}),
    )
    .await;

    let gone = call_ok(&client, "worksync_unregister_project", json!({"name": "new-proj", "delete_data": true})).await;
    assert_eq!(gone["unregistered"], "new-proj");
    assert!(read_yaml(&server.path("config.yaml"))["projects"].get("new-proj").is_none());
    assert!(!server.path("projects/new-proj").exists());
    let trash = std::path::PathBuf::from(gone["moved_to"].as_str().unwrap());
    assert!(trash.join("work-index.yaml").exists(), "deleted data is kept in the trash");
    let missing = call_err(&client, "worksync_status", json!({"project": "new-proj"})).await;
    assert!(missing["hint"].as_str().unwrap().contains("worksync_projects"));
}

/// The agent is the argument, else the X-WorkSync-Agent header, else the client's name.
#[tokio::test]
async fn agent_attribution_order() {
    let server = TestServer::start().await;
    let by_name = server.client("codex-cli").await;
    let headers = [(http::HeaderName::from_static("x-worksync-agent"), http::HeaderValue::from_static("header-agent"))];
    let by_header = server.client_with_headers("ignored-client", headers.into_iter().collect()).await;
    let add = |id: &str| json!({"project": PROJECT, "id": id, "summary": "s", "theme": "t"});

    assert_eq!(call_ok(&by_name, "worksync_add_backlog", add("a1")).await["agent"], "codex-cli");
    assert_eq!(call_ok(&by_header, "worksync_add_backlog", add("a2")).await["agent"], "header-agent");
    let mut explicit = add("a3");
    explicit["agent"] = json!("explicit");
    assert_eq!(call_ok(&by_header, "worksync_add_backlog", explicit).await["agent"], "explicit");
}

/// Bad arguments get JSON tool errors that say what to fix, and change nothing.
#[tokio::test]
async fn bad_arguments_are_explained() {
    let server = TestServer::start().await;
    let client = server.client("t").await;
    let index = server.path("projects/orbit-api/work-index.yaml");
    let before = std::fs::read(&index).unwrap();

    let cases = [
        (
            "worksync_add_backlog",
            json!({"project": PROJECT, "id": "x", "summary": "s", "theme": "t", "status": "blocked"}),
            "unknown variant",
        ),
        ("worksync_add_backlog", json!({"project": PROJECT, "id": "x", "summary": "s"}), "missing field `theme`"),
        (
            "worksync_add_backlog",
            json!({"project": PROJECT, "id": "../../etc/passwd", "summary": "s", "theme": "t"}),
            "never paths",
        ),
        (
            "worksync_add_backlog",
            json!({"project": PROJECT, "id": "x", "summary": "s", "theme": "t", "colour": "red"}),
            "unknown field",
        ),
        ("worksync_update_backlog", json!({"project": PROJECT, "id": "no-such-item", "status": "done"}), "not found"),
        (
            "worksync_update_story",
            json!({"project": PROJECT, "sprint_id": "web-fleet-map", "story_id": "STORY-12", "status": "done"}),
            "not found in sprint",
        ),
        (
            "worksync_create_sprint",
            json!({"project": PROJECT, "id": "auth-hardening", "title": "again"}),
            "already exists",
        ),
        ("worksync_history", json!({"project": PROJECT, "action": "add"}), "summary is required"),
        ("worksync_status", json!({"project": "nope"}), "not found"),
        ("worksync_register_project", json!({"name": "../evil", "repo": "/tmp"}), "not a valid project name"),
    ];
    for (tool, args, expected) in cases {
        let error = call_err(&client, tool, args.clone()).await;
        let text = error.to_string();
        assert!(text.contains(expected), "{tool} {args}: expected '{expected}' in {text}");
        assert!(error["hint"].is_string(), "{tool} {args}: a hint says what to do: {text}");
    }
    let story_hint = call_err(
        &client,
        "worksync_update_story",
        json!({"project": PROJECT, "sprint_id": "web-fleet-map", "story_id": "STORY-12", "status": "done"}),
    )
    .await;
    assert!(story_hint["hint"].as_str().unwrap().contains("dispatch-realtime"));
    assert_eq!(std::fs::read(&index).unwrap(), before, "no failed call changed the file");
}

/// Every answer about one item names it the same way, whatever the tool: `kind` and `id`
/// apart, its `rev`, and the `agent` of a write; `claimed` is always a boolean. The Python
/// tool's keys (`created`, `updated`, `updated_story`, `removed`, `sprint`) are still there.
#[tokio::test]
async fn answers_about_items_are_shaped_alike() {
    let server = TestServer::start().await;
    let client = server.client("shaper").await;
    let p = PROJECT;
    let answers = [
        (
            "backlog",
            "wire-item",
            "created",
            call_ok(
                &client,
                "worksync_add_backlog",
                json!({"project": p, "id": "wire-item", "summary": "s", "theme": "t"}),
            )
            .await,
        ),
        (
            "backlog",
            "wire-item",
            "updated",
            call_ok(
                &client,
                "worksync_update_backlog",
                json!({"project": p, "id": "wire-item", "status": "in_progress"}),
            )
            .await,
        ),
        (
            "sprint",
            "wire-sprint",
            "created",
            call_ok(
                &client,
                "worksync_create_sprint",
                json!({"project": p, "id": "wire-sprint", "title": "W", "status": "active"}),
            )
            .await,
        ),
        (
            "sprint",
            "wire-sprint",
            "updated",
            call_ok(&client, "worksync_update_sprint", json!({"project": p, "id": "wire-sprint", "goal": "g"})).await,
        ),
        (
            "story",
            "STORY-70",
            "created",
            call_ok(
                &client,
                "worksync_add_story",
                json!({"project": p, "sprint_id": "wire-sprint", "story_id": "STORY-70"}),
            )
            .await,
        ),
        (
            "story",
            "STORY-70",
            "updated",
            call_ok(
                &client,
                "worksync_update_story",
                json!({"project": p, "sprint_id": "wire-sprint", "story_id": "STORY-70", "append_notes": "n"}),
            )
            .await,
        ),
        (
            "story",
            "STORY-70",
            "item",
            call_ok(&client, "worksync_claim", json!({"project": p, "kind": "story", "id": "STORY-70"})).await,
        ),
        (
            "story",
            "STORY-70",
            "updated_story",
            call_ok(&client, "worksync_done", json!({"project": p, "story_id": "STORY-70"})).await,
        ),
        (
            "backlog",
            "wire-item",
            "removed",
            call_ok(&client, "worksync_remove_backlog", json!({"project": p, "id": "wire-item"})).await,
        ),
    ];
    for (kind, id, key, answer) in &answers {
        assert_eq!((answer["kind"].as_str(), answer["id"].as_str()), (Some(*kind), Some(*id)), "{answer}");
        assert!(answer["rev"].is_u64(), "rev: {answer}");
        assert_eq!(answer["agent"], "shaper", "{answer}");
        assert_eq!(answer[key]["id"], *id, "the item under `{key}`: {answer}");
        assert_eq!(answer[key]["rev"], answer["rev"], "{answer}");
    }
    for (_, _, key, answer) in &answers[4..] {
        if *key != "removed" {
            assert_eq!(answer["sprint"], "wire-sprint", "stories come with their sprint: {answer}");
        }
    }
    assert_eq!(answers[6].3["claimed"], true);
    let next = call_ok(&client, "worksync_next", json!({"project": p})).await;
    assert!(next["claimed"].is_boolean() && next["next"]["id"] == next["id"], "{next}");
    let released = call_ok(&client, "worksync_release", json!({"project": p, "kind": "story", "id": "STORY-14"})).await;
    assert_eq!((released["released"].as_bool(), released["kind"].as_str()), (Some(false), Some("story")), "{released}");
}

/// worksync_status does not grow with the work in progress: past 50 items of a kind it lists
/// the 50 changed most recently and says how many it left out; the counts stay whole.
#[tokio::test]
async fn status_lists_at_most_fifty_in_progress_items_of_a_kind() {
    let server = TestServer::start().await;
    let client = server.client("busy").await;
    let in_progress =
        |status: &serde_json::Value| status["projects"][PROJECT]["stats"]["in_progress"].as_u64().unwrap();
    let before = in_progress(&call_ok(&client, "worksync_status", json!({"project": PROJECT})).await);
    for n in 0..60 {
        let args = json!({"project": PROJECT, "id": format!("busy-{n}"), "summary": "Busy", "theme": "load", "status": "in_progress"});
        call_ok(&client, "worksync_add_backlog", args).await;
    }
    // The first one added changes last: it is among the most recently changed.
    call_ok(&client, "worksync_update_backlog", json!({"project": PROJECT, "id": "busy-0", "summary": "Busy again"}))
        .await;

    let status = call_ok(&client, "worksync_status", json!({"project": PROJECT})).await;
    let project = &status["projects"][PROJECT];
    let listed: Vec<&str> =
        project["in_progress_backlog"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(listed.len(), 50);
    assert_eq!(in_progress(&status), before + 60, "the counts are whole");
    let left_out = before as usize + 60 - 50;
    assert_eq!(project["in_progress_not_shown"]["backlog"], left_out, "{}", project["in_progress_not_shown"]);
    assert_eq!(project["in_progress_not_shown"]["stories"], 0);
    assert!(listed.contains(&"busy-0") && listed.contains(&"busy-59"), "the latest changes are shown: {listed:?}");
    assert!(!listed.contains(&"busy-1"), "the oldest untouched are left out: {listed:?}");
}
