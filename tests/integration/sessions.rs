//! MCP sessions are bounded: opened and abandoned, they cannot grow the server without end.

use crate::common;

use common::{Options, TOKEN, TestServer, call_ok};
use rmcp::ServiceExt;
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::json;
use worksync::server::ServerLimits;

const ACCEPT: &str = "application/json, text/event-stream";

/// A server keeping at most `max_sessions` sessions.
async fn capped(max_sessions: usize) -> TestServer {
    let limits = ServerLimits { max_sessions, ..ServerLimits::default() };
    TestServer::start_options(Options { limits, ..Options::default() }).await
}

/// Opens a session over raw HTTP, as a client that then walks away does; returns its id.
async fn open_session(server: &TestServer) -> String {
    let client = reqwest::Client::new();
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    });
    let response =
        client.post(&server.url).bearer_auth(TOKEN).header("accept", ACCEPT).json(&initialize).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let session = response.headers()["mcp-session-id"].to_str().unwrap().to_string();
    response.text().await.unwrap();
    let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let response = send(server, &session, &initialized).await;
    assert_eq!(response.status(), 202);
    session
}

/// POSTs `message` in `session`.
async fn send(server: &TestServer, session: &str, message: &serde_json::Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(&server.url)
        .bearer_auth(TOKEN)
        .header("accept", ACCEPT)
        .header("mcp-session-id", session)
        .header("mcp-protocol-version", "2025-06-18")
        .json(message)
        .send()
        .await
        .unwrap()
}

/// The HTTP status of a ping in `session` (200 while the session lives, 404 once it is gone).
async fn ping(server: &TestServer, session: &str) -> u16 {
    let response = send(server, session, &json!({"jsonrpc": "2.0", "id": 2, "method": "ping"})).await;
    let status = response.status().as_u16();
    response.text().await.unwrap();
    status
}

/// With a cap of 4, opening 7 sessions closes the 3 least recently used: their requests get
/// 404 (MCP's "start a new session"), the 4 newest still answer, a new session works, and the
/// server never holds more than 4.
#[tokio::test]
async fn the_least_recently_used_sessions_make_room() {
    let server = capped(4).await;
    let mut sessions = Vec::new();
    for _ in 0..7 {
        sessions.push(open_session(&server).await);
    }
    assert_eq!(server.status().await["sessions"], json!({"open": 4, "max": 4}));
    for (n, session) in sessions.iter().enumerate() {
        let expected = if n < 3 { 404 } else { 200 };
        assert_eq!(ping(&server, session).await, expected, "session {n}");
    }
    let again = open_session(&server).await;
    assert_eq!(ping(&server, &again).await, 200);
    assert_eq!(server.status().await["sessions"]["open"], 4);
}

/// A connected agent (its client holds an SSE stream open) keeps its session through a flood
/// of abandoned sessions twice the cap: only idle sessions are closed to make room, so its
/// next call works in the same session (its client may not start a new one here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_agent_keeps_its_session_through_a_flood() {
    let server = capped(4).await;
    let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone())
        .auth_header(TOKEN)
        .reinit_on_expired_session(false);
    let agent = ClientConfig::new(ClientCapabilities::default(), Implementation::new("agent", "1.0"))
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("agent connects");
    call_ok(&agent, "worksync_status", json!({})).await;
    for _ in 0..8 {
        open_session(&server).await;
    }
    let answer = call_ok(
        &agent,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "after-flood", "summary": "s", "theme": "t"}),
    )
    .await;
    assert_eq!(answer["created"]["id"], "after-flood", "{answer}");
}

/// A client of the 2026-07-28 revision has no session: it discovers the server
/// (`server/discover`) and names itself in every request's `_meta`. It is served on the
/// stateless path (no session is opened), sees every tool, and its changes are credited to
/// the name it gives, as a session's client's are.
#[tokio::test]
async fn a_client_of_the_2026_07_28_revision_is_served_without_a_session() {
    use rmcp::model::ProtocolVersion;
    use rmcp::service::{ClientLifecycleMode, ClientServiceExt};
    let server = TestServer::start().await;
    let config = StreamableHttpClientTransportConfig::with_uri(server.url.clone()).auth_header(TOKEN);
    let lifecycle =
        ClientLifecycleMode::Auto { preferred_versions: vec![ProtocolVersion::V_2026_07_28], legacy_version: None };
    let client = ClientConfig::new(ClientCapabilities::default(), Implementation::new("new-agent", "1.0"))
        .serve_with_lifecycle(StreamableHttpClientTransport::from_config(config), lifecycle)
        .await
        .expect("a 2026-07-28 client discovers the server");
    let info = client.peer_info().expect("discovered");
    assert_eq!(info.protocol_version, ProtocolVersion::V_2026_07_28);
    assert!(info.instructions.as_deref().unwrap_or_default().contains("worksync_done"));
    assert_eq!(client.list_all_tools().await.unwrap().len(), 20);

    let added = call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "stateless-1", "summary": "Added without a session", "theme": "mcp"}),
    )
    .await;
    assert_eq!(added["agent"], "new-agent", "credited to the name in _meta: {added}");
    let status = call_ok(&client, "worksync_status", json!({"project": "orbit-api"})).await;
    assert!(status["projects"]["orbit-api"]["stats"]["total_backlog"].as_u64().unwrap() > 0);
    assert_eq!(server.status().await["sessions"]["open"], 0, "no session was opened");
}
