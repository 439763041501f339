//! Where things live under the data root (SPEC §3), and how a fresh data root is made.
//!
//! The sample project, default `config.yaml` and guidance are compiled into the binary, so
//! `worksync serve` bootstraps a data root wherever the binary runs, without the repository.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use super::atomic;
use super::error::StoreError;

/// The default `config.yaml` a new data root gets.
static DEFAULT_CONFIG: &str = include_str!("../../config.yaml");
/// The sample projects copied into a new data root's `projects/`.
static EXAMPLE_PROJECTS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/projects.example");
/// The foundational guidance copied into a new data root's `guidance/`.
static GUIDANCE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/guidance");

/// The schema comment the Python tool put at the top of every `work-index.yaml`.
pub const WORK_INDEX_HEADER: &str = "# yaml-language-server: $schema=./SCHEMA/work-flow-schema.json\n\n";

/// Paths inside one data root.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// The layout of the data root at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// The data root itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.yaml`: registry and settings.
    pub fn config(&self) -> PathBuf {
        self.root.join("config.yaml")
    }

    /// `guidance/`: shared guidance documents.
    pub fn guidance_dir(&self) -> PathBuf {
        self.root.join("guidance")
    }

    /// `templates/`: the user's overrides of the vault templates.
    pub fn templates_dir(&self) -> PathBuf {
        self.root.join("templates")
    }

    /// `projects/`.
    pub fn projects_dir(&self) -> PathBuf {
        self.root.join("projects")
    }

    /// `projects/<name>/`.
    pub fn project_dir(&self, name: &str) -> PathBuf {
        self.projects_dir().join(name)
    }

    /// `projects/<name>/work-index.yaml`.
    pub fn work_index(&self, name: &str) -> PathBuf {
        self.project_dir(name).join("work-index.yaml")
    }

    /// `projects/<name>/.worksync/`: machine state.
    pub fn state_dir(&self, name: &str) -> PathBuf {
        self.project_dir(name).join(".worksync")
    }

    /// `trash/`: where unregistered projects' data goes instead of being deleted.
    pub fn trash_dir(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// Does the data root hold anything yet?
    pub fn is_fresh(&self) -> bool {
        match std::fs::read_dir(&self.root) {
            Ok(mut entries) => entries.next().is_none(),
            Err(_) => true,
        }
    }

    /// Creates whatever of the default data root is missing: `config.yaml`, `guidance/` and
    /// the sample project. Never overwrites an existing file. Returns the files created.
    pub fn bootstrap(&self) -> Result<Vec<PathBuf>, StoreError> {
        let mut created = Vec::new();
        atomic::create_dir_durable(&self.root)?;
        write_if_missing(&self.config(), DEFAULT_CONFIG.as_bytes(), &mut created)?;
        copy_dir_if_missing(&GUIDANCE, &self.guidance_dir(), &mut created)?;
        if !self.projects_dir().exists() {
            copy_dir_if_missing(&EXAMPLE_PROJECTS, &self.projects_dir(), &mut created)?;
        }
        Ok(created)
    }

    /// The JSON schema for `work-index.yaml` that a newly registered project gets.
    pub fn default_schema() -> Option<&'static [u8]> {
        EXAMPLE_PROJECTS
            .dirs()
            .find_map(|d| d.get_file(d.path().join("SCHEMA/work-flow-schema.json")))
            .map(|f| f.contents())
    }
}

/// `~/x` → `$HOME/x` (config files written for the Python tool use `~`); anything else as is.
pub fn expand_home(path: &str) -> PathBuf {
    let home = || directories::BaseDirs::new().map(|d| d.home_dir().to_path_buf());
    match path.strip_prefix("~/") {
        Some(rest) => home().map(|h| h.join(rest)).unwrap_or_else(|| PathBuf::from(path)),
        None if path == "~" => home().unwrap_or_else(|| PathBuf::from(path)),
        None => PathBuf::from(path),
    }
}

fn copy_dir_if_missing(dir: &Dir<'_>, target: &Path, created: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    atomic::create_dir_durable(target)?;
    for file in dir.files() {
        let name = file.path().file_name().expect("embedded files have names");
        if name == ".gitkeep" {
            continue;
        }
        write_if_missing(&target.join(name), file.contents(), created)?;
    }
    for sub in dir.dirs() {
        let name = sub.path().file_name().expect("embedded dirs have names");
        copy_dir_if_missing(sub, &target.join(name), created)?;
    }
    Ok(())
}

fn write_if_missing(path: &Path, contents: &[u8], created: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    if !path.exists() {
        atomic::write_atomic(path, contents)?;
        created.push(path.to_path_buf());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bootstrap fills an empty root once and never overwrites a user's file.
    #[test]
    fn bootstrap_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("root"));
        assert!(layout.is_fresh());
        let created = layout.bootstrap().unwrap();
        assert!(created.iter().any(|p| p.ends_with("config.yaml")));
        assert!(layout.guidance_dir().join("rust.md").exists());
        assert!(layout.work_index("orbit-api").exists());
        std::fs::write(layout.config(), "projects: {}\n").unwrap();
        assert!(layout.bootstrap().unwrap().is_empty());
        assert_eq!(std::fs::read_to_string(layout.config()).unwrap(), "projects: {}\n");
        assert!(Layout::default_schema().is_some());
    }
}
