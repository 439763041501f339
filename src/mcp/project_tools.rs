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
    /// Project name, kebab-case (e.g. 'my-new-project'); it names the project's directory.
    pub name: String,
    /// Path of the source repository (e.g. '~/src/my-project').
    pub repo: String,
    /// One-line description.
    #[serde(default)]
    pub description: Option<String>,
    /// Languages used (e.g. ['golang', 'typescript']); they select the inherited guidance.
    /// Detected from go.mod, package.json, pyproject.toml and Cargo.toml when omitted.
    #[serde(default)]
    pub languages: Option<Vec<String>>,
    /// Your agent name, for attribution.
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_unregister_project`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct UnregisterParams {
    /// Project name.
    pub name: String,
    /// Also remove the project's data directory. It is moved to `<data root>/trash/`, not
    /// destroyed. Default false.
    #[serde(default)]
    pub delete_data: bool,
    /// Your agent name, for attribution.
    #[serde(default)]
    pub agent: Option<String>,
}

#[tool_router(router = project_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Register a project for work tracking: creates its directories and an empty
    /// work-index.yaml, and adds it to config.yaml with guidance chosen from its languages.
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

    /// Remove a project from config.yaml. With delete_data=true its data directory is moved
    /// to the trash under the data root.
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
