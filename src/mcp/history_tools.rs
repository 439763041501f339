//! `worksync_history`: the project's dated log, read (paged from the newest end) or
//! appended to (the Python tool's `action=add`, which goes through the writer).

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::WorkSyncServer;
use super::{reply, wire};
use crate::store::Mutation;

/// What `worksync_history` does. Inlined as a plain `enum` of names (its meaning is in the
/// parameter's description): no `$defs`, no `oneOf` in every agent's context.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum HistoryAction {
    // Show entries (newest last).
    #[default]
    List,
    // Append an entry dated today.
    Add,
}

/// Arguments of `worksync_history`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    pub project: String,
    /// 'list' (default) reads entries, newest last; 'add' appends one dated today.
    #[serde(default)]
    pub action: HistoryAction,
    /// The entry (required for 'add').
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub related_sprints: Option<Vec<String>>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
    /// 'list': how many of the newest entries (default all).
    #[serde(default)]
    pub limit: Option<usize>,
    /// 'list': how many of the newest to skip (paging back).
    #[serde(default)]
    pub offset: Option<usize>,
}

#[tool_router(router = history_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Read a project's dated log (action 'list') or append to it (action 'add').
    #[tool(name = "worksync_history")]
    async fn history(
        &self,
        Parameters(p): Parameters<HistoryParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        match p.action {
            HistoryAction::List => {
                let snapshot = self.store.snapshot(Some(&p.project)).await;
                Ok(reply::from_store(
                    snapshot.history(&p.project, p.limit, p.offset.unwrap_or(0)).map(|page| wire::history(&page)),
                ))
            }
            HistoryAction::Add => {
                let mutation =
                    Mutation::AddHistory { summary: p.summary.unwrap_or_default(), related_sprints: p.related_sprints };
                self.mutate(&p.project, mutation, p.agent, &context).await
            }
        }
    }
}
