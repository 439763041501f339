//! Tools that look: status, projects, history, guidance, and the vault sync request.
//!
//! They answer from the store's in-memory snapshot; `worksync_history` also appends (its
//! `action=add` is the Python tool's way to log an event), which goes through the writer.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::WorkSyncServer;
use super::{reply, wire};
use crate::store::Mutation;
use crate::vault::Report;

/// Arguments of `worksync_status`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct StatusParams {
    /// Project name to show. Omit to show every registered project.
    #[serde(default)]
    pub project: Option<String>,
}

/// Arguments of `worksync_projects`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct ProjectsParams {
    /// A project name to get its registry entry. Omit to list all projects.
    #[serde(default)]
    pub project: Option<String>,
}

/// What `worksync_history` does.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HistoryAction {
    /// Show entries (newest last).
    #[default]
    List,
    /// Append an entry dated today.
    Add,
}

/// Arguments of `worksync_history`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct HistoryParams {
    /// Project name.
    pub project: String,
    /// 'list' to read the history (default), 'add' to append an entry.
    #[serde(default)]
    pub action: HistoryAction,
    /// The entry's text; required when action='add'.
    #[serde(default)]
    pub summary: Option<String>,
    /// Sprint ids the entry relates to (action='add').
    #[serde(default)]
    pub related_sprints: Option<Vec<String>>,
    /// Your agent name, recorded with the entry (action='add'). Defaults to the
    /// X-WorkSync-Agent header or the MCP client's name.
    #[serde(default)]
    pub agent: Option<String>,
    /// With action='list': return at most this many of the newest entries (all if omitted).
    #[serde(default)]
    pub limit: Option<usize>,
    /// With action='list': skip this many of the newest entries first (for paging back).
    #[serde(default)]
    pub offset: Option<usize>,
}

/// Arguments of `worksync_guidance`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct GuidanceParams {
    /// Project name.
    pub project: String,
    /// One guidance name (e.g. 'general', 'golang', 'ai-collaboration', or a project doc's
    /// name). Omit to get every document that applies to the project.
    #[serde(default)]
    pub topic: Option<String>,
}

/// Arguments of `worksync_sync`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct SyncParams {
    /// Project to regenerate. Omit for all projects.
    #[serde(default)]
    pub project: Option<String>,
}

#[tool_router(router = read_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Show active sprints, in-progress stories and backlog items, and backlog counts, per
    /// project. Start every session with this.
    #[tool(name = "worksync_status", annotations(read_only_hint = true))]
    async fn status(&self, Parameters(p): Parameters<StatusParams>) -> Result<CallToolResult, McpError> {
        let snapshot = self.store.snapshot(p.project.as_deref()).await;
        Ok(reply::from_store(snapshot.status(p.project.as_deref()).map(|status| wire::status(&status))))
    }

    /// List registered projects (repo path, description, guidance), or get one project's
    /// entry.
    #[tool(name = "worksync_projects", annotations(read_only_hint = true))]
    async fn projects(&self, Parameters(p): Parameters<ProjectsParams>) -> Result<CallToolResult, McpError> {
        let snapshot = self.store.snapshot(p.project.as_deref()).await;
        Ok(reply::from_store(wire::projects(&snapshot, p.project.as_deref())))
    }

    /// View the project's history (action='list', optionally paged with limit/offset from
    /// the newest end) or append an entry dated today (action='add' with summary).
    #[tool(name = "worksync_history")]
    async fn history(
        &self,
        Parameters(p): Parameters<HistoryParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        match p.action {
            HistoryAction::List => {
                let snapshot = self.store.snapshot(Some(&p.project)).await;
                Ok(reply::from_store(
                    snapshot.history(&p.project, p.limit, p.offset.unwrap_or(0)).map(|page| wire::history(&page)),
                ))
            }
            HistoryAction::Add => {
                let mutation =
                    Mutation::AddHistory { summary: p.summary.unwrap_or_default(), related_sprints: p.related_sprints };
                self.mutate(&p.project, mutation, p.agent, &context).await
            }
        }
    }

    /// Get the coding guidance for a project: the shared documents it inherits (general,
    /// golang, typescript, rust, python, ai-collaboration…) merged with docs from its repo.
    #[tool(name = "worksync_guidance", annotations(read_only_hint = true))]
    async fn guidance(&self, Parameters(p): Parameters<GuidanceParams>) -> Result<CallToolResult, McpError> {
        let snapshot = self.store.snapshot(Some(&p.project)).await;
        Ok(reply::from_store(snapshot.guidance(&p.project, p.topic.as_deref())))
    }

    /// Regenerate the Obsidian vault from the YAML files now (it also regenerates by itself
    /// a few seconds after changes). Reports the notes written and removed; notes a person
    /// wrote or edited are never changed and are listed under "kept". Status "partial" means
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
            Ok(report) => Ok(reply::success(sync_reply(&project, &report))),
            Err(error) => Ok(CallToolResult::structured_error(serde_json::json!({
                "status": "error",
                "project": project,
                "error": error,
                "hint": "Check vault_path in config.yaml and that the directory is writable; `worksync doctor` checks both.",
            }))),
        }
    }
}

/// The answer of `worksync_sync`: the Python tool's `status`, `project` and `output`, then
/// the report. `status` is "partial" when some notes are not current, with a `hint` saying
/// what to fix; it is not a tool error, because the rest of the vault was regenerated and
/// calling again will not help until the file is fixed.
fn sync_reply(project: &str, report: &Report) -> serde_json::Value {
    let mut output = format!(
        "{} notes in {}: {} written, {} removed, {} unchanged, {} kept, {} errors ({} ms)",
        report.notes,
        report.vault,
        report.written,
        report.removed,
        report.unchanged,
        report.kept.len(),
        report.errors.len(),
        report.millis
    );
    for skipped in &report.skipped {
        output.push_str(&format!("; skipped {}", skipped.describe()));
    }
    let status = if report.is_partial() { "partial" } else { "success" };
    let mut value = serde_json::json!({ "status": status, "project": project, "output": output });
    if report.is_partial() {
        value["hint"] = serde_json::json!(if report.skipped.is_empty() {
            "Some notes could not be written (see errors): fix what each error names, then call worksync_sync again."
        } else {
            "The notes of the skipped projects are not current: fix their work-index.yaml at the line and column \
             given (or ask the person who edits it), then call worksync_sync again. The other projects' notes are \
             current."
        });
    }
    if let (Some(map), Ok(serde_json::Value::Object(details))) = (value.as_object_mut(), serde_json::to_value(report)) {
        map.extend(details);
    }
    value
}
