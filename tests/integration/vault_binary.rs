//! The vault as the real binary keeps it: a regeneration killed with SIGKILL leaves nothing
//! unclaimed, a hand-crafted manifest or a symlinked folder never makes `worksync sync` or a
//! starting server touch a file outside the vault, and durations are whole milliseconds.

use crate::common;

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{PATIENCE, TOKEN, eventually};
use serde_json::Value;
use worksync::store::{Layout, Snapshot};
use worksync::vault::manifest::{self, Manifest};
use worksync::vault::{Generator, Options};

/// `worksync serve` in a child process, its JSON log lines kept for the test to read.
struct Server {
    child: std::process::Child,
    base: String,
    log: Arc<Mutex<Vec<Value>>>,
}

impl Server {
    /// Starts the binary on `root` (port 0, the test key, vault auto sync on) and waits until
    /// it is ready.
    fn start(root: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_worksync"))
            .args(["--log-format", "json", "--data-root"])
            .arg(root)
            .args(["serve", "--port", "0", "--sync-debounce", "0.05"])
            .env("WORKSYNC_API_KEY", TOKEN)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the worksync binary");
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let log = Arc::new(Mutex::new(Vec::new()));
        let url = loop {
            let line = lines.next().expect("server exited before it was ready").unwrap();
            let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
            let ready = entry["fields"]["message"] == "worksync is ready";
            let url = entry["fields"]["url"].as_str().map(str::to_string);
            log.lock().unwrap().push(entry);
            if ready {
                break url.expect("the ready line names the URL");
            }
        };
        let keep = log.clone();
        // Keep reading so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                if let Ok(entry) = serde_json::from_str::<Value>(&line) {
                    keep.lock().unwrap().push(entry);
                }
            }
        });
        Server { child, base: url.trim_end_matches("/mcp").to_string(), log }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
        assert!(status.unwrap().success(), "kill -{name}");
    }

    async fn wait_for_exit(&mut self) {
        eventually("the server to exit", Duration::from_secs(60), async || {
            self.child.try_wait().unwrap().ok_or("running")
        })
        .await;
    }

    /// The vault part of `/status` once `done` holds for it.
    async fn wait_for_vault(&self, done: impl Fn(&Value) -> bool) -> Value {
        eventually("the vault to get there", Duration::from_secs(120), async || {
            let status: Value = reqwest::Client::new()
                .get(format!("{}/status", self.base))
                .bearer_auth(TOKEN)
                .send()
                .await
                .expect("status answers")
                .json()
                .await
                .expect("status is JSON");
            if done(&status["vault"]) { Ok(status["vault"].clone()) } else { Err(status["vault"].clone()) }
        })
        .await
    }

    /// The log lines whose message is `message`, once there is one (the log is read on
    /// another thread, so it may lag behind `/status`).
    async fn logged(&self, message: &str) -> Vec<Value> {
        eventually(&format!("the server to log {message:?}"), PATIENCE, async || {
            let lines: Vec<Value> =
                self.log.lock().unwrap().iter().filter(|e| e["fields"]["message"] == message).cloned().collect();
            if lines.is_empty() { Err("not yet") } else { Ok(lines) }
        })
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The vault has finished its start-up regeneration.
fn started(vault: &Value) -> bool {
    vault["regenerations"].as_u64() >= Some(1) && vault["pending"] == false
}

/// Runs `worksync --data-root <root> <args>`.
fn worksync(root: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_worksync"))
        .arg("--data-root")
        .arg(root)
        .args(args)
        .output()
        .expect("run the worksync binary")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A bootstrapped data root with a second project, `big`, of `items` backlog items.
fn big_root(root: &Path, items: usize) {
    Layout::new(root).bootstrap().unwrap();
    let config = std::fs::read_to_string(root.join("config.yaml")).unwrap();
    let config = config.replace("vault_path:", "  big:\n    repo: ~/src/big\n    description: Many items\nvault_path:");
    std::fs::write(root.join("config.yaml"), config).unwrap();
    std::fs::create_dir_all(root.join("projects/big")).unwrap();
    write_big_index(root, items, |_| Some("Item"));
}

/// Writes `big`'s work index: item `i` has the summary `summary(i)`, or is left out if none.
fn write_big_index(root: &Path, items: usize, summary: impl Fn(usize) -> Option<&'static str>) {
    let mut yaml =
        String::from("# yaml-language-server: $schema=./SCHEMA/work-flow-schema.json\n\nsprints: []\nbacklog:\n");
    for i in 1..=items {
        if let Some(summary) = summary(i) {
            yaml.push_str(&format!(
                "- id: item-{i}\n  theme: theme-{}\n  summary: {summary} {i}\n  status: todo\n",
                i % 20
            ));
        }
    }
    yaml.push_str("history: []\n");
    std::fs::write(root.join("projects/big/work-index.yaml"), yaml).unwrap();
}

/// A large first regeneration killed with SIGKILL midway, then one item edited and another
/// removed in work-index.yaml while the server is down: after a restart the edited note is
/// current, the removed one is gone, nothing worksync wrote is reported as kept, and the
/// vault is exactly what a generation from scratch makes (`Global Dashboard.md` included).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_regeneration_killed_midway_leaves_nothing_unclaimed() {
    let mut items = 3_000;
    let (_dir, root) = loop {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        big_root(&root, items);
        let mut server = Server::start(&root);
        // Kill as soon as the start-up regeneration has written a few of the item notes.
        let probe = root.join("vault/projects/big/Backlog/item-40.md");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !probe.exists() {
            assert!(Instant::now() < deadline, "the start-up regeneration never wrote {}", probe.display());
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        server.signal("KILL");
        server.wait_for_exit().await;
        if !Manifest::path(&root.join("vault")).exists() {
            break (dir, root);
        }
        // The regeneration finished before the kill landed: again, with more to write.
        assert!(items < 48_000, "could not kill the regeneration midway");
        items *= 2;
    };
    let vault = root.join("vault");
    for note in ["Global Dashboard.md", "projects/big/Backlog/item-1.md", "projects/big/Backlog/item-2.md"] {
        assert!(vault.join(note).exists(), "the killed run wrote {note}");
    }
    write_big_index(&root, items, |i| match i {
        1 => Some("Edited while the server was down"),
        2 => None,
        _ => Some("Item"),
    });

    let mut server = Server::start(&root);
    let last = server.wait_for_vault(started).await["last"].clone();
    assert!(last["failure"].is_null(), "{last}");
    assert_eq!(last["errors"], 0, "{last}");
    assert_eq!(last["kept"], 0, "a note worksync wrote was taken for a person's: {last}");
    let edited = std::fs::read_to_string(vault.join("projects/big/Backlog/item-1.md")).unwrap();
    assert!(edited.contains("Edited while the server was down 1"), "{edited}");
    assert!(!vault.join("projects/big/Backlog/item-2.md").exists(), "the removed item's note is gone");
    server.signal("TERM");
    server.wait_for_exit().await;

    let layout = Layout::new(&root);
    let snapshot = Snapshot::read_only(&layout).unwrap();
    let full = Options { full: true, ..Options::default() };
    let report = Generator::new(vault.clone(), &layout.templates_dir()).run(&snapshot, &full).unwrap();
    assert_eq!(
        (report.written, report.removed, report.kept.len(), report.errors.len()),
        (0, 0, 0, 0),
        "the restarted server left the vault current: {report:?}"
    );
}

/// A hand-crafted manifest naming files outside the vault (absolute, `../`,
/// `projects/../../`), a file in `.obsidian/`, a backslash path, and a person's empty note
/// under the hash of empty content: neither `worksync sync` nor a starting server touches
/// any of them, and both say the manifest had bad entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_manifest_never_makes_worksync_touch_a_file_it_cannot_prove_it_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    Layout::new(&root).bootstrap().unwrap();
    assert!(worksync(&root, &["sync"]).status.success());
    let vault = root.join("vault");
    let absolute = elsewhere.path().join("x.md");
    let files: Vec<(PathBuf, &str)> = vec![
        (absolute.clone(), "a person's file elsewhere\n"),
        (root.join("outside.md"), "a person's file in the data root\n"),
        (vault.join(".obsidian/workspace.md"), "obsidian's own file\n"),
        (vault.join("My empty note.md"), ""),
    ];
    for (path, content) in &files {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }
    let hostile = |content: &str| format!("{:032x}", manifest::hash(content.as_bytes()));
    let manifest = serde_json::json!({
        "generator": "worksync",
        "version": 1,
        "notes": {
            absolute.to_str().unwrap(): hostile(files[0].1),
            "../outside.md": hostile(files[1].1),
            "projects/../../outside.md": hostile(files[1].1),
            ".obsidian/workspace.md": hostile(files[2].1),
            "..\\outside.md": hostile(files[1].1),
            "My empty note.md": hostile(""),
        }
    });
    let unchanged = || {
        for (path, content) in &files {
            let now = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{} is gone: {e}", path.display()));
            assert_eq!(now, *content, "{} was changed", path.display());
        }
    };

    std::fs::write(Manifest::path(&vault), manifest.to_string()).unwrap();
    let output = worksync(&root, &["sync"]);
    let said = text(&output);
    assert!(output.status.success(), "{said}");
    unchanged();
    assert!(said.contains("5 bad entries"), "the manifest's bad entries are reported: {said}");
    for entry in ["../outside.md", "projects/../../outside.md", ".obsidian/workspace.md", absolute.to_str().unwrap()] {
        assert!(said.contains(entry), "{entry} is named: {said}");
    }
    assert!(said.contains("kept My empty note.md"), "{said}");

    std::fs::write(Manifest::path(&vault), manifest.to_string()).unwrap();
    let server = Server::start(&root);
    let last = server.wait_for_vault(started).await["last"].clone();
    unchanged();
    assert_eq!(last["manifest_problems"], 5, "{last}");
    let warned = server.logged("the vault manifest had bad entries; they were ignored").await;
    assert_eq!(warned.len(), 1, "one warning in the log");
    assert!(warned[0]["fields"]["entries"].as_str().unwrap().contains("../outside.md"), "{}", warned[0]);
}

/// `vault/projects` made a symlink to a folder outside the vault: `worksync sync` neither
/// writes nor deletes anything there (though items changed and one was removed), and says
/// which folder and why; the notes inside the vault stay current.
#[test]
fn a_symlinked_folder_leading_out_of_the_vault_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    Layout::new(&root).bootstrap().unwrap();
    assert!(worksync(&root, &["sync"]).status.success());
    let vault = root.join("vault");
    let elsewhere = dir.path().join("elsewhere");
    std::fs::rename(vault.join("projects"), &elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, vault.join("projects")).unwrap();
    let before = tree(&elsewhere);
    let index = root.join("projects/orbit-api/work-index.yaml");
    let yaml = std::fs::read_to_string(&index).unwrap();
    let edited = yaml.replacen("Pin GitHub Actions to commit SHAs", "Pin every GitHub Action", 1);
    assert_ne!(edited, yaml);
    let mut edited: serde_yaml_ng::Value = serde_yaml_ng::from_str(&edited).unwrap();
    edited["backlog"].as_sequence_mut().unwrap().retain(|b| b["id"] != "web-strict-csp");
    std::fs::write(&index, serde_yaml_ng::to_string(&edited).unwrap()).unwrap();
    let global = std::fs::read_to_string(vault.join("Global Dashboard.md")).unwrap();

    let output = worksync(&root, &["sync"]);
    let said = text(&output);
    assert!(!output.status.success(), "a folder it may not write to is a failure: {said}");
    assert!(said.contains("projects") && said.contains("outside the vault"), "{said}");
    assert_eq!(tree(&elsewhere), before, "nothing outside the vault changed");
    assert_ne!(std::fs::read_to_string(vault.join("Global Dashboard.md")).unwrap(), global, "inside, notes follow");
}

/// Every file under `dir` with its content.
fn tree(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else {
                files.insert(entry.path(), std::fs::read(entry.path()).unwrap());
            }
        }
    }
    files
}

/// A regeneration's duration is a whole number of milliseconds in the log line, in
/// `/status`, and in what `worksync sync` prints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regeneration_times_are_whole_milliseconds() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    Layout::new(&root).bootstrap().unwrap();
    let mut server = Server::start(&root);
    let last = server.wait_for_vault(started).await["last"].clone();
    assert!(last["millis"].is_u64(), "{last}");
    let logged = server.logged("vault regenerated").await;
    assert_eq!(logged.len(), 1);
    assert!(logged[0]["fields"]["millis"].is_u64(), "{}", logged[0]);
    server.signal("TERM");
    server.wait_for_exit().await;

    let output = worksync(&root, &["sync"]);
    let said = text(&output);
    let millis = said.split(" ms)").next().and_then(|s| s.rsplit('(').next()).unwrap_or_default();
    assert!(!millis.is_empty() && millis.chars().all(|c| c.is_ascii_digit()), "{said}");
}
