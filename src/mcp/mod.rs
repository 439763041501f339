//! Protocol glue: the MCP server that agents talk to.
//!
//! [`WorkSyncServer`] is created once per MCP session and is a thin shell around the shared
//! [`Store`]. Each tool file holds one group of tools: a tool parses its parameters, makes one
//! call into the store and shapes the reply (see [`reply`]). Tool names and parameters are
//! the Python tool's, so agents' prompts and scripts keep working.

mod backlog_tools;
mod coordination_tools;
#[cfg(test)]
mod fuzz;
mod history_tools;
pub mod in_flight;
mod notice;
mod project_tools;
mod prompts;
mod read_tools;
pub mod reply;
mod resources;
mod schema;
mod sprint_tools;
mod status_answers;
mod vault_tools;
pub(crate) mod wire;

use std::sync::Arc;

use rmcp::handler::server::prompt::PromptContext;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, GetPromptRequestParams, GetPromptResponse,
    GetPromptResult, Implementation, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    PaginatedRequestParams, Prompt, PromptArgument, PromptMessage, ReadResourceRequestParams, ReadResourceResponse,
    ReadResourceResult, Role, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, tool_handler};

use crate::share::supervisor::Sharing;
use crate::store::{Change, Operation, Store};
use crate::vault::Vault;
use in_flight::InFlight;

/// What the server tells every client at initialization: the data model and the workflow.
pub const INSTRUCTIONS: &str = include_str!("instructions.md");

/// The MCP server of one session. Cloning it for a new session is cheap: everything in it is
/// shared.
#[derive(Clone)]
pub struct WorkSyncServer {
    store: Store,
    vault: Vault,
    sharing: Sharing,
    in_flight: InFlight,
    /// Where each agent was in each project's change feed (shared by all sessions).
    notices: Arc<notice::Notices>,
    /// The last status answer of each project (shared by all sessions).
    status_answers: Arc<status_answers::StatusAnswers>,
    /// Built once: the tool schemas alone are tens of KB, too much to rebuild per session.
    routers: Arc<Routers>,
}

/// Which method answers each tool and prompt, with their schemas.
struct Routers {
    tools: ToolRouter<WorkSyncServer>,
    prompts: PromptRouter<WorkSyncServer>,
}

impl WorkSyncServer {
    /// A server answering from `store`, regenerating `vault` on request, counting its tool
    /// calls in `in_flight`. Clone it for each session.
    pub fn new(store: Store, vault: Vault, in_flight: InFlight, sharing: Sharing) -> Self {
        let mut tools = Self::read_tools()
            + Self::history_tools()
            + Self::vault_tools()
            + Self::backlog_tools()
            + Self::sprint_tools()
            + Self::project_tools()
            + Self::coordination_tools();
        for route in tools.map.values_mut() {
            schema::compact(&mut route.attr);
        }
        let routers = Arc::new(Routers { tools, prompts: Self::prompt_router() });
        WorkSyncServer {
            store,
            vault,
            in_flight,
            sharing,
            routers,
            notices: Arc::default(),
            status_answers: Arc::default(),
        }
    }

    /// The names of every tool, for tests and diagnostics.
    pub fn tool_names(&self) -> Vec<String> {
        self.routers.tools.list_all().into_iter().map(|t| t.name.to_string()).collect()
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
        operation: impl Into<Operation>,
        agent: Option<String>,
        context: &RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let change = self.change(reply::agent_of(agent, context));
        Ok(reply::from_store(self.store.mutate(project, operation, change).await.map(|done| wire::done(&done))))
    }
}

