//! `worksync merge-driver`: git's merge driver for a shared plan, so that a pull in a
//! person's clone merges `work-index.yaml` item by item instead of line by line.
//!
//! Once `worksync git-setup` has registered it, git runs it at the clone's top with the
//! common version (%O), ours (%A), theirs (%B) and the file's path in the repository (%P).
//! `work-index.yaml` goes through the merge engine ([`crate::store::merge::merge`]), the
//! history archive through its union ([`crate::store::merge::merge_archive`]). The driver
//! speaks to git in exit codes: 0 merged (%A holds the result, written by a rename so it is
//! never half-written), 1 not merged (%A untouched, the reason on stderr: git then reports a
//! conflict and a person decides), 2 bad invocation. Every disagreement the engine resolved
//! is a line on stderr, which git shows to the person pulling, and a line in
//! `.git/worksync-conflicts.log`, where the losing value can still be found later.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::format::{self, FORMAT_FILE};
use super::git::{GitError, WorkTree};
use crate::store::atomic;
use crate::store::history_archive::ARCHIVE;
use crate::store::merge::{self, Conflict};

/// The log of resolved disagreements, in the clone's git directory.
pub const CONFLICT_LOG: &str = "worksync-conflicts.log";

/// How many characters of a value a stderr line shows (the log keeps it whole).
const SHOWN_CHARS: usize = 120;

/// What git passes to the driver.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// %O: the common ancestor's version.
    pub ancestor: PathBuf,
    /// %A: our version, which the driver replaces with the result.
    pub ours: PathBuf,
    /// %B: their version.
    pub theirs: PathBuf,
    /// %P: the file's path in the repository.
    pub path: String,
}

/// How the driver ended, as git reads its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: %A holds the merge.
    Merged,
    /// 1: not merged; git shows a conflict.
    NotMerged,
    /// 2: the driver was called wrongly.
    BadInvocation,
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Merged => 0,
            Exit::NotMerged => 1,
            Exit::BadInvocation => 2,
        }
    }
}

/// Why a merge was not made, and what the person pulling should do about it.
enum Failure {
    Invocation(String),
    NotMerged { why: String, next: Next },
}

/// What to do after a failed merge.
enum Next {
    /// Resolve the file by hand.
    Resolve,
    /// Update worksync first: this one must not merge the file at all.
    Update,
}

impl Failure {
    fn resolve(why: impl Into<String>) -> Failure {
        Failure::NotMerged { why: why.into(), next: Next::Resolve }
    }
}

/// The files the driver merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    WorkIndex,
    Archive,
}

impl Kind {
    /// By the path in the repository: any `work-index.yaml`, and `COMPLETE/history.yaml`.
    fn of(path: &str) -> Option<Kind> {
        let path = Path::new(path);
        if path.file_name().is_some_and(|name| name == "work-index.yaml") {
            Some(Kind::WorkIndex)
        } else if path.ends_with(ARCHIVE) {
            Some(Kind::Archive)
        } else {
            None
        }
    }
}

/// Runs the driver from `cwd` (where git starts it: the clone's top), reporting on stderr.
pub fn run(call: &Invocation, cwd: &Path) -> Exit {
    match merge_file(call, cwd) {
        Ok(()) => Exit::Merged,
        Err(Failure::Invocation(why)) => {
            eprintln!("worksync merge-driver: {why}");
            Exit::BadInvocation
        }
        Err(Failure::NotMerged { why, next }) => {
            let path = &call.path;
            eprintln!("worksync: {path} was not merged: {why}");
            match next {
                Next::Resolve => eprintln!(
                    "worksync: git reports a conflict and leaves your version in {path}; the others are \
                     `git show :1:{path}` (common) and `git show :3:{path}` (theirs). Fix the file, `git add {path}`, \
                     then finish with `git commit` (or `git rebase --continue`)."
                ),
                Next::Update => eprintln!(
                    "worksync: undo this merge (`git merge --abort`, or `git rebase --abort`), update worksync, \
                     then pull again."
                ),
            }
            Exit::NotMerged
        }
    }
}

fn merge_file(call: &Invocation, cwd: &Path) -> Result<(), Failure> {
    let kind = Kind::of(&call.path).ok_or_else(|| {
        Failure::resolve(format!(
            "worksync merges only work-index.yaml and {ARCHIVE}; a `merge=worksync` line of .git/info/attributes or \
             .gitattributes names this file too"
        ))
    })?;
    let read = |file: &Path, side: &str| -> Result<String, Failure> {
        let bytes = std::fs::read(file).map_err(|e| {
            Failure::Invocation(format!(
                "cannot read the {side} version {} ({e}); git runs this as `worksync merge-driver %O %A %B %P`",
                file.display()
            ))
        })?;
        String::from_utf8(bytes).map_err(|_| Failure::resolve(format!("the {side} version is not UTF-8 text")))
    };
    let (base, ours, theirs) =
        (read(&call.ancestor, "common")?, read(&call.ours, "our")?, read(&call.theirs, "their")?);
    let repo = Repository::find(cwd)?;
    repo.check_format()?;
    let shown = Path::new(&call.path);
    let merged = match kind {
        Kind::WorkIndex => merge::merge(shown, &base, &ours, &theirs).map(|m| (m.text, m.conflicts)),
        Kind::Archive => merge::merge_archive(shown, &base, &ours, &theirs).map(|m| (m.text, m.conflicts)),
    };
    let (text, conflicts) = merged.map_err(|e| Failure::resolve(e.to_string()))?;
    atomic::write_atomic(&call.ours, text.as_bytes())
        .map_err(|e| Failure::resolve(format!("the merged file could not be written: {e}")))?;
    repo.report(&call.path, &conflicts);
    Ok(())
}

