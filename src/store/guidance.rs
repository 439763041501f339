//! Guidance for a project: the shared documents it inherits plus docs from its own repo.
//!
//! The merge is the Python tool's: `guidance.inherit` names files in `<data root>/guidance/`
//! (default: general, ai-collaboration), and `guidance.project` lists documents inside the
//! project's repository. Names and paths come from `config.yaml`, but still never escape
//! their directory.

use std::path::{Component, Path, PathBuf};

use serde_json::{Map, Value, json};

use super::error::StoreError;
use super::layout::expand_home;
use super::snapshot::Snapshot;
use super::validate;

/// One guidance document that applies to a project.
#[derive(Debug, Clone)]
pub struct GuidanceDoc {
    /// Its name (a file stem in `guidance/`, or the `name` of a project doc).
    pub name: String,
    /// Where it comes from: `foundational` or `repo`.
    pub source: &'static str,
    pub path: PathBuf,
}

impl Snapshot {
    /// The guidance documents configured for `project`, existing or not, in merge order.
    pub fn guidance_docs(&self, project: &str) -> Result<Vec<GuidanceDoc>, StoreError> {
        let entry = self.config.project(project).ok_or_else(|| StoreError::ProjectNotFound {
            name: project.to_string(),
            available: self.config.project_names(),
        })?;
        let mut docs = Vec::new();
        for name in entry.inherit() {
            if validate::id("guidance", &name).is_ok() {
                let path = self.layout.guidance_dir().join(format!("{name}.md"));
                docs.push(GuidanceDoc { name, source: "foundational", path });
            }
        }
        let repo = entry.repo.as_deref().map(expand_home);
        for doc in entry.project_docs() {
            let (Some(repo), Some(rel)) = (&repo, doc.path.as_deref()) else { continue };
            if doc.source.as_deref().is_some_and(|s| s != "repo") || !is_inside(Path::new(rel)) {
                continue;
            }
            let name = doc.name.clone().unwrap_or_else(|| "unknown".into());
            docs.push(GuidanceDoc { name, source: "repo", path: repo.join(rel) });
        }
        Ok(docs)
    }

    /// `worksync_guidance`: the documents' texts keyed by name, optionally one topic only.
    pub fn guidance(&self, project: &str, topic: Option<&str>) -> Result<Value, StoreError> {
        let docs = self.guidance_docs(project)?;
        let known: Vec<String> = docs.iter().map(|d| d.name.clone()).collect();
        let mut guidance = Map::new();
        let mut missing = Vec::new();
        for doc in docs.iter().filter(|d| topic.is_none_or(|t| t == d.name)) {
            match std::fs::read_to_string(&doc.path) {
                Ok(text) => {
                    guidance.insert(doc.name.clone(), json!(text));
                }
                Err(_) => missing.push(json!({ "name": doc.name, "path": doc.path.display().to_string() })),
            }
        }
        if guidance.is_empty() {
            let (message, hint) = match topic {
                Some(t) => (
                    format!("No guidance found for topic '{t}'"),
                    format!("Topics configured for this project: {}.", known.join(", ")),
                ),
                None => (
                    "No guidance configured for this project".to_string(),
                    "Add names under guidance.inherit in config.yaml (files in <data root>/guidance/).".to_string(),
                ),
            };
            return Err(StoreError::Unavailable { message, hint });
        }
        let mut out = json!({ "project": project, "guidance": guidance });
        if !missing.is_empty() {
            out["missing"] = Value::Array(missing);
        }
        Ok(out)
    }
}

/// A relative path that stays inside its base directory.
fn is_inside(path: &Path) -> bool {
    path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}
