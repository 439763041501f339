//! The command line and the operator script as a person meets them: `worksync status`,
//! `init --write-agents-md`, and `worksync.sh` with macOS-like tools.
//!
//! Self-contained (no `common` harness): each test runs the real binary or the real script
//! with its own data root and config directory, never the real home directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn worksync(config_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worksync"));
    command.env("WORKSYNC_CONFIG_DIR", config_dir).env_remove("WORKSYNC_API_KEY").env_remove("WORKSYNC_DEBUG");
    command
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A data root made by `worksync init`, and a config directory for the key file.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (root, config) = (dir.path().join("root"), dir.path().join("config"));
    let init = worksync(&config).arg("--data-root").arg(&root).arg("init").output().unwrap();
    assert!(init.status.success(), "{}", text(&init));
    (dir, root, config)
}

/// `worksync status` cuts long story notes between words, with an ellipsis, never mid-word.
#[test]
fn status_cuts_notes_at_word_boundaries() {
    let (_dir, root, config) = setup();
    let index: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(root.join("projects/orbit-api/work-index.yaml")).unwrap())
            .unwrap();
    let mut notes = std::collections::HashMap::new();
    for sprint in index["sprints"].as_sequence().unwrap() {
        for story in sprint["stories"].as_sequence().into_iter().flatten() {
            let text = story["notes"].as_str().unwrap_or_default().split_whitespace().collect::<Vec<_>>().join(" ");
            notes.insert(story["id"].as_str().unwrap().to_string(), text);
        }
    }
    let output = worksync(&config).arg("--data-root").arg(&root).arg("status").output().unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let status = String::from_utf8(output.stdout).unwrap();
    let mut cut = 0;
    for line in status.lines().filter(|l| l.trim_start().starts_with("STORY-")) {
        let (id, rest) = line.trim().split_once(' ').unwrap();
        let shown = rest.split_once("] ").map(|(_, n)| n).unwrap_or_default();
        let full = &notes[id];
        if shown == full {
            continue;
        }
        cut += 1;
        let kept = shown.strip_suffix('…').unwrap_or_else(|| panic!("a cut note ends with '…': {line}"));
        assert!(full.starts_with(kept), "{line}");
        let next = full[kept.len()..].chars().next();
        assert!(
            next.is_some_and(|c| c == ' ')
                || kept.ends_with([' ', ',', ':'])
                || full[kept.len()..].starts_with([',', ':', ';']),
            "cut inside a word: {line}"
        );
        assert!(shown.chars().count() <= 60, "{line}");
    }
    assert!(cut > 0, "the sample has long notes to cut:\n{status}");
}

/// `init --write-agents-md` names the project (found by the directory's name) and teaches the
/// claim workflow; run again it says "unchanged"; a directory that is no project is refused
/// and nothing is written there.
#[test]
fn init_agents_md_names_the_project() {
    let (dir, root, config) = setup();
    let repo = dir.path().join("orbit-api");
    std::fs::create_dir_all(&repo).unwrap();
    let init = || {
        worksync(&config)
            .arg("--data-root")
            .arg(&root)
            .arg("init")
            .arg("--write-agents-md")
            .arg(&repo)
            .output()
            .unwrap()
    };
    let first = init();
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("(project orbit-api)") && !text(&first).contains("Unchanged"), "{}", text(&first));
    let agents = std::fs::read_to_string(repo.join("AGENTS.md")).unwrap();
    assert!(agents.contains("`project: \"orbit-api\"`"), "{agents}");
    assert!(agents.contains("`worksync_next`") && agents.contains("`worksync_claim`"), "{agents}");
    assert!(!agents.contains("set it `in_progress`"), "{agents}");

    let second = init();
    assert!(second.status.success(), "{}", text(&second));
    let said = text(&second);
    assert_eq!(said.matches("Unchanged").count(), 2, "{said}");
    assert_eq!(std::fs::read_to_string(repo.join("AGENTS.md")).unwrap(), agents);

    let stranger = dir.path().join("not-a-project");
    std::fs::create_dir_all(&stranger).unwrap();
    let refused = worksync(&config)
        .arg("--data-root")
        .arg(&root)
        .arg("init")
        .arg("--write-agents-md")
        .arg(&stranger)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(text(&refused).contains("--project NAME") && text(&refused).contains("orbit-api"), "{}", text(&refused));
    assert_eq!(std::fs::read_dir(&stranger).unwrap().count(), 0, "nothing was written");
}

