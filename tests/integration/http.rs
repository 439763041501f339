//! The HTTP surface seen by raw HTTP clients: bearer auth, healthz, Origin and Host checks.

use crate::common;

use common::{Options, TOKEN, TestServer};
use serde_json::json;
use worksync::settings::Auth;

const ACCEPT: &str = "application/json, text/event-stream";

fn initialize() -> serde_json::Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}
    })
}

async fn post(server: &TestServer, auth: Option<&str>, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(&server.url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .json(&initialize());
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// No header, a wrong token, a token of another length, or another scheme → 401 with
/// `WWW-Authenticate: Bearer`; the right token → the MCP handshake succeeds.
#[tokio::test]
async fn bearer_auth() {
    let server = TestServer::start().await;
    let wrong_same_length = format!("Bearer {}", "x".repeat(TOKEN.len()));
    let basic = format!("Basic {TOKEN}");
    for auth in [None, Some("Bearer nope"), Some(wrong_same_length.as_str()), Some(basic.as_str()), Some("Bearer ")] {
        let response = post(&server, auth, &[]).await;
        assert_eq!(response.status(), 401, "auth {auth:?}");
        let challenge = response.headers().get("www-authenticate").expect("challenge header").to_str().unwrap();
        assert!(challenge.starts_with("Bearer"), "{challenge}");
    }
    let response = post(&server, Some(&format!("Bearer {TOKEN}")), &[]).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("mcp-session-id"));
    let body = response.text().await.unwrap();
    assert!(body.contains("\"serverInfo\""), "{body}");
}

/// `/healthz` answers without auth and reveals no data.
#[tokio::test]
async fn healthz_is_open_and_empty() {
    let server = TestServer::start().await;
    let response = reqwest::get(format!("{}/healthz", server.base)).await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
    assert!(!body.to_string().contains("orbit-api"));
}

/// A request from a web page on another origin, or for another host name, is refused even
/// with a valid token; loopback origins (e.g. the MCP Inspector) are fine.
#[tokio::test]
async fn origin_and_host_are_checked() {
    let server = TestServer::start().await;
    let auth = format!("Bearer {TOKEN}");
    let evil_origin = post(&server, Some(&auth), &[("origin", "http://evil.example")]).await;
    assert_eq!(evil_origin.status(), 403);
    let evil_host = post(&server, Some(&auth), &[("host", "evil.example")]).await;
    assert_eq!(evil_host.status(), 403);
    let inspector = post(&server, Some(&auth), &[("origin", "http://localhost:6274")]).await;
    assert_eq!(inspector.status(), 200);
}

/// Malformed JSON and batches get 400 with a JSON-RPC error; unknown paths are 404, not an
/// auth challenge (OAuth discovery probes must not look like a login prompt).
#[tokio::test]
async fn malformed_requests_get_jsonrpc_errors() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let send = |body: &'static str| {
        client
            .post(&server.url)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .body(body)
            .send()
    };
    let broken = send("{\"jsonrpc\": \"2.0\", ").await.unwrap();
    assert_eq!(broken.status(), 400);
    let body: serde_json::Value = broken.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32700);
    let batch = send("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]").await.unwrap();
    assert_eq!(batch.status(), 400);
    let body: serde_json::Value = batch.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32600);
    let probe = client.get(format!("{}/.well-known/oauth-protected-resource", server.base)).send().await.unwrap();
    assert_eq!(probe.status(), 404);
}

/// Ending a session with DELETE answers 204, and the session is gone afterwards.
#[tokio::test]
async fn delete_ends_the_session() {
    let server = TestServer::start().await;
    let auth = format!("Bearer {TOKEN}");
    let session = post(&server, Some(&auth), &[]).await.headers()["mcp-session-id"].to_str().unwrap().to_string();
    let client = reqwest::Client::new();
    let deleted = client
        .delete(&server.url)
        .header("authorization", &auth)
        .header("mcp-session-id", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let after = post(&server, Some(&auth), &[("mcp-session-id", session.as_str())]).await;
    assert_eq!(after.status(), 404);
}

/// Request bodies and headers are bounded: a 5 MiB body gets 413, a flood of headers 431,
/// before any of it reaches the writer.
#[tokio::test]
async fn request_sizes_are_bounded() {
    let server = TestServer::start().await;
    let client = reqwest::Client::new();
    let auth = format!("Bearer {TOKEN}");
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"x\":\"{}\"}}}}",
        "a".repeat(5 << 20)
    );
    let response = client
        .post(&server.url)
        .header("authorization", &auth)
        .header("content-type", "application/json")
        .header("accept", ACCEPT)
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let mut request = client.post(&server.url).header("authorization", &auth);
    for n in 0..200 {
        request = request.header(format!("x-filler-{n}"), "v".repeat(2000));
    }
    let status = match request.send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 431, // the server may close the connection instead of answering
    };
    assert_eq!(status, 431);
}

