//! Shared projects across servers: real servers on their own data roots, a bare repository
//! on local disk as the remote, real git. A server is cut off from the remote by removing
//! the symlink its configuration names as the remote, and healed by putting it back.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{PATIENCE, TOKEN, TestServer, call_ok, eventually};
use serde_json::{Value, json};

/// Seconds between syncs in these tests.
const INTERVAL: f64 = 0.2;
const P: &str = "orbit-api";

/// A bare remote and the symlinks through which each server reaches it.
struct Remote {
    dir: tempfile::TempDir,
}

impl Remote {
    fn new() -> Remote {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "--bare", "--quiet", "-b", "main", "plan.git"]);
        Remote { dir }
    }

    fn bare(&self) -> PathBuf {
        self.dir.path().join("plan.git")
    }

    /// The path server `name` uses as its remote (a symlink to the bare repository).
    fn link(&self, name: &str) -> String {
        let link = self.dir.path().join(format!("link-{name}.git"));
        if !link.exists() {
            std::os::unix::fs::symlink(self.bare(), &link).unwrap();
        }
        link.display().to_string()
    }

    /// Cuts server `name` off the remote.
    fn cut(&self, name: &str) {
        std::fs::remove_file(self.dir.path().join(format!("link-{name}.git"))).unwrap();
    }

    /// A git command on the bare remote.
    fn git(&self, args: &[&str]) -> String {
        git(&self.bare(), args)
    }
}

fn git(cwd: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(cwd)
        .args(["-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false"])
        .args(["-c", "user.name=Test Person", "-c", "user.email=person@example.invalid"])
        .args(args)
        .env_remove("GIT_DIR")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// POSTs to a server's sharing endpoints; returns the status code and the JSON answer.
async fn post(server: &TestServer, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{path}", server.base))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("the server answers");
    let code = response.status().as_u16();
    (code, response.json().await.expect("JSON"))
}

/// Starts a server that shares the example project on `remote`.
async fn sharing_server(remote: &Remote, name: &str) -> TestServer {
    sharing_server_with(remote, name, "").await
}

/// Like [`sharing_server`], with more lines under `settings:` in its config.
async fn sharing_server_with(remote: &Remote, name: &str, settings: &str) -> TestServer {
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        // Machines are told apart by name; test servers share one host name.
        let config = std::fs::read_to_string(layout.config()).unwrap();
        let ours = format!("settings:\n  machine: {name}\n{settings}");
        let config = config.replace("  history_rotation: 100\n", "").replacen("settings:\n", &ours, 1);
        std::fs::write(layout.config(), config).unwrap();
    })
    .await;
    let (code, answer) =
        post(&server, &format!("/share/{P}"), json!({ "remote": remote.link(name), "interval_seconds": INTERVAL }))
            .await;
    assert_eq!(code, 200, "share: {answer}");
    assert_eq!(answer["pushed"], true, "{answer}");
    server
}

/// Starts a server (with a data root of its own) that joins the plan on `remote` as `P`.
async fn joining_server(remote: &Remote, name: &str) -> TestServer {
    let server = TestServer::start_with(|layout| {
        std::fs::create_dir_all(layout.root()).unwrap();
        std::fs::write(layout.config(), format!("projects: {{}}\nsettings:\n  machine: {name}\n")).unwrap();
    })
    .await;
    let body = json!({ "remote": remote.link(name), "project": P, "interval_seconds": INTERVAL });
    let (code, answer) = post(&server, "/join", body).await;
    assert_eq!(code, 200, "join: {answer}");
    server
}

fn work_index(server: &TestServer) -> String {
    std::fs::read_to_string(server.path(&format!("projects/{P}/work-index.yaml"))).unwrap()
}

/// The conflict logs of `servers`, one after the other.
fn conflict_logs(servers: &[&TestServer]) -> String {
    servers
        .iter()
        .map(|s| std::fs::read_to_string(s.path(&format!(".worksync/git/{P}.conflicts.jsonl"))).unwrap_or_default())
        .collect()
}

fn backlog_ids(text: &str) -> Vec<String> {
    let value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).unwrap();
    value["backlog"].as_sequence().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_string()).collect()
}

/// Waits until every server holds byte-identical work indexes that `check` accepts.
async fn converged(servers: &[&TestServer], check: impl Fn(&str) -> Result<(), String>) -> String {
    eventually("the servers converge", PATIENCE * 2, async || {
        let texts: Vec<String> = servers.iter().map(|s| work_index(s)).collect();
        if texts.iter().any(|t| t != &texts[0]) {
            let mut statuses = Vec::new();
            for server in servers {
                statuses.push(server.status().await["shared"].to_string());
            }
            return Err(format!("the work indexes differ; sync: {}", statuses.join(" | ")));
        }
        check(&texts[0])?;
        Ok(texts[0].clone())
    })
    .await
}

