//! Protocol answers on `/mcp` that rmcp gives loosely, made what the MCP spec and clients
//! expect, before a request reaches rmcp.
//!
//! rmcp answers every body it cannot read as a message with 415 "Unsupported Media Type",
//! whether the JSON is broken, a batch, or a JSON object that is not a JSON-RPC message; it
//! reads a body for as long as the client takes to send it; and it answers DELETE of any
//! session id, known or not, with 202. Here: broken JSON is 400 with a parse error (-32700),
//! a batch or a malformed envelope is 400 with "invalid request" (-32600) saying what is
//! wrong, a body not sent within the body timeout is 408 (the connection is then closed), a
//! DELETE of an unknown session is 404 and a successful one 204.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::ClientJsonRpcMessage;
use serde_json::{Value, json};

use super::sessions::CappedSessions;

/// Largest request body accepted on `/mcp` (rmcp's own default limit).
const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The header carrying the MCP session id.
const SESSION_HEADER: &str = "mcp-session-id";

/// What the checks need: the sessions (is a session known?) and how long a body may take.
#[derive(Clone)]
pub(crate) struct Hygiene {
    pub(crate) sessions: Arc<CappedSessions>,
    pub(crate) body_timeout: Duration,
}

/// The checks, as an axum middleware in front of `/mcp`.
pub(crate) async fn protocol_hygiene(State(hygiene): State<Hygiene>, request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let mut message = None;
    let request = if method == Method::POST && is_json(&request) {
        match read_message(request, hygiene.body_timeout).await {
            Ok((request, bytes)) => {
                message = Some(bytes);
                request
            }
            Err(refusal) => return refusal,
        }
    } else if method == Method::DELETE {
        let session = request.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok());
        if let Some(session) = session
            && !hygiene.sessions.contains(session)
        {
            return jsonrpc_error(
                StatusCode::NOT_FOUND,
                -32001,
                Value::Null,
                "Session not found: it has ended or never existed. Nothing to delete; start a new session with initialize.",
            );
        }
        request
    } else {
        request
    };
    let mut response = next.run(request).await;
    // rmcp answers 415 to a JSON body it cannot read as a message; say what is wrong. (Read
    // here, after rmcp, rather than before: rmcp's message types are costly to parse, and
    // nearly every message is fine.)
    if let Some(bytes) = message
        && response.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE
        && let Some(refusal) = unreadable_message(&bytes)
    {
        return refusal;
    }
    if method == Method::DELETE && response.status() == StatusCode::ACCEPTED {
        *response.status_mut() = StatusCode::NO_CONTENT;
    }
    response
}