/// The clone git runs the driver in.
struct Repository {
    top: PathBuf,
    /// The git directory shared by the clone's work trees (`.git`).
    git_dir: PathBuf,
    git: WorkTree,
}

impl Repository {
    fn find(cwd: &Path) -> Result<Repository, Failure> {
        let git = WorkTree::new(cwd);
        let not_a_clone = |why: String| {
            Failure::Invocation(format!(
                "{} is not in a git clone ({why}); git runs the merge driver at the top of a clone set up with \
                 `worksync git-setup`",
                cwd.display()
            ))
        };
        let out = git
            .text(&["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-common-dir"])
            .map_err(|e| not_a_clone(e.to_string()))?;
        let mut lines = out.lines();
        let (Some(top), Some(git_dir)) = (lines.next(), lines.next()) else {
            return Err(not_a_clone(format!("git rev-parse answered {out:?}")));
        };
        Ok(Repository { top: PathBuf::from(top), git_dir: PathBuf::from(git_dir), git })
    }

    /// Refuses a plan format this worksync does not know: the work tree's (ours in a merge,
    /// the upstream in a rebase) and that of each commit being merged in, which git names in
    /// a `GITHEAD_<id>` variable of the driver's environment. Its work tree file is not
    /// written yet while git merges.
    fn check_format(&self) -> Result<(), Failure> {
        let update = |why: String| Failure::NotMerged { why, next: Next::Update };
        format::check_work_tree(&self.top).map_err(|e| update(e.to_string()))?;
        for commit in merging_commits() {
            match self.git.run(&["cat-file", "blob", &format!("{commit}:{FORMAT_FILE}")]) {
                Ok(bytes) => {
                    let place = format!("in commit {}", &commit[..12]);
                    format::check(&bytes, &place).map_err(|e| update(e.to_string()))?;
                }
                // The commit has no version file: format 1.
                Err(GitError::Failed { .. }) => {}
                Err(e) => {
                    return Err(Failure::resolve(format!("could not read {FORMAT_FILE} of commit {commit}: {e}")));
                }
            }
        }
        Ok(())
    }

    /// Tells the person pulling about every resolved disagreement, and appends them to the
    /// conflict log; if the log cannot be written, stderr shows the values whole.
    fn report(&self, path: &str, conflicts: &[Conflict]) {
        if conflicts.is_empty() {
            return;
        }
        let log = self.git_dir.join(CONFLICT_LOG);
        let shown_log = match log.strip_prefix(&self.top) {
            Ok(relative) => relative.display().to_string(),
            Err(_) => log.display().to_string(),
        };
        let logged = append_log(&log, path, conflicts);
        let (width, whole) = match &logged {
            Ok(()) => (SHOWN_CHARS, format!(" (whole values in {shown_log})")),
            Err(_) => (usize::MAX, String::new()),
        };
        for conflict in conflicts {
            eprintln!("worksync: {path}: {}{whole}", conflict.describe(width));
        }
        if let Err(e) = logged {
            eprintln!("worksync: could not append these to {}: {e}; the values above are complete", log.display());
        }
    }
}

/// The commits being merged in, from git's `GITHEAD_<id>` variables.
fn merging_commits() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(key, _)| {
            let id = key.to_str()?.strip_prefix("GITHEAD_")?;
            (id.len() >= 40 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_string())
        })
        .collect()
}

/// One line per disagreement, appended with a timestamp and the merged path.
fn append_log(log: &Path, path: &str, conflicts: &[Conflict]) -> std::io::Result<()> {
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ");
    let mut lines = String::new();
    for conflict in conflicts {
        lines.push_str(&format!("{now} {path}: {}\n", conflict.describe(usize::MAX)));
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    file.write_all(lines.as_bytes())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which files the driver merges: any work-index.yaml, and the archive at COMPLETE/.
    #[test]
    fn kinds() {
        assert_eq!(Kind::of("work-index.yaml"), Some(Kind::WorkIndex));
        assert_eq!(Kind::of("projects/orbit/work-index.yaml"), Some(Kind::WorkIndex));
        assert_eq!(Kind::of("COMPLETE/history.yaml"), Some(Kind::Archive));
        assert_eq!(Kind::of("NOTCOMPLETE/history.yaml"), None);
        assert_eq!(Kind::of("work-index.yaml.orig"), None);
        assert_eq!(Kind::of("PROMPTS/review.md"), None);
    }
}