/// Three servers, four agents each, adding and updating while one server is cut off from the
/// remote; after healing, the three files are byte-identical, every acknowledged add is there
/// exactly once, every acknowledged update is there or logged as a conflict, and the
/// remote's history is clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_servers_converge_after_a_partition() {
    let remote = Remote::new();
    let a = sharing_server(&remote, "a").await;
    let b = joining_server(&remote, "b").await;
    let c = joining_server(&remote, "c").await;
    let servers = [&a, &b, &c];
    let start = converged(&servers, |_| Ok(())).await;
    let existing = backlog_ids(&start);
    assert!(existing.len() >= 3, "the example project has backlog items");

    remote.cut("c");
    let mut tasks = Vec::new();
    for (s, server) in servers.iter().enumerate() {
        for agent in 0..4 {
            let client = server.client(&format!("agent-{s}-{agent}")).await;
            let target = existing[(s * 4 + agent) % existing.len()].clone();
            tasks.push(tokio::spawn(async move {
                let mut added = Vec::new();
                for n in 0..5 {
                    let id = format!("item-{s}-{agent}-{n}");
                    let summary = format!("added on server {s} by agent {agent}");
                    call_ok(
                        &client,
                        "worksync_add_backlog",
                        json!({"project": P, "id": id, "summary": summary, "theme": "sharing"}),
                    )
                    .await;
                    added.push(id);
                }
                let summary = format!("updated on server {s} by agent {agent}");
                call_ok(&client, "worksync_update_backlog", json!({"project": P, "id": target, "summary": summary}))
                    .await;
                client.cancel().await.unwrap();
                (added, target, summary)
            }));
        }
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.push(task.await.unwrap());
    }
    // c wrote while cut off: its writes are local only until it heals.
    let c_status = c.status().await;
    assert_ne!(c_status["shared"][P]["state"], "synced", "c cannot reach the remote: {c_status}");
    remote.link("c");

    let added: BTreeSet<String> = acknowledged.iter().flat_map(|(added, _, _)| added.clone()).collect();
    let text = converged(&servers, |text| {
        let ids = backlog_ids(text);
        let missing: Vec<_> = added.iter().filter(|id| !ids.contains(id)).collect();
        if missing.is_empty() { Ok(()) } else { Err(format!("{} adds missing", missing.len())) }
    })
    .await;
    let ids = backlog_ids(&text);
    for id in &added {
        assert_eq!(ids.iter().filter(|i| *i == id).count(), 1, "{id} is there exactly once");
    }
    // Each update is the item's summary now, or the value that lost a logged conflict.
    let index: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let logs = conflict_logs(&servers);
    for (_, target, summary) in &acknowledged {
        let item = index["backlog"].as_sequence().unwrap().iter().find(|i| i["id"] == target.as_str()).unwrap();
        assert!(
            item["summary"] == summary.as_str() || logs.contains(summary.as_str()),
            "the update '{summary}' of {target} is neither there nor in a conflict log"
        );
    }
    // The remote: linear history, no conflict marker ever, fsck clean.
    let log = remote.git(&["log", "-p", "--format=%H %P", "main"]);
    assert!(!log.contains("<<<<<<<") && !log.contains(">>>>>>>"), "a conflict marker reached the remote");
    let merges = remote.git(&["rev-list", "--merges", "main"]);
    assert!(merges.trim().is_empty(), "no merge commits: {merges}");
    remote.git(&["fsck", "--strict"]);
    for server in servers {
        eventually("every change is synced", PATIENCE, async || {
            let status = server.status().await;
            let shared = &status["shared"][P];
            let state = shared["state"].as_str().unwrap_or_default();
            let settled = ["synced", "syncing"].contains(&state) && shared["pending_changes"] == 0;
            if settled && shared["last_error"].is_null() { Ok(()) } else { Err(status.to_string()) }
        })
        .await;
    }
}

/// An edit pushed from a person's own clone merges into the servers, credited to its
/// author; a commit with conflict markers pushed from a clone is refused as sync input: the
/// server keeps serving and its file is untouched, and sync resumes once the remote is fixed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_from_a_clone_merge_in_and_broken_pushes_are_refused() {
    let remote = Remote::new();
    let a = sharing_server(&remote, "a").await;
    let client = a.client("watcher").await;
    let cursor = call_ok(&client, "worksync_changes", json!({"project": P})).await["cursor"].clone();
    let clone_dir = tempfile::tempdir().unwrap();
    let clone = clone_dir.path().join("plan");
    git(clone_dir.path(), &["clone", "--quiet", remote.bare().to_str().unwrap(), "plan"]);
    let path = clone.join("work-index.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let first = backlog_ids(&text)[0].clone();
    let edited = text.replacen(
        "backlog:\n",
        "backlog:\n- id: from-a-clone\n  theme: people\n  summary: pushed by a person\n  status: todo\n",
        1,
    );
    assert_ne!(edited, text);
    std::fs::write(&path, &edited).unwrap();
    git(&clone, &["commit", "--quiet", "-am", "a person's edit"]);
    git(&clone, &["push", "--quiet", "origin", "HEAD:main"]);
    eventually("the clone's edit arrives", PATIENCE, async || {
        if backlog_ids(&work_index(&a)).contains(&"from-a-clone".to_string()) { Ok(()) } else { Err("not yet") }
    })
    .await;
    let changes = call_ok(&client, "worksync_changes", json!({"project": P, "since": cursor})).await;
    assert!(
        changes["changes"].as_array().unwrap().iter().all(|c| c["agent"] != "via git from a"),
        "a machine never credits itself: {changes}"
    );
    let credited = changes["changes"].as_array().unwrap().iter().find(|c| c["id"] == "from-a-clone").cloned();
    assert_eq!(credited.unwrap()["agent"], "via git from Test Person", "{changes}");

    // A broken push: conflict markers in the work index.
    git(&clone, &["pull", "--quiet", "--rebase", "origin", "main"]);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("{text}<<<<<<< HEAD\nbacklog: []\n=======\n>>>>>>> theirs\n")).unwrap();
    git(&clone, &["commit", "--quiet", "-am", "broken"]);
    git(&clone, &["push", "--quiet", "origin", "HEAD:main"]);
    let before = work_index(&a);
    let status = eventually("the broken plan is refused", PATIENCE, async || {
        let status = a.status().await;
        if status["shared"][P]["state"] == "refused" { Ok(status) } else { Err(status.to_string()) }
    })
    .await;
    let error = status["shared"][P]["last_error"].as_str().unwrap();
    assert!(error.contains("conflict marker") && error.contains("refused as sync input"), "{error}");
    assert_eq!(work_index(&a), before, "the local file is untouched");
    // Still serving, writes included.
    call_ok(&client, "worksync_update_backlog", json!({"project": P, "id": first, "summary": "still serving"})).await;
    // The person fixes the remote: sync resumes and the local write travels.
    std::fs::write(&path, text).unwrap();
    git(&clone, &["commit", "--quiet", "-am", "fixed"]);
    git(&clone, &["push", "--quiet", "origin", "HEAD:main"]);
    eventually("sync resumes", PATIENCE, async || {
        let tip = remote.git(&["show", "main:work-index.yaml"]);
        if tip.contains("still serving") { Ok(()) } else { Err("the local write has not reached the remote") }
    })
    .await;
}