/// Whether the body is declared JSON: the media type `application/json` in any case, with
/// or without parameters (RFC 9110 §8.3.1).
fn is_json(request: &Request) -> bool {
    let Some(value) = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// Reads the body (within the timeout and the size limit) and checks that it is one
/// well-formed JSON-RPC message; gives the request back with the body read (and the body),
/// or the refusal.
async fn read_message(request: Request, timeout: Duration) -> Result<(Request, axum::body::Bytes), Response> {
    let (parts, body) = request.into_parts();
    let bytes = match tokio::time::timeout(timeout, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Err(_elapsed) => {
            let message = format!(
                "Request Timeout: the request body did not arrive within {} s; send the whole body at once",
                timeout.as_secs_f64()
            );
            let mut response = jsonrpc_error(StatusCode::REQUEST_TIMEOUT, -32600, Value::Null, &message);
            // The rest of the body may still come: the connection cannot carry another request.
            response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            return Err(response);
        }
        Ok(Err(_too_large)) => {
            let message = "Request body too large (limit 4 MiB)";
            return Err(jsonrpc_error(StatusCode::PAYLOAD_TOO_LARGE, -32600, Value::Null, message));
        }
        Ok(Ok(bytes)) => bytes,
    };
    let message: Value = match serde_json::from_slice(&bytes) {
        Ok(message) => message,
        Err(e) => {
            return Err(jsonrpc_error(StatusCode::BAD_REQUEST, -32700, Value::Null, &format!("Parse error: {e}")));
        }
    };
    if let Some(problem) = envelope_problem(&message) {
        return Err(jsonrpc_error(
            StatusCode::BAD_REQUEST,
            -32600,
            Value::Null,
            &format!("Invalid Request: {problem}"),
        ));
    }
    Ok((Request::from_parts(parts, Body::from(bytes.clone())), bytes))
}

/// Why rmcp cannot read `bytes` (a JSON-RPC message, by [`read_message`]) as an MCP
/// message, as the error answer to give; `None` if it can.
fn unreadable_message(bytes: &[u8]) -> Option<Response> {
    let e = serde_json::from_slice::<ClientJsonRpcMessage>(bytes).err()?;
    let message: Value = serde_json::from_slice(bytes).ok()?;
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    Some(match message.get("method").and_then(Value::as_str) {
        Some(method) => {
            let text = format!("Invalid params for '{method}': {e}");
            jsonrpc_error(StatusCode::BAD_REQUEST, -32602, id, &text)
        }
        None => jsonrpc_error(StatusCode::BAD_REQUEST, -32600, id, &format!("Invalid Request: {e}")),
    })
}

/// What makes `message` something other than one JSON-RPC 2.0 message, if anything.
fn envelope_problem(message: &Value) -> Option<String> {
    let object = match message {
        Value::Object(object) => object,
        Value::Array(_) => {
            return Some("JSON-RPC batches are not supported; send one message per request".into());
        }
        other => return Some(format!("a JSON-RPC message is a JSON object, not {other}")),
    };
    match object.get("jsonrpc") {
        Some(Value::String(version)) if version == "2.0" => {}
        Some(other) => return Some(format!("'jsonrpc' must be \"2.0\", not {other}")),
        None => return Some("'jsonrpc' is missing; it must be \"2.0\"".into()),
    }
    if let Some(method) = object.get("method")
        && !method.is_string()
    {
        return Some(format!("'method' must be a string, not {method}"));
    }
    // A null id is allowed only on an error answer that could not name its request.
    let null_allowed = object.contains_key("error") && !object.contains_key("method");
    match object.get("id") {
        None | Some(Value::String(_)) => None,
        Some(Value::Null) if null_allowed => None,
        Some(Value::Number(n)) if n.as_i64().is_some() || n.as_f64().is_some_and(is_exact_integer) => None,
        Some(other) => Some(format!("'id' must be a string or an integer between -2^63 and 2^63-1, not {other}")),
    }
}

/// `1.0` or `1e2`: an integer written in float form, exact in an f64 (rmcp reads these).
fn is_exact_integer(f: f64) -> bool {
    f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0
}

/// A JSON-RPC error answer with an HTTP status.
fn jsonrpc_error(status: StatusCode, code: i64, id: Value, message: &str) -> Response {
    let body = json!({ "jsonrpc": "2.0", "id": id, "error": { "code": code, "message": message } });
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests, notifications and answers pass; what is not a JSON-RPC 2.0 message is named.
    #[test]
    fn envelopes() {
        for ok in [
            json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
            json!({"jsonrpc": "2.0", "id": "a", "method": "ping"}),
            json!({"jsonrpc": "2.0", "id": 2.0, "method": "ping"}),
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            json!({"jsonrpc": "2.0", "id": 3, "result": {}}),
            json!({"jsonrpc": "2.0", "id": null, "error": {"code": -1, "message": "m"}}),
        ] {
            assert_eq!(envelope_problem(&ok), None, "{ok}");
        }
        for (bad, named) in [
            (json!({"jsonrpc": "2.0", "id": null, "method": "ping"}), "'id'"),
            (json!({"jsonrpc": "2.0", "id": [1], "method": "ping"}), "'id'"),
            (json!({"jsonrpc": "2.0", "id": 0.5, "method": "ping"}), "'id'"),
            (json!({"jsonrpc": "2.0", "id": 1e300, "method": "ping"}), "'id'"),
            (json!({"jsonrpc": 2.0, "id": 1, "method": "ping"}), "'jsonrpc'"),
            (json!({"id": 1, "method": "ping"}), "'jsonrpc'"),
            (json!({"jsonrpc": "2.0", "id": 1, "method": null}), "'method'"),
            (json!([1]), "batches"),
            (json!(7), "object"),
        ] {
            let problem = envelope_problem(&bad).unwrap_or_default();
            assert!(problem.contains(named), "{bad}: {problem}");
        }
    }
}
