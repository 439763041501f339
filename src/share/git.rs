//! The `git` command line as a child process the server can trust: whatever the user's
//! configuration or environment says, a git call never prompts, never runs a hook, a filter
//! or a signing program, never waits forever, and reads or writes only the repository it was
//! given.
//!
//! We use the real git (the user's credentials, hosts and ssh setup keep working) and only
//! its plumbing, on a bare repository that the server alone uses: blobs are written from the
//! bytes the writer wrote (`hash-object --no-filters`, never a work tree), trees and commits
//! are built with `mktree` and `commit-tree`, refs move with `update-ref NEW OLD`. So no
//! index, no `index.lock`, and no clean/smudge filter, hook or attribute from a remote ever
//! runs. Every call:
//! - starts with an environment without any `GIT_*` variable (a stray `GIT_DIR` or
//!   `GIT_INDEX_FILE` from the user's shell must not redirect us), then sets what we mean:
//!   no terminal prompts (`GIT_TERMINAL_PROMPT=0`, `GCM_INTERACTIVE=never`), ssh in batch
//!   mode, a fixed author for commits;
//! - overrides what a hostile global config could do: hooks (`core.hooksPath=/dev/null`),
//!   background maintenance, signing, and asks for durable objects and refs
//!   (`core.fsync=committed,reference`);
//! - reads no stdin, runs in its own process group, and is killed with that group when it
//!   overruns its time limit.
//!
//! [`WorkTree`] makes the same calls in a clone a person works in (`git -C DIR …`), for the
//! few reads and config writes of `worksync git-setup` and the merge driver; it never
//! commits, and also turns off the file-system monitor a clone's config may start.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Configuration added for calls in a work tree: `core.fsmonitor` names a program git would
/// start.
const WORK_TREE_CONFIG: [&str; 1] = ["core.fsmonitor=false"];

/// Where a call runs.
#[derive(Clone, Copy)]
enum Repo<'a> {
    /// No repository (`git init`).
    None,
    /// `--git-dir DIR`: a bare repository.
    Bare(&'a Path),
    /// `-C DIR`: the clone that holds DIR.
    WorkTree(&'a Path),
}

/// A git object id, in hex.
pub type Oid = String;

/// Configuration given to every call, overriding the user's.
const SAFE_CONFIG: [&str; 17] = [
    "core.hooksPath=/dev/null",
    "maintenance.auto=false",
    "gc.auto=0",
    "core.fsync=committed,reference",
    "core.fsyncMethod=fsync",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "push.gpgSign=false",
    "core.autocrlf=false",
    "core.safecrlf=false",
    "core.askPass=",
    "credential.interactive=never",
    "protocol.file.allow=always",
    // A remote URL comes from config.yaml: `ext::` would run a command from it.
    "protocol.ext.allow=never",
    "fetch.fsckObjects=true",
    "transfer.fsckObjects=true",
    "advice.detachedHead=false",
];

/// What went wrong with a git call.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GitError {
    /// git is not installed (or not on PATH).
    #[error("git could not be started ({0}); install git, it is what shared projects use")]
    Missing(String),
    /// The call did not finish in time and was killed.
    #[error("`git {command}` did not finish within {seconds} s and was stopped")]
    TimedOut { command: String, seconds: u64 },
    /// The call failed.
    #[error("`git {command}` failed: {stderr}")]
    Failed { command: String, status: Option<i32>, stderr: String },
}

/// A bare repository the server owns, driven through the git command line.
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
    timeout: Duration,
    author: (String, String),
}

/// One entry of a tree to build: a path (`/`-separated) and the blob it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    pub path: String,
    pub blob: Oid,
}

impl Git {
    /// The bare repository at `dir` (not created; see [`Git::init`]). Commits are made as
    /// `name <email>`.
    pub fn new(dir: impl Into<PathBuf>, name: &str, email: &str) -> Git {
        Git { dir: dir.into(), timeout: Duration::from_secs(60), author: (name.to_string(), email.to_string()) }
    }

    /// The same repository with another time limit per call.
    pub fn with_timeout(mut self, timeout: Duration) -> Git {
        self.timeout = timeout;
        self
    }