#[tool_handler(router = self.routers.tools)]
impl ServerHandler for WorkSyncServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder().enable_tools().enable_prompts().enable_resources().build();
        ServerConfig::new(capabilities)
            .with_server_info(
                Implementation::new(env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION")).with_title("worksync"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    /// The built-in prompts, then one per `PROMPTS/*.md` file of each project.
    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let mut prompts = self.routers.prompts.list_all();
        let snapshot = self.store.snapshot(None).await;
        for file in snapshot.prompt_files().into_values() {
            let arguments = file
                .arguments
                .iter()
                .map(|a| {
                    let argument = PromptArgument::new(&a.name).with_required(a.required);
                    match &a.description {
                        Some(d) => argument.with_description(d),
                        None => argument,
                    }
                })
                .collect();
            prompts.push(Prompt::new(file.name, file.description, Some(arguments)));
        }
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    /// A built-in prompt, or a project's prompt file with its arguments filled in.
    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if self.routers.prompts.has_route(&request.name) {
            let prompt = PromptContext::new(self, request.name, request.arguments, context);
            return self.routers.prompts.get_prompt(prompt).await;
        }
        let snapshot = self.store.snapshot(None).await;
        let files = snapshot.prompt_files();
        let file = files.get(request.name.as_str()).ok_or_else(|| {
            McpError::invalid_params(
                format!("no prompt named '{}'", request.name),
                Some(serde_json::json!({ "hint": "Call prompts/list to see the prompts." })),
            )
        })?;
        let given = request
            .arguments
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())))
            .collect();
        let text = file.render(&given).map_err(|e| McpError::invalid_params(e.to_string(), None))?;
        let mut result = GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)]);
        if let Some(description) = &file.description {
            result = result.with_description(description);
        }
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let snapshot = self.store.snapshot(None).await;
        Ok(ListResourcesResult::with_all_items(resources::list(&snapshot)))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, McpError> {
        Ok(ListResourceTemplatesResult::with_all_items(resources::templates()))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let snapshot = self.store.snapshot(None).await;
        let contents = resources::read(&snapshot, &request.uri)?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    /// Routes a tool call: counts it as in flight (graceful shutdown waits for it), turns
    /// rmcp's plain-text argument errors into our JSON error shape, and logs one line.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        // A long poll has nothing to finish: it must not hold up a graceful shutdown.
        let _in_flight = (request.name != "worksync_changes").then(|| self.in_flight.enter());
        let started = std::time::Instant::now();
        let name = request.name.to_string();
        let argument = |key: &str| {
            request.arguments.as_ref().and_then(|a| a.get(key)).and_then(|v| v.as_str()).map(str::to_string)
        };
        let project = argument("project").or_else(|| argument("name")).unwrap_or_default();
        let agent = reply::agent_of(argument("agent"), &context);
        let mut response = self.routers.tools.call(ToolCallContext::new(self, request, context)).await;
        if let Ok(CallToolResponse::Complete(result)) = &response
            && result.is_error == Some(true)
            && result.structured_content.is_none()
        {
            let text = first_text(result);
            if text.starts_with(reply::DESERIALIZE_PREFIX) {
                response = Ok(reply::argument_error(&name, &text).into());
            }
        }
        if let Ok(CallToolResponse::Complete(result)) = &mut response
            && let Some(notice) = self.notices.after_call(&self.store, &name, &project, &agent)
        {
            notice::attach(result, notice);
        }
        // Milliseconds to the microsecond: a float read by people, not `0.38091500000000004`.
        let duration_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
        match &response {
            Ok(CallToolResponse::Complete(result)) if result.is_error == Some(true) => {
                let error: String = first_text(result).chars().take(300).collect();
                tracing::info!(tool = %name, %project, %agent, duration_ms, outcome = "error", %error, "tool call");
            }
            Ok(_) => tracing::info!(tool = %name, %project, %agent, duration_ms, outcome = "ok", "tool call"),
            Err(e) => {
                tracing::info!(tool = %name, %project, %agent, duration_ms, outcome = "protocol_error", error = %e.message, "tool call")
            }
        }
        response
    }
}

/// The first text block of a result (our JSON copy of the structured content).
fn first_text(result: &CallToolResult) -> String {
    result.content.iter().find_map(|c| c.as_text().map(|t| t.text.clone())).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    /// Claude Code cuts server instructions after 2048 characters.
    #[test]
    fn instructions_fit_clients_limits() {
        assert!(super::INSTRUCTIONS.len() < 2048, "{} characters", super::INSTRUCTIONS.len());
    }
}
