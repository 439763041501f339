//! Files a person broke: the position reported is where the mistake is, a value the schema
//! does not allow is reported like a parse error and never rewritten, and status, the
//! `worksync status` command and `worksync doctor` say so as errors.

use crate::common;

use std::process::{Command, Output};

use common::{TestServer, call_err, call_ok, copy_tree, fixture};
use serde_json::{Value, json};

fn worksync(root: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_worksync"))
        .arg("--data-root")
        .arg(root)
        .args(args)
        .env_remove("WORKSYNC_API_KEY")
        .output()
        .unwrap()
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// The python-root fixture with `legacy-app`'s sprint title opened with `[` and never
/// closed (line 23, where the `[` is column 10).
fn break_legacy_app(root: &std::path::Path) -> String {
    let path = root.join("projects/legacy-app/work-index.yaml");
    let broken =
        std::fs::read_to_string(&path).unwrap().replace("  title: Portal Payments\n", "  title: [Portal Payments\n");
    std::fs::write(&path, &broken).unwrap();
    broken
}

/// STORY-14 of the sample project with `status: blocked`; returns the text and the line
/// and column of the value.
fn block_story_14(path: &std::path::Path) -> (String, usize, usize) {
    let text = std::fs::read_to_string(path).unwrap();
    let edited = text.replace("  - id: STORY-14\n    status: planned\n", "  - id: STORY-14\n    status: blocked\n");
    assert_ne!(edited, text);
    std::fs::write(path, &edited).unwrap();
    let line = edited.lines().position(|l| l == "    status: blocked").unwrap() + 1;
    (edited, line, "    status: ".len() + 1)
}

fn location(error: &Value) -> (u64, u64) {
    (error["line"].as_u64().unwrap_or_default(), error["column"].as_u64().unwrap_or_default())
}

/// `worksync_status` of one broken project is a tool error with file, line and column. For
/// every project it answers while any project can be read, listing the broken one with its
/// file, line and column, and is an error once none can be read.
#[tokio::test]
async fn status_of_a_broken_project_is_an_error() {
    let server = TestServer::start_with(|layout| {
        copy_tree(&fixture("python-root"), layout.root());
        break_legacy_app(layout.root());
    })
    .await;
    let client = server.client("agent").await;

    let one = call_err(&client, "worksync_status", json!({"project": "legacy-app"})).await;
    assert!(one["file"].as_str().unwrap().ends_with("legacy-app/work-index.yaml"), "{one}");
    assert_eq!(location(&one), (23, 10), "{one}");

    let all = call_ok(&client, "worksync_status", json!({})).await;
    assert!(all["projects"]["other-app"]["stats"].is_object(), "{all}");
    let legacy = &all["projects"]["legacy-app"];
    assert!(legacy["error"].as_str().unwrap().contains("work-index.yaml:23:10"), "{legacy}");
    assert_eq!(location(legacy), (23, 10));
    assert!(legacy["file"].as_str().unwrap().ends_with("legacy-app/work-index.yaml"));
    assert!(all["warning"].as_str().unwrap_or_default().contains("legacy-app"), "{all}");

    std::fs::write(server.path("projects/other-app/work-index.yaml"), "sprints: [\n").unwrap();
    let none = call_err(&client, "worksync_status", json!({})).await;
    let message = none["error"].as_str().unwrap();
    assert!(message.contains("legacy-app") && message.contains("other-app"), "{none}");
}

/// An unclosed `[` is reported at the line and column where it opens, not on the next line
/// where the parser gave up.
#[tokio::test]
async fn parse_error_points_at_the_mistake() {
    let server = TestServer::start_with(|layout| copy_tree(&fixture("python-root"), layout.root())).await;
    let client = server.client("agent").await;
    break_legacy_app(server.root());
    let error = call_err(
        &client,
        "worksync_update_story",
        json!({"project": "legacy-app", "sprint_id": "portal-payments", "story_id": "STORY-4", "status": "done"}),
    )
    .await;
    assert_eq!(location(&error), (23, 10), "{error}");
    assert!(error["error"].as_str().unwrap().contains("work-index.yaml:23:10:"), "{error}");
}

/// A hand-edited `status: blocked` is reported like a parse error, at the value's exact
/// line and column with the allowed values; the project refuses changes and the file is
/// never rewritten; once fixed, the project works again.
#[tokio::test]
async fn invalid_status_value_is_reported_and_never_rewritten() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let good = std::fs::read_to_string(&path).unwrap();
    let (blocked, line, column) = block_story_14(&path);

    let update = json!({"project": "orbit-api", "sprint_id": "dispatch-realtime", "story_id": "STORY-14", "status": "in_progress"});
    let error = call_err(&client, "worksync_update_story", update.clone()).await;
    assert_eq!(location(&error), (line as u64, column as u64), "{error}");
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("'blocked'") && message.contains("planned, in_progress, done"), "{message}");
    assert!(error["file"].as_str().unwrap().ends_with("orbit-api/work-index.yaml"));
    let add = json!({"project": "orbit-api", "id": "new-item", "summary": "s", "theme": "t"});
    assert_eq!(location(&call_err(&client, "worksync_add_backlog", add.clone()).await), (line as u64, column as u64));
    let status = call_err(&client, "worksync_status", json!({"project": "orbit-api"})).await;
    assert_eq!(location(&status), (line as u64, column as u64));
    call_err(&client, "worksync_claim", json!({"project": "orbit-api", "kind": "story", "id": "STORY-14"})).await;
    assert_eq!(std::fs::read_to_string(&path).unwrap(), blocked, "the file is never rewritten");

    std::fs::write(&path, &good).unwrap();
    call_ok(&client, "worksync_update_story", update).await;
    call_ok(&client, "worksync_add_backlog", add).await;
}

/// `worksync status` exits non-zero and names file, line and column when a project cannot
/// be read; `worksync doctor` reports an invalid status value the same way.
#[test]
fn cli_status_and_doctor_fail_on_a_broken_project() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    assert!(worksync(&root, &["init"]).status.success());
    assert!(worksync(&root, &["status"]).status.success());
    let (_, line, column) = block_story_14(&root.join("projects/orbit-api/work-index.yaml"));
    let position = format!("work-index.yaml:{line}:{column}:");

    let status = worksync(&root, &["status"]);
    assert!(!status.status.success(), "{}", text(&status));
    assert!(text(&status).contains(&position), "{}", text(&status));
    let one = worksync(&root, &["status", "orbit-api"]);
    assert!(!one.status.success() && text(&one).contains(&position), "{}", text(&one));

    let doctor = worksync(&root, &["doctor", "--port", "9"]);
    assert!(!doctor.status.success());
    let report = text(&doctor);
    let failed = report.lines().find(|l| l.starts_with("FAIL projects/orbit-api/work-index.yaml")).expect(&report);
    assert!(failed.contains(&position) && failed.contains("blocked"), "{failed}");
}
