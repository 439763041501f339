//! `worksync git-setup`: registers the merge driver ([`super::driver`]) in a person's clone
//! of a shared plan repository, so their pulls merge the plan item by item.
//!
//! Everything it writes is local to the clone and never committed: the driver in the
//! clone's own config (`merge.worksync.*`, pointing at this binary by its absolute path),
//! and which files use it in `.git/info/attributes`, which outranks any `.gitattributes`.
//! Running it again changes nothing ("already set up"), or only what moved (e.g. the
//! binary). It refuses what the driver could not serve: a directory outside a work tree, a
//! shallow clone (git cannot find the common version a merge starts from) and a plan
//! format this worksync does not know.

use std::path::{Path, PathBuf};

use super::format::{self, FormatProblem};
use super::git::{GitError, WorkTree};
use crate::store::atomic;
use crate::store::history_archive::ARCHIVE;

/// The driver's name in git's config and in the attributes.
const DRIVER: &str = "worksync";

/// What git shows as the driver's name.
const DRIVER_NAME: &str = "worksync: merges the shared plan item by item";

/// The attribute lines that route the plan's files to the driver.
const ATTRIBUTES: [&str; 2] = ["work-index.yaml merge=worksync", "COMPLETE/history.yaml merge=worksync"];

/// Why a clone could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The directory is not in a git work tree.
    #[error(
        "{dir} is not in a git clone ({why}). Run `worksync git-setup DIR` with DIR a clone of the plan \
         repository (`git clone URL DIR` makes one)"
    )]
    NotAWorkTree { dir: PathBuf, why: String },
    /// A bare repository (the server's own, or a remote) has no work tree to merge in.
    #[error(
        "{dir} is a bare repository: nobody merges in it. Run `worksync git-setup` in a clone people edit \
         (`git clone {dir} DIR`, then `worksync git-setup DIR`)"
    )]
    Bare { dir: PathBuf },
    /// A shallow clone lacks the history a merge needs.
    #[error(
        "{top} is a shallow clone: git cannot find the common version a merge starts from. Run `git -C {top} \
         fetch --unshallow`, then `worksync git-setup` again"
    )]
    Shallow { top: PathBuf },
    /// The plan format is unknown (or its file unreadable).
    #[error("{0}")]
    Format(#[from] FormatProblem),
    /// This binary's path cannot be written into git's config.
    #[error("this worksync runs from {path}, a path {why}; install it elsewhere and run `worksync git-setup` again")]
    Executable { path: PathBuf, why: &'static str },
    /// A git call failed.
    #[error("{0}")]
    Git(#[from] GitError),
    /// The attributes file could not be written.
    #[error("could not write {path}: {why}")]
    Write { path: PathBuf, why: String },
    /// After writing, git still does not route a file to the driver.
    #[error(
        "git still merges {file} with `{found}` although {attributes} says `merge=worksync`: a later line there \
         overrides it; remove that line and run `worksync git-setup` again"
    )]
    Overridden { file: String, found: String, attributes: PathBuf },
}

/// What a setup did, for the person to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The clone's top.
    pub top: PathBuf,
    /// One line per change; empty when everything was already set up.
    pub changes: Vec<String>,
    /// What looks wrong but did not stop the setup.
    pub warnings: Vec<String>,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        if self.changes.is_empty() {
            return writeln!(
                f,
                "{} is already set up: git merges the plan with worksync; nothing changed.",
                self.top.display()
            );
        }
        writeln!(f, "Set up {} to merge the shared plan with worksync:", self.top.display())?;
        for change in &self.changes {
            writeln!(f, "  {change}")?;
        }
        writeln!(
            f,
            "From now on `git pull` merges work-index.yaml item by item and {ARCHIVE} as a union; each \
             disagreement it resolves is printed and kept in .git/{}.",
            super::driver::CONFLICT_LOG
        )
    }
}

/// Sets up the clone holding `dir` to merge with the binary at `exe`.
pub fn git_setup(dir: &Path, exe: &Path) -> Result<Report, SetupError> {
    if !dir.is_dir() {
        let why = if dir.exists() { "not a directory" } else { "no such directory" };
        return Err(SetupError::NotAWorkTree { dir: dir.to_path_buf(), why: why.into() });
    }
    let git = WorkTree::new(dir);
    let top = work_tree_top(&git, dir)?;
    format::check_work_tree(&top)?;
    let exe = match exe.to_str() {
        // git would read `%O`, `%A`… in the path as its placeholders.
        Some(text) if text.contains('%') => {
            return Err(SetupError::Executable { path: exe.to_path_buf(), why: "with a '%' in it" });
        }
        Some(text) => text,
        None => return Err(SetupError::Executable { path: exe.to_path_buf(), why: "that is not UTF-8" }),
    };
    let mut changes = Vec::new();
    let command = format!("{} merge-driver %O %A %B %P", shell_quote(exe));
    for (key, value) in [("name", DRIVER_NAME), ("driver", command.as_str())] {
        let key = format!("merge.{DRIVER}.{key}");
        let current = config_value(&git, &key)?;
        if current.as_deref() == Some(value) {
            continue;
        }
        git.run(&["config", "--local", &key, value])?;
        changes.push(match current {
            Some(old) => format!("set `{key}` to `{value}` in .git/config (was `{old}`)"),
            None => format!("set `{key}` to `{value}` in .git/config"),
        });
    }
    let attributes =
        PathBuf::from(git.text(&["rev-parse", "--path-format=absolute", "--git-path", "info/attributes"])?);
    changes.extend(add_attributes(&attributes)?);
    verify_attributes(&git, &attributes)?;
    let mut warnings = Vec::new();
    if !top.join("work-index.yaml").exists() {
        warnings.push(format!(
            "{} has no work-index.yaml at its top: is it the plan repository? (set up anyway; it changes nothing \
             for other files)",
            top.display()
        ));
    }
    Ok(Report { top, changes, warnings })
}

