//! MCP resources and project prompts serve the real files' content.

use crate::common;

use common::TestServer;
use rmcp::model::{GetPromptRequestParams, ReadResourceRequestParams, ResourceContents};
use serde_json::json;

fn text_of(contents: &ResourceContents) -> String {
    match contents {
        ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("expected text, got {other:?}"),
    }
}

/// resources/list names every project file, sprint and guidance document; resources/read
/// returns what is on disk; templates describe the URIs.
#[tokio::test]
async fn resources_list_and_read() {
    let server = TestServer::start().await;
    let client = server.client("reader").await;
    let resources = client.list_all_resources().await.unwrap();
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    for uri in [
        "worksync://projects/orbit-api/work-index.yaml",
        "worksync://projects/orbit-api/history",
        "worksync://projects/orbit-api/sprints/dispatch-realtime",
        "worksync://guidance/rust",
    ] {
        assert!(uris.contains(&uri), "{uri} listed in {uris:?}");
    }
    let read = |uri: &str| client.read_resource(ReadResourceRequestParams::new(uri));
    let index = read("worksync://projects/orbit-api/work-index.yaml").await.unwrap();
    let on_disk = std::fs::read_to_string(server.path("projects/orbit-api/work-index.yaml")).unwrap();
    assert_eq!(text_of(&index.contents[0]), on_disk);
    let sprint = read("worksync://projects/orbit-api/sprints/dispatch-realtime").await.unwrap();
    let sprint: serde_json::Value = serde_json::from_str(&text_of(&sprint.contents[0])).unwrap();
    assert_eq!(sprint["stories"][2]["id"], "STORY-12");
    assert_eq!(sprint["stories"][2]["rev"], 1);
    let guidance = read("worksync://guidance/rust").await.unwrap();
    assert_eq!(text_of(&guidance.contents[0]), std::fs::read_to_string(server.path("guidance/rust.md")).unwrap());
    assert!(read("worksync://projects/nope/history").await.is_err());
    assert!(read("worksync://guidance/../config").await.is_err());

    let templates = client.list_all_resource_templates().await.unwrap();
    assert!(templates.iter().any(|t| t.uri_template == "worksync://projects/{project}/sprints/{sprint_id}"));
}

/// Each PROMPTS/*.md of a project is a prompt with its declared arguments, filled in.
#[tokio::test]
async fn project_prompts_from_files() {
    let server = TestServer::start().await;
    let client = server.client("reader").await;
    let prompts = client.list_all_prompts().await.unwrap();
    let review = prompts.iter().find(|p| p.name == "orbit-api.review-sprint").expect("project prompt listed");
    let arguments = review.arguments.as_ref().unwrap();
    assert!(arguments.iter().any(|a| a.name == "sprint_id" && a.required == Some(true)));
    assert!(prompts.iter().any(|p| p.name == "work_status"), "built-in prompts are still there");

    let args = json!({"sprint_id": "web-fleet-map"}).as_object().unwrap().clone();
    let filled =
        client.get_prompt(GetPromptRequestParams::new("orbit-api.review-sprint").with_arguments(args)).await.unwrap();
    let text = serde_json::to_string(&filled.messages).unwrap();
    assert!(text.contains("web-fleet-map") && !text.contains("{{sprint_id}}"), "{text}");
    let missing = client.get_prompt(GetPromptRequestParams::new("orbit-api.review-sprint")).await;
    assert!(missing.is_err(), "a required argument is enforced");
}
