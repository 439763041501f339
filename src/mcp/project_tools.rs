//! Project registry tools: register and unregister projects.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::WorkSyncServer;
use super::reply::{self, agent_of};
use crate::store::Registration;

/// Arguments of `worksync_register_project`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct RegisterParams {
    /// Kebab-case, e.g. 'my-app'; names its directory.
    pub name: String,
    /// Source repository path, e.g. '~/src/my-app'.
    pub repo: String,
    #[serde(default)]
    pub description: Option<String>,
    /// E.g. ['rust']; they pick the guidance. Found in the repo if omitted.
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_unregister_project`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct UnregisterParams {
    pub name: String,
    /// Also move its data directory to the trash (default false).
    #[serde(default)]
    pub delete_data: bool,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
}

#[tool_router(router = project_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Register a project: creates its directories and an empty work-index.yaml, and adds it
    /// to config.yaml.
    #[tool(name = "worksync_register_project")]
    async fn register_project(
        &self,
        Parameters(p): Parameters<RegisterParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let request = Registration {
            name: p.name,
            repo: p.repo,
            description: p.description.unwrap_or_default(),
            languages: p.languages,
        };
        let change = self.change(agent_of(p.agent, &context));
        Ok(reply::from_store(self.store.register(request, change).await.map(|r| super::wire::registered(&r))))
    }

    /// Remove a project from config.yaml (its data stays unless delete_data).
    #[tool(name = "worksync_unregister_project", annotations(destructive_hint = true))]
    async fn unregister_project(
        &self,
        Parameters(p): Parameters<UnregisterParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let change = self.change(agent_of(p.agent, &context));
        Ok(reply::from_store(
            self.store.unregister(&p.name, p.delete_data, change).await.map(|u| super::wire::unregistered(&u)),
        ))
    }
}
