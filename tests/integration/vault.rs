//! The Obsidian vault: the notes themselves (golden copy, frontmatter, links, Dataview
//! blocks), the generator's safety rules on real files, and the server's debounced
//! regeneration observed through its `/status` counter.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{TestServer, call_ok};
use serde_json::{Value, json};
use worksync::store::{Layout, Snapshot};
use worksync::vault::{Generator, Options, Report, SyncSettings};

/// The reviewed vault of `projects.example/`; `UPDATE_GOLDEN=1 cargo test --test integration vault::`
/// rewrites it (review the diff before committing).
const GOLDEN: &str = "tests/golden/example-vault.md";

/// A data root bootstrapped from the bundled defaults.
fn example_root() -> (tempfile::TempDir, Layout) {
    let root = tempfile::tempdir().unwrap();
    let layout = Layout::new(root.path());
    layout.bootstrap().unwrap();
    (root, layout)
}

fn generate(layout: &Layout, generator: &mut Generator, options: Options) -> Report {
    let snapshot = Snapshot::read_only(layout).expect("data root reads");
    let report = generator.run(&snapshot, &options).expect("vault generates");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
}

fn generator(layout: &Layout) -> Generator {
    Generator::new(layout.root().join("vault"), &layout.templates_dir())
}

/// Every Markdown file under `dir`, by `/`-separated relative path.
fn markdown_files(dir: &Path) -> BTreeMap<String, String> {
    common::files_ending(dir, &["md"])
}

fn mtimes(dir: &Path) -> BTreeMap<String, SystemTime> {
    markdown_files(dir)
        .into_keys()
        .map(|p| {
            let modified = std::fs::metadata(dir.join(&p)).unwrap().modified().unwrap();
            (p, modified)
        })
        .collect()
}

/// Rewrites a project's work index through a YAML value (a test fixture, not the server).
fn edit_index(layout: &Layout, project: &str, edit: impl FnOnce(&mut serde_yaml_ng::Value)) {
    let path = layout.work_index(project).unwrap();
    let mut index: serde_yaml_ng::Value = serde_yaml_ng::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut index);
    std::fs::write(&path, serde_yaml_ng::to_string(&index).unwrap()).unwrap();
}

/// The vault of `projects.example/` is, note for note and byte for byte, the reviewed golden
/// copy: nothing about any note changes unnoticed.
#[test]
fn the_example_vault_matches_the_reviewed_golden_copy() {
    let (_root, layout) = example_root();
    let report = generate(&layout, &mut generator(&layout), Options { full: true, ..Options::default() });
    let notes = common::files_ending(&layout.root().join("vault"), &["md", "base"]);
    assert_eq!(report.written, notes.len());
    assert!(report.kept.is_empty() && report.template_problems.is_empty(), "{report:?}");
    let mut text = String::new();
    for (path, content) in &notes {
        text.push_str(&format!("<<<<<<<<<< {path}\n{content}"));
    }
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(Path::new(GOLDEN).parent().unwrap()).unwrap();
        std::fs::write(GOLDEN, &text).unwrap();
    }
    let golden = std::fs::read_to_string(GOLDEN).expect("golden copy exists (UPDATE_GOLDEN=1 makes it)");
    if golden != text {
        let first = golden.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(0);
        panic!(
            "the example vault differs from {GOLDEN} at line {}:\n  golden: {:?}\n  now:    {:?}\nIf the change is intended, \
             run UPDATE_GOLDEN=1 cargo test --test integration vault:: and review the diff.",
            first + 1,
            golden.lines().nth(first),
            text.lines().nth(first)
        );
    }
}

/// A second project with the same story ids and themes, and hand-written oddities: a theme
/// with a slash, a related sprint that does not exist, notes with link syntax.
fn two_projects() -> (tempfile::TempDir, Layout) {
    let (root, layout) = example_root();
    common::copy_tree(&layout.project_dir("orbit-api").unwrap(), &layout.project_dir("orbit-web").unwrap());
    let config = std::fs::read_to_string(layout.config()).unwrap();
    let config = config.replace(
        "vault_path:",
        "  orbit-web:\n    repo: ~/src/orbit-web\n    description: The web client, split out\nvault_path:",
    );
    std::fs::write(layout.config(), config).unwrap();
    edit_index(&layout, "orbit-web", |index| {
        let backlog = index["backlog"].as_sequence_mut().unwrap();
        backlog[0]["theme"] = "CI/CD: pipelines".into();
        backlog[0]["related_sprints"] = serde_yaml_ng::from_str("[auth-hardening, no-such-sprint]").unwrap();
        backlog[1]["theme"] = "2024".into();
        index["sprints"][0]["stories"][0]["notes"] = "See [[elsewhere]] | and a | pipe\nsecond line".into();
    });
    (root, layout)
}

