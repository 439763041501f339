//! Hostile input: bad arguments of every kind get a tool error and change no file; YAML
//! bombs in edited files are refused, not expanded.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{TestServer, call, call_err};
use serde_json::{Value, json};

const P: &str = "orbit-api";

/// Every file under the data root and its bytes.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                all.insert(path.display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    all
}

fn cases() -> Vec<(&'static str, Value)> {
    let long = "x".repeat(5_000);
    let huge = "y".repeat(70 * 1024);
    let add = |overrides: Value| {
        let mut args = json!({"project": P, "id": "ok-id", "summary": "s", "theme": "t"});
        for (k, v) in overrides.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    };
    vec![
        // Path traversal and path-like ids.
        ("worksync_add_backlog", add(json!({"id": "../../etc/passwd"}))),
        ("worksync_add_backlog", add(json!({"id": "/absolute"}))),
        ("worksync_add_backlog", add(json!({"id": "a\\b"}))),
        ("worksync_add_backlog", add(json!({"id": "..\\..\\windows"}))),
        ("worksync_add_backlog", add(json!({"id": "a\u{2215}b"}))),
        ("worksync_add_backlog", add(json!({"id": "a\u{ff0f}b"}))),
        ("worksync_add_backlog", add(json!({"id": "nul\u{0}byte"}))),
        ("worksync_add_backlog", add(json!({"id": ".hidden"}))),
        ("worksync_add_backlog", add(json!({"id": ""}))),
        ("worksync_add_backlog", add(json!({"theme": "../x"}))),
        ("worksync_add_backlog", add(json!({"project": "../orbit-api"}))),
        ("worksync_add_backlog", add(json!({"project": "/etc"}))),
        ("worksync_create_sprint", json!({"project": P, "id": "../s", "title": "t"})),
        ("worksync_add_story", json!({"project": P, "sprint_id": "web-fleet-map", "story_id": "../STORY-1"})),
        ("worksync_add_story", json!({"project": P, "sprint_id": "../../x"})),
        ("worksync_register_project", json!({"name": "../evil", "repo": "/tmp"})),
        ("worksync_register_project", json!({"name": "/abs", "repo": "/tmp"})),
        ("worksync_register_project", json!({"name": "a\u{0}b", "repo": "/tmp"})),
        ("worksync_register_project", json!({"name": "ok-name", "repo": "/tmp/\u{0}x"})),
        ("worksync_unregister_project", json!({"name": "../../"})),
        ("worksync_claim", json!({"project": P, "kind": "story", "id": "../STORY-1"})),
        // Sizes.
        ("worksync_add_backlog", add(json!({"summary": long}))),
        ("worksync_add_backlog", add(json!({"id": "i".repeat(200)}))),
        (
            "worksync_update_story",
            json!({"project": P, "sprint_id": "web-fleet-map", "story_id": "STORY-16", "notes": huge}),
        ),
        ("worksync_add_backlog", add(json!({"agent": "a".repeat(300)}))),
        // Wrong types.
        ("worksync_add_backlog", add(json!({"id": 123}))),
        ("worksync_add_backlog", add(json!({"related_sprints": "web-fleet-map"}))),
        ("worksync_add_backlog", add(json!({"status": 5}))),
        ("worksync_add_backlog", add(json!({"priority": "high"}))),
        ("worksync_update_backlog", json!({"project": P, "id": "web-strict-csp", "expected_rev": -1})),
        ("worksync_update_backlog", json!({"project": P, "id": "web-strict-csp", "expected_rev": "1"})),
        ("worksync_changes", json!({"project": P, "wait_seconds": "forever"})),
        ("worksync_history", json!({"project": P, "limit": -5})),
        // Unknown enum values and fields.
        ("worksync_add_backlog", add(json!({"status": "blocked"}))),
        ("worksync_create_sprint", json!({"project": P, "id": "s-new", "title": "t", "status": "archived"})),
        ("worksync_history", json!({"project": P, "action": "delete"})),
        ("worksync_claim", json!({"project": P, "kind": "sprint", "id": "web-fleet-map"})),
        ("worksync_add_backlog", add(json!({"colour": "red"}))),
        ("worksync_done", json!({"project": P, "story_id": "STORY-16", "sudo": true})),
        // Control characters.
        ("worksync_add_backlog", add(json!({"summary": "bell\u{7}"}))),
        ("worksync_add_backlog", add(json!({"summary": "escape\u{1b}[31m"}))),
        ("worksync_add_backlog", add(json!({"summary": "two\nlines"}))),
        ("worksync_add_backlog", add(json!({"agent": "agent\nname"}))),
        // Out of range values.
        ("worksync_add_backlog", add(json!({"priority": 9}))),
        ("worksync_claim", json!({"project": P, "kind": "story", "id": "STORY-17", "lease_minutes": -1})),
        ("worksync_claim", json!({"project": P, "kind": "story", "id": "STORY-17", "lease_minutes": 1e9})),
        ("worksync_changes", json!({"project": P, "since": "v1:orbit-api@zz.notanumber"})),
        (
            "worksync_update_story",
            json!({"project": P, "sprint_id": "web-fleet-map", "story_id": "STORY-16", "notes": "a", "append_notes": "b"}),
        ),
    ]
}

/// A table of hostile arguments across the tools: each gets a tool error with a hint, and
/// no file under the data root changes.
#[tokio::test]
async fn hostile_arguments_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let client = server.client("hostile").await;
    let before = files(server.root());
    let cases = cases();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    for (tool, args) in &cases {
        let result = call(&client, tool, args.clone()).await;
        let text = format!("{:?}", result.content);
        assert_eq!(result.is_error, Some(true), "{tool} {args} was accepted: {text}");
        let body = common::err(result);
        assert!(body["hint"].is_string(), "{tool} {args}: no hint in {body}");
    }
    assert_eq!(files(server.root()), before, "a refused call changed a file");
    eprintln!("{} hostile inputs refused, no file changed", cases.len());
}

/// Alias bombs and deeply nested documents in an edited work index are refused with the
/// file and position, and the file is left as it is; the server keeps answering.
#[tokio::test]
async fn yaml_bombs_are_refused() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let mut bomb =
        String::from("sprints: []\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    let mut previous = 'a';
    for name in 'b'..='j' {
        let refs = vec![format!("*{previous}"); 9].join(",");
        bomb.push_str(&format!("{name}: &{name} [{refs}]\n"));
        previous = name;
    }
    let deep = format!("sprints: []\nnotes: {}\n", "[".repeat(5_000));
    for hostile in [bomb, deep] {
        std::fs::write(&path, &hostile).unwrap();
        let started = std::time::Instant::now();
        let error =
            call_err(&client, "worksync_add_backlog", json!({"project": P, "id": "x", "summary": "s", "theme": "t"}))
                .await;
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused quickly, not expanded");
        assert!(error["error"].as_str().unwrap().contains("work-index.yaml:"), "{error}");
        assert!(error["error"].as_str().unwrap().contains("limit exceeded"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), hostile);
    }
    // The only project cannot be read, so status has nothing to show and says why.
    let status = call_err(&client, "worksync_status", json!({})).await;
    assert!(status["error"].as_str().unwrap().contains("work-index.yaml:"), "{status}");
}
