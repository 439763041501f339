//! The five built-in prompts, the Python tool's: canned requests a user picks from their client's
//! prompt menu to drive the session workflow (status → focus → work → done).
//!
//! Prompt arguments arrive as strings on the wire, so every field here is a string.

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{PromptMessage, Role};
use rmcp::{prompt, prompt_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::WorkSyncServer;

/// Arguments of prompts that can be narrowed to one project.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
pub struct ProjectArg {
    /// Project name; omit for all projects.
    #[serde(default)]
    pub project: Option<String>,
}

/// Arguments of `work_focus`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
pub struct FocusArgs {
    /// The story to focus on, e.g. STORY-3.
    pub story_id: String,
    /// Project name, if known.
    #[serde(default)]
    pub project: Option<String>,
}

/// Arguments of `work_done`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
pub struct DoneArgs {
    /// The story that is finished.
    pub story_id: String,
    /// Completion notes: what was done and how it was verified.
    #[serde(default)]
    pub notes: Option<String>,
    /// Project name, if known.
    #[serde(default)]
    pub project: Option<String>,
}

/// Arguments of `add_project`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[schemars(transform = super::schema::without_nulls)]
pub struct AddProjectArgs {
    /// Project name, kebab-case.
    pub name: String,
    /// Path of the project's repository.
    pub repo: String,
}

fn user(text: String) -> Vec<PromptMessage> {
    vec![PromptMessage::new_text(Role::User, text)]
}

fn project_clause(project: &Option<String>) -> String {
    match project.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => format!("with project='{p}'"),
        None => "with no arguments (all projects)".to_string(),
    }
}

#[prompt_router(vis = "pub(super)")]
impl WorkSyncServer {
    /// Show work status across projects: active sprints, in-progress work, backlog counts.
    #[prompt(name = "work_status")]
    async fn work_status(&self, Parameters(a): Parameters<ProjectArg>) -> Vec<PromptMessage> {
        user(format!(
            "Call worksync_status {}. For each project, show a compact section:\n\n\
             ## <project>\n\
             Active sprints: one line each, `<id> — <title> (<stories> stories, <n> in progress)`, or 'none'.\n\
             In progress: a table | ID | Sprint | Notes (first 60 characters) |, including in-progress \
             backlog items with Sprint = 'backlog', or 'nothing in progress'.\n\
             Backlog: `<total> total — <todo> todo, <in_progress> active, <done> done`.\n\
             Recent history: the last three entries as `- <date>: <summary>`.\n\n\
             A project with no active sprint and nothing in progress gets one line: \
             `<project>: idle — <n> backlog items`. Keep it short enough to read in a terminal.",
            project_clause(&a.project)
        ))
    }

    /// Regenerate the Obsidian vault from the YAML files.
    #[prompt(name = "work_sync")]
    async fn work_sync(&self, Parameters(a): Parameters<ProjectArg>) -> Vec<PromptMessage> {
        user(format!(
            "Call worksync_sync {}. Say whether the vault was regenerated and summarize what the \
             tool reported; if it reports an error, quote its hint.",
            project_clause(&a.project)
        ))
    }

    /// Load the context of one story before working on it.
    #[prompt(name = "work_focus")]
    async fn work_focus(&self, Parameters(a): Parameters<FocusArgs>) -> Vec<PromptMessage> {
        let scope = a.project.as_deref().map(|p| format!(" in project '{p}'")).unwrap_or_default();
        user(format!(
            "I want to work on {story}{scope}.\n\
             1. Call worksync_status to find the project and sprint that hold {story}.\n\
             2. From the result, collect the story's status and notes, the sprint's goal and themes, \
             and related backlog items.\n\
             3. Call worksync_guidance for the project.\n\
             4. If the story is planned, set it to in_progress with worksync_update_story (pass your agent name).\n\
             5. Summarize: the story, its sprint context, related work, and the guidance that applies.",
            story = a.story_id
        ))
    }

    /// Mark a story done with completion notes.
    #[prompt(name = "work_done")]
    async fn work_done(&self, Parameters(a): Parameters<DoneArgs>) -> Vec<PromptMessage> {
        let project = a.project.as_deref().map(|p| format!(", project='{p}'")).unwrap_or_default();
        let notes = match a.notes.as_deref().filter(|n| !n.is_empty()) {
            Some(n) => format!(", notes='{n}'"),
            None => ", notes=<what you did and how you verified it>".to_string(),
        };
        user(format!(
            "Call worksync_done with story_id='{}'{project}{notes} and your agent name. It marks the \
             story done and appends a history entry. Report the result, then name the next planned \
             story in the same sprint, if there is one.",
            a.story_id
        ))
    }

    /// Register a new project for work tracking.
    #[prompt(name = "add_project")]
    async fn add_project(&self, Parameters(a): Parameters<AddProjectArgs>) -> Vec<PromptMessage> {
        user(format!(
            "Call worksync_register_project with name='{}', repo='{}' and your agent name. It creates \
             the project's directories and work-index.yaml, detects its languages and picks its guidance. \
             Report what it created and which guidance the project inherits.",
            a.name, a.repo
        ))
    }
}