/// A remote whose branch is force-pushed to an old commit, or deleted, stops sync with an
/// error that says what happened; nothing is merged, so nothing is duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewritten_or_deleted_remote_stops_sync() {
    let remote = Remote::new();
    let a = sharing_server(&remote, "a").await;
    let first = remote.git(&["rev-parse", "main"]).trim().to_string();
    let client = a.client("agent").await;
    call_ok(&client, "worksync_add_backlog", json!({"project": P, "id": "after-first", "summary": "s", "theme": "t"}))
        .await;
    eventually("the add is pushed", PATIENCE, async || {
        if remote.git(&["show", "main:work-index.yaml"]).contains("after-first") { Ok(()) } else { Err("not yet") }
    })
    .await;
    remote.git(&["update-ref", "refs/heads/main", &first]);
    let status = eventually("sync stops", PATIENCE, async || {
        let status = a.status().await;
        if status["shared"][P]["state"] == "stopped" { Ok(status) } else { Err(status.to_string()) }
    })
    .await;
    let error = status["shared"][P]["last_error"].as_str().unwrap();
    assert!(error.contains("rewritten") && error.contains("push --force"), "{error}");
    assert_eq!(remote.git(&["rev-parse", "main"]).trim(), first, "the server did not push over the rewrite");
    let ids = backlog_ids(&work_index(&a));
    assert_eq!(ids.iter().filter(|i| *i == "after-first").count(), 1);

    remote.git(&["update-ref", "-d", "refs/heads/main"]);
    eventually("sync reports the deleted branch", PATIENCE, async || {
        let status = a.status().await;
        let error = status["shared"][P]["last_error"].as_str().unwrap_or_default().to_string();
        if error.contains("no longer exists") { Ok(()) } else { Err(error) }
    })
    .await;
}

/// The same field changed on two servers while they cannot see each other: both converge on
/// one value by the documented rule, and the losing value is in the conflict log and in the
/// change feed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_field_conflict_is_resolved_and_logged() {
    let remote = Remote::new();
    let a = sharing_server(&remote, "a").await;
    let b = joining_server(&remote, "b").await;
    let start = converged(&[&a, &b], |_| Ok(())).await;
    let id = backlog_ids(&start)[0].clone();
    remote.cut("a");
    remote.cut("b");
    let (ca, cb) = (a.client("alice").await, b.client("bob").await);
    let cursors = [
        call_ok(&ca, "worksync_changes", json!({"project": P})).await["cursor"].clone(),
        call_ok(&cb, "worksync_changes", json!({"project": P})).await["cursor"].clone(),
    ];
    call_ok(&ca, "worksync_update_backlog", json!({"project": P, "id": id, "summary": "alpha wording"})).await;
    call_ok(&cb, "worksync_update_backlog", json!({"project": P, "id": id, "summary": "beta wording"})).await;
    remote.link("a");
    remote.link("b");
    let text = converged(&[&a, &b], |text| {
        if text.contains("alpha wording") || text.contains("beta wording") { Ok(()) } else { Err("no update".into()) }
    })
    .await;
    // The rule: the greater value wins ("beta…" > "alpha…").
    assert!(text.contains("beta wording") && !text.contains("alpha wording"), "{text}");
    // The merge is applied before it is pushed, and logged once pushed.
    eventually("the losing value is logged", PATIENCE, async || {
        let logs = conflict_logs(&[&a, &b]);
        if logs.contains("alpha wording") && logs.contains("same field") { Ok(()) } else { Err(logs) }
    })
    .await;
    let names_loser =
        |c: &Value| c["kind"] == "conflict" && c["summary"].as_str().unwrap_or_default().contains("alpha wording");
    eventually("a conflict event names the losing value on both servers", PATIENCE, async || {
        let mut feeds = Vec::new();
        for (client, cursor) in [(&ca, &cursors[0]), (&cb, &cursors[1])] {
            feeds.push(call_ok(client, "worksync_changes", json!({"project": P, "since": cursor})).await);
        }
        // Both: the machine that merged, and the one that fetched its merge (whose value lost).
        let found = feeds.iter().all(|f| f["changes"].as_array().unwrap().iter().any(names_loser));
        if found { Ok(()) } else { Err(format!("{feeds:?}")) }
    })
    .await;
}

use crate::git_lab;

