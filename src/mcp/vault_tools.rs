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
    /// Project to regenerate. Omit for all projects.
    #[serde(default)]
    pub project: Option<String>,
}

#[tool_router(router = vault_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Regenerate the Obsidian vault from the YAML files now (it also regenerates by itself
    /// a few seconds after changes). Reports the notes written and removed; notes a person
    /// wrote or edited are never changed and are listed under "kept" (by reason). Status "partial" means
    /// some notes are not current: a project was skipped because its work-index.yaml does
    /// not parse (see "skipped": file, line, column), or notes could not be written ("errors").
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