/// Runs `worksync.sh <args>` for a data root and port, with `bin` first on PATH and `key` as
/// WORKSYNC_API_KEY (none: neither a key nor 1Password).
fn script(root: &Path, config: &Path, port: u16, bin: &Path, key: Option<&str>, args: &[&str]) -> Output {
    // WORKSYNC_TEST_BASH runs the script under another bash (e.g. macOS's 3.2) when available.
    let bash = std::env::var("WORKSYNC_TEST_BASH").unwrap_or_else(|_| "bash".into());
    let mut command = Command::new(bash);
    if let Some(key) = key {
        command.env("WORKSYNC_API_KEY", key);
    }
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("worksync.sh"))
        .args(args)
        .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
        .env("WORKSYNC_DATA_ROOT", root)
        .env("WORKSYNC_PORT", port.to_string())
        .env("WORKSYNC_BIN", env!("CARGO_BIN_EXE_worksync"))
        .env("WORKSYNC_CONFIG_DIR", config)
        .env_remove("WORKSYNC_DEBUG")
        // An empty 1Password reference: never ask `op`, even where it is installed.
        .env("WORKSYNC_OP_REF", "")
        .output()
        .unwrap()
}

/// macOS's /bin/bash is 3.2, which aborts on an empty `"${a[@]}"` under `set -u` (bash 4.4+
/// does not, so running the script here cannot show it): every array expansion in
/// worksync.sh is guarded as `${a[@]+"${a[@]}"}`.
#[test]
fn worksync_sh_guards_array_expansions_for_bash_3() {
    let script = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("worksync.sh")).unwrap();
    let mut unguarded = Vec::new();
    for (number, line) in script.lines().enumerate().filter(|(_, l)| !l.trim_start().starts_with('#')) {
        let mut from = 0;
        while let Some(at) = line[from..].find("\"${").map(|i| from + i) {
            let name = line[at + 3..].split("[@]}\"").next().unwrap_or_default();
            let is_array = line[at + 3..].contains("[@]}\"") && name.chars().all(|c| c.is_alphanumeric() || c == '_');
            if is_array && !line[..at].ends_with(&format!("${{{name}[@]+")) {
                unguarded.push(format!("line {}: {}", number + 1, line.trim()));
            }
            from = at + 3;
        }
    }
    assert!(unguarded.is_empty(), "unguarded array expansions (bash 3.2 aborts if empty):\n{}", unguarded.join("\n"));
}

/// Kills the server a `worksync.sh start` left running, when a test fails before its `stop`
/// (the script starts it with nohup, so it would outlive the test). Made right after `start`,
/// from the pid file, which a failing `status` may delete.
struct StopOnDrop(Option<String>);

impl StopOnDrop {
    fn after_start(root: &Path) -> StopOnDrop {
        let record = std::fs::read_to_string(root.join("worksync.pid")).unwrap_or_default();
        StopOnDrop(record.split_whitespace().next().map(str::to_string))
    }
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0.as_deref().filter(|p| p.chars().all(|c| c.is_ascii_digit())) {
            let _ = Command::new("kill").args(["-KILL", pid]).status();
        }
    }
}

