//! Tools that look: status, projects and guidance, answered from the store's in-memory
//! snapshot.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{ErrorData as McpError, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::WorkSyncServer;
use super::{reply, wire};

/// Arguments of `worksync_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct StatusParams {
    /// Omit for every project.
    #[serde(default)]
    pub project: Option<String>,
}

/// Arguments of `worksync_projects`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct ProjectsParams {
    /// Omit to list all.
    #[serde(default)]
    pub project: Option<String>,
}

/// Arguments of `worksync_guidance`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct GuidanceParams {
    pub project: String,
    /// One document, e.g. 'rust' or a repo doc's name; omit for all.
    #[serde(default)]
    pub topic: Option<String>,
}

#[tool_router(router = read_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Active sprints, work in progress, claims and backlog counts per project. Call it first.
    #[tool(name = "worksync_status", annotations(read_only_hint = true))]
    async fn status(&self, Parameters(p): Parameters<StatusParams>) -> Result<CallToolResult, McpError> {
        let project = p.project.as_deref();
        let snapshot = self.store.snapshot(project).await;
        if let Some(answer) = self.status_answers.get(project, snapshot.version, chrono::Utc::now()) {
            return Ok(answer);
        }
        let status = match snapshot.status(project) {
            Ok(status) => status,
            Err(error) => return Ok(reply::failure(&error)),
        };
        let answer = reply::success(wire::status(&status));
        self.status_answers.put(project, snapshot.version, status.holds_until(), &answer);
        Ok(answer)
    }

    /// Registered projects (repo path, description, guidance), or one project's entry.
    #[tool(name = "worksync_projects", annotations(read_only_hint = true))]
    async fn projects(&self, Parameters(p): Parameters<ProjectsParams>) -> Result<CallToolResult, McpError> {
        let snapshot = self.store.snapshot(p.project.as_deref()).await;
        let board = self.sharing.board();
        let sync = |name: &str| board.get(name, self.store.changes_last_seq(name));
        Ok(reply::from_store(wire::projects(&snapshot, p.project.as_deref(), &sync)))
    }

    /// A project's coding guidance: shared docs for its languages (general, rust,
    /// ai-collaboration...) plus its repo's docs. Read it before working.
    #[tool(name = "worksync_guidance", annotations(read_only_hint = true))]
    async fn guidance(&self, Parameters(p): Parameters<GuidanceParams>) -> Result<CallToolResult, McpError> {
        let snapshot = self.store.snapshot(Some(&p.project)).await;
        Ok(reply::from_store(snapshot.guidance(&p.project, p.topic.as_deref())))
    }
}
