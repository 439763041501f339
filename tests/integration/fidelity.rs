//! The files stay what their owners made them: symlinks stay links, anchors and aliases stay
//! valid, line endings stay as they were, and what an agent sends is what any YAML reader
//! (PyYAML too) reads back.

use crate::common;

use common::{TestServer, call_ok, read_yaml};
use serde_json::json;

/// `work-index.yaml` and `config.yaml` kept elsewhere (a repo, a dotfiles folder) and linked
/// into the data root: writes go through to the link's target, and the links stay links.
#[cfg(unix)]
#[tokio::test]
async fn symlinked_files_are_written_through() {
    let elsewhere = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        for (linked, kept) in [("projects/orbit-api/work-index.yaml", "plan.yaml"), ("config.yaml", "config.yaml")] {
            let link = layout.root().join(linked);
            std::fs::rename(&link, elsewhere.path().join(kept)).unwrap();
            std::os::unix::fs::symlink(elsewhere.path().join(kept), &link).unwrap();
        }
    })
    .await;
    let client = server.client("agent").await;
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "through-the-link", "summary": "s", "theme": "t"}),
    )
    .await;
    call_ok(&client, "worksync_register_project", json!({"name": "linked-too", "repo": "/tmp"})).await;

    for (linked, kept, expected) in [
        ("projects/orbit-api/work-index.yaml", "plan.yaml", "id: through-the-link"),
        ("config.yaml", "config.yaml", "linked-too:"),
    ] {
        let link = server.path(linked);
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "{linked} is still a link");
        let target = std::fs::read_to_string(elsewhere.path().join(kept)).unwrap();
        assert!(target.contains(expected), "{kept} holds the write:\n{target}");
    }
    let names: Vec<String> =
        std::fs::read_dir(elsewhere.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.len(), 2, "no temp file left beside the targets: {names:?}");
    assert_eq!(read_yaml(&server.path("projects/orbit-api/work-index.yaml"))["backlog"][20]["id"], "through-the-link");
}

/// A work index that shares values by anchors, aliases and a merge key, as people write by
/// hand.
const LINKED: &str = "\
# yaml-language-server: $schema=./SCHEMA/work-flow-schema.json
x-defaults: &todo-devops
  theme: devops
  status: todo
sprints: []
backlog:
- id: holds-anchor
  theme: &th security
  summary: the item whose theme others share
  status: todo
- id: uses-alias
  theme: *th   # same as holds-anchor
  summary: shares the theme
  status: todo
- id: also-alias
  theme: *th
  summary: shares it too
  status: todo
- <<: *todo-devops
  id: merged
  summary: theme and status come from x-defaults
";

/// Updates and removals of the items that hold an anchor, over real MCP: the file parses
/// after every write, every item keeps the values it had, and a fresh server (a restart)
/// loads the project. The merge key is read as PyYAML reads it.
#[tokio::test]
async fn anchors_and_aliases_survive_updates_and_removals() {
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        std::fs::write(layout.work_index("orbit-api").unwrap(), LINKED).unwrap();
    })
    .await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let merged =
        call_ok(&client, "worksync_update_backlog", json!({"project": "orbit-api", "id": "merged", "summary": "s"}))
            .await;
    assert_eq!(merged["updated"]["theme"], "devops", "the merge key is applied: {merged}");
    assert_eq!(merged["updated"]["status"], "todo");

    call_ok(&client, "worksync_update_backlog", json!({"project": "orbit-api", "id": "holds-anchor", "theme": "ops"}))
        .await;
    let after_update = read_yaml(&path);
    assert_eq!(after_update["backlog"][0]["theme"], "ops");
    assert_eq!(after_update["backlog"][1]["theme"], "security", "the alias keeps its value");
    call_ok(&client, "worksync_remove_backlog", json!({"project": "orbit-api", "id": "holds-anchor"})).await;
    call_ok(
        &client,
        "worksync_update_backlog",
        json!({"project": "orbit-api", "id": "merged", "status": "in_progress"}),
    )
    .await;

    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("theme: *th   # same as holds-anchor") || text.contains("theme: &th"), "{text}");
    assert!(text.contains("- <<: *todo-devops"), "the merge key is kept:\n{text}");
    let mut value = read_yaml(&path);
    value.apply_merge().unwrap();
    let backlog = value["backlog"].as_sequence().unwrap();
    let theme = |id: &str| backlog.iter().find(|b| b["id"] == id).map(|b| b["theme"].clone());
    assert_eq!(theme("uses-alias"), Some("security".into()));
    assert_eq!(theme("also-alias"), Some("security".into()));
    assert_eq!(theme("merged"), Some("devops".into()));
    assert_eq!(backlog.iter().find(|b| b["id"] == "merged").unwrap()["status"], "in_progress");

    let status = call_ok(&client, "worksync_status", json!({"project": "orbit-api"})).await;
    assert_eq!(status["projects"]["orbit-api"]["stats"]["total_backlog"], 3, "{status}");
    restarts(server).await;
}

