//! How tool answers and tool errors look on the wire, and who an agent is.
//!
//! Every result is structured JSON (`structuredContent`, plus the same JSON as the first
//! text block). A failure is a tool result with `isError: true` whose JSON keeps the
//! Python tool's `{"error": "…"}` shape and adds what an agent needs to act: a `hint`, and
//! for parse errors the file, line and column. Protocol-level errors are left for malformed
//! requests only, so an agent always gets a message it can read.

use rmcp::RoleServer;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use serde_json::{Value, json};

use crate::store::StoreError;

/// The header through which a client names its agent when it does not pass `agent`.
pub const AGENT_HEADER: &str = "x-worksync-agent";

/// The prefix rmcp puts on arguments that do not match a tool's parameter type.
pub const DESERIALIZE_PREFIX: &str = "failed to deserialize parameters:";

/// A successful tool answer.
pub fn success(value: Value) -> CallToolResult {
    CallToolResult::structured(value)
}

/// A tool answer from a store result.
pub fn from_store(result: Result<Value, StoreError>) -> CallToolResult {
    match result {
        Ok(value) => success(value),
        Err(error) => failure(&error),
    }
}

/// A tool error explaining what went wrong and what to do.
pub fn failure(error: &StoreError) -> CallToolResult {
    let mut body = json!({ "error": error.to_string() });
    if let Some(hint) = error.hint() {
        body["hint"] = json!(hint);
    }
    match error {
        StoreError::Parse { path, line, column, .. } => {
            body["file"] = json!(path.display().to_string());
            body["line"] = json!(line);
            body["column"] = json!(column);
        }
        StoreError::Duplicate { suggestion: Some(suggestion), .. } => body["suggestion"] = json!(suggestion),
        StoreError::Invalid { field, .. } => body["field"] = json!(field),
        StoreError::Conflict { current: Some(current), .. } => body["current"] = super::wire::item(current),
        StoreError::Blocked { blocked_by, .. } => body["blocked_by"] = json!(blocked_by),
        StoreError::Held { holder, until, .. } => {
            body["holder"] = json!(holder);
            body["until"] = json!(until);
        }
        _ => {}
    }
    CallToolResult::structured_error(body)
}

/// Rewrites rmcp's plain-text "failed to deserialize parameters" error into our JSON error
/// shape, so that agents and scripts see one error format.
pub fn argument_error(tool: &str, message: &str) -> CallToolResult {
    let detail = message.strip_prefix(DESERIALIZE_PREFIX).unwrap_or(message).trim();
    CallToolResult::structured_error(json!({
        "error": format!("Invalid arguments for {tool}: {detail}"),
        "hint": "Check the argument names, types and allowed values against the tool's input schema (tools/list), then call again.",
    }))
}

/// The agent to credit for a change: the `agent` argument, else the `X-WorkSync-Agent`
/// header, else the MCP client's name, else "unknown". A client of the 2026-07-28 revision
/// has no session and names itself in every request's `_meta` (rmcp's peer info for such a
/// request is a placeholder).
pub fn agent_of(argument: Option<String>, context: &RequestContext<RoleServer>) -> String {
    let given = argument.map(|a| a.trim().to_string()).filter(|a| !a.is_empty());
    given
        .or_else(|| {
            let parts = context.extensions.get::<http::request::Parts>()?;
            let header = parts.headers.get(AGENT_HEADER)?.to_str().ok()?.trim();
            (!header.is_empty()).then(|| header.to_string())
        })
        .or_else(|| {
            let name = context.meta.client_info()?.name;
            let name = name.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .or_else(|| {
            let info = context.peer.peer_info()?;
            let name = info.client_info.name.trim();
            (!name.is_empty()).then(|| name.to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}