/// Two projects with the same story ids and themes, and hand-written oddities: every note has
/// frontmatter with a type and Obsidian tags, every link resolves inside its own project,
/// every Dataview query reads folders that exist, and a missing sprint is plain text.
#[test]
fn notes_are_well_formed_and_every_link_resolves() {
    let (_root, layout) = two_projects();
    generate(&layout, &mut generator(&layout), Options { full: true, ..Options::default() });
    let vault = layout.root().join("vault");
    let notes = markdown_files(&vault);
    assert!(
        notes.contains_key("projects/orbit-web/Stories/STORY-1.md")
            && notes.contains_key("projects/orbit-api/Stories/STORY-1.md")
    );
    assert!(
        notes.contains_key("projects/orbit-web/Themes/security.md")
            && notes.contains_key("projects/orbit-api/Themes/security.md")
    );
    let link = regex_lite_links();
    let mut links = 0;
    let mut queries = 0;
    for (path, text) in &notes {
        // Frontmatter: a YAML mapping with a type, and well-formed tags.
        let rest = text.strip_prefix("---\n").unwrap_or_else(|| panic!("{path} starts with frontmatter"));
        let (frontmatter, body) = rest.split_once("\n---\n").unwrap_or_else(|| panic!("{path} closes its frontmatter"));
        let meta: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(frontmatter).unwrap_or_else(|e| panic!("{path} frontmatter does not parse: {e}"));
        assert!(meta["type"].as_str().is_some(), "{path} has a type");
        for tag in meta["tags"].as_sequence().unwrap_or_else(|| panic!("{path} has tags")) {
            let tag = tag.as_str().unwrap_or_else(|| panic!("{path}: tag {tag:?} is a string"));
            assert!(
                tag.chars().all(|c| c.is_alphanumeric() || "_-/".contains(c))
                    && !tag.chars().all(|c| c.is_ascii_digit()),
                "{path}: {tag} is an Obsidian tag"
            );
        }
        if path.starts_with("projects/") && !path.ends_with("Dashboard.md") {
            assert!(meta["project"].as_str().is_some(), "{path} names its project");
        }
        // Links: every target is a note of the vault, and a project links only inside itself
        // (or to the global dashboard).
        for target in link(body) {
            if target == "elsewhere" {
                continue; // a link a person wrote in the story's notes: theirs to resolve
            }
            links += 1;
            if target.ends_with(".base") {
                assert!(vault.join(&target).is_file(), "{path} links to {target}, which is not a Bases file");
            } else {
                assert!(notes.contains_key(&format!("{target}.md")), "{path} links to {target}, which is not a note");
            }
            if let Some(project) = path.strip_prefix("projects/").and_then(|p| p.split('/').next()) {
                assert!(
                    target.starts_with(&format!("projects/{project}/"))
                        || target == "Global Dashboard"
                        || target == "Board.base",
                    "{path} links across projects to {target}"
                );
            }
        }
        // Nothing needs a plugin: no Dataview query stands in for content.
        assert!(!body.contains("```dataview"), "{path} holds a Dataview query");
    }
    assert!(links > 300, "links were checked ({links})");
    // The Bases files filter on folders that exist.
    for base in ["Board.base", "projects/orbit-api/Board.base", "projects/orbit-web/Board.base"] {
        let text = std::fs::read_to_string(vault.join(base)).unwrap_or_else(|e| panic!("{base}: {e}"));
        for folder in text.split("file.inFolder(\"").skip(1).map(|rest| rest.split('"').next().unwrap()) {
            queries += 1;
            assert!(vault.join(folder).is_dir(), "{base}: {folder} is not a folder of the vault");
        }
    }
    assert_eq!(queries, 4, "folder filters were checked");
    // The oddities: a theme with a slash is a file, a missing sprint is plain text.
    let item = notes
        .iter()
        .find(|(p, text)| p.starts_with("projects/orbit-web/Backlog/") && text.contains("no-such-sprint"))
        .map(|(_, text)| text)
        .expect("the edited item has a note");
    assert!(item.contains("[[projects/orbit-web/Themes/CI-CD- pipelines|CI/CD: pipelines]]"), "{item}");
    assert!(item.contains("no-such-sprint") && !item.contains("[[projects/orbit-web/Sprints/no-such-sprint"), "{item}");
    assert!(item.contains("theme/CI/CD--pipelines"), "{item}");
}

/// The wikilink targets in `text` (`[[target]]`, `[[target|label]]`, `[[target\|label]]`).
fn regex_lite_links() -> impl Fn(&str) -> Vec<String> {
    |text: &str| {
        text.split("[[")
            .skip(1)
            .map(|rest| {
                let inner = rest.split("]]").next().unwrap();
                inner.split('|').next().unwrap().trim_end_matches('\\').to_string()
            })
            .collect()
    }
}