    /// Where the repository is.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates the bare repository if it does not exist yet.
    pub fn init(&self) -> Result<(), GitError> {
        if self.dir.join("HEAD").exists() {
            return Ok(());
        }
        let dir = self.dir.to_string_lossy().to_string();
        run_git(Repo::None, &["init", "--bare", "--quiet", &dir], None, self.timeout, &self.author)?;
        Ok(())
    }

    /// Runs `git <args>` in the repository; returns its standard output.
    pub fn run(&self, args: &[&str], input: Option<&[u8]>) -> Result<Vec<u8>, GitError> {
        run_git(Repo::Bare(&self.dir), args, input, self.timeout, &self.author)
    }

    /// Like [`Git::run`], with the output as trimmed text.
    pub fn text(&self, args: &[&str]) -> Result<String, GitError> {
        Ok(String::from_utf8_lossy(&self.run(args, None)?).trim().to_string())
    }

    /// Stores `bytes` as a blob, exactly as given (no filters, no line-ending conversion).
    pub fn write_blob(&self, bytes: &[u8]) -> Result<Oid, GitError> {
        self.text_with_input(&["hash-object", "-w", "--no-filters", "--stdin"], bytes)
    }

    /// The bytes of a blob.
    /// The bytes of several blobs, read by one `git cat-file --batch`.
    pub fn read_blobs(&self, blobs: &[&str]) -> Result<Vec<Vec<u8>>, GitError> {
        let input: String = blobs.iter().map(|b| format!("{b}\n")).collect();
        let out = self.run(&["cat-file", "--batch"], Some(input.as_bytes()))?;
        let mut contents = Vec::with_capacity(blobs.len());
        let mut rest = &out[..];
        for blob in blobs {
            // `<oid> <type> <size>\n<contents>\n`, or `<oid> missing\n`.
            let line_end = rest.iter().position(|b| *b == b'\n').unwrap_or(rest.len());
            let header = String::from_utf8_lossy(&rest[..line_end]).to_string();
            let size = header
                .rsplit(' ')
                .next()
                .and_then(|s| s.parse::<usize>().ok())
                .filter(|_| header.split(' ').nth(1) == Some("blob"));
            let Some(size) = size.filter(|size| rest.len() > line_end + *size) else {
                return Err(GitError::Failed {
                    command: "cat-file --batch".into(),
                    status: None,
                    stderr: format!("blob {blob} could not be read: {header}"),
                });
            };
            contents.push(rest[line_end + 1..line_end + 1 + size].to_vec());
            rest = &rest[(line_end + 2 + size).min(rest.len())..];
        }
        Ok(contents)
    }

    pub fn read_blob(&self, blob: &str) -> Result<Vec<u8>, GitError> {
        self.run(&["cat-file", "blob", blob], None)
    }

    /// Builds the tree holding exactly `files` (nested paths make subtrees); returns its id.
    pub fn write_tree(&self, files: &[TreeFile]) -> Result<Oid, GitError> {
        let mut root = Dir::default();
        for file in files {
            root.insert(&file.path, &file.blob);
        }
        root.write(self)
    }

    /// Every file of a commit's tree: path → blob.
    pub fn files(&self, commit: &str) -> Result<BTreeMap<String, Oid>, GitError> {
        let out = self.run(&["ls-tree", "-r", "-z", "--full-tree", commit], None)?;
        let mut files = BTreeMap::new();
        for entry in out.split(|b| *b == 0).filter(|e| !e.is_empty()) {
            let entry = String::from_utf8_lossy(entry);
            // `<mode> <type> <oid>\t<path>`
            let Some((meta, path)) = entry.split_once('\t') else { continue };
            let mut parts = meta.split(' ');
            if let (Some(_mode), Some("blob"), Some(oid)) = (parts.next(), parts.next(), parts.next()) {
                files.insert(path.to_string(), oid.to_string());
            }
        }
        Ok(files)
    }

    /// Makes a commit of `tree` with `parents`; returns its id.
    pub fn commit(&self, tree: &str, parents: &[&str], message: &str) -> Result<Oid, GitError> {
        let mut args = vec!["commit-tree", tree];
        for parent in parents {
            args.push("-p");
            args.push(parent);
        }
        self.text_with_input(&args, message.as_bytes())
    }