/// A directory with a `ps` that answers like macOS's: `comm` is the executable's full path.
fn macos_like_ps(dir: &Path) -> PathBuf {
    let bin = dir.join("bsd-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let real = String::from_utf8(Command::new("sh").args(["-c", "command -v ps"]).output().unwrap().stdout).unwrap();
    let ps = bin.join("ps");
    std::fs::write(
        &ps,
        format!(
            "#!/bin/sh\n# macOS ps: -o comm= prints the full path the program was started with.\n\
             for a in \"$@\"; do case $a in comm=) set -- \"$@\" args= ;; *) set -- \"$@\" \"$a\" ;; esac; shift; done\n\
             {} \"$@\" | awk '{{ if (NF > 1) print $1, $2; else print $1 }}'\n",
            real.trim()
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ps, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

/// `worksync.sh start`, `status` and `stop` with macOS's `ps`, whose `comm` is a full path:
/// the script still recognises its server.
#[test]
fn worksync_sh_with_macos_ps() {
    let (dir, root, config) = setup();
    let bin = macos_like_ps(dir.path());
    let port = free_port();
    let run = |args: &[&str]| script(&root, &config, port, &bin, Some("mac-key-1123"), args);
    let started = run(&["start"]);
    let _cleanup = StopOnDrop::after_start(&root);
    assert!(started.status.success(), "start: {}", text(&started));
    let status = run(&["status"]);
    assert!(status.status.success(), "status: {}", text(&status));
    assert!(text(&status).contains("projects: orbit-api"), "{}", text(&status));
    let stopped = run(&["stop"]);
    assert!(stopped.status.success() && text(&stopped).contains("worksync stopped"), "stop: {}", text(&stopped));
    assert_eq!(run(&["status"]).status.code(), Some(3), "not running after stop");
}

/// A plain `./worksync.sh start` (no key set, no 1Password) starts a server that uses the key
/// file; `status` lists the projects with that same key; the pid file records the port; the
/// script never prints the key.
#[test]
fn worksync_sh_plain_start_uses_the_key_file() {
    let (dir, root, config) = setup();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let port = free_port();
    let run = |args: &[&str]| script(&root, &config, port, &bin, None, args);
    let started = run(&["start"]);
    let _cleanup = StopOnDrop::after_start(&root);
    assert!(started.status.success(), "start: {}", text(&started));
    let pid_file = std::fs::read_to_string(root.join("worksync.pid")).unwrap();
    assert!(pid_file.contains(&port.to_string()), "the pid file records the port: {pid_file}");

    let status = run(&["status"]);
    assert!(status.status.success(), "status: {}", text(&status));
    assert!(text(&status).contains("projects: orbit-api"), "status uses the server's key: {}", text(&status));
    let key = std::fs::read_to_string(config.join("api-key")).expect("the server made a key file");
    let stopped = run(&["stop"]);
    assert!(stopped.status.success(), "stop: {}", text(&stopped));
    for output in [&started, &status, &stopped] {
        assert!(!text(output).contains(key.trim()), "the script printed the key");
    }
}

/// `worksync.sh start` while a server started by hand writes the same data root (on another
/// port) fails and names that server's pid and port.
#[test]
fn worksync_sh_start_names_the_server_holding_the_root() {
    let (dir, root, config) = setup();
    let mut holder = worksync(&config)
        .args(["--log-format", "json", "--data-root"])
        .arg(&root)
        .args(["serve", "--port", "0"])
        .env("WORKSYNC_API_KEY", "holder-key-1414")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(holder.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the server exited before it was ready").unwrap();
        let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
        if entry["fields"]["message"] == "worksync is ready" {
            break entry["fields"]["url"].as_str().unwrap().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let holder_port = url.trim_end_matches("/mcp").rsplit(':').next().unwrap().to_string();

    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let started = script(&root, &config, free_port(), &bin, Some("holder-key-1414"), &["start"]);
    let _cleanup = StopOnDrop::after_start(&root);
    let said = text(&started);
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(!started.status.success(), "a second server started: {said}");
    assert!(said.contains(&format!("pid {}", holder.id())) && said.contains(&format!("port {holder_port}")), "{said}");
}