/// Regenerating after edits of the YAML writes only the notes that changed and removes only
/// our own; a person's files, edited notes and files where a new note would go are kept and
/// reported (unless adopted); a full run sweeps only our temp files; a broken project keeps
/// its notes and the dashboard says why.
#[test]
fn regeneration_writes_only_what_changed_and_never_touches_a_users_file() {
    let (_root, layout) = example_root();
    let vault = layout.root().join("vault");
    let mut generator = generator(&layout);
    generate(&layout, &mut generator, Options { full: true, ..Options::default() });
    std::fs::write(vault.join("My plan.md"), "my own note").unwrap();
    std::fs::create_dir_all(vault.join(".obsidian")).unwrap();
    std::fs::write(vault.join(".obsidian/app.json"), "{\"legacyEditor\":false}").unwrap();
    std::fs::write(vault.join("projects/orbit-api/Backlog/my-idea.md"), "an idea").unwrap();
    let before = mtimes(&vault);

    // One backlog item goes away: its note goes, its theme hub and the dashboards change.
    edit_index(&layout, "orbit-api", |index| {
        index["backlog"].as_sequence_mut().unwrap().retain(|b| b["id"] != "web-strict-csp");
    });
    let report = generate(&layout, &mut generator, Options::default());
    assert_eq!(report.removed_paths, ["projects/orbit-api/Backlog/web-strict-csp.md"]);
    let mut written = report.written_paths.clone();
    written.sort();
    assert_eq!(
        written,
        ["Global Dashboard.md", "projects/orbit-api/Dashboard.md", "projects/orbit-api/Themes/security.md"],
        "only the notes that list the item change"
    );
    let after = mtimes(&vault);
    for (path, modified) in &after {
        if !written.contains(path) {
            assert_eq!(Some(modified), before.get(path), "{path} was not rewritten");
        }
    }
    assert_eq!(std::fs::read_to_string(vault.join("My plan.md")).unwrap(), "my own note");
    assert_eq!(std::fs::read_to_string(vault.join(".obsidian/app.json")).unwrap(), "{\"legacyEditor\":false}");
    assert_eq!(std::fs::read_to_string(vault.join("projects/orbit-api/Backlog/my-idea.md")).unwrap(), "an idea");

    // A generated note a person edited is kept, and said so, when its item changes.
    let story = vault.join("projects/orbit-api/Stories/STORY-14.md");
    let edited = format!("{}\nMy remark.\n", std::fs::read_to_string(&story).unwrap());
    std::fs::write(&story, &edited).unwrap();
    edit_index(&layout, "orbit-api", |index| {
        index["sprints"][3]["stories"][4]["status"] = "in_progress".into();
    });
    let report = generate(&layout, &mut generator, Options::default());
    assert_eq!(std::fs::read_to_string(&story).unwrap(), edited);
    assert_eq!(report.kept.len(), 1, "{report:?}");
    assert!(report.kept[0].path.ends_with("STORY-14.md") && report.kept[0].reason.contains("edited by hand"));

    // A user's file where a new item's note would go stays theirs unless adopted.
    std::fs::write(vault.join("projects/orbit-api/Backlog/new-item.md"), "mine").unwrap();
    edit_index(&layout, "orbit-api", |index| {
        let item = serde_yaml_ng::from_str("{id: new-item, theme: api, summary: New, status: todo}").unwrap();
        index["backlog"].as_sequence_mut().unwrap().push(item);
    });
    let report = generate(&layout, &mut generator, Options::default());
    assert!(report.kept.iter().any(|k| k.path.ends_with("new-item.md") && k.reason.contains("--adopt")), "{report:?}");
    assert_eq!(std::fs::read_to_string(vault.join("projects/orbit-api/Backlog/new-item.md")).unwrap(), "mine");
    // A full run sweeps the temp files a killed run left, and nothing else.
    std::fs::write(vault.join("projects/orbit-api/Stories/.STORY-1.md.Xy12z.worksync-tmp"), "half").unwrap();
    std::fs::write(vault.join("projects/orbit-api/Stories/tmp1.yaml.tmp"), "a person's").unwrap();
    let report = generate(&layout, &mut generator, Options { full: true, adopt: true, ..Options::default() });
    assert!(!vault.join("projects/orbit-api/Stories/.STORY-1.md.Xy12z.worksync-tmp").exists());
    assert!(vault.join("projects/orbit-api/Stories/tmp1.yaml.tmp").exists());
    assert!(report.written_paths.iter().any(|p| p.ends_with("new-item.md")), "{report:?}");
    assert!(
        std::fs::read_to_string(vault.join("projects/orbit-api/Backlog/new-item.md"))
            .unwrap()
            .contains("type: backlog")
    );

    // A project whose file breaks keeps its notes; the dashboard says why.
    std::fs::write(layout.work_index("orbit-api").unwrap(), "sprints: [unclosed\n").unwrap();
    let report = generate(&layout, &mut generator, Options::default());
    assert_eq!(report.removed, 0);
    assert!(vault.join("projects/orbit-api/Stories/STORY-1.md").exists());
    let global = std::fs::read_to_string(vault.join("Global Dashboard.md")).unwrap();
    assert!(global.contains("not current") && global.contains("line 1"), "{global}");
}

