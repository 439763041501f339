//! Coordination tools: claim and release work, and ask for the next work to do.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::WorkSyncServer;
use crate::store::{Operation, Target};

/// Arguments of `worksync_claim`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct ClaimParams {
    /// Project name.
    pub project: String,
    /// What to claim: 'story' or 'backlog'.
    pub kind: Target,
    /// The story id (STORY-N) or backlog item id.
    pub id: String,
    /// How long the claim lasts, in minutes (default from config, 30). Claim again to renew.
    #[serde(default)]
    pub lease_minutes: Option<f64>,
    /// Your agent name: the claim is yours. Defaults to the X-WorkSync-Agent header or the MCP
    /// client's name.
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_release`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct ReleaseParams {
    /// Project name.
    pub project: String,
    /// What to release: 'story' or 'backlog'.
    pub kind: Target,
    /// The story id or backlog item id.
    pub id: String,
    /// Release another agent's claim (recorded).
    #[serde(default)]
    pub force: bool,
    /// Your agent name.
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_next`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct NextParams {
    /// Project name.
    pub project: String,
    /// Also claim the item in the same step (no other agent can get it in between).
    #[serde(default)]
    pub claim: bool,
    /// Lease of the claim in minutes (with claim=true; default from config, 30).
    #[serde(default)]
    pub lease_minutes: Option<f64>,
    /// Your agent name.
    #[serde(default)]
    pub agent: Option<String>,
}

#[tool_router(router = coordination_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Claim a story or backlog item so other agents leave it to you, for a lease (renew by
    /// claiming again). Claiming sets it in_progress. Refused, naming the holder and the
    /// lease's end, if another agent holds it.
    #[tool(name = "worksync_claim")]
    async fn claim(
        &self,
        Parameters(p): Parameters<ClaimParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let operation = Operation::Claim { target: p.kind, id: p.id, lease_minutes: p.lease_minutes };
        self.mutate(&p.project, operation, p.agent, &context).await
    }

    /// Release your claim on a story or backlog item (its status is left as it is).
    #[tool(name = "worksync_release")]
    async fn release(
        &self,
        Parameters(p): Parameters<ReleaseParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let operation = Operation::Release { target: p.kind, id: p.id, force: p.force };
        self.mutate(&p.project, operation, p.agent, &context).await
    }

    /// The next work for you: the first planned, unclaimed story of an active sprint, else the
    /// highest-priority unclaimed todo backlog item, with the reason it was chosen. With
    /// claim=true it is claimed for you in the same atomic step.
    #[tool(name = "worksync_next")]
    async fn next(
        &self,
        Parameters(p): Parameters<NextParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let operation = Operation::Next { claim: p.claim, lease_minutes: p.lease_minutes };
        self.mutate(&p.project, operation, p.agent, &context).await
    }
}