/// `worksync join` and `worksync pull` without a server, under a hostile git setup: a global
/// config with autocrlf, failing hooks, gpg signing with no key and an LFS filter that
/// fails, `GIT_DIR` pointing elsewhere. No hook or filter runs, nothing prompts, and the
/// bytes on the remote are the bytes of the files. A plan whose attributes ask for a filter
/// is refused at join.
#[test]
fn join_and_pull_under_a_hostile_git_setup() {
    let lab = git_lab::Lab::new();
    let gitconfig = lab.home.join(".gitconfig");
    let mut config = std::fs::read_to_string(&gitconfig).unwrap();
    config.push_str("[filter \"lfs\"]\n\tclean = false\n\tsmudge = false\n\tprocess = false\n\trequired = true\n");
    std::fs::write(&gitconfig, config).unwrap();
    let root = lab.dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("config.yaml"), "projects: {}\nsettings:\n  machine: lap\n").unwrap();
    let remote = lab.remote.to_str().unwrap();
    let worksync = |args: &[&str]| {
        let output = lab
            .command(git_lab::BIN)
            .env("GIT_DIR", lab.dir.path().join("nowhere"))
            .env("GIT_INDEX_FILE", lab.dir.path().join("nowhere/index"))
            .arg("--data-root")
            .arg(&root)
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = git_lab::text(&output);
        assert!(!text.contains("hostile hook"), "a hook ran: {text}");
        (output.status.success(), text)
    };
    let (ok, text) = worksync(&["join", remote, "--project", "plan"]);
    assert!(ok, "join: {text}");
    let local = root.join("projects/plan/work-index.yaml");
    let remote_bytes = |path: &str| lab.git_ok(&lab.remote, &["show", &format!("main:{path}")]);
    assert_eq!(std::fs::read_to_string(&local).unwrap(), remote_bytes("work-index.yaml"));
    assert_eq!(std::fs::read_to_string(root.join("projects/plan/PROMPTS/review.md")).unwrap(), "# Review\n");

    // A hand edit with CRLF line endings travels byte for byte.
    let edited =
        std::fs::read_to_string(&local).unwrap().replace("summary: one", "summary: one, edited").replace('\n', "\r\n");
    std::fs::write(&local, &edited).unwrap();
    let (ok, text) = worksync(&["pull", "plan"]);
    assert!(ok && text.contains("pushed"), "pull: {text}");
    assert_eq!(remote_bytes("work-index.yaml"), edited, "the remote holds the file's bytes");
    assert_eq!(
        lab.git_ok(&lab.remote, &["log", "-1", "--format=%an %G?", "main"]).trim(),
        "lap N",
        "unsigned, by the machine"
    );
    // doctor shows the project's sync as the last sync left it (no server needed).
    let (_, doctor) = worksync(&["doctor", "--port", "1"]);
    let line = doctor.lines().find(|l| l.contains("shared plan:")).unwrap_or_else(|| panic!("{doctor}"));
    assert!(line.starts_with("ok") && line.contains("synced on") && line.contains("0 change(s) pending"), "{line}");

    // A plan that asks for a filter is refused at join.
    let seed = lab.dir.path().join("seed");
    lab.git_ok(&seed, &["pull", "--quiet", "origin", "main"]);
    git_lab::write(&seed.join(".gitattributes"), "* filter=lfs diff=lfs merge=lfs -text\n");
    // The person's own git gets a harmless filter for these commands.
    let harmless = [
        "-c",
        "filter.lfs.process=",
        "-c",
        "filter.lfs.clean=cat",
        "-c",
        "filter.lfs.smudge=cat",
        "-c",
        "filter.lfs.required=false",
    ];
    lab.git_ok(&seed, &[&harmless[..], &["add", ".gitattributes"]].concat());
    lab.git_ok(&seed, &[&harmless[..], &["commit", "--quiet", "-m", "lfs"]].concat());
    lab.git_ok(&seed, &[&harmless[..], &["push", "--quiet", "origin", "HEAD:main"]].concat());
    let (ok, text) = worksync(&["join", remote, "--project", "again"]);
    assert!(!ok && text.contains("filter"), "join of a filtered plan: {text}");
    assert!(!root.join("projects/again").exists());
    // The project already joined keeps syncing; no filter runs on its bytes.
    let (ok, text) = worksync(&["pull", "plan"]);
    assert!(ok, "pull after .gitattributes arrived: {text}");
    assert_eq!(std::fs::read_to_string(&local).unwrap(), remote_bytes("work-index.yaml"));
}

/// Eight agents on three servers ask for the next work with a claim at once: eight
/// different items, each held by one agent, and the remote holds one claim ref per item.
/// A claim another machine holds is refused naming the agent and the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn next_with_claim_across_servers_gives_every_agent_its_own_item() {
    let remote = Remote::new();
    let a = sharing_server(&remote, "a").await;
    plenty_of_free_work(&a).await;
    let b = joining_server(&remote, "b").await;
    let c = joining_server(&remote, "c").await;
    let mut agents = Vec::new();
    for (machine, server, count) in [("a", &a, 3), ("b", &b, 3), ("c", &c, 2)] {
        for n in 0..count {
            agents.push((machine, server.client(&format!("agent-{machine}-{n}")).await));
        }
    }
    let held = next_with_claim_at_once(agents, 30.0).await;
    assert_only_one_claim_ref_per_item(&remote, &held);
    for (machine, server) in [("a", &a), ("b", &b), ("c", &c)] {
        claims_of_other_machines_are_refused(machine, &server.client("late-agent").await, &held).await;
    }
}

/// As above with one machine's wall clock ten minutes fast and five-minute leases: a lease
/// is counted on the observer's own clock from when it first saw the claim, so the fast
/// machine does not take the others' claims for ended, nor they its claims for longer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn next_with_claim_across_servers_with_a_clock_ten_minutes_fast() {
    let remote = Remote::new();
    let a = sharing_server(&remote, "a").await;
    plenty_of_free_work(&a).await;
    let b = joining_server(&remote, "b").await;
    // c is a real process under faketime, joined by the command line (no server yet).
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("c");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("config.yaml"), "projects: {}\nsettings:\n  machine: c\n").unwrap();
    let joined = Command::new(env!("CARGO_BIN_EXE_worksync"))
        .arg("--data-root")
        .arg(&root)
        .args(["join", &remote.link("c"), "--project", P, "--interval", &INTERVAL.to_string()])
        .output()
        .unwrap();
    assert!(joined.status.success(), "join: {}", String::from_utf8_lossy(&joined.stderr));
    let c = common::Process::serve_with_clock_ahead(&root, "+10m");
    let mut agents = Vec::new();
    for n in 0..3 {
        agents.push(("a", a.client(&format!("agent-a-{n}")).await));
        agents.push(("c", c.client(&format!("agent-c-{n}")).await));
    }
    for n in 0..2 {
        agents.push(("b", b.client(&format!("agent-b-{n}")).await));
    }
    let held = next_with_claim_at_once(agents, 5.0).await;
    assert_only_one_claim_ref_per_item(&remote, &held);
    claims_of_other_machines_are_refused("c", &c.client("late-agent").await, &held).await;
    claims_of_other_machines_are_refused("a", &a.client("late-agent").await, &held).await;
    claims_of_other_machines_are_refused("b", &b.client("late-agent").await, &held).await;
}

/// Ten free backlog items in the shared project of `server`, pushed to the remote.
async fn plenty_of_free_work(server: &TestServer) {
    let adder = server.client("planner").await;
    for n in 0..10 {
        let id = format!("work-{n}");
        call_ok(&adder, "worksync_add_backlog", json!({"project": P, "id": id, "summary": "to do", "theme": "t"}))
            .await;
    }
    let (code, answer) = post(server, &format!("/share/{P}/pull"), json!({})).await;
    assert_eq!(code, 200, "{answer}");
}