/// Stops `server` and opens its data root again, as a restart does: every project loads.
async fn restarts(mut server: TestServer) {
    server.stop().await;
    let store = worksync::store::Store::open(worksync::store::Layout::new(server.root())).expect("the data root loads");
    for (name, view) in &store.published().projects {
        assert!(matches!(view, worksync::store::ProjectView::Ready { .. }), "{name} loads: {view:?}");
    }
    store.close().await;
}

/// config.yaml with a shared guidance list (`inherit: &common`): unregistering the project
/// that holds the anchor leaves a config.yaml the server starts from.
#[tokio::test]
async fn config_anchor_survives_unregistering_its_project() {
    let config = "\
projects:
  first:
    repo: /tmp/first
    guidance:
      inherit: &common [general, rust]
  second:
    repo: /tmp/second
    guidance:
      inherit: *common
vault_path: ./vault
";
    let server = TestServer::start_with(|layout| {
        std::fs::write(layout.config(), config).unwrap();
        for name in ["first", "second"] {
            std::fs::create_dir_all(layout.project_dir(name).unwrap()).unwrap();
            std::fs::write(layout.work_index(name).unwrap(), "sprints: []\nbacklog: []\n").unwrap();
        }
    })
    .await;
    let client = server.client("agent").await;
    call_ok(&client, "worksync_unregister_project", json!({"name": "first"})).await;
    let value = read_yaml(&server.path("config.yaml"));
    let common: serde_yaml_ng::Value = serde_yaml_ng::from_str("[general, rust]").unwrap();
    assert_eq!(value["projects"]["second"]["guidance"]["inherit"], common);
    restarts(server).await;
}

/// Strings that YAML 1.1 readers (PyYAML, the Python tool, many scripts) read as booleans,
/// numbers, dates or special keys unless they are quoted, and a few that YAML 1.2 reads so.
const AMBIGUOUS: [&str; 44] = [
    "yes",
    "No",
    "ON",
    "off",
    "Yes",
    "NO",
    "On",
    "OFF",
    "y",
    "n",
    "Y",
    "N",
    "true",
    "False",
    "null",
    "~",
    "1_000",
    "2024-01-01",
    "12:30:45",
    "190:20:30.15",
    "=",
    "<<",
    "0b1010",
    "0x1F",
    "0o17",
    "017",
    "+1",
    "-2",
    "3.14",
    ".5",
    "1.5e3",
    "1e3",
    "+.inf",
    ".NaN",
    "2024-01-01 12:30:00",
    "2024-01-01T10:00:00Z",
    "2024-1-1",
    "1:20",
    "-1:30",
    "0.",
    "1_000.5",
    "yEs",
    "oFf",
    "NULL",
];

