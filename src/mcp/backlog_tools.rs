//! Backlog tools: add, update and remove unscheduled work items.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::WorkSyncServer;
use crate::store::Mutation;
use crate::store::model::BacklogStatus;

/// Arguments of `worksync_add_backlog`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct AddBacklogParams {
    /// Project name (as in worksync_projects).
    pub project: String,
    /// Unique id of the new item, kebab-case (e.g. 'cicd-sha-pinning').
    pub id: String,
    /// One-line description of the work.
    pub summary: String,
    /// Category (e.g. 'security', 'devops', 'infrastructure').
    pub theme: String,
    /// Initial status (default 'todo').
    #[serde(default)]
    pub status: Option<BacklogStatus>,
    /// Sprint ids this item relates to.
    #[serde(default)]
    pub related_sprints: Option<Vec<String>>,
    /// Your agent name, for attribution. Defaults to the X-WorkSync-Agent header or the MCP
    /// client's name.
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_update_backlog`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct UpdateBacklogParams {
    /// Project name.
    pub project: String,
    /// Id of the backlog item to change.
    pub id: String,
    /// New status.
    #[serde(default)]
    pub status: Option<BacklogStatus>,
    /// New summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// New theme.
    #[serde(default)]
    pub theme: Option<String>,
    /// New list of related sprint ids (replaces the old list).
    #[serde(default)]
    pub related_sprints: Option<Vec<String>>,
    /// Your agent name, for attribution.
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_remove_backlog`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct RemoveBacklogParams {
    /// Project name.
    pub project: String,
    /// Id of the backlog item to remove.
    pub id: String,
    /// Your agent name, for attribution.
    #[serde(default)]
    pub agent: Option<String>,
}

#[tool_router(router = backlog_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Add an item to the project's backlog. Returns the created item.
    #[tool(name = "worksync_add_backlog")]
    async fn add_backlog(
        &self,
        Parameters(p): Parameters<AddBacklogParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let mutation = Mutation::AddBacklog {
            id: p.id,
            summary: p.summary,
            theme: p.theme,
            status: p.status.unwrap_or(BacklogStatus::Todo),
            related_sprints: p.related_sprints,
        };
        self.mutate(&p.project, mutation, p.agent, &context).await
    }

    /// Update a backlog item; only the fields given change. Returns the updated item.
    #[tool(name = "worksync_update_backlog", annotations(idempotent_hint = true))]
    async fn update_backlog(
        &self,
        Parameters(p): Parameters<UpdateBacklogParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let mutation = Mutation::UpdateBacklog {
            id: p.id,
            status: p.status,
            summary: p.summary,
            theme: p.theme,
            related_sprints: p.related_sprints,
        };
        self.mutate(&p.project, mutation, p.agent, &context).await
    }

    /// Remove a backlog item. Returns the removed item (under `removed`).
    #[tool(name = "worksync_remove_backlog", annotations(destructive_hint = true))]
    async fn remove_backlog(
        &self,
        Parameters(p): Parameters<RemoveBacklogParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        self.mutate(&p.project, Mutation::RemoveBacklog { id: p.id }, p.agent, &context).await
    }
}
