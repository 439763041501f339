//! The vault's boundary: which paths the generator may ever write or delete.
//!
//! Neither the manifest nor the folders of the vault can be trusted: the manifest is a file
//! anyone can edit, and a person can turn any folder of the vault into a symlink. So a path
//! is acted on only if it is a plain relative note path ([`check`], applied when the
//! manifest and the intent log are read and again before acting), and only if the folder it
//! lands in, symlinks resolved, lies inside the vault ([`Boundary::allows`]). The vault
//! itself may be a symlink; a symlink inside it is followed as long as it stays inside. A
//! folder that leads out of the vault is neither written to nor cleaned up, and each run
//! says so until it is fixed.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

/// Why `path` is not a note path the generator may act on, if it is not: it must be
/// relative, `/`-separated, without empty, `.` or `..` components, without hidden
/// components (`.obsidian/`, `.worksync/`, `.git/` …), backslashes, drive letters or
/// control characters, and name a `.md` file: the only paths the generator itself makes.
pub(crate) fn check(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("is empty");
    }
    if path.starts_with('/') {
        return Err("is absolute");
    }
    if path.contains('\\') {
        return Err("contains a backslash");
    }
    if path.contains(':') {
        return Err("contains ':' (a drive letter or a stream name)");
    }
    if path.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    for component in path.split('/') {
        match component {
            "" => return Err("has an empty component (`//` or a trailing `/`)"),
            "." => return Err("has a `.` component"),
            ".." => return Err("climbs out with `..`"),
            hidden if hidden.starts_with('.') => {
                return Err("enters a hidden file or folder (such as .obsidian/ or .worksync/)");
            }
            _ => {}
        }
    }
    if !path.ends_with(".md") && !path.ends_with(".base") {
        return Err("is not a note (`.md`) or a Bases file (`.base`)");
    }
    Ok(())
}

/// Which folders of one vault notes may be written to and deleted from, remembered per run.
pub(crate) struct Boundary {
    vault: PathBuf,
    /// The vault with symlinks resolved, once known.
    real: Option<PathBuf>,
    /// Folders looked at this run: `Ok` inside the vault, or the symlink that leads out.
    folders: HashMap<PathBuf, Result<(), String>>,
    /// Per symlink that leads out of the vault: where to, and how many notes it held back.
    refused: BTreeMap<String, (PathBuf, usize)>,
}

impl Boundary {
    /// The boundary of the vault at `vault`.
    pub(crate) fn new(vault: &Path) -> Boundary {
        Boundary { vault: vault.to_path_buf(), real: None, folders: HashMap::new(), refused: BTreeMap::new() }
    }

    /// Forgets what it saw: a person may have replaced a folder with a symlink since.
    pub(crate) fn reset(&mut self) {
        self.real = std::fs::canonicalize(&self.vault).ok();
        self.folders.clear();
        self.refused.clear();
    }

    /// May a note in `folder` (a folder inside the vault, by its vault path) be written or
    /// deleted? No if the folder, symlinks resolved, is outside the vault; then the note is
    /// counted for the report.
    pub(crate) fn allows(&mut self, folder: &Path) -> bool {
        match self.verdict(folder) {
            Ok(()) => true,
            Err(link) => {
                if let Some((_, notes)) = self.refused.get_mut(&link) {
                    *notes += 1;
                }
                false
            }
        }
    }

    /// Is `folder`, symlinks resolved, inside the vault? (For files other than notes, such as
    /// the temp files a killed run left.)
    pub(crate) fn is_inside(&mut self, folder: &Path) -> bool {
        self.verdict(folder).is_ok()
    }

    fn verdict(&mut self, folder: &Path) -> Result<(), String> {
        if let Some(verdict) = self.folders.get(folder) {
            return verdict.clone();
        }
        let verdict = self.judge(folder);
        self.folders.insert(folder.to_path_buf(), verdict.clone());
        verdict
    }