/// The top of the work tree holding `dir`, refusing bare repositories, a `.git` directory
/// and shallow clones.
fn work_tree_top(git: &WorkTree, dir: &Path) -> Result<PathBuf, SetupError> {
    let answer = git
        .text(&["rev-parse", "--is-bare-repository", "--is-inside-work-tree", "--is-shallow-repository"])
        .map_err(|e| SetupError::NotAWorkTree { dir: dir.to_path_buf(), why: git_says(&e) })?;
    let flags: Vec<&str> = answer.lines().collect();
    match flags.as_slice() {
        ["true", ..] => return Err(SetupError::Bare { dir: dir.to_path_buf() }),
        [_, "true", _] => {}
        _ => {
            let why = "inside a git directory, not its work tree".to_string();
            return Err(SetupError::NotAWorkTree { dir: dir.to_path_buf(), why });
        }
    }
    let top = PathBuf::from(git.text(&["rev-parse", "--show-toplevel"])?);
    if flags[2] == "true" {
        return Err(SetupError::Shallow { top });
    }
    Ok(top)
}

/// git's own words for a failed call.
fn git_says(error: &GitError) -> String {
    match error {
        GitError::Failed { stderr, .. } => {
            stderr.lines().last().unwrap_or_default().trim_start_matches("fatal: ").to_string()
        }
        other => other.to_string(),
    }
}

/// The clone's own value of `key`, if set.
fn config_value(git: &WorkTree, key: &str) -> Result<Option<String>, SetupError> {
    match git.text(&["config", "--local", "--get", key]) {
        Ok(value) => Ok(Some(value)),
        // Exit 1: the key is not set.
        Err(GitError::Failed { status: Some(1), .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Appends the attribute lines the file lacks; returns what it did.
fn add_attributes(path: &Path) -> Result<Vec<String>, SetupError> {
    let write_error = |why: String| SetupError::Write { path: path.to_path_buf(), why };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(write_error(e.to_string())),
    };
    let missing: Vec<&str> =
        ATTRIBUTES.iter().copied().filter(|line| !text.lines().any(|have| have.trim() == *line)).collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let mut new = text.clone();
    if !new.is_empty() && !new.ends_with('\n') {
        new.push('\n');
    }
    for line in &missing {
        new.push_str(line);
        new.push('\n');
    }
    if let Some(dir) = path.parent() {
        atomic::create_dir_durable(dir).map_err(|e| write_error(e.to_string()))?;
    }
    atomic::write_atomic(path, new.as_bytes()).map_err(|e| write_error(e.to_string()))?;
    Ok(missing.iter().map(|line| format!("added `{line}` to .git/info/attributes")).collect())
}

/// Asks git which merge each plan file now gets, so a line elsewhere that overrides ours is
/// found now rather than at the next pull.
fn verify_attributes(git: &WorkTree, attributes: &Path) -> Result<(), SetupError> {
    for line in ATTRIBUTES {
        let file = line.split(' ').next().unwrap_or_default();
        let answer = git.text(&["check-attr", "merge", "--", file])?;
        // `<file>: merge: <value>`
        let found = answer.rsplit(": ").next().unwrap_or_default();
        if found != DRIVER {
            return Err(SetupError::Overridden {
                file: file.to_string(),
                found: found.to_string(),
                attributes: attributes.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// `text` as one word for the POSIX shell git runs the driver with.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:@,=".contains(&b));
    if plain { text.to_string() } else { format!("'{}'", text.replace('\'', r"'\''")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paths with spaces or quotes become one shell word; plain ones stay as they are.
    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/usr/local/bin/worksync"), "/usr/local/bin/worksync");
        assert_eq!(shell_quote("/Users/a b/bin/worksync"), "'/Users/a b/bin/worksync'");
        assert_eq!(shell_quote("/tmp/it's/worksync"), r"'/tmp/it'\''s/worksync'");
        assert_eq!(shell_quote("/tmp/$HOME`x`"), "'/tmp/$HOME`x`'");
    }
}
