//! Registering and unregistering projects: the writer's commands that change `config.yaml`
//! and create or retire a project's directory.

use std::path::Path;
use std::sync::Arc;

use super::{Registration, Writer};
use crate::store::atomic;
use crate::store::error::StoreError;
use crate::store::layout::{Layout, WORK_INDEX_HEADER, expand_home};
use crate::store::model::{HistoryEntry, WorkIndex};
use crate::store::ops::{Change, to_json};
use crate::store::outcome::{Registered, Unregistered};
use crate::store::registry::{GuidanceConfig, ProjectEntry};
use crate::store::validate;
use crate::store::yaml::Document;

impl Writer {
    /// `worksync_register_project`: directories, schema, an empty work index (an existing
    /// one is kept), then the config entry.
    pub(super) fn register(&mut self, request: Registration, change: &Change) -> Result<Registered, StoreError> {
        validate::project_name(&request.name)?;
        validate::line("repo", &request.repo)?;
        validate::line("description", &request.description)?;
        self.refresh_config();
        if let Some(problem) = &self.config_problem {
            return Err(problem.to_error());
        }
        let name = request.name;
        if self.config.value().project(&name).is_some() {
            return Err(StoreError::Duplicate {
                message: format!("Project '{name}' already registered"),
                hint: "Pick another name, or call worksync_projects to see its entry.".into(),
                suggestion: None,
            });
        }
        let repo_path = expand_home(&request.repo);
        // A repository may be cloned after it is registered, so a missing one is accepted,
        // but said: a typo here would otherwise only show as guidance that never appears.
        let warning = (!repo_path.is_dir()).then(|| {
            let state = if repo_path.exists() { "is not a directory" } else { "does not exist (yet)" };
            let detection = if request.languages.is_none() {
                " Its languages could not be detected: pass languages to choose the guidance it inherits."
            } else {
                ""
            };
            format!(
                "The repo path {} {state}; the project is registered anyway.{detection} Fix the path in config.yaml if it is a typo.",
                repo_path.display()
            )
        });
        let languages = request.languages.clone().unwrap_or_else(|| detect_languages(&repo_path));
        let inherit = inherit_for(&languages);

        let project_dir = self.layout.project_dir(&name)?;
        let mut created_dirs = Vec::new();
        for dir in [project_dir.clone()]
            .into_iter()
            .chain(["BACKLOG", "COMPLETE", "PROMPTS", "SCHEMA"].iter().map(|d| project_dir.join(d)))
        {
            atomic::create_dir_durable(&dir)?;
            created_dirs.push(dir.clone());
        }
        let schema = project_dir.join("SCHEMA/work-flow-schema.json");
        if let (false, Some(contents)) = (schema.exists(), Layout::default_schema()) {
            atomic::write_atomic(&schema, contents)?;
        }
        let work_index = self.layout.work_index(&name)?;
        let kept_existing = work_index.exists();
        if !kept_existing {
            let mut doc = Document::<WorkIndex>::new_file(&work_index, WORK_INDEX_HEADER);
            let fresh = WorkIndex {
                sprints: Some(Vec::new()),
                backlog: Some(Vec::new()),
                history: Some(vec![Arc::new(HistoryEntry {
                    date: Some(change.today()),
                    summary: Some(format!("Registered {name} in WorkSync.")),
                    ..Default::default()
                })]),
                ..Default::default()
            };
            doc.replace(fresh)?;
        }

        let entry = ProjectEntry {
            repo: Some(request.repo.clone()),
            description: Some(request.description.clone()),
            guidance: Some(GuidanceConfig { inherit: Some(inherit.clone()), ..Default::default() }),
            ..Default::default()
        };
        let mut config = self.config.value().as_ref().clone();
        config.projects.get_or_insert_with(Default::default).insert(name.clone(), entry);
        self.config.replace(config)?;
        self.config_seen = self.config.stamp();
        self.sync_projects();
        tracing::info!(project = %name, agent = %change.agent, "registered project");

        Ok(Registered {
            name,
            repo: repo_path,
            description: request.description,
            languages,
            inherit,
            created_dirs,
            work_index,
            kept_existing,
            warning,
            agent: change.agent.clone(),
        })
    }

    /// `worksync_unregister_project`: the config entry goes; with `delete_data` the project
    /// directory moves to the trash.
    pub(super) fn unregister(
        &mut self,
        name: &str,
        delete_data: bool,
        change: &Change,
    ) -> Result<Unregistered, StoreError> {
        // Names registered before (by hand, or by the Python tool) need not be kebab-case;
        // they only have to be a directory name this can act on.
        validate::directory_name("name", name)?;
        self.refresh_config();
        if let Some(problem) = &self.config_problem {
            return Err(problem.to_error());
        }
        let project_dir = self.layout.project_dir(name)?;
        let in_config = self.config.value().project(name).is_some();
        let on_disk = project_dir.exists();
        if !in_config && !on_disk {
            return Err(StoreError::ProjectNotFound {
                name: name.to_string(),
                available: self.config.value().project_names(),
            });
        }
        let mut removed_entry = None;
        if in_config {
            let mut config = self.config.value().as_ref().clone();
            let removed = config.projects.as_mut().and_then(|p| p.shift_remove(name));
            self.config.replace(config)?;
            self.config_seen = self.config.stamp();
            removed_entry = removed.as_ref().map(to_json);
        }
        let mut moved = None;
        if delete_data && on_disk {
            // Deleting a team's plans on one call is too easy to regret: the data moves to
            // the trash under the data root, from where a person can restore or delete it.
            let stamp = change.now.format("%Y%m%dT%H%M%SZ");
            let target = self.layout.trash_dir().join(format!("{name}-{stamp}"));
            atomic::create_dir_durable(&self.layout.trash_dir())?;
            std::fs::rename(&project_dir, &target).map_err(|e| StoreError::io("move to the trash", &project_dir, e))?;
            moved = Some((project_dir, target));
        }
        self.sync_projects();
        tracing::info!(project = %name, delete_data, agent = %change.agent, "unregistered project");
        Ok(Unregistered { name: name.to_string(), removed_entry, moved, agent: change.agent.clone() })
    }
}

/// Languages of a repository, from the marker files of their build tools.
fn detect_languages(repo: &Path) -> Vec<String> {
    let markers: [(&[&str], &str); 4] = [
        (&["go.mod"], "golang"),
        (&["package.json"], "typescript"),
        (&["pyproject.toml", "setup.py"], "python"),
        (&["Cargo.toml"], "rust"),
    ];
    markers
        .iter()
        .filter(|(files, _)| files.iter().any(|f| repo.join(f).exists()))
        .map(|(_, lang)| lang.to_string())
        .collect()
}

/// The guidance a new project inherits: general, its languages, then ai-collaboration.
fn inherit_for(languages: &[String]) -> Vec<String> {
    let mut inherit = vec!["general".to_string()];
    inherit.extend(languages.iter().filter(|l| validate::id("languages", l).is_ok()).cloned());
    inherit.push("ai-collaboration".to_string());
    inherit
}
