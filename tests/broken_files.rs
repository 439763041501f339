//! Files a person broke: the position reported is where the mistake is, and status says
//! so as an error.

mod common;

use common::{TestServer, call_err, call_ok, copy_tree, fixture};
use serde_json::{Value, json};

/// The python-root fixture with `legacy-app`'s sprint title opened with `[` and never
/// closed (line 23, where the `[` is column 10).
fn break_legacy_app(root: &std::path::Path) -> String {
    let path = root.join("projects/legacy-app/work-index.yaml");
    let broken =
        std::fs::read_to_string(&path).unwrap().replace("  title: Portal Payments\n", "  title: [Portal Payments\n");
    std::fs::write(&path, &broken).unwrap();
    broken
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
    break_legacy_app(server.root.path());
    let error = call_err(
        &client,
        "worksync_update_story",
        json!({"project": "legacy-app", "sprint_id": "portal-payments", "story_id": "STORY-4", "status": "done"}),
    )
    .await;
    assert_eq!(location(&error), (23, 10), "{error}");
    assert!(error["error"].as_str().unwrap().contains("work-index.yaml:23:10:"), "{error}");
}