/// Origins and hosts allowed in config.yaml are accepted besides loopback; others still 403.
#[tokio::test]
async fn config_allows_extra_origins_and_hosts() {
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        let config = std::fs::read_to_string(layout.config()).unwrap();
        let extra = "  allowed_origins:\n  - http://dashboard.test:8080\n  allowed_hosts:\n  - worksync.test\n";
        std::fs::write(layout.config(), config.replace("settings:\n", &format!("settings:\n{extra}"))).unwrap();
    })
    .await;
    let auth = format!("Bearer {TOKEN}");
    assert_eq!(post(&server, Some(&auth), &[("origin", "http://dashboard.test:8080")]).await.status(), 200);
    assert_eq!(post(&server, Some(&auth), &[("host", "worksync.test")]).await.status(), 200);
    assert_eq!(post(&server, Some(&auth), &[("origin", "http://evil.example")]).await.status(), 403);
    assert_eq!(post(&server, Some(&auth), &[("host", "evil.example")]).await.status(), 403);
}

/// POSTs `body` to `/mcp` with the right token and the given `Content-Type`.
async fn post_raw(server: &TestServer, content_type: &str, body: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(&server.url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", content_type)
        .header("accept", ACCEPT)
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// JSON that is not a JSON-RPC message (an id that is null, an object, a fraction or beyond
/// 64 bits; a `jsonrpc` other than "2.0" or none) gets 400 and JSON-RPC error -32600 that says
/// what is wrong, not rmcp's 415 "Unsupported Media Type".
#[tokio::test]
async fn malformed_envelopes_are_invalid_requests() {
    let server = TestServer::start().await;
    let cases = [
        (r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, "id"),
        (r#"{"jsonrpc":"2.0","id":{"n":1},"method":"ping"}"#, "id"),
        (r#"{"jsonrpc":"2.0","id":1.5,"method":"ping"}"#, "id"),
        (r#"{"jsonrpc":"2.0","id":9223372036854775808,"method":"ping"}"#, "id"),
        (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, "jsonrpc"),
        (r#"{"id":1,"method":"ping"}"#, "jsonrpc"),
        (r#"{"jsonrpc":"2.0","id":1,"method":7}"#, "method"),
        (r#""just a string""#, "object"),
    ];
    for (body, named) in cases {
        let response = post_raw(&server, "application/json", body).await;
        assert_eq!(response.status(), 400, "{body}");
        let answer: serde_json::Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], -32600, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{body}: the message names '{named}': {message}");
    }
}

/// `Content-Type` is matched without regard to case (RFC 9110): `Application/JSON;
/// charset=utf-8` is JSON, so broken JSON gets the parse error and good JSON a session.
#[tokio::test]
async fn content_type_is_case_insensitive() {
    let server = TestServer::start().await;
    let broken = post_raw(&server, "Application/JSON; charset=utf-8", "{\"jsonrpc\": ").await;
    assert_eq!(broken.status(), 400);
    let answer: serde_json::Value = broken.json().await.unwrap();
    assert_eq!(answer["error"]["code"], -32700, "{answer}");
    let good = post_raw(&server, "Application/JSON; charset=utf-8", &initialize().to_string()).await;
    assert_eq!(good.status(), 200);
    assert!(good.headers().contains_key("mcp-session-id"));
}

/// The auth scheme is case-insensitive (RFC 7235): `BEARER` and `bEaReR` are accepted.
#[tokio::test]
async fn bearer_scheme_is_case_insensitive() {
    let server = TestServer::start().await;
    for scheme in ["BEARER", "bEaReR", "bearer"] {
        let response = post(&server, Some(&format!("{scheme} {TOKEN}")), &[]).await;
        assert_eq!(response.status(), 200, "scheme {scheme}");
    }
}

/// DELETE of a session the server does not know is 404 (MCP: unknown session), not 204.
#[tokio::test]
async fn delete_of_an_unknown_session_is_not_found() {
    let server = TestServer::start().await;
    let response = reqwest::Client::new()
        .delete(&server.url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("mcp-session-id", "no-such-session")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

/// Every route checks Host and Origin like `/mcp`: with auth disabled, a DNS-rebinding page
/// (foreign Host or Origin) gets 403 from `/status` and `/healthz`, so it learns neither the
/// data root nor the projects; loopback callers are served. With auth on, a valid token does
/// not open `/status` to a foreign Host either.
#[tokio::test]
async fn every_route_checks_host_and_origin() {
    let open = TestServer::start_options(Options { auth: Auth::Disabled, ..Options::default() }).await;
    let client = reqwest::Client::new();
    for path in ["/status", "/healthz"] {
        let url = format!("{}{path}", open.base);
        let foreign_host = client.get(&url).header("host", "evil.example").send().await.unwrap();
        assert_eq!(foreign_host.status(), 403, "{path} with a foreign Host");
        let body = foreign_host.text().await.unwrap();
        assert!(!body.contains("orbit-api") && !body.contains(&*open.root().to_string_lossy()), "{body}");
        let foreign_origin = client.get(&url).header("origin", "http://evil.example").send().await.unwrap();
        assert_eq!(foreign_origin.status(), 403, "{path} with a foreign Origin");
        let loopback = client.get(&url).header("origin", "http://localhost:6274").send().await.unwrap();
        assert_eq!(loopback.status(), 200, "{path} from loopback");
    }
    let guarded = TestServer::start().await;
    let status = client
        .get(format!("{}/status", guarded.base))
        .bearer_auth(TOKEN)
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 403);
}
