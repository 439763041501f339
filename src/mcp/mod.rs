//! Protocol glue: the MCP server that agents talk to.
//!
//! [`WorkSyncServer`] is created once per MCP session and is a thin shell around the shared
//! [`Store`]. Each tool file holds one group of tools: a tool parses its parameters, makes one
//! call into the store and shapes the reply (see [`reply`]). Tool names and parameters are
//! the Python tool's (SPEC §4), so agents' prompts and scripts keep working.

mod backlog_tools;
mod project_tools;
mod prompts;
mod read_tools;
pub mod reply;
mod schema;
mod sprint_tools;

use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, prompt_handler, tool_handler};

use crate::store::{Change, Mutation, Store};

/// What the server tells every client at initialization: the data model and the workflow.
pub const INSTRUCTIONS: &str = include_str!("instructions.md");

/// The MCP server of one session.
#[derive(Clone)]
pub struct WorkSyncServer {
    store: Store,
    tool_router: ToolRouter<Self>,
    prompt_router: PromptRouter<Self>,
}

impl WorkSyncServer {
    /// A server answering from `store`.
    pub fn new(store: Store) -> Self {
        let tool_router = Self::read_tools() + Self::backlog_tools() + Self::sprint_tools() + Self::project_tools();
        WorkSyncServer { store, tool_router, prompt_router: Self::prompt_router() }
    }

    /// The names of every tool, for tests and diagnostics.
    pub fn tool_names(&self) -> Vec<String> {
        self.tool_router.list_all().into_iter().map(|t| t.name.to_string()).collect()
    }

    /// A change made now by `agent`.
    fn change(&self, agent: String) -> Change {
        Change { agent, now: chrono::Utc::now() }
    }

    /// Applies `mutation` to `project` on behalf of the calling agent and shapes the reply:
    /// the one call every mutating tool makes.
    async fn mutate(
        &self,
        project: &str,
        mutation: Mutation,
        agent: Option<String>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let change = self.change(reply::agent_of(agent, context));
        Ok(reply::from_store(self.store.mutate(project, mutation, change).await))
    }
}

#[tool_handler(router = self.tool_router)]
#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for WorkSyncServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().enable_prompts().build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")).with_title("worksync"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    /// Routes a tool call, turning rmcp's plain-text argument errors into our JSON error
    /// shape so every failure an agent sees says what to fix.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let name = request.name.to_string();
        let response = self.tool_router.call(ToolCallContext::new(self, request, context)).await?;
        if let CallToolResponse::Complete(result) = &response
            && result.is_error == Some(true)
            && result.structured_content.is_none()
        {
            let text = result.content.iter().find_map(|c| c.as_text().map(|t| t.text.clone())).unwrap_or_default();
            if text.starts_with(reply::DESERIALIZE_PREFIX) {
                return Ok(reply::argument_error(&name, &text).into());
            }
        }
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    /// Claude Code cuts server instructions after 2048 characters.
    #[test]
    fn instructions_fit_clients_limits() {
        assert!(super::INSTRUCTIONS.len() < 2048, "{} characters", super::INSTRUCTIONS.len());
    }
}
