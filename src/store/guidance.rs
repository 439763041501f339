//! Guidance for a project: the shared documents it inherits plus docs from its own repo.
//!
//! The merge is the Python tool's: `guidance.inherit` names files in `<data root>/guidance/`
//! (default: general, ai-collaboration), and `guidance.project` lists documents inside the
//! project's repository. Names and paths come from `config.yaml`, but still never escape
//! their directory: an inherited name must be a plain name (a file stem in `guidance/`),
//! and a repo doc's path must be relative and stay inside the repository, also after
//! following symlinks. What is refused is skipped, and said (`skipped` in the reply of
//! `worksync_guidance`, a warning in `worksync doctor`).

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
        Ok(self.guidance_plan(project)?.0)
    }

    /// The guidance entries of `project` that are refused, each as `{name, reason}`.
    pub fn skipped_guidance(&self, project: &str) -> Result<Vec<Value>, StoreError> {
        Ok(self.guidance_plan(project)?.1)
    }

    /// The documents to read, and the entries refused with why.
    fn guidance_plan(&self, project: &str) -> Result<(Vec<GuidanceDoc>, Vec<Value>), StoreError> {
        let entry = self.config.project(project).ok_or_else(|| self.unknown_project(project))?;
        let (mut docs, mut skipped) = (Vec::new(), Vec::new());
        for name in entry.inherit() {
            match validate::id("guidance", &name) {
                Ok(()) => {
                    let path = self.layout.guidance_dir().join(format!("{name}.md"));
                    docs.push(GuidanceDoc { name, source: "foundational", path });
                }
                Err(e) => skipped.push(json!({
                    "name": name,
                    "reason": format!("guidance.inherit names a file stem in guidance/, not a path: {e}"),
                })),
            }
        }
        let repo = entry.repo.as_deref().map(expand_home);
        for doc in entry.project_docs() {
            let (Some(repo), Some(rel)) = (&repo, doc.path.as_deref()) else { continue };
            if doc.source.as_deref().is_some_and(|s| s != "repo") {
                continue;
            }
            let name = doc.name.clone().unwrap_or_else(|| "unknown".into());
            match inside(repo, Path::new(rel)) {
                Some(path) => docs.push(GuidanceDoc { name, source: "repo", path }),
                None => skipped.push(json!({
                    "name": name,
                    "reason": format!("its path '{rel}' leaves the repository {}; use a path relative to the repository that stays inside it", repo.display()),
                })),
            }
        }
        Ok((docs, skipped))
    }

    /// `worksync_guidance`: the documents' texts keyed by name, optionally one topic only.
    /// Entries of `config.yaml` refused as paths are listed under `skipped`.
    pub fn guidance(&self, project: &str, topic: Option<&str>) -> Result<Value, StoreError> {
        let (docs, skipped) = self.guidance_plan(project)?;
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
        if !skipped.is_empty() {
            out["skipped"] = Value::Array(skipped);
        }
        Ok(out)
    }
}

/// `base/path`, if `path` is relative without `..` and, where it exists, does not lead
/// out of `base` through a symlink.
fn inside(base: &Path, path: &Path) -> Option<PathBuf> {
    if !path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        return None;
    }
    let joined = base.join(path);
    match (joined.canonicalize(), base.canonicalize()) {
        (Ok(target), Ok(base)) if !target.starts_with(&base) => None,
        _ => Some(joined),
    }
}