/// Every agent (with the machine it is on) calls `next(claim)` at the same moment. Each must
/// win the remote claim of a different item; returns `(kind, id)` → the holder's machine.
async fn next_with_claim_at_once(
    agents: Vec<(&'static str, common::Client)>,
    lease_minutes: f64,
) -> std::collections::BTreeMap<(String, String), &'static str> {
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(agents.len()));
    let mut tasks = Vec::new();
    for (machine, client) in agents {
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let args = json!({"project": P, "claim": true, "lease_minutes": lease_minutes});
            let answer = call_ok(&client, "worksync_next", args).await;
            client.cancel().await.unwrap();
            (machine, answer)
        }));
    }
    let count = tasks.len();
    let mut held = std::collections::BTreeMap::new();
    for task in tasks {
        let (machine, answer) = task.await.unwrap();
        assert_eq!(answer["claimed"], true, "{answer}");
        assert_eq!(answer["remote_claim"], "won", "{answer}");
        let item = (answer["kind"].as_str().unwrap().to_string(), answer["id"].as_str().unwrap().to_string());
        assert!(held.insert(item, machine).is_none(), "an item was given twice: {answer}");
    }
    assert_eq!(held.len(), count);
    held
}

fn assert_only_one_claim_ref_per_item(remote: &Remote, held: &std::collections::BTreeMap<(String, String), &str>) {
    let refs = remote.git(&["for-each-ref", "--format=%(refname)", &format!("refs/worksync/claims/{P}/")]);
    assert_eq!(refs.lines().count(), held.len(), "one claim ref per item: {refs}");
}

/// `client`, an agent on `machine` that holds nothing, tries to claim every item agents on
/// other machines hold: each is refused naming the holder's machine.
async fn claims_of_other_machines_are_refused(
    machine: &str,
    client: &common::Client,
    held: &std::collections::BTreeMap<(String, String), &str>,
) {
    for ((kind, id), holder) in held.iter().filter(|(_, holder)| **holder != machine) {
        let result = common::call(client, "worksync_claim", json!({"project": P, "kind": kind, "id": id})).await;
        assert_eq!(result.is_error, Some(true), "{machine} took {kind} {id} held on {holder}: {result:?}");
        let body = common::err(result);
        // Refused by the remote's claim ref, or by this machine's record of a claim it lost.
        let named = body["holder"].as_str().unwrap();
        assert!(named.starts_with("agent-") && named.ends_with(&format!(" on {holder}")), "{machine}: {body}");
    }
}

/// New stories on two servers at once get different numbers (reserved on the remote); a
/// server cut off from the remote gives a machine-suffixed id. After healing every story is
/// there once, under the id its server answered, and no merge had to rename one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn story_ids_never_collide_across_servers() {
    let remote = Remote::new();
    let a = sharing_server(&remote, "a").await;
    let b = joining_server(&remote, "b").await;
    let (ca, cb) = (a.client("alice").await, b.client("bob").await);
    async fn add(client: &common::Client, notes: &str) -> rmcp::model::CallToolResult {
        let args = json!({"project": P, "sprint_id": "web-fleet-map", "notes": notes});
        common::call(client, "worksync_add_story", args).await
    }
    let mut answered = Vec::new();
    for round in 0..3 {
        let (na, nb) = (format!("a{round}"), format!("b{round}"));
        let (x, y) = tokio::join!(add(&ca, &na), add(&cb, &nb));
        for result in [x, y] {
            answered.push(common::ok(result)["id"].as_str().unwrap().to_string());
        }
    }
    remote.cut("b");
    let offline = common::ok(add(&cb, "offline").await);
    let offline_id = offline["id"].as_str().unwrap().to_string();
    assert!(offline_id.ends_with("-b"), "a machine-suffixed id: {offline}");
    assert!(offline["story_id_note"].as_str().unwrap().contains("could not be reached"), "{offline}");
    answered.push(offline_id);
    let unique: BTreeSet<&String> = answered.iter().collect();
    assert_eq!(unique.len(), answered.len(), "every story got its own id: {answered:?}");
    remote.link("b");
    let text = converged(&[&a, &b], |text| {
        let missing: Vec<_> = answered.iter().filter(|id| !text.contains(&format!("id: {id}\n"))).collect();
        if missing.is_empty() { Ok(()) } else { Err(format!("missing {missing:?}")) }
    })
    .await;
    for id in &answered {
        assert_eq!(text.matches(&format!("id: {id}\n")).count(), 1, "{id} once");
    }
    for server in [&a, &b] {
        let log = conflict_logs(&[server]);
        assert!(!log.contains("one id given to two different items"), "no story was renamed: {log}");
    }
}