    /// The commit a ref or revision names, if it exists.
    pub fn resolve(&self, rev: &str) -> Result<Option<Oid>, GitError> {
        let spec = format!("{rev}^{{commit}}");
        match self.run(&["rev-parse", "--verify", "--quiet", &spec], None) {
            Ok(out) => Ok(Some(String::from_utf8_lossy(&out).trim().to_string())),
            Err(GitError::Failed { status: Some(1), .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Moves `name` to `new` only if it still points to `old` (`None`: only if it does not
    /// exist yet): a compare-and-swap on a ref.
    pub fn update_ref(&self, name: &str, new: &str, old: Option<&str>) -> Result<(), GitError> {
        let zero = "0".repeat(40);
        self.run(&["update-ref", name, new, old.unwrap_or(&zero)], None).map(drop)
    }

    /// Is `ancestor` an ancestor of (or the same commit as) `descendant`?
    pub fn is_ancestor(&self, ancestor: &str, descendant: &str) -> Result<bool, GitError> {
        match self.run(&["merge-base", "--is-ancestor", ancestor, descendant], None) {
            Ok(_) => Ok(true),
            Err(GitError::Failed { status: Some(1), .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn text_with_input(&self, args: &[&str], input: &[u8]) -> Result<String, GitError> {
        Ok(String::from_utf8_lossy(&self.run(args, Some(input))?).trim().to_string())
    }
}

/// A clone a person works in, driven through `git -C DIR`: the same environment and
/// overrides as [`Git`].
#[derive(Debug, Clone)]
pub struct WorkTree {
    dir: PathBuf,
    timeout: Duration,
}

impl WorkTree {
    /// The clone that holds `dir` (git finds its top from there).
    pub fn new(dir: impl Into<PathBuf>) -> WorkTree {
        WorkTree { dir: dir.into(), timeout: Duration::from_secs(30) }
    }

    /// Runs `git <args>` there; returns its standard output.
    pub fn run(&self, args: &[&str]) -> Result<Vec<u8>, GitError> {
        // No commit is made here, so the author is never used.
        let author = (String::from("worksync"), String::from("worksync@localhost"));
        run_git(Repo::WorkTree(&self.dir), args, None, self.timeout, &author)
    }

    /// Like [`WorkTree::run`], with the output as trimmed text.
    pub fn text(&self, args: &[&str]) -> Result<String, GitError> {
        Ok(String::from_utf8_lossy(&self.run(args)?).trim().to_string())
    }
}

/// A directory of a tree being built.
#[derive(Default)]
struct Dir {
    files: BTreeMap<String, String>,
    dirs: BTreeMap<String, Dir>,
}

impl Dir {
    fn insert(&mut self, path: &str, blob: &str) {
        match path.split_once('/') {
            Some((dir, rest)) => self.dirs.entry(dir.to_string()).or_default().insert(rest, blob),
            None => {
                self.files.insert(path.to_string(), blob.to_string());
            }
        }
    }

    fn write(&self, git: &Git) -> Result<Oid, GitError> {
        let mut listing = Vec::new();
        for (name, dir) in &self.dirs {
            let tree = dir.write(git)?;
            listing.extend_from_slice(format!("040000 tree {tree}\t{name}").as_bytes());
            listing.push(0);
        }
        for (name, blob) in &self.files {
            listing.extend_from_slice(format!("100644 blob {blob}\t{name}").as_bytes());
            listing.push(0);
        }
        git.text_with_input(&["mktree", "-z"], &listing)
    }
}

/// Runs git with the safe environment and configuration, in `repo`.
fn run_git(
    repo: Repo<'_>,
    args: &[&str],
    input: Option<&[u8]>,
    timeout: Duration,
    (name, email): &(String, String),
) -> Result<Vec<u8>, GitError> {
    let mut command = Command::new("git");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("GIT_") {
            command.env_remove(&key);
        }
    }
    command
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GCM_INTERACTIVE", "never")
        .env("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=20")
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .env("LC_ALL", "C");
    for setting in SAFE_CONFIG {
        command.args(["-c", setting]);
    }
    match repo {
        Repo::None => {}
        Repo::Bare(dir) => {
            command.arg("--git-dir").arg(dir);
        }
        Repo::WorkTree(dir) => {
            for setting in WORK_TREE_CONFIG {
                command.args(["-c", setting]);
            }
            command.arg("-C").arg(dir);
        }
    }
    command.args(args);
    command.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let shown = args.first().copied().unwrap_or_default().to_string();
    let mut child = command.spawn().map_err(|e| GitError::Missing(e.to_string()))?;
    let writer = match (input, child.stdin.take()) {
        (Some(bytes), Some(mut stdin)) => {
            let bytes = bytes.to_vec();
            Some(std::thread::spawn(move || {
                let _ = stdin.write_all(&bytes);
            }))
        }
        _ => None,
    };
    let read = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = read(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = read(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                kill_group(&mut child);
                let _ = child.wait();
                return Err(GitError::TimedOut { command: shown, seconds: timeout.as_secs() });
            }
        }
    };
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let out = stdout.join().unwrap_or_default();
    let err = stderr.join().unwrap_or_default();
    if status.success() {
        Ok(out)
    } else {
        let stderr = String::from_utf8_lossy(&err).trim().to_string();
        Err(GitError::Failed { command: args.join(" "), status: status.code(), stderr })
    }
}

/// Kills the child and everything it started (git runs ssh, helpers, remote-helpers).
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = rustix::process::Pid::from_raw(child.id() as i32) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
    let _ = child.kill();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> (tempfile::TempDir, Git) {
        let dir = tempfile::tempdir().unwrap();
        let git = Git::new(dir.path().join("plan.git"), "worksync test", "test@worksync");
        git.init().unwrap();
        (dir, git)
    }

    /// Blobs keep their exact bytes (CRLF, no trailing newline), trees nest, commits chain,
    /// and a ref moves only from the value it was expected to hold.
    #[test]
    fn plumbing_round_trip() {
        let (_dir, git) = repo();
        let bytes = b"sprints: []\r\nbacklog: []";
        let blob = git.write_blob(bytes).unwrap();
        assert_eq!(git.read_blob(&blob).unwrap(), bytes);
        let prompt = git.write_blob(b"# prompt\n").unwrap();
        let files = [
            TreeFile { path: "work-index.yaml".into(), blob: blob.clone() },
            TreeFile { path: "PROMPTS/review.md".into(), blob: prompt.clone() },
        ];
        let tree = git.write_tree(&files).unwrap();
        let first = git.commit(&tree, &[], "first").unwrap();
        let second = git.commit(&tree, &[&first], "second").unwrap();
        assert!(git.is_ancestor(&first, &second).unwrap());
        assert!(!git.is_ancestor(&second, &first).unwrap());
        let listed = git.files(&second).unwrap();
        assert_eq!(listed.get("work-index.yaml"), Some(&blob));
        assert_eq!(listed.get("PROMPTS/review.md"), Some(&prompt));
        git.update_ref("refs/heads/main", &first, None).unwrap();
        assert!(git.update_ref("refs/heads/main", &second, None).is_err(), "create-only refuses an existing ref");
        assert!(git.update_ref("refs/heads/main", &second, Some(&second)).is_err(), "a stale old value is refused");
        git.update_ref("refs/heads/main", &second, Some(&first)).unwrap();
        assert_eq!(git.resolve("refs/heads/main").unwrap(), Some(second));
        assert_eq!(git.resolve("refs/heads/other").unwrap(), None);
    }

    /// A call that overruns its limit is killed, with what it started.
    #[test]
    fn a_hanging_call_is_stopped() {
        let (_dir, git) = repo();
        let git = git.with_timeout(Duration::from_millis(300));
        // An alias that runs a shell command that sleeps far past the limit.
        let started = Instant::now();
        let outcome = run_git(
            Repo::Bare(git.dir()),
            &["-c", "alias.wait=!sleep 30", "wait"],
            None,
            git.timeout,
            &("t".to_string(), "t@t".to_string()),
        );
        assert!(matches!(outcome, Err(GitError::TimedOut { .. })), "{outcome:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