/// What an agent sent is what PyYAML reads back: every ambiguous string written through the
/// tools (summary, theme-free fields, notes, history) loads as that same string.
#[tokio::test]
async fn pyyaml_reads_back_what_agents_sent() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    for (n, text) in AMBIGUOUS.iter().enumerate() {
        call_ok(
            &client,
            "worksync_add_backlog",
            json!({"project": "orbit-api", "id": format!("v{n}"), "summary": text, "theme": "t"}),
        )
        .await;
    }
    call_ok(
        &client,
        "worksync_create_sprint",
        json!({"project": "orbit-api", "id": "s-ambiguous", "title": "yes", "goal": "2024-01-01"}),
    )
    .await;
    call_ok(
        &client,
        "worksync_add_story",
        json!({"project": "orbit-api", "sprint_id": "s-ambiguous", "story_id": "STORY-90", "notes": "="}),
    )
    .await;
    call_ok(&client, "worksync_history", json!({"project": "orbit-api", "action": "add", "summary": "off"})).await;

    let script = r#"
import json, sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
out = {b["id"]: [type(b["summary"]).__name__, str(b["summary"])] for b in doc["backlog"]}
sprint = [s for s in doc["sprints"] if s["id"] == "s-ambiguous"][0]
for key, value in [("title", sprint["title"]), ("goal", sprint["goal"]), ("notes", sprint["stories"][0]["notes"]),
                   ("history", doc["history"][-1]["summary"]), ("date", doc["history"][-1]["date"])]:
    out[key] = [type(value).__name__, str(value)]
print(json.dumps(out))
"#;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("python3 runs (CI installs it with PyYAML)");
    assert!(output.status.success(), "PyYAML loads the file: {}", String::from_utf8_lossy(&output.stderr));
    let read: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut misread = Vec::new();
    let mut expect = |key: String, sent: &str| {
        if read[&key] != json!(["str", sent]) {
            misread.push(format!("{key}: sent {sent:?}, PyYAML read {}", read[&key]));
        }
    };
    for (n, text) in AMBIGUOUS.iter().enumerate() {
        expect(format!("v{n}"), text);
    }
    for (key, sent) in [("title", "yes"), ("goal", "2024-01-01"), ("notes", "="), ("history", "off")] {
        expect(key.to_string(), sent);
    }
    assert_eq!(read["date"][0], "str", "the history date is written as a string, as the Python tool writes it");
    assert!(misread.is_empty(), "{} of {} values misread:\n{}", misread.len(), AMBIGUOUS.len() + 4, misread.join("\n"));
}

/// A work index saved with Windows line endings keeps them through updates, additions and
/// removals: no line ends in a bare `\n`.
#[tokio::test]
async fn crlf_files_stay_crlf() {
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        let path = layout.work_index("orbit-api").unwrap();
        let text = std::fs::read_to_string(&path).unwrap().replace('\n', "\r\n");
        std::fs::write(&path, text).unwrap();
    })
    .await;
    let client = server.client("agent").await;
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "crlf-new", "summary": "s", "theme": "t"}),
    )
    .await;
    call_ok(&client, "worksync_update_backlog", json!({"project": "orbit-api", "id": "crlf-new", "status": "done"}))
        .await;
    let story = call_ok(
        &client,
        "worksync_add_story",
        json!({"project": "orbit-api", "sprint_id": "auth-hardening", "notes": "a story\nwith two lines"}),
    )
    .await;
    call_ok(&client, "worksync_history", json!({"project": "orbit-api", "action": "add", "summary": "crlf"})).await;
    call_ok(&client, "worksync_create_sprint", json!({"project": "orbit-api", "id": "crlf-sprint", "title": "t"}))
        .await;

    let text = std::fs::read_to_string(server.path("projects/orbit-api/work-index.yaml")).unwrap();
    let bare = text.split("\r\n").filter(|part| part.contains('\n')).count();
    let crlf = text.matches("\r\n").count();
    assert_eq!(bare, 0, "{crlf} CRLF lines and some bare LF lines:\n{text:?}");
    let value = read_yaml(&server.path("projects/orbit-api/work-index.yaml"));
    let item = value["backlog"].as_sequence().unwrap().iter().find(|b| b["id"] == "crlf-new").unwrap().clone();
    assert_eq!(item["status"], "done");
    let stories = value["sprints"][0]["stories"].as_sequence().unwrap();
    let added = stories.iter().find(|s| s["id"].as_str() == story["created"]["id"].as_str()).unwrap();
    assert_eq!(added["notes"], "a story\nwith two lines", "line breaks inside values read back as \\n");
}