/// The real binary, sharing a project every 50 ms while it and another server take writes,
/// killed with SIGKILL at varying moments (during merges, commits and pushes), then
/// restarted: every acknowledged add ends up on both servers exactly once, sync resumes
/// without an error, and the remote's history stays linear and fsck-clean.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_during_sync_loses_nothing() {
    let remote = Remote::new();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("a");
    worksync::store::Layout::new(&root).bootstrap().unwrap();
    let config = std::fs::read_to_string(root.join("config.yaml")).unwrap();
    let shared = format!("  {P}:\n    share:\n      remote: {}\n      interval_seconds: 0.05\n", remote.link("a"));
    let config =
        config.replacen(&format!("  {P}:\n"), &shared, 1).replacen("settings:\n", "settings:\n  machine: a\n", 1);
    std::fs::write(root.join("config.yaml"), config).unwrap();
    let first = common::Process::serve(&root);
    eventually("the first push", PATIENCE, async || {
        if remote.git(&["for-each-ref", "refs/heads/main"]).is_empty() { Err("not yet") } else { Ok(()) }
    })
    .await;
    drop(first);
    let b = joining_server(&remote, "b").await;
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..8 {
        let server = common::Process::serve(&root);
        let mut writers = Vec::new();
        for (n, client) in [server.client("a-writer").await, b.client("b-writer").await].into_iter().enumerate() {
            let acknowledged = acknowledged.clone();
            writers.push(tokio::spawn(async move {
                for i in 0.. {
                    let id = format!("r{round}-s{n}-{i}");
                    let args = json!({"project": P, "id": id, "summary": "kill test", "theme": "t"});
                    let request = rmcp::model::CallToolRequestParams::new("worksync_add_backlog")
                        .with_arguments(args.as_object().unwrap().clone());
                    match client.call_tool(request).await {
                        Ok(result) if result.is_error != Some(true) => acknowledged.lock().unwrap().push(id),
                        _ => break,
                    }
                    if n == 1 && i > 30 {
                        break;
                    }
                }
            }));
        }
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Any moment must be safe: the sleep picks one, it waits for no condition.
        tokio::time::sleep(Duration::from_millis(100 + seed % 500)).await;
        server.kill_and_wait().await;
        for writer in writers {
            writer.abort();
        }
    }
    let last = common::Process::serve(&root);
    let acknowledged = acknowledged.lock().unwrap().clone();
    let a_index = root.join(format!("projects/{P}/work-index.yaml"));
    let text = eventually("both servers hold every acknowledged add", PATIENCE * 2, async || {
        let (ta, tb) = (std::fs::read_to_string(&a_index).unwrap(), work_index(&b));
        if ta != tb {
            let status_b = b.status().await;
            let status_a = reqwest::Client::new().get(format!("{}/status", last.base)).bearer_auth(TOKEN).send().await;
            let status_a = match status_a {
                Ok(response) => response.text().await.unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            return Err(format!("the servers differ; a: {status_a}; b: {}", status_b["shared"]));
        }
        let ids = backlog_ids(&ta);
        let missing = acknowledged.iter().filter(|id| !ids.contains(id)).count();
        if missing > 0 { Err(format!("{missing} acknowledged adds missing")) } else { Ok(ta) }
    })
    .await;
    let ids = backlog_ids(&text);
    for id in &acknowledged {
        assert_eq!(ids.iter().filter(|i| *i == id).count(), 1, "{id} exactly once");
    }
    assert!(remote.git(&["rev-list", "--merges", "main"]).trim().is_empty());
    remote.git(&["fsck", "--strict"]);
    let status: Value = reqwest::Client::new()
        .get(format!("{}/status", last.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(status["shared"][P]["last_error"].is_null(), "{status}");
    eprintln!("8 SIGKILLs during sync, {} acknowledged adds, none lost", acknowledged.len());
}

/// History rotation on one machine (it keeps 5 entries, the rest go to
/// `COMPLETE/history.yaml`) while another appends: after healing, both hold the same index
/// and archive, and every entry is in exactly one of them, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_rotation_on_one_machine_keeps_every_entry_once() {
    let remote = Remote::new();
    let a = sharing_server_with(&remote, "a", "  history_rotation: 5\n").await;
    let b = joining_server(&remote, "b").await;
    converged(&[&a, &b], |_| Ok(())).await;
    remote.cut("a");
    remote.cut("b");
    let (ca, cb) = (a.client("alice").await, b.client("bob").await);
    let mut written = Vec::new();
    for n in 0..8 {
        for (client, side) in [(&ca, "a"), (&cb, "b")] {
            let summary = format!("entry {side}{n}");
            call_ok(client, "worksync_history", json!({"project": P, "action": "add", "summary": summary})).await;
            written.push(summary);
        }
    }
    remote.link("a");
    remote.link("b");
    let archive = |server: &TestServer| {
        std::fs::read_to_string(server.path(&format!("projects/{P}/COMPLETE/history.yaml"))).unwrap_or_default()
    };
    converged(&[&a, &b], |text| {
        let (aa, ab) = (archive(&a), archive(&b));
        let all = format!("{text}{aa}");
        let missing = written.iter().filter(|w| !all.contains(&format!("summary: {w}\n"))).count();
        if aa != ab {
            Err("the archives differ".into())
        } else if missing > 0 {
            Err(format!("{missing} entries missing"))
        } else {
            Ok(())
        }
    })
    .await;
    let all = format!("{}{}", work_index(&a), archive(&a));
    assert!(!archive(&a).is_empty(), "a rotated history into the archive");
    for entry in &written {
        assert_eq!(
            all.matches(&format!("summary: {entry}\n")).count(),
            1,
            "{entry} is in the index or the archive, once"
        );
    }
}

/// A local write is pushed soon after it is made, not at the end of the interval (here ten
/// minutes): the remote has it long before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_write_is_pushed_without_waiting_for_the_interval() {
    let remote = Remote::new();
    let a = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        let config = std::fs::read_to_string(layout.config()).unwrap();
        std::fs::write(layout.config(), config.replacen("settings:\n", "settings:\n  machine: a\n", 1)).unwrap();
    })
    .await;
    let body = json!({ "remote": remote.link("a"), "interval_seconds": 600 });
    let (code, answer) = post(&a, &format!("/share/{P}"), body).await;
    assert_eq!(code, 200, "{answer}");
    let client = a.client("agent").await;
    call_ok(&client, "worksync_add_backlog", json!({"project": P, "id": "pushed-soon", "summary": "s", "theme": "t"}))
        .await;
    eventually("the write reaches the remote", PATIENCE, async || {
        if remote.git(&["show", "main:work-index.yaml"]).contains("pushed-soon") { Ok(()) } else { Err("not yet") }
    })
    .await;
}

