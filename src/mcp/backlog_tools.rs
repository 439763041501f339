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
    /// Priority for worksync_next: 1 (highest) to 5 (lowest); 3 if omitted.
    #[serde(default)]
    pub priority: Option<u8>,
    /// Ids of stories or backlog items this one waits for (it is blocked until they are done).
    #[serde(default)]
    pub depends_on: Option<Vec<String>>,
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
    /// New priority for worksync_next: 1 (highest) to 5 (lowest).
    #[serde(default)]
    pub priority: Option<u8>,
    /// New list of ids this item waits for (replaces the old list; [] clears it).
    #[serde(default)]
    pub depends_on: Option<Vec<String>>,
    /// The item's `rev` when you read it; the update is refused (with the current item) if it
    /// changed since.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Change it even if another agent holds a claim on it, or start it (in_progress) while
    /// it is blocked (both recorded).
    #[serde(default)]
    pub force: bool,
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
    /// The item's `rev` when you read it; refused if it changed since.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Remove it even if another agent holds a claim on it or unfinished items depend on it
    /// (recorded; their dependencies on it are dropped).
    #[serde(default)]
    pub force: bool,
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
            priority: p.priority,
            summary: p.summary,
            theme: p.theme,
            status: p.status.unwrap_or(BacklogStatus::Todo),
            related_sprints: p.related_sprints,
            depends_on: p.depends_on,
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

    /// Remove a backlog item. Returns the removed item (under `removed`).
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