/// A template in `templates/` overrides the bundled one; one that does not compile is
/// reported with its file and line, and the bundled template is used instead.
#[test]
fn a_template_override_applies_and_a_broken_one_is_reported() {
    let (_root, layout) = example_root();
    std::fs::create_dir_all(layout.templates_dir()).unwrap();
    std::fs::write(
        layout.templates_dir().join("history.md"),
        "---\ntype: history\nproject: {{ project.name }}\ntags: {{ tags | yaml }}\n---\n{{ entries | length }} entries\n",
    )
    .unwrap();
    std::fs::write(layout.templates_dir().join("theme.md"), "{% for x in %}\n").unwrap();
    let mut generator = generator(&layout);
    let report = generate(&layout, &mut generator, Options { full: true, ..Options::default() });
    let vault = layout.root().join("vault");
    assert!(std::fs::read_to_string(vault.join("projects/orbit-api/History.md")).unwrap().ends_with("11 entries\n"));
    assert_eq!(report.template_problems.len(), 1, "{:?}", report.template_problems);
    assert!(
        report.template_problems[0].starts_with("templates/theme.md:1: syntax error"),
        "{:?}",
        report.template_problems
    );
    assert!(std::fs::read_to_string(vault.join("projects/orbit-api/Themes/api.md")).unwrap().contains("# Theme: api"));
}

/// The vault part of `/status` once `done` holds for it.
async fn wait_for_vault(server: &TestServer, done: impl Fn(&Value) -> bool) -> Value {
    common::eventually("the vault to get there", common::PATIENCE, async || {
        let vault = server.status().await["vault"].clone();
        if done(&vault) { Ok(vault) } else { Err(vault) }
    })
    .await
}

fn syncing(debounce: Duration) -> SyncSettings {
    SyncSettings { auto: true, debounce }
}

/// 50 mutations from 5 clients at once give one regeneration after the debounce, covering
/// all 50 and writing only the notes they change; a `worksync_sync` after it finds nothing
/// to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_mutations_collapses_into_one_regeneration() {
    let server = TestServer::start_syncing(|l| drop(l.bootstrap().unwrap()), syncing(Duration::from_secs(1))).await;
    let startup = wait_for_vault(&server, |v| v["regenerations"] == 1 && v["pending"] == false).await;
    assert_eq!(startup["last"]["trigger"], "startup");
    assert_eq!(startup["last"]["written"], startup["last"]["notes"]);

    let clients = connect_clients(&server, 5).await;
    let mut tasks = Vec::new();
    for (c, client) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let id = format!("burst-{c}-{i}");
                call_ok(
                    &client,
                    "worksync_add_backlog",
                    json!({"project": "orbit-api", "id": id, "summary": "Burst", "theme": "burst"}),
                )
                .await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let after = wait_for_vault(&server, |v| v["regenerations"].as_u64() > Some(1) && v["pending"] == false).await;
    assert_eq!(after["regenerations"], 2, "one regeneration for the whole burst: {after}");
    assert_eq!(after["last"]["trigger"], "changes");
    assert_eq!(after["last"]["changes"], 50);
    // 50 notes, the theme hub, the dashboards (plus the agent's activity there).
    assert_eq!(after["last"]["written"], 53, "{after}");
    let notes = markdown_files(&server.path("vault/projects/orbit-api/Backlog"));
    assert_eq!(notes.keys().filter(|p| p.starts_with("burst-")).count(), 50);

    // worksync_sync compares every note with the disk and finds nothing to do.
    let client = server.client("obsidian-user").await;
    let sync = call_ok(&client, "worksync_sync", json!({})).await;
    assert_eq!(sync["status"], "success");
    assert!(sync["millis"].is_u64() && after["last"]["millis"].is_u64(), "whole milliseconds: {sync}");
    assert_eq!(sync["written"], 0, "{sync}");
    assert_eq!(sync["unchanged"], sync["notes"]);
    assert!(sync["output"].as_str().unwrap().contains("0 written"));
}