/// A backlog priority set on one server (kept beside the file, where the Python schema has
/// no room for it) reaches the other through that machine's own metadata file; when both
/// set one item's priority, the later setting wins on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priorities_travel_in_each_machines_file() {
    let remote = Remote::new();
    let a = sharing_server(&remote, "a").await;
    let b = joining_server(&remote, "b").await;
    let text = converged(&[&a, &b], |_| Ok(())).await;
    let ids = backlog_ids(&text);
    let (ca, cb) = (a.client("alice").await, b.client("bob").await);
    let priority = |server: &TestServer, id: &str| {
        sidecar_of(server).items.get(format!("backlog/{id}").as_str()).and_then(|m| m.priority)
    };
    call_ok(&ca, "worksync_update_backlog", json!({"project": P, "id": ids[0], "priority": 1})).await;
    eventually("a's priority reaches b", PATIENCE, async || {
        if priority(&b, &ids[0]) == Some(1) { Ok(()) } else { Err(format!("{:?}", priority(&b, &ids[0]))) }
    })
    .await;
    // b sets it later: its setting wins on both, and a's file still holds a's value.
    call_ok(&cb, "worksync_update_backlog", json!({"project": P, "id": ids[0], "priority": 5})).await;
    eventually("b's later priority wins on a", PATIENCE, async || {
        if priority(&a, &ids[0]) == Some(5) { Ok(()) } else { Err(format!("{:?}", priority(&a, &ids[0]))) }
    })
    .await;
    let a_file = remote.git(&["show", "main:worksync/machines/a.json"]);
    assert!(a_file.contains("\"value\": 1"), "{a_file}");
    assert!(
        !remote.git(&["show", "main:work-index.yaml"]).contains("priority"),
        "the work index stays in the Python schema"
    );
}

/// Dependencies travel like priorities, in each machine's own file: an edge added on one
/// server blocks the item on the other, and removing it there frees it here. Two edges added
/// on machines cut off from each other that close a cycle together (A → B here, B → A
/// there) are combined alike on both: the newer one is left out, so nothing is blocked
/// forever, and it is still in its machine's file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dependencies_travel_and_a_cycle_made_by_two_machines_is_broken_alike() {
    let remote = Remote::new();
    let a = sharing_server(&remote, "a").await;
    let b = joining_server(&remote, "b").await;
    let text = converged(&[&a, &b], |_| Ok(())).await;
    let ids = backlog_ids(&text);
    let (ca, cb) = (a.client("alice").await, b.client("bob").await);
    let depends_on = |server: &TestServer, id: &str| {
        sidecar_of(server).items.get(format!("backlog/{id}").as_str()).map(|m| m.depends_on.clone()).unwrap_or_default()
    };
    let edge = |id: &str| vec![format!("backlog/{id}")];

    call_ok(&ca, "worksync_depend", json!({"project": P, "id": ids[1], "add": [ids[0]]})).await;
    eventually("a's dependency reaches b", PATIENCE, async || {
        if depends_on(&b, &ids[1]) == edge(&ids[0]) { Ok(()) } else { Err(format!("{:?}", depends_on(&b, &ids[1]))) }
    })
    .await;
    let refused = common::call_err(&cb, "worksync_claim", json!({"project": P, "kind": "backlog", "id": ids[1]})).await;
    assert_eq!(refused["blocked_by"], json!([ids[0]]), "blocked on b too: {refused}");
    call_ok(&cb, "worksync_depend", json!({"project": P, "id": ids[1], "remove": [ids[0]]})).await;
    eventually("b's removal reaches a", PATIENCE, async || {
        if depends_on(&a, &ids[1]).is_empty() { Ok(()) } else { Err(format!("{:?}", depends_on(&a, &ids[1]))) }
    })
    .await;

    remote.cut("a");
    remote.cut("b");
    call_ok(&ca, "worksync_depend", json!({"project": P, "id": ids[2], "add": [ids[3]]})).await;
    call_ok(&cb, "worksync_depend", json!({"project": P, "id": ids[3], "add": [ids[2]]})).await;
    remote.link("a");
    remote.link("b");
    let graph = |server: &TestServer| (depends_on(server, &ids[2]), depends_on(server, &ids[3]));
    let agreed = eventually("both machines combine the two edges alike", PATIENCE, async || {
        let (on_a, on_b) = (graph(&a), graph(&b));
        let one_edge = on_a.0.len() + on_a.1.len() == 1;
        if on_a == on_b && one_edge { Ok(on_a) } else { Err(format!("a {on_a:?}, b {on_b:?}")) }
    })
    .await;
    assert!(agreed == (edge(&ids[3]), vec![]) || agreed == (vec![], edge(&ids[2])), "{agreed:?}");
    let files = remote.git(&["show", "main:worksync/machines/a.json"])
        + &remote.git(&["show", "main:worksync/machines/b.json"]);
    assert!(
        files.contains(&format!("\"backlog/{}\"", ids[2])) && files.contains(&format!("\"backlog/{}\"", ids[3])),
        "both edges kept in their files: {files}"
    );
    let next = call_ok(&ca, "worksync_next", json!({"project": P})).await;
    assert!(!next["next"].is_null(), "nothing is blocked forever: {next}");
}

