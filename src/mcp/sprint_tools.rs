//! Sprint and story tools: plan sprints, add and update stories, mark stories done.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::CallToolResult;
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{WorkSyncServer, reply, wire};
use crate::share::ids::StoryId;
use crate::store::model::{SprintStatus, StoryStatus};
use crate::store::{Guard, Mutation, Operation};

/// Arguments of `worksync_create_sprint`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct CreateSprintParams {
    pub project: String,
    /// Unique kebab-case id, e.g. 'ci-foundation'.
    pub id: String,
    pub title: String,
    #[serde(default)]
    pub goal: Option<String>,
    #[serde(default)]
    pub themes: Option<Vec<String>>,
    /// Default 'planned'.
    #[serde(default)]
    pub status: Option<SprintStatus>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_update_sprint`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct UpdateSprintParams {
    pub project: String,
    pub id: String,
    #[serde(default)]
    #[schemars(transform = super::schema::undescribed)]
    pub status: Option<SprintStatus>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub goal: Option<String>,
    /// Replaces the list.
    #[serde(default)]
    pub themes: Option<Vec<String>>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
    /// The rev you read; if it changed, refused with the current item.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Override another agent's claim (recorded).
    #[serde(default)]
    pub force: bool,
}

/// Arguments of `worksync_add_story`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct AddStoryParams {
    pub project: String,
    pub sprint_id: String,
    /// Unique in the project, e.g. 'STORY-7'; omit for the next free STORY-N.
    #[serde(default)]
    pub story_id: Option<String>,
    /// Default 'planned'.
    #[serde(default)]
    pub status: Option<StoryStatus>,
    /// Scope, context or acceptance criteria.
    #[serde(default)]
    pub notes: Option<String>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
    /// Ids it waits for (blocked until done).
    #[serde(default)]
    pub depends_on: Option<Vec<String>>,
}

/// Arguments of `worksync_update_story`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct UpdateStoryParams {
    pub project: String,
    pub sprint_id: String,
    pub story_id: String,
    #[serde(default)]
    #[schemars(transform = super::schema::undescribed)]
    pub status: Option<StoryStatus>,
    /// Replaces the notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// Adds a paragraph to the notes.
    #[serde(default)]
    pub append_notes: Option<String>,
    /// Replaces the list; [] clears it.
    #[serde(default)]
    pub depends_on: Option<Vec<String>>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
    /// The rev you read; if it changed, refused with the current item.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Override another agent's claim, or start it while blocked (recorded).
    #[serde(default)]
    pub force: bool,
}

/// Arguments of `worksync_done`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct DoneParams {
    pub project: String,
    pub story_id: String,
    /// What you did and how you verified it.
    #[serde(default)]
    pub notes: Option<String>,
    /// Found if omitted.
    #[serde(default)]
    pub sprint_id: Option<String>,
    /// Your name (default: your MCP client's name).
    #[serde(default)]
    pub agent: Option<String>,
    /// The rev you read; if it changed, refused with the current item.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Override another agent's claim (recorded).
    #[serde(default)]
    pub force: bool,
}

#[tool_router(router = sprint_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Create a sprint with no stories yet. Returns the sprint.
    #[tool(name = "worksync_create_sprint")]
    async fn create_sprint(
        &self,
        Parameters(p): Parameters<CreateSprintParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let mutation = Mutation::CreateSprint {
            id: p.id,
            title: p.title,
            goal: p.goal.unwrap_or_default(),
            themes: p.themes,
            status: p.status.unwrap_or(SprintStatus::Planned),
        };
        self.mutate(&p.project, mutation, p.agent, &context).await
    }

    /// Change the given fields of a sprint. Returns the sprint.
    #[tool(name = "worksync_update_sprint", annotations(idempotent_hint = true))]
    async fn update_sprint(
        &self,
        Parameters(p): Parameters<UpdateSprintParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let edit =
            Mutation::UpdateSprint { id: p.id, status: p.status, title: p.title, goal: p.goal, themes: p.themes };
        let guard = Guard { expected_rev: p.expected_rev, force: p.force };
        self.mutate(&p.project, Operation::Edit { edit, guard }, p.agent, &context).await
    }

    /// Add a story to a sprint. Returns the story and its sprint.
    #[tool(name = "worksync_add_story")]
    async fn add_story(
        &self,
        Parameters(p): Parameters<AddStoryParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        // In a shared project a new story's number is reserved on the remote first, so no
        // other machine hands it out too.
        let reserved = match &p.story_id {
            None => self.sharing.story_id(&p.project).await,
            Some(_) => None,
        };
        let mutation = Mutation::AddStory {
            sprint_id: p.sprint_id,
            story_id: p.story_id.or_else(|| reserved.as_ref().map(|r| r.id().to_string())),
            status: p.status.unwrap_or(StoryStatus::Planned),
            notes: p.notes.unwrap_or_default(),
            depends_on: p.depends_on,
        };
        let change = self.change(reply::agent_of(p.agent, &context));
        let done = self.store.mutate(&p.project, mutation, change).await;
        Ok(reply::from_store(done.map(|done| {
            let mut answer = wire::done(&done);
            if let Some(StoryId::Offline(_, why)) = &reserved {
                answer["story_id_note"] = serde_json::json!(format!(
                    "The shared plan's remote could not be reached ({why}), so the story got an id with this machine's name: it cannot collide with another machine's stories."
                ));
            }
            answer
        })))
    }

    /// Change a story's status, notes or dependencies; log progress with append_notes.
    /// Returns the story.
    #[tool(name = "worksync_update_story")]
    async fn update_story(
        &self,
        Parameters(p): Parameters<UpdateStoryParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let edit = Mutation::UpdateStory {
            sprint_id: p.sprint_id,
            story_id: p.story_id,
            status: p.status,
            notes: p.notes,
            append_notes: p.append_notes,
            depends_on: p.depends_on,
        };
        let guard = Guard { expected_rev: p.expected_rev, force: p.force };
        self.mutate(&p.project, Operation::Edit { edit, guard }, p.agent, &context).await
    }

    /// Mark a story done when finished; your notes go into it and a new history entry. If
    /// already done, nothing changes (already_done: true).
    #[tool(name = "worksync_done")]
    async fn done(
        &self,
        Parameters(p): Parameters<DoneParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, McpError> {
        let edit = Mutation::Done { story_id: p.story_id, notes: p.notes.unwrap_or_default(), sprint_id: p.sprint_id };
        let guard = Guard { expected_rev: p.expected_rev, force: p.force };
        self.mutate(&p.project, Operation::Edit { edit, guard }, p.agent, &context).await
    }
}
