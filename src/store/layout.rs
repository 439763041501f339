//! Where things live under the data root, and how a fresh data root is made.
//!
//! The sample project, default `config.yaml` and guidance are compiled into the binary, so
//! `worksync serve` bootstraps a data root wherever the binary runs, without the repository.

use std::path::{Path, PathBuf};

use include_dir::{Dir, include_dir};

use super::atomic;
use super::error::StoreError;
use super::validate;

/// The default `config.yaml` a new data root gets.
static DEFAULT_CONFIG: &str = include_str!("../../config.yaml");
/// The sample projects copied into a new data root's `projects/`.
static EXAMPLE_PROJECTS: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/projects.example");
/// The foundational guidance copied into a new data root's `guidance/`.
static GUIDANCE: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/guidance");

/// Machine state of the data root itself (the lock), hidden like each project's.
const MACHINE_DIR: &str = ".worksync";

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

    /// `projects/<name>/`, for a name that is one plain directory name
    /// ([`validate::directory_name`]). No other name gets a path, whatever file or
    /// request it came from, so no project name can point outside `projects/`.
    pub fn project_dir(&self, name: &str) -> Result<PathBuf, StoreError> {
        validate::directory_name("project", name)?;
        Ok(self.projects_dir().join(name))
    }

    /// `projects/<name>/work-index.yaml` (for names as [`Layout::project_dir`] takes them).
    pub fn work_index(&self, name: &str) -> Result<PathBuf, StoreError> {
        Ok(self.project_dir(name)?.join("work-index.yaml"))
    }

    /// `projects/<name>/.worksync/`: machine state.
    pub fn state_dir(&self, name: &str) -> Result<PathBuf, StoreError> {
        Ok(self.project_dir(name)?.join(".worksync"))
    }

    /// `.worksync/lock`: held by the one process that writes this data root (see
    /// [`super::lock`]).
    pub fn lock_file(&self) -> PathBuf {
        self.root.join(MACHINE_DIR).join("lock")
    }

    /// `.worksync/git/`: the bare repositories of shared projects, with their sync status
    /// and conflict logs (see `share::repo`).
    pub fn share_dir(&self) -> PathBuf {
        self.root.join(MACHINE_DIR).join("git")
    }

    /// `trash/`: where unregistered projects' data goes instead of being deleted.
    pub fn trash_dir(&self) -> PathBuf {
        self.root.join("trash")
    }

    /// Does the data root hold anything yet? Its own `.worksync/` (the lock, taken before
    /// the root is created) does not count.
    pub fn is_fresh(&self) -> bool {
        match std::fs::read_dir(&self.root) {
            Ok(mut entries) => entries.all(|e| e.is_ok_and(|e| e.file_name() == MACHINE_DIR)),
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

    /// Would [`Layout::bootstrap`] create anything? (`init` takes the data root's lock only
    /// then, so that it runs beside a server when it has nothing to add.)
    pub fn needs_bootstrap(&self) -> bool {
        !self.config().exists() || !self.projects_dir().exists() || any_missing(&GUIDANCE, &self.guidance_dir())
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

fn any_missing(dir: &Dir<'_>, target: &Path) -> bool {
    let file_missing = dir.files().any(|file| {
        let name = file.path().file_name().expect("embedded files have names");
        name != ".gitkeep" && !target.join(name).exists()
    });
    file_missing
        || dir
            .dirs()
            .any(|sub| any_missing(sub, &target.join(sub.path().file_name().expect("embedded dirs have names"))))
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
        assert!(layout.is_fresh() && layout.needs_bootstrap());
        let created = layout.bootstrap().unwrap();
        assert!(!layout.needs_bootstrap());
        assert!(created.iter().any(|p| p.ends_with("config.yaml")));
        assert!(layout.guidance_dir().join("rust.md").exists());
        assert!(layout.work_index("orbit-api").unwrap().exists());
        std::fs::write(layout.config(), "projects: {}\n").unwrap();
        assert!(layout.bootstrap().unwrap().is_empty());
        assert_eq!(std::fs::read_to_string(layout.config()).unwrap(), "projects: {}\n");
        assert!(Layout::default_schema().is_some());
        std::fs::remove_file(layout.guidance_dir().join("rust.md")).unwrap();
        assert!(layout.needs_bootstrap());
    }

    /// A root that holds only its own lock (left by a server that could not start) is still
    /// fresh, so the next start bootstraps it.
    #[test]
    fn lock_alone_is_fresh() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        drop(super::super::lock::RootLock::acquire(&layout, super::super::lock::Role::Serve).unwrap());
        assert!(layout.lock_file().exists());
        assert!(layout.is_fresh());
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        assert!(!layout.is_fresh());
    }

    /// A name that is not one plain directory name gets no path at all.
    #[test]
    fn no_path_for_a_name_that_leaves_projects() {
        let layout = Layout::new("/data");
        assert_eq!(layout.work_index("My App").unwrap(), Path::new("/data/projects/My App/work-index.yaml"));
        for bad in ["/abs/dir", "../../x", "a/../../b", "..", ".worksync", ""] {
            assert!(layout.project_dir(bad).is_err(), "{bad:?}");
            assert!(layout.work_index(bad).is_err() && layout.state_dir(bad).is_err(), "{bad:?}");
        }
    }
}
