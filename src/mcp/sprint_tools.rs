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
    /// Project name.
    pub project: String,
    /// Sprint id, kebab-case (e.g. 'gcp-cicd-foundation').
    pub id: String,
    /// Human-readable title.
    pub title: String,
    /// What the sprint aims to achieve.
    #[serde(default)]
    pub goal: Option<String>,
    /// Cross-cutting themes the sprint relates to.
    #[serde(default)]
    pub themes: Option<Vec<String>>,
    /// Initial status (default 'planned').
    #[serde(default)]
    pub status: Option<SprintStatus>,
    /// Your agent name, for attribution.
    #[serde(default)]
    pub agent: Option<String>,
}

/// Arguments of `worksync_update_sprint`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct UpdateSprintParams {
    /// Project name.
    pub project: String,
    /// Id of the sprint to change.
    pub id: String,
    /// New status.
    #[serde(default)]
    pub status: Option<SprintStatus>,
    /// New title.
    #[serde(default)]
    pub title: Option<String>,
    /// New goal.
    #[serde(default)]
    pub goal: Option<String>,
    /// New themes (replaces the old list).
    #[serde(default)]
    pub themes: Option<Vec<String>>,
    /// Your agent name, for attribution.
    #[serde(default)]
    pub agent: Option<String>,
    /// The item's `rev` when you read it; the change is refused (with the current item) if
    /// it changed since.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Change it even if another agent holds a claim on it (recorded).
    #[serde(default)]
    pub force: bool,
}

/// Arguments of `worksync_add_story`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct AddStoryParams {
    /// Project name.
    pub project: String,
    /// Sprint to add the story to.
    pub sprint_id: String,
    /// Story id such as 'STORY-7', unique across the whole project. Omit to get the next
    /// free STORY-N.
    #[serde(default)]
    pub story_id: Option<String>,
    /// Initial status (default 'planned').
    #[serde(default)]
    pub status: Option<StoryStatus>,
    /// Scope, context or acceptance notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// Your agent name, for attribution.
    #[serde(default)]
    pub agent: Option<String>,
    /// Ids of stories or backlog items this story waits for (it is blocked until they are done).
    #[serde(default)]
    pub depends_on: Option<Vec<String>>,
}

/// Arguments of `worksync_update_story`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct UpdateStoryParams {
    /// Project name.
    pub project: String,
    /// Sprint that holds the story.
    pub sprint_id: String,
    /// Id of the story to change.
    pub story_id: String,
    /// New status.
    #[serde(default)]
    pub status: Option<StoryStatus>,
    /// New notes (replace the old notes).
    #[serde(default)]
    pub notes: Option<String>,
    /// Text to add to the end of the notes as a new paragraph (keeps the old notes).
    #[serde(default)]
    pub append_notes: Option<String>,
    /// New list of ids this story waits for (replaces the old list; [] clears it).
    #[serde(default)]
    pub depends_on: Option<Vec<String>>,
    /// Your agent name, for attribution.
    #[serde(default)]
    pub agent: Option<String>,
    /// The item's `rev` when you read it; the change is refused (with the current item) if
    /// it changed since.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Change it even if another agent holds a claim on it, or start it (in_progress) while
    /// it is blocked (both recorded).
    #[serde(default)]
    pub force: bool,
}

/// Arguments of `worksync_done`.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
#[serde(deny_unknown_fields)]
pub struct DoneParams {
    /// Project name.
    pub project: String,
    /// Story to mark done.
    pub story_id: String,
    /// Completion notes: what was done and how it was verified. They are added to the
    /// story's notes as a new paragraph (notes already there are kept) and go into the
    /// history entry.
    #[serde(default)]
    pub notes: Option<String>,
    /// Sprint that holds the story (found automatically if omitted).
    #[serde(default)]
    pub sprint_id: Option<String>,
    /// Your agent name, for attribution.
    #[serde(default)]
    pub agent: Option<String>,
    /// The item's `rev` when you read it; the change is refused (with the current item) if
    /// it changed since.
    #[serde(default)]
    pub expected_rev: Option<u64>,
    /// Change it even if another agent holds a claim on it (recorded).
    #[serde(default)]
    pub force: bool,
}

#[tool_router(router = sprint_tools, vis = "pub(super)")]
impl WorkSyncServer {
    /// Create a sprint (with an empty story list). Returns the created sprint.
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

    /// Update a sprint; only the fields given change. Returns the updated sprint.
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

    /// Add a story to a sprint. Story ids are unique across the project; omit story_id to
    /// get the next free STORY-N. Returns the created story and its sprint.
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

    /// Update a story's status and/or notes (notes replace; append_notes adds a paragraph).
    /// Returns the updated story.
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

    /// Mark a story done, add completion notes to its notes, and append a history entry.
    /// Returns the story, its sprint and the history entry. On a story that is already done
    /// it changes nothing (`already_done: true`), and refuses other notes.
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