/// `worksync_sync` over all projects while one project's work-index.yaml does not parse: the
/// answer is not called a success, it names the skipped project with file, line and column
/// and what to do, and the other project's notes are regenerated.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_that_skips_a_broken_project_says_so() {
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        common::copy_tree(&layout.project_dir("orbit-api").unwrap(), &layout.project_dir("orbit-web").unwrap());
        let config = std::fs::read_to_string(layout.config()).unwrap();
        std::fs::write(
            layout.config(),
            config.replace("vault_path:", "  orbit-web:\n    repo: ~/src/web\nvault_path:"),
        )
        .unwrap();
        std::fs::write(
            layout.work_index("orbit-web").unwrap(),
            "sprints: []\nbacklog:\n- id: x\n  summary: [unclosed\n",
        )
        .unwrap();
    })
    .await;
    let client = server.client("agent").await;
    let sync = common::ok(common::call(&client, "worksync_sync", json!({})).await);
    assert_eq!(sync["status"], "partial", "{sync}");
    assert_eq!(sync["project"], "all");
    let skipped = sync["skipped"].as_array().unwrap_or_else(|| panic!("a skipped list: {sync}"));
    assert_eq!(skipped.len(), 1, "{sync}");
    assert_eq!(skipped[0]["project"], "orbit-web");
    assert!(skipped[0]["file"].as_str().unwrap().ends_with("projects/orbit-web/work-index.yaml"), "{sync}");
    assert!(skipped[0]["line"].as_u64() >= Some(1) && skipped[0]["column"].as_u64() >= Some(1), "{sync}");
    let output = sync["output"].as_str().unwrap();
    assert!(output.contains("skipped orbit-web") && output.contains("line"), "{output}");
    assert!(sync["hint"].as_str().unwrap().contains("work-index.yaml"), "{sync}");
    assert!(server.path("vault/projects/orbit-api/Dashboard.md").exists(), "the other project was regenerated");
    // Asked for the broken project alone, the sync fails outright, with the same location.
    let error = common::call_err(&client, "worksync_sync", json!({"project": "orbit-web"})).await;
    assert_eq!((&error["line"], &error["column"]), (&skipped[0]["line"], &skipped[0]["column"]), "{error}");
}

/// `n` clients, each its own agent.
async fn connect_clients(server: &TestServer, n: usize) -> Vec<common::Client> {
    let mut clients = Vec::new();
    for i in 0..n {
        clients.push(server.client(&format!("agent-{i}")).await);
    }
    clients
}

/// A hand edit of `work-index.yaml` reaches the vault with no tool call: the watcher notices,
/// the writer reloads, the vault regenerates.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hand_edit_reaches_the_vault() {
    let server = TestServer::start_syncing(|l| drop(l.bootstrap().unwrap()), syncing(Duration::from_millis(50))).await;
    wait_for_vault(&server, |v| v["regenerations"] == 1 && v["pending"] == false).await;
    let index = server.path("projects/orbit-api/work-index.yaml");
    let text = std::fs::read_to_string(&index).unwrap();
    let edited = text.replacen("Pin GitHub Actions to commit SHAs", "Pin every GitHub Action to a commit SHA", 1);
    assert_ne!(edited, text);
    std::fs::write(&index, edited).unwrap();
    // The watcher notices, the writer reloads, the vault follows.
    let vault = wait_for_vault(&server, |v| v["regenerations"].as_u64() >= Some(2) && v["pending"] == false).await;
    assert_eq!(vault["last"]["trigger"], "changes");
    let note = std::fs::read_to_string(server.path("vault/projects/orbit-api/Backlog/ci-pin-actions-sha.md")).unwrap();
    assert!(note.contains("Pin every GitHub Action to a commit SHA"), "{note}");
}

/// A change still waiting for its debounce (600 s) reaches the vault when the server shuts
/// down.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_flushes_a_pending_regeneration() {
    let mut server =
        TestServer::start_syncing(|l| drop(l.bootstrap().unwrap()), syncing(Duration::from_secs(600))).await;
    wait_for_vault(&server, |v| v["regenerations"] == 1 && v["pending"] == false).await;
    let client = server.client("agent").await;
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "late-item", "summary": "Late", "theme": "api"}),
    )
    .await;
    wait_for_vault(&server, |v| v["pending"] == true).await;
    drop(client);
    server.stop().await;
    let note = server.path("vault/projects/orbit-api/Backlog/late-item.md");
    assert!(std::fs::read_to_string(&note).unwrap().contains("agent: agent"), "the pending change reached the vault");
}