/// Two servers cut off from each other add different items under one caller-chosen id, and
/// one removes an item the other changes: after healing both items are kept (the second
/// under a suffixed id), the removed-but-changed item is kept, and both are in the conflict
/// log. The refusal of the ambiguous id on the machine whose item moved outlives a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_collisions_and_removals_of_changed_items_are_kept_and_reported() {
    let remote = Remote::new();
    let mut a = sharing_server(&remote, "a").await;
    let mut b = joining_server(&remote, "b").await;
    let start = converged(&[&a, &b], |_| Ok(())).await;
    let existing = backlog_ids(&start)[1].clone();
    remote.cut("a");
    remote.cut("b");
    let (ca, cb) = (a.client("alice").await, b.client("bob").await);
    let add = |summary: &str| json!({"project": P, "id": "same-name", "summary": summary, "theme": "t"});
    call_ok(&ca, "worksync_add_backlog", add("alice's item")).await;
    call_ok(&cb, "worksync_add_backlog", add("bob's item")).await;
    for client in [&ca, &cb] {
        call_ok(client, "worksync_claim", json!({"project": P, "kind": "backlog", "id": "same-name"})).await;
    }
    call_ok(&ca, "worksync_remove_backlog", json!({"project": P, "id": existing})).await;
    call_ok(&cb, "worksync_update_backlog", json!({"project": P, "id": existing, "summary": "changed while removed"}))
        .await;
    remote.link("a");
    remote.link("b");
    let text = converged(&[&a, &b], |text| {
        let both = text.contains("alice's item") && text.contains("bob's item");
        if both && text.contains("changed while removed") { Ok(()) } else { Err("not merged yet".into()) }
    })
    .await;
    let ids = backlog_ids(&text);
    assert_eq!(ids.iter().filter(|id| id.starts_with("same-name")).count(), 2, "{ids:?}");
    assert!(ids.contains(&"same-name".to_string()) && ids.contains(&existing));
    // The machine whose item got the new id: its agent is told, naming both ids, and its
    // claim moved with its item; the other machine's agent goes on as before.
    let index: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let items = index["backlog"].as_sequence().unwrap();
    let moved = items.iter().find(|i| i["id"].as_str().unwrap().starts_with("same-name-")).unwrap();
    let new_id = moved["id"].as_str().unwrap().to_string();
    let (renamed, renamed_agent, agent, kept_client) =
        if moved["summary"] == "alice's item" { (&a, &ca, "alice", &cb) } else { (&b, &cb, "bob", &ca) };
    let update = |id: &str| json!({"project": P, "id": id, "summary": "after the merge"});
    let refused = common::call_err(renamed_agent, "worksync_update_backlog", update("same-name")).await;
    let error = format!("{} {}", refused["error"], refused["hint"]);
    assert!(error.contains("'same-name'") && error.contains(&format!("'{new_id}'")), "{refused}");
    call_ok(renamed_agent, "worksync_update_backlog", update(&new_id)).await;
    call_ok(kept_client, "worksync_update_backlog", update("same-name")).await;
    let sidecar = sidecar_of(renamed);
    assert_eq!(
        sidecar.claims.get(&format!("backlog/{new_id}")).map(|c| c.agent.as_str()),
        Some(agent),
        "{:?}",
        sidecar.claims
    );
    assert!(!sidecar.claims.contains_key("backlog/same-name"), "the other machine's item is not claimed here");
    eventually("both disagreements are logged", PATIENCE, async || {
        let logs = conflict_logs(&[&a, &b]);
        let collision = logs.contains("one id given to two different items");
        let removal = logs.contains("removed on one side, changed on the other");
        if collision && removal { Ok(()) } else { Err(logs) }
    })
    .await;
    let renamed_is_a = moved["summary"] == "alice's item";
    let renamed = if renamed_is_a { &mut a } else { &mut b };
    renamed.stop().await;
    let again = TestServer::serve_root(renamed.root()).await;
    let refused = common::call_err(&again.client(agent).await, "worksync_update_backlog", update("same-name")).await;
    let error = format!("{} {}", refused["error"], refused["hint"]);
    assert!(error.contains("'same-name'") && error.contains(&format!("'{new_id}'")), "after a restart: {refused}");
}

/// With the remote unreachable a claim is held here only and the answer says so; with
/// `settings.shared_claims_offline: refuse` it is refused and nothing stays claimed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_while_the_remote_is_unreachable() {
    let remote = Remote::new();
    let a = sharing_server(&remote, "a").await;
    let other_remote = Remote::new();
    let strict = sharing_server_with(&other_remote, "s", "  shared_claims_offline: refuse\n").await;
    let text = work_index(&a);
    let id = backlog_ids(&text)[0].clone();
    remote.cut("a");
    let client = a.client("agent").await;
    let claimed = call_ok(&client, "worksync_claim", json!({"project": P, "kind": "backlog", "id": id})).await;
    let note = claimed["remote_claim"].as_str().unwrap();
    assert!(note.starts_with("local only") && note.contains("could not be reached"), "{claimed}");
    other_remote.cut("s");
    let client = strict.client("agent").await;
    let refused = common::call_err(&client, "worksync_claim", json!({"project": P, "kind": "backlog", "id": id})).await;
    assert!(refused["error"].as_str().unwrap().contains("could not be reached"), "{refused}");
    let sidecar = sidecar_of(&strict);
    assert!(sidecar.claims.is_empty(), "nothing stays claimed: {:?}", sidecar.claims);
}

/// `share` refuses a remote that already holds an unrelated plan and a shallow clone; `join`
/// refuses a name that is taken and a remote without the branch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_and_join_refuse_what_would_merge_wrongly() {
    let remote = Remote::new();
    let _a = sharing_server(&remote, "a").await;
    // Another server's own project cannot be shared onto that plan.
    let other = TestServer::start_with(|layout| drop(layout.bootstrap().unwrap())).await;
    let (code, answer) = post(&other, &format!("/share/{P}"), json!({ "remote": remote.link("o") })).await;
    assert_eq!(code, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("unrelated"), "{answer}");
    // A shallow clone of the plan is no remote to share on.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}", remote.bare().display());
    git(dir.path(), &["clone", "--quiet", "--bare", "--depth", "1", &url, "shallow.git"]);
    let shallow = dir.path().join("shallow.git").display().to_string();
    let (code, answer) = post(&other, "/join", json!({ "remote": shallow, "project": "plan" })).await;
    assert_eq!(code, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("shallow"), "{answer}");
    // Joining under a name that is taken, or a branch that does not exist.
    let (code, answer) = post(&other, "/join", json!({ "remote": remote.link("o"), "project": P })).await;
    assert_eq!(code, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("already here"), "{answer}");
    let body = json!({ "remote": remote.link("o"), "project": "plan", "branch": "nope" });
    let (code, answer) = post(&other, "/join", body).await;
    assert_eq!(code, 409, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("no branch 'nope'"), "{answer}");
}

/// What a server keeps beside the shared project's work index (revisions, claims,
/// priorities, dependencies), read from its disk.
fn sidecar_of(server: &TestServer) -> worksync::store::Sidecar {
    worksync::store::SidecarFile::load(&server.path(&format!("projects/{P}/.worksync")))
}
