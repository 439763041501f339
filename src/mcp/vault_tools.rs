//! `worksync_sync`: regenerate the Obsidian vault now, and say what it wrote, kept and
//! skipped.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::{ErrorData as McpError, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::WorkSyncServer;
use super::{reply, wire};

/// Arguments of `worksync_sync`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct SyncParams {
    /// Omit for every project.
    #[serde(default)]
    pub project: Option<String>,
}

#[tool_router(router = vault_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Regenerate the Obsidian vault now (it also does so after each change). Reports notes
    /// written, removed and kept (edited by people); "partial" lists skipped projects (YAML
    /// that does not parse) and write errors.
    #[tool(name = "worksync_sync")]
    async fn sync(&self, Parameters(p): Parameters<SyncParams>) -> Result<CallToolResult, McpError> {
        if let Some(project) = p.project.as_deref()
            && let Err(e) = self.store.snapshot(Some(project)).await.project(project)
        {
            return Ok(reply::failure(&e));
        }
        let project = p.project.as_deref().unwrap_or("all").to_string();
        match self.vault.sync_now(p.project).await {
            Ok(report) => Ok(reply::success(wire::sync_report(&project, &report))),
            Err(error) => Ok(CallToolResult::structured_error(serde_json::json!({
                "status": "error",
                "project": project,
                "error": error.to_string(),
                "hint": "Check vault_path in config.yaml and that the directory is writable; `worksync doctor` checks both.",
            }))),
        }
    }
}