/// With the vault lock held (a long `worksync sync` on a slow disk), tool calls still answer
/// at once and the vault shows the regeneration pending; once the lock is free, it catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stuck_vault_never_slows_a_tool_call() {
    let server = TestServer::start_syncing(|l| drop(l.bootstrap().unwrap()), syncing(Duration::from_millis(10))).await;
    wait_for_vault(&server, |v| v["regenerations"] == 1 && v["pending"] == false).await;
    // Hold the vault lock, as a long `worksync sync` on a slow disk would.
    let lock = std::fs::File::options().write(true).open(server.path("vault/.worksync/lock")).unwrap();
    lock.lock().unwrap();
    let client = server.client("agent").await;
    for i in 0..20 {
        call_ok(
            &client,
            "worksync_add_backlog",
            json!({"project": "orbit-api", "id": format!("stuck-{i}"), "summary": "S", "theme": "api"}),
        )
        .await;
    }
    let status = call_ok(&client, "worksync_status", json!({"project": "orbit-api"})).await;
    assert!(status["projects"]["orbit-api"]["stats"]["total_backlog"].as_u64() >= Some(40));
    let vault = server.status().await["vault"].clone();
    assert_eq!(vault["pending"], true, "the regeneration is stuck behind the lock: {vault}");
    drop(lock);
    let vault = wait_for_vault(&server, |v| v["pending"] == false && v["regenerations"].as_u64() >= Some(2)).await;
    assert!(vault["last"]["failure"].is_null(), "{vault}");
    call_ok(&client, "worksync_sync", json!({"project": "orbit-api"})).await;
    assert!(server.path("vault/projects/orbit-api/Backlog/stuck-19.md").exists());
}

/// A story's and a backlog item's note link what they depend on, with each dependency's
/// status, and list the ids in the frontmatter; the status follows when a dependency is done.
#[tokio::test]
async fn notes_link_what_an_item_depends_on() {
    let server = TestServer::start().await;
    let client = server.client("planner").await;
    let add = |id: &str, depends_on: Value| json!({"project": "orbit-api", "id": id, "summary": format!("do {id}"), "theme": "ci", "depends_on": depends_on});
    call_ok(&client, "worksync_add_backlog", add("first-step", json!([]))).await;
    call_ok(&client, "worksync_add_backlog", add("second-step", json!(["first-step"]))).await;
    let story = call_ok(
        &client,
        "worksync_add_story",
        json!({"project": "orbit-api", "sprint_id": "dispatch-realtime", "notes": "last", "depends_on": ["second-step", "first-step"]}),
    )
    .await;
    let story_id = story["created"]["id"].as_str().unwrap().to_string();
    call_ok(&client, "worksync_sync", json!({"project": "orbit-api"})).await;
    let read = |path: String| std::fs::read_to_string(server.path(&path)).unwrap();
    let second = read("vault/projects/orbit-api/Backlog/second-step.md".into());
    assert!(second.contains("\ndepends_on: [\"[[projects/orbit-api/Backlog/first-step|first-step]]\"]\n"), "{second}");
    assert!(second.contains("\nblocked: true\nready: false\n"), "{second}");
    assert!(second.contains("**Depends on:** [[projects/orbit-api/Backlog/first-step|first-step]] (todo)"), "{second}");
    let story_note = read(format!("vault/projects/orbit-api/Stories/{story_id}.md"));
    assert!(
        story_note.contains(
            "\ndepends_on: [\"[[projects/orbit-api/Backlog/second-step|second-step]]\", \
             \"[[projects/orbit-api/Backlog/first-step|first-step]]\"]\n"
        ),
        "{story_note}"
    );
    assert!(story_note.contains("[[projects/orbit-api/Backlog/second-step|second-step]] (todo), "), "{story_note}");

    call_ok(&client, "worksync_update_backlog", json!({"project": "orbit-api", "id": "first-step", "status": "done"}))
        .await;
    call_ok(&client, "worksync_sync", json!({"project": "orbit-api"})).await;
    let second = read("vault/projects/orbit-api/Backlog/second-step.md".into());
    assert!(second.contains("|first-step]] (done)"), "the note follows its dependency's status: {second}");
    assert!(second.contains("\nblocked: false\nready: true\n"), "{second}");
}

/// The note of `id`'s backlog item, as Obsidian leaves it after a person set `status` (and
/// `priority`) in its Properties: the whole frontmatter rewritten in Obsidian's style
/// (block lists), the body as it was.
fn as_obsidian_saves_it(note: &str, status: &str, priority: Option<&str>) -> String {
    let (front, body) = note.strip_prefix("---\n").unwrap().split_once("\n---\n").unwrap();
    let mut out = String::from("---\n");
    for line in front.lines() {
        let (key, value) = line.split_once(": ").unwrap();
        match key {
            "status" => out.push_str(&format!("status: {status}\n")),
            "priority" if priority.is_some() => out.push_str(&format!("priority: {}\n", priority.unwrap())),
            _ if value.starts_with('[') && value != "[]" => {
                out.push_str(&format!("{key}:\n"));
                for item in value.trim_matches(['[', ']']).split(", ") {
                    out.push_str(&format!("  - {item}\n"));
                }
            }
            _ => out.push_str(&format!("{line}\n")),
        }
    }
    format!("{out}---\n{body}")
}

