//! The git lab of `merge_driver.rs`: a temp directory with a hostile home, a bare remote
//! holding a plan, clones set up with the real binary, and the helpers a test needs to edit,
//! commit, push and pull there as a person would.
//!
//! The hostile home: a `.gitconfig` with `core.autocrlf=true`, a global `core.hooksPath`
//! whose hooks all fail, and `commit.gpgSign=true` with no usable key. A person's own git
//! commands pass the [`PERSON`] overrides; the binary's own git calls get none.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_yaml_ng::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_worksync");

/// What a person passes to their own git commands to get past the hostile configuration.
pub const PERSON: [&str; 8] = [
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "commit.gpgSign=false",
    "-c",
    "user.name=Test Person",
    "-c",
    "user.email=person@example.invalid",
];

/// The plan every test starts from.
pub const PLAN: &str = "\
# yaml-language-server: $schema=./SCHEMA/work-flow-schema.json

sprints:
- id: s1
  title: First sprint
  status: active
  stories:
  - id: STORY-1
    status: planned
backlog:
- id: b1
  theme: api
  summary: one
  status: todo
- id: b2
  theme: api
  summary: two
  status: todo
history:
- date: '2026-01-01'
  summary: started
";

pub const ARCHIVE_HEADER: &str = "# History moved out of work-index.yaml by worksync (settings.history_rotation).\n";

/// A temp directory with the hostile home, the bare remote holding the plan, and clones.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    pub remote: PathBuf,
}

impl Lab {
    pub fn new() -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let hooks = home.join("hooks");
        std::fs::create_dir_all(&hooks).unwrap();
        for hook in [
            "pre-commit",
            "prepare-commit-msg",
            "commit-msg",
            "post-commit",
            "pre-merge-commit",
            "post-merge",
            "post-checkout",
            "pre-rebase",
            "post-rewrite",
            "pre-push",
            "reference-transaction",
        ] {
            let path = hooks.join(hook);
            std::fs::write(&path, "#!/bin/sh\necho \"hostile hook $0 ran\" >&2\nexit 1\n").unwrap();
            #[cfg(unix)]
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        }
        let config = format!(
            "[core]\n\tautocrlf = true\n\thooksPath = {}\n[commit]\n\tgpgSign = true\n[user]\n\tsigningKey = \
             0xDEADBEEF\n[gpg]\n\tprogram = {}\n[init]\n\tdefaultBranch = main\n",
            hooks.display(),
            home.join("no-such-gpg").display()
        );
        std::fs::write(home.join(".gitconfig"), config).unwrap();
        let remote = dir.path().join("remote.git");
        let lab = Lab { dir, home, remote };
        lab.git_ok(lab.dir.path(), &["init", "--bare", "--quiet", "remote.git"]);
        // The remote stands for a server: the person's global hooks are not its hooks.
        lab.git_ok(&lab.remote, &["config", "core.hooksPath", "/dev/null"]);
        let seed = lab.dir.path().join("seed");
        lab.git_ok(lab.dir.path(), &["clone", "--quiet", "remote.git", "seed"]);
        write(&seed.join("work-index.yaml"), PLAN);
        write(&seed.join("worksync/format"), "1\n");
        write(&seed.join("COMPLETE/history.yaml"), &archive(&[entry("2025-12-01", "archived")]));
        write(&seed.join("PROMPTS/review.md"), "# Review\n");
        // The hostile configuration is live: a commit without the person's overrides fails.
        lab.git_ok(&seed, &["add", "--all"]);
        let plain = lab.command("git").current_dir(&seed).args(["commit", "--quiet", "-m", "seed"]).output().unwrap();
        assert!(!plain.status.success(), "the hostile config must make a plain commit fail: {}", text(&plain));
        lab.commit(&seed, "seed");
        lab.git_ok(&seed, &["push", "--quiet", "origin", "HEAD:main"]);
        lab
    }

    /// A command with the lab's environment: the hostile home, no system config, no
    /// inherited `GIT_*` variable, English messages.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("GIT_") {
                command.env_remove(&key);
            }
        }
        command
            .env("HOME", &self.home)
            .env("XDG_CONFIG_HOME", self.home.join(".config"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_EDITOR", "true")
            .env("GIT_MERGE_AUTOEDIT", "no")
            .env("LC_ALL", "C");
        command
    }

    /// A person's git command in `cwd`.
    pub fn git(&self, cwd: &Path, args: &[&str]) -> Output {
        self.command("git").current_dir(cwd).args(PERSON).args(args).output().unwrap()
    }

    /// Like [`Lab::git`], which must succeed; returns its output.
    pub fn git_ok(&self, cwd: &Path, args: &[&str]) -> String {
        let output = self.git(cwd, args);
        assert!(output.status.success(), "git {args:?} failed: {}", text(&output));
        text(&output)
    }

    /// The real binary in `cwd`.
    pub fn worksync(&self, cwd: &Path, args: &[&str]) -> Output {
        self.command(BIN).current_dir(cwd).args(args).output().unwrap()
    }

    /// A clone of the remote, set up with `worksync git-setup` run inside it.
    pub fn clone(&self, name: &str) -> PathBuf {
        self.git_ok(self.dir.path(), &["clone", "--quiet", "remote.git", name]);
        let clone = self.dir.path().join(name);
        let setup = self.worksync(&clone, &["git-setup"]);
        assert!(setup.status.success(), "git-setup failed: {}", text(&setup));
        clone
    }

    pub fn commit(&self, clone: &Path, message: &str) {
        self.git_ok(clone, &["add", "--all"]);
        self.git_ok(clone, &["commit", "--quiet", "-m", message]);
    }

    pub fn push(&self, clone: &Path) {
        self.git_ok(clone, &["push", "--quiet", "origin", "HEAD:main"]);
    }

    /// The text of `path` as committed at `rev`.
    pub fn show(&self, clone: &Path, rev: &str, path: &str) -> String {
        let output = self.git(clone, &["show", &format!("{rev}:{path}")]);
        assert!(output.status.success(), "{}", text(&output));
        String::from_utf8(output.stdout).unwrap()
    }
}

pub fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

pub fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

/// A work tree file as text, with the line endings `core.autocrlf` gave it undone.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap().replace("\r\n", "\n")
}

/// Applies text replacements (each must apply) to a work tree file.
pub fn edit(path: &Path, edits: &[(&str, &str)]) {
    let mut text = read(path);
    for (from, to) in edits {
        assert!(text.contains(from), "{from:?} is not in {}:\n{text}", path.display());
        text = text.replacen(from, to, 1);
    }
    write(path, &text);
}

pub fn entry(date: &str, summary: &str) -> String {
    format!("- date: '{date}'\n  summary: {summary}\n")
}

pub fn archive(entries: &[String]) -> String {
    format!("{ARCHIVE_HEADER}history:\n{}", entries.concat())
}

pub fn parse(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("the merged file does not parse: {e}\n{text}"))
}

pub fn backlog_item<'v>(plan: &'v Value, id: &str) -> &'v Value {
    plan["backlog"].as_sequence().unwrap().iter().find(|item| item["id"] == id).unwrap_or_else(|| panic!("{id} lost"))
}

pub fn assert_no_markers(text: &str) {
    for marker in ["<<<<<<<", "=======", ">>>>>>>"] {
        assert!(!text.contains(marker), "a conflict marker is left:\n{text}");
    }
}
