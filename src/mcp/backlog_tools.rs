//! Backlog tools: add, update and remove unscheduled work items.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::WorkSyncServer;
use crate::store::model::BacklogStatus;
use crate::store::{Guard, Mutation, Operation};

/// Arguments of `worksync_add_backlog`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct AddBacklogParams {
    pub project: String,
    /// Unique kebab-case id, e.g. 'ci-sha-pinning'.
    pub id: String,
    /// One line.
    pub summary: String,
    /// Category, e.g. 'security'.
    pub theme: String,
    /// Default 'todo'.
    #[serde(default)]
    pub status: Option<BacklogStatus>,
    #[serde(default)]
    pub related_sprints: Option<Vec<String>>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
    /// 1 (highest) to 5 (lowest), default 3.
    #[serde(default)]
    pub priority: Option<u8>,
    /// Ids it waits for (blocked until done).
    #[serde(default)]
    pub depends_on: Option<Vec<String>>,
}

/// Arguments of `worksync_update_backlog`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct UpdateBacklogParams {
    pub project: String,
    pub id: String,
    #[serde(default)]
    #[schemars(transform = super::schema::undescribed)]
    pub status: Option<BacklogStatus>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub theme: Option<String>,
    /// Replaces the list.
    #[serde(default)]
    pub related_sprints: Option<Vec<String>>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
    /// 1 (highest) to 5 (lowest).
    #[serde(default)]
    pub priority: Option<u8>,
    /// Replaces the list; [] clears it.
    #[serde(default)]
    pub depends_on: Option<Vec<String>>,
    /// The rev you read; if it changed, refused with the current item.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Override another agent's claim, or start it while blocked (recorded).
    #[serde(default)]
    pub force: bool,
}

/// Arguments of `worksync_remove_backlog`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct RemoveBacklogParams {
    pub project: String,
    pub id: String,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
    /// The rev you read; if it changed, refused with the current item.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Override another agent's claim or items waiting for it (recorded).
    #[serde(default)]
    pub force: bool,
}

#[tool_router(router = backlog_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Add new work to a project's backlog. Returns the item.
    #[tool(name = "worksync_add_backlog")]
    async fn add_backlog(
        &self,
        Parameters(p): Parameters<AddBacklogParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let mutation = Mutation::AddBacklog {
            id: p.id,
            priority: p.priority,
            summary: p.summary,
            theme: p.theme,
            status: p.status.unwrap_or(BacklogStatus::Todo),
            related_sprints: p.related_sprints,
            depends_on: p.depends_on,
        };
        self.mutate(&p.project, mutation, p.agent, &context).await
    }

    /// Change the given fields of a backlog item. Returns the item.
    #[tool(name = "worksync_update_backlog", annotations(idempotent_hint = true))]
    async fn update_backlog(
        &self,
        Parameters(p): Parameters<UpdateBacklogParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let edit = Mutation::UpdateBacklog {
            id: p.id,
            priority: p.priority,
            status: p.status,
            summary: p.summary,
            theme: p.theme,
            related_sprints: p.related_sprints,
            depends_on: p.depends_on,
        };
        let guard = Guard { expected_rev: p.expected_rev, force: p.force };
        self.mutate(&p.project, Operation::Edit { edit, guard }, p.agent, &context).await
    }

    /// Delete a backlog item. Returns it under `removed`.
    #[tool(name = "worksync_remove_backlog", annotations(destructive_hint = true))]
    async fn remove_backlog(
        &self,
        Parameters(p): Parameters<RemoveBacklogParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let guard = Guard { expected_rev: p.expected_rev, force: p.force };
        let edit = Mutation::RemoveBacklog { id: p.id };
        self.mutate(&p.project, Operation::Edit { edit, guard }, p.agent, &context).await
    }
}