fn backlog_status(server: &TestServer, id: &str) -> String {
    let index = common::read_yaml(&server.path("projects/orbit-api/work-index.yaml"));
    let item = index["backlog"].as_sequence().unwrap().iter().find(|b| b["id"] == id).unwrap().clone();
    item["status"].as_str().unwrap().to_string()
}

/// A person sets a backlog item's status and priority in Obsidian: the server applies both
/// through the writer, credited to `obsidian`, visible in the change feed, and rewrites the
/// note at the item's new revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_status_set_in_obsidian_is_applied_and_credited() {
    let server = TestServer::start_syncing(|l| drop(l.bootstrap().unwrap()), syncing(Duration::from_millis(50))).await;
    wait_for_vault(&server, |v| v["regenerations"] == 1 && v["pending"] == false).await;
    let path = server.path("vault/projects/orbit-api/Backlog/ci-pin-actions-sha.md");
    let note = std::fs::read_to_string(&path).unwrap();
    assert!(note.contains("\nstatus: todo\npriority: 3\n") && note.contains("\nrev: 1\n"), "{note}");
    let client = server.client("reader").await;
    let before = call_ok(&client, "worksync_changes", json!({"project": "orbit-api"})).await;
    let cursor = before["cursor"].as_str().expect("a cursor").to_string();
    std::fs::write(&path, as_obsidian_saves_it(&note, "in_progress", Some("1"))).unwrap();

    common::eventually("the status to reach the YAML", common::PATIENCE, async || {
        let status = backlog_status(&server, "ci-pin-actions-sha");
        if status == "in_progress" { Ok(()) } else { Err(status) }
    })
    .await;
    let changes = call_ok(&client, "worksync_changes", json!({"project": "orbit-api", "since": cursor})).await;
    let change = &changes["changes"][0];
    assert!(change["agent"] == "obsidian" && change.to_string().contains("ci-pin-actions-sha"), "credited: {changes}");
    let rewritten = common::eventually("the note to follow", common::PATIENCE, async || {
        let text = std::fs::read_to_string(&path).unwrap();
        if text.contains("\nrev: 2\n") { Ok(text) } else { Err(text) }
    })
    .await;
    assert!(rewritten.contains("\nstatus: in_progress\npriority: 1\n"), "{rewritten}");
    assert!(rewritten.contains("- **Priority:** 1\n") && !rewritten.contains("[!warning]"), "{rewritten}");
}

/// A change made in a note the item has moved on from, or to a value the schema does not
/// allow, is not applied and the note says why; an edit of anything else keeps the note as
/// the person left it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stale_or_wrong_change_from_obsidian_is_refused_in_the_note_and_other_edits_are_kept() {
    // The vault follows the store only after 600 s: the item moves on while its note is old.
    let server = TestServer::start_syncing(|l| drop(l.bootstrap().unwrap()), syncing(Duration::from_secs(600))).await;
    wait_for_vault(&server, |v| v["regenerations"] == 1 && v["pending"] == false).await;
    let client = server.client("agent-a").await;
    let note_of = |id: &str| server.path(&format!("vault/projects/orbit-api/Backlog/{id}.md"));
    let stale = std::fs::read_to_string(note_of("web-strict-csp")).unwrap();
    call_ok(
        &client,
        "worksync_update_backlog",
        json!({"project": "orbit-api", "id": "web-strict-csp", "status": "done"}),
    )
    .await;
    std::fs::write(note_of("web-strict-csp"), as_obsidian_saves_it(&stale, "in_progress", None)).unwrap();
    let refused = common::eventually("the stale change to be refused", common::PATIENCE, async || {
        let text = std::fs::read_to_string(note_of("web-strict-csp")).unwrap();
        if text.contains("[!warning] Your change was not applied") { Ok(text) } else { Err(text) }
    })
    .await;
    assert!(refused.contains("changed since this note was written (rev 1, now rev 2 by agent-a"), "{refused}");
    assert!(refused.contains("\nstatus: done\n") && refused.contains("\nrev: 2\n"), "{refused}");
    assert_eq!(backlog_status(&server, "web-strict-csp"), "done", "the agent's change stands");

    let wrong = std::fs::read_to_string(note_of("quote-route-cache")).unwrap();
    std::fs::write(note_of("quote-route-cache"), as_obsidian_saves_it(&wrong, "finished", Some("9"))).unwrap();
    let refused = common::eventually("the wrong value to be refused", common::PATIENCE, async || {
        let text = std::fs::read_to_string(note_of("quote-route-cache")).unwrap();
        if text.contains("[!warning]") { Ok(text) } else { Err(text) }
    })
    .await;
    assert!(
        refused.contains("status `finished` is not a backlog status (one of: todo, in_progress, done)"),
        "{refused}"
    );
    assert!(refused.contains("\nstatus: todo\n"), "{refused}");
    assert_eq!(backlog_status(&server, "quote-route-cache"), "todo");

    // A body edit (with a status change) is the person's: kept, reported, not applied.
    let mine = std::fs::read_to_string(note_of("pgxpool-sizing")).unwrap();
    let mine = as_obsidian_saves_it(&mine, "done", None).replace("- **Theme:**", "My own line.\n\n- **Theme:**");
    std::fs::write(note_of("pgxpool-sizing"), &mine).unwrap();
    let report = call_ok(&client, "worksync_sync", json!({"project": "orbit-api"})).await;
    assert!(report.to_string().contains("Backlog/pgxpool-sizing.md"), "reported as kept: {report}");
    assert_eq!(std::fs::read_to_string(note_of("pgxpool-sizing")).unwrap(), mine, "kept as the person left it");
    assert_eq!(backlog_status(&server, "pgxpool-sizing"), "todo");
}

