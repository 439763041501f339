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

/// What `worksync_history` does.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HistoryAction {
    /// Show entries (newest last).
    #[default]
    List,
    /// Append an entry dated today.
    Add,
}

/// Arguments of `worksync_history`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Project name.
    pub project: String,
    /// 'list' to read the history (default), 'add' to append an entry.
    #[serde(default)]
    pub action: HistoryAction,
    /// The entry's text; required when action='add'.
    #[serde(default)]
    pub summary: Option<String>,
    /// Sprint ids the entry relates to (action='add').
    #[serde(default)]
    pub related_sprints: Option<Vec<String>>,
    /// Your agent name, recorded with the entry (action='add'). Defaults to the
    /// X-WorkSync-Agent header or the MCP client's name.
    #[serde(default)]
    pub agent: Option<String>,
    /// With action='list': return at most this many of the newest entries (all if omitted).
    #[serde(default)]
    pub limit: Option<usize>,
    /// With action='list': skip this many of the newest entries first (for paging back).
    #[serde(default)]
    pub offset: Option<usize>,
}

#[tool_router(router = history_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// View the project's history (action='list', optionally paged with limit/offset from
    /// the newest end) or append an entry dated today (action='add' with summary).
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