    /// One line per symlink that held notes back this run, saying what to do about it.
    pub(crate) fn problems(&self) -> Vec<String> {
        self.refused
            .iter()
            .map(|(link, (target, notes))| {
                format!(
                    "{link}: leads to {}, outside the vault, so worksync neither writes nor deletes notes there ({notes} \
                     held back); replace the symlink with a real folder, or point vault_path in config.yaml at a \
                     folder that holds everything",
                    target.display()
                )
            })
            .collect()
    }

    /// `Ok` if `folder` resolves inside the vault, else the vault path of the symlink that
    /// leads out (recorded in `refused`).
    fn judge(&mut self, folder: &Path) -> Result<(), String> {
        let real = self.real.clone().unwrap_or_else(|| self.vault.clone());
        // The deepest part of the folder that exists decides: what is created below it is
        // a real folder inside it.
        let mut existing = folder;
        while std::fs::symlink_metadata(existing).is_err() {
            match existing.parent() {
                Some(parent) if parent.starts_with(&self.vault) => existing = parent,
                _ => break,
            }
        }
        match std::fs::canonicalize(existing) {
            Ok(resolved) if resolved.starts_with(&real) => Ok(()),
            resolved => {
                let link = self.outward_link(folder, &real).unwrap_or_else(|| existing.to_path_buf());
                let target = resolved.unwrap_or_else(|_| std::fs::read_link(&link).unwrap_or_default());
                Err(self.refuse(link, target))
            }
        }
    }

    /// The first symlink on the way from the vault to `folder` that resolves outside it.
    fn outward_link(&self, folder: &Path, real: &Path) -> Option<PathBuf> {
        let relative = folder.strip_prefix(&self.vault).ok()?;
        let mut path = self.vault.clone();
        for component in relative.components() {
            let Component::Normal(name) = component else { return None };
            path.push(name);
            let is_link = std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink());
            if is_link && !std::fs::canonicalize(&path).is_ok_and(|r| r.starts_with(real)) {
                return Some(path);
            }
        }
        None
    }

    fn refuse(&mut self, link: PathBuf, target: PathBuf) -> String {
        let name =
            link.strip_prefix(&self.vault).map_or_else(|_| link.display().to_string(), |r| r.display().to_string());
        let name = if name.is_empty() { self.vault.display().to_string() } else { name };
        self.refused.entry(name.clone()).or_insert((target, 0));
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_note_paths_pass() {
        for good in ["Global Dashboard.md", "projects/orbit-api/Stories/STORY-1.md", "projects/x.md/Dashboard.md"] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "/etc/x.md",
            "../outside.md",
            "projects/../../outside.md",
            "projects/./x.md",
            "projects//x.md",
            "projects/x/",
            ".obsidian/workspace.md",
            "projects/.worksync/x.md",
            "..\\outside.md",
            "C:/x.md",
            "C:x.md",
            "projects/x\n.md",
            "projects/x\0.md",
            "projects/orbit-api/work-index.yaml",
        ] {
            assert!(check(bad).is_err(), "{bad:?} passed");
        }
    }

    #[test]
    fn a_symlink_is_followed_only_while_it_stays_inside() {
        let dir = tempfile::tempdir().unwrap();
        let vault = dir.path().join("vault");
        let outside = dir.path().join("elsewhere");
        std::fs::create_dir_all(vault.join("projects/a")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, vault.join("out")).unwrap();
        std::os::unix::fs::symlink(vault.join("projects/a"), vault.join("inside")).unwrap();
        let mut boundary = Boundary::new(&vault);
        boundary.reset();
        assert!(boundary.allows(&vault.join("projects/a/Stories")), "a folder yet to be made, inside");
        assert!(boundary.allows(&vault.join("inside/Stories")), "a symlink that stays inside");
        assert!(!boundary.allows(&vault.join("out/Stories")));
        assert!(!boundary.allows(&vault.join("out")));
        let problems = boundary.problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("out: leads to") && problems[0].contains("(2 held back)"), "{problems:?}");
    }
}
