//! MCP resources: each project's work index, sprints and history, and the guidance, under
//! stable `worksync://` URIs, listable, readable and described by templates.
//!
//! URIs:
//! - `worksync://projects/{project}/work-index.yaml` — the file itself (YAML)
//! - `worksync://projects/{project}/sprints/{sprint_id}` — a sprint with its stories (JSON)
//! - `worksync://projects/{project}/history` — the history (JSON)
//! - `worksync://guidance/{name}` — a shared guidance document (Markdown)

use rmcp::ErrorData as McpError;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::json;

use super::wire;
use crate::store::Snapshot;
use crate::store::coordination::item_view;
use crate::store::sidecar::ItemKey;
use crate::store::snapshot::ProjectView;

const PREFIX: &str = "worksync://";

/// Every resource there is now.
pub fn list(snapshot: &Snapshot) -> Vec<Resource> {
    let mut resources = Vec::new();
    for (project, view) in &snapshot.projects {
        let ProjectView::Ready { index, .. } = view else { continue };
        resources.push(resource(
            format!("{PREFIX}projects/{project}/work-index.yaml"),
            format!("{project} work index"),
            "application/yaml",
        ));
        resources.push(resource(
            format!("{PREFIX}projects/{project}/history"),
            format!("{project} history"),
            "application/json",
        ));
        for sprint in index.sprints() {
            resources.push(resource(
                format!("{PREFIX}projects/{project}/sprints/{}", sprint.id),
                format!("{project} sprint {}", sprint.id),
                "application/json",
            ));
        }
    }
    for name in guidance_names(snapshot) {
        resources.push(resource(format!("{PREFIX}guidance/{name}"), format!("guidance: {name}"), "text/markdown"));
    }
    resources
}

/// The URI templates of the resources.
pub fn templates() -> Vec<ResourceTemplate> {
    let template = |uri: &str, name: &str, mime: &str, description: &str| {
        ResourceTemplate::new(uri, name).with_mime_type(mime).with_description(description)
    };
    vec![
        template(
            "worksync://projects/{project}/work-index.yaml",
            "work index",
            "application/yaml",
            "A project's work-index.yaml as it is on disk.",
        ),
        template(
            "worksync://projects/{project}/sprints/{sprint_id}",
            "sprint",
            "application/json",
            "One sprint with its stories, each with its rev and claim.",
        ),
        template("worksync://projects/{project}/history", "history", "application/json", "A project's history."),
        template("worksync://guidance/{name}", "guidance", "text/markdown", "A shared guidance document."),
    ]
}

/// The contents of the resource at `uri`.
pub fn read(snapshot: &Snapshot, uri: &str) -> Result<ResourceContents, McpError> {
    let not_found = || McpError::resource_not_found(format!("no resource at {uri}"), Some(json!({ "uri": uri })));
    let path = uri.strip_prefix(PREFIX).ok_or_else(not_found)?;
    let parts: Vec<&str> = path.split('/').collect();
    let text = |body: String, mime: &str| ResourceContents::text(body, uri.to_string()).with_mime_type(mime);
    match parts.as_slice() {
        ["projects", project, "work-index.yaml"] => {
            snapshot.project(project).map_err(|_| not_found())?;
            let path = snapshot.layout.work_index(project).map_err(|_| not_found())?;
            let body = std::fs::read_to_string(path).map_err(|_| not_found())?;
            Ok(text(body, "application/yaml"))
        }
        ["projects", project, "history"] => {
            let history = snapshot.history(project, None, 0).map_err(|_| not_found())?;
            Ok(text(wire::history(&history).to_string(), "application/json"))
        }
        ["projects", project, "sprints", sprint_id] => {
            let (index, sidecar) = snapshot.project(project).map_err(|_| not_found())?;
            let sprint = index.sprint(sprint_id).ok_or_else(not_found)?;
            let now = chrono::Utc::now();
            let view = item_view(index, sidecar, &ItemKey::Sprint(sprint.id.clone()), now).ok_or_else(not_found)?;
            let mut value = wire::item(&view);
            value["stories"] = sprint
                .stories()
                .iter()
                .filter_map(|st| item_view(index, sidecar, &ItemKey::Story(st.id.clone()), now))
                .map(|story| wire::item(&story))
                .collect();
            Ok(text(value.to_string(), "application/json"))
        }
        ["guidance", name] if guidance_names(snapshot).iter().any(|g| g == name) => {
            let body = std::fs::read_to_string(snapshot.layout.guidance_dir().join(format!("{name}.md")))
                .map_err(|_| not_found())?;
            Ok(text(body, "text/markdown"))
        }
        _ => Err(not_found()),
    }
}

fn resource(uri: String, name: String, mime: &str) -> Resource {
    Resource::new(uri, name).with_mime_type(mime)
}

/// Names of the Markdown files in `guidance/` (never a path: only plain file stems).
fn guidance_names(snapshot: &Snapshot) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(snapshot.layout.guidance_dir()) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| {
            let path = e.path();
            (path.extension()? == "md").then(|| path.file_stem()?.to_str().map(str::to_string))?
        })
        .filter(|n| crate::store::validate::id("guidance", n).is_ok())
        .collect();
    names.sort();
    names
}