/// The server's incremental runs skip an item's note when its key is unchanged: after every
/// kind of change that shows in notes (status, claim, priority, dependencies and their
/// status, a sprint's status, a new story, a removed item, a hand edit of a summary), its
/// vault is byte for byte what a full run from scratch writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn incremental_runs_end_where_a_full_run_does() {
    const P: &str = "orbit-api";
    let server = TestServer::start_syncing(|l| drop(l.bootstrap().unwrap()), syncing(Duration::from_millis(20))).await;
    let mut runs = wait_for_vault(&server, |v| v["regenerations"] == 1 && v["pending"] == false).await["regenerations"]
        .as_u64()
        .unwrap();
    let client = server.client("agent-a").await;
    let steps: Vec<(&str, Value)> = vec![
        ("worksync_add_backlog", json!({"project": P, "id": "first", "summary": "First step", "theme": "ci"})),
        (
            "worksync_add_backlog",
            json!({"project": P, "id": "second", "summary": "Second", "theme": "ci", "depends_on": ["first"]}),
        ),
        ("worksync_claim", json!({"project": P, "kind": "backlog", "id": "first"})),
        ("worksync_update_backlog", json!({"project": P, "id": "first", "status": "in_progress", "priority": 1})),
        ("worksync_depend", json!({"project": P, "id": "STORY-14", "add": ["second"]})),
        ("worksync_update_backlog", json!({"project": P, "id": "first", "status": "done"})),
        ("worksync_update_sprint", json!({"project": P, "id": "web-fleet-map", "status": "active"})),
        (
            "worksync_add_story",
            json!({"project": P, "sprint_id": "web-fleet-map", "notes": "A new story\nwith two lines"}),
        ),
        (
            "worksync_update_story",
            json!({"project": P, "sprint_id": "dispatch-realtime", "story_id": "STORY-13", "status": "done"}),
        ),
        ("worksync_release", json!({"project": P, "kind": "backlog", "id": "first"})),
        ("worksync_remove_backlog", json!({"project": P, "id": "second", "force": true})),
    ];
    let mut compared = 0;
    for (tool, args) in steps {
        call_ok(&client, tool, args).await;
        runs = wait_for_vault(&server, |v| v["regenerations"].as_u64() > Some(runs) && v["pending"] == false).await
            ["regenerations"]
            .as_u64()
            .unwrap();
        compared += assert_vault_is_what_a_full_run_writes(&server, tool);
    }
    // A hand edit of the work index: the writer reloads it, the vault follows.
    let index = server.path("projects/orbit-api/work-index.yaml");
    let text = std::fs::read_to_string(&index).unwrap();
    std::fs::write(&index, text.replacen("Pin GitHub Actions to commit SHAs", "Pin actions by SHA", 1)).unwrap();
    wait_for_vault(&server, |v| v["regenerations"].as_u64() > Some(runs) && v["pending"] == false).await;
    compared += assert_vault_is_what_a_full_run_writes(&server, "a hand edit");
    assert!(compared > 12 * 60, "every step compared the whole vault ({compared} notes)");
}

/// Compares the server's vault with a full run from its data root into a fresh directory;
/// returns how many notes it compared.
fn assert_vault_is_what_a_full_run_writes(server: &TestServer, after: &str) -> usize {
    let layout = Layout::new(server.path(""));
    let fresh = tempfile::tempdir().unwrap();
    let mut generator = Generator::new(fresh.path().to_path_buf(), &layout.templates_dir());
    generate(&layout, &mut generator, Options { full: true, ..Options::default() });
    let expected = common::files_ending(fresh.path(), &["md", "base"]);
    let actual = common::files_ending(&server.path("vault"), &["md", "base"]);
    assert_eq!(actual.keys().collect::<Vec<_>>(), expected.keys().collect::<Vec<_>>(), "after {after}");
    for (path, text) in &expected {
        assert_eq!(&actual[path], text, "{path} after {after}");
    }
    expected.len()
}
