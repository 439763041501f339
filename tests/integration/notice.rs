//! The pending-changes notice over real MCP: a reply to an agent says what *other* agents
//! changed in the project since its previous call, in brief and bounded; and a long poll
//! tells a client that asked for progress that it is still waiting.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TOKEN, TestServer, call_ok};
use rmcp::model::{CallToolRequestParams, ClientConfig, ProgressNotificationParam};
use rmcp::service::NotificationContext;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};

const P: &str = "orbit-api";

fn add(id: &str) -> Value {
    json!({"project": P, "id": id, "summary": format!("do {id}"), "theme": "t"})
}

/// X writes three changes; Y's next call, whatever the tool, carries them (newest first, one
/// line each, with the cursor that lists them); Y's own changes never appear in its notice;
/// a call after that carries nothing; `worksync_changes` from the notice's cursor lists
/// exactly those three.
#[tokio::test]
async fn a_reply_carries_what_others_changed_since_the_previous_call() {
    let server = TestServer::start().await;
    let x = server.client("agent-x").await;
    let y = server.client("agent-y").await;
    let first = call_ok(&y, "worksync_status", json!({"project": P})).await;
    assert!(first.get("others_changed").is_none(), "a first call has nothing to compare with: {first}");

    call_ok(&x, "worksync_add_backlog", add("x-one")).await;
    call_ok(&x, "worksync_add_backlog", add("x-two")).await;
    call_ok(&x, "worksync_update_backlog", json!({"project": P, "id": "x-one", "status": "in_progress"})).await;

    let reply = call_ok(&y, "worksync_history", json!({"project": P, "limit": 1})).await;
    let notice = &reply["others_changed"];
    assert_eq!(notice["count"], 3, "{reply}");
    assert_eq!(
        notice["latest"],
        json!([
            "agent-x updated backlog x-one (rev 2)",
            "agent-x created backlog x-two (rev 1)",
            "agent-x created backlog x-one (rev 1)"
        ])
    );
    let since = notice["since"].as_str().unwrap().to_string();

    let own = call_ok(&y, "worksync_add_backlog", add("y-own")).await;
    assert!(own.get("others_changed").is_none(), "its own change is not news to Y: {own}");
    let quiet = call_ok(&y, "worksync_status", json!({"project": P})).await;
    assert!(quiet.get("others_changed").is_none(), "nothing new: {quiet}");

    let listed = call_ok(&y, "worksync_changes", json!({"project": P, "since": since})).await;
    let ids: Vec<&str> = listed["changes"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["x-one", "x-two", "x-one", "y-own"], "the cursor lists the changes the notice was about");

    // X hears of Y's change, and an error reply carries the notice too.
    let refused =
        common::call_err(&x, "worksync_update_backlog", json!({"project": P, "id": "nope", "status": "done"})).await;
    assert_eq!(refused["others_changed"]["latest"], json!(["agent-y created backlog y-own (rev 1)"]), "{refused}");
}

/// Many changes make a notice of the same size: the count grows, the lines stay three, each
/// line is cut; the whole notice stays under 600 bytes.
#[tokio::test]
async fn the_notice_is_capped() {
    let server = TestServer::start().await;
    let x = server.client("agent-x").await;
    let y = server.client("agent-y").await;
    call_ok(&y, "worksync_status", json!({"project": P})).await;
    for n in 0..40 {
        call_ok(&x, "worksync_add_backlog", add(&format!("item-{n}"))).await;
    }
    let long = "a very long history entry that goes on and on ".repeat(20);
    call_ok(&x, "worksync_history", json!({"project": P, "action": "add", "summary": long})).await;
    let reply = call_ok(&y, "worksync_status", json!({"project": P})).await;
    let notice = &reply["others_changed"];
    assert_eq!(notice["count"], 41, "{notice}");
    let lines = notice["latest"].as_array().unwrap();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].as_str().unwrap().ends_with('…'), "a long line is cut: {}", lines[0]);
    assert!(lines.iter().all(|l| l.as_str().unwrap().chars().count() <= 100));
    let bytes = notice.to_string().len();
    assert!(bytes < 600, "{bytes} bytes: {notice}");
}

/// Records the progress notifications a client receives.
#[derive(Clone, Default)]
struct ProgressLog(Arc<Mutex<Vec<ProgressNotificationParam>>>);

impl ClientHandler for ProgressLog {
    async fn on_progress(&self, params: ProgressNotificationParam, _context: NotificationContext<RoleClient>) {
        self.0.lock().unwrap().push(params);
    }

    fn get_info(&self) -> ClientConfig {
        ClientConfig::default()
    }
}

/// A `worksync_changes` call waiting for a change (12 s here) sends progress every 5 s to a client that
/// asked for it (a progress token; rmcp's client sends one with every request), so clients
/// that give up on a silent call keep waiting; the progress grows and the answer comes when
/// the wait is over.
#[tokio::test]
async fn a_waiting_call_sends_progress() {
    let server = TestServer::start().await;
    let log = ProgressLog::default();
    let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone()).auth_header(TOKEN);
    let client = log.clone().serve(StreamableHttpClientTransport::from_config(config)).await.unwrap();
    let cursor = client
        .call_tool(
            CallToolRequestParams::new("worksync_changes")
                .with_arguments(json!({"project": P}).as_object().cloned().unwrap()),
        )
        .await
        .unwrap()
        .structured_content
        .unwrap()["cursor"]
        .clone();
    let started = std::time::Instant::now();
    let args = json!({"project": P, "since": cursor, "wait_seconds": 12});
    let answer = client
        .call_tool(CallToolRequestParams::new("worksync_changes").with_arguments(args.as_object().cloned().unwrap()))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_secs(10), "it waited");
    assert_eq!(answer.structured_content.unwrap()["changes"], json!([]));
    let progress = log.0.lock().unwrap().clone();
    assert!(progress.len() >= 2, "one at 5 s, one at 10 s: {progress:?}");
    assert!(progress[0].progress < progress[1].progress, "{progress:?}");
    assert_eq!(progress[0].total, Some(12.0));
    assert!(progress[0].message.as_deref().unwrap().starts_with("no change yet; waited "), "{progress:?}");
}
