//! Project names and repository paths from every source: a hand-edited `config.yaml`
//! never makes the server read or write outside the data root, and registration says when
//! a repository is not there (yet).

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{TestServer, call_err, call_ok};
use serde_json::json;

/// Every file under `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut all = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                all.insert(path.display().to_string(), std::fs::read(&path).unwrap());
            }
        }
    }
    all
}

const DECOY: &str =
    "sprints: []\nbacklog:\n- id: decoy\n  theme: t\n  summary: outside the data root\n  status: todo\nhistory: []\n";

/// A config.yaml naming projects `<abs>/dir`, `../../x` and `a/../../b` beside a valid one
/// (each bad name pointing at a real work index outside `projects/`): the server starts,
/// the valid project works, tools naming a bad one get an error with config.yaml's line,
/// status, `worksync status` and `worksync doctor` report them, and no file outside the
/// data root (or outside `projects/`) is read into the model, created or changed.
#[tokio::test]
async fn invalid_project_names_in_config_are_reported_and_never_used_as_paths() {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("data/root");
    let absolute = outer.path().join("abs/dir");
    for decoy in [absolute.clone(), outer.path().join("data/x"), root.join("b")] {
        std::fs::create_dir_all(&decoy).unwrap();
        std::fs::write(decoy.join("work-index.yaml"), DECOY).unwrap();
    }
    std::fs::create_dir_all(root.join("projects/good")).unwrap();
    std::fs::write(root.join("projects/good/work-index.yaml"), "sprints: []\nbacklog: []\nhistory: []\n").unwrap();
    let config = format!(
        "projects:\n  good:\n    repo: /tmp/good\n  {}:\n    repo: /tmp\n  '../../x':\n    repo: /tmp\n  a/../../b:\n    repo: /tmp\nsettings:\n  auto_sync: false\n",
        absolute.display()
    );
    std::fs::write(root.join("config.yaml"), config).unwrap();
    // Outside the data root, plus the decoy `a/../../b` points at inside it (beside projects/).
    let outside = |all: BTreeMap<String, Vec<u8>>| -> BTreeMap<String, Vec<u8>> {
        let (inside, decoy) = (format!("{}/", root.display()), format!("{}/", root.join("b").display()));
        all.into_iter().filter(|(path, _)| !path.starts_with(&inside) || path.starts_with(&decoy)).collect()
    };
    let before = outside(files(outer.path()));

    let mut server = TestServer::serve_root(&root).await;
    let client = server.client("agent").await;
    let status = call_ok(&client, "worksync_status", json!({})).await;
    assert!(status["projects"]["good"]["stats"].is_object(), "{status}");
    let bad_names = [absolute.display().to_string(), "../../x".to_string(), "a/../../b".to_string()];
    for (name, line) in bad_names.iter().zip([4, 6, 8]) {
        let entry = &status["projects"][name.as_str()];
        assert!(entry["error"].as_str().unwrap_or_default().contains("config.yaml"), "{name}: {status}");
        assert_eq!(entry["line"], line, "{name}: {entry}");
        let error = call_err(
            &client,
            "worksync_add_backlog",
            json!({"project": name, "id": "x", "summary": "s", "theme": "t"}),
        )
        .await;
        assert_eq!(error["line"], line, "{name}: {error}");
        assert!(error["file"].as_str().unwrap().ends_with("config.yaml"), "{error}");
        assert!(error["error"].as_str().unwrap().contains("directory name"), "{error}");
        call_err(&client, "worksync_status", json!({"project": name})).await;
        call_err(&client, "worksync_history", json!({"project": name})).await;
        call_err(&client, "worksync_guidance", json!({"project": name})).await;
    }
    call_ok(&client, "worksync_add_backlog", json!({"project": "good", "id": "fine", "summary": "s", "theme": "t"}))
        .await;
    call_ok(&client, "worksync_sync", json!({})).await;
    let prompts = client.list_all_prompts().await.unwrap();
    assert!(prompts.iter().all(|p| !p.name.contains("..")));
    let resources = client.list_all_resources().await.unwrap();
    assert!(resources.iter().all(|r| !r.uri.contains("..") && !r.uri.contains("abs/dir")), "{resources:?}");
    drop(client);
    server.stop().await;

    let run = |command: &str| {
        Command::new(env!("CARGO_BIN_EXE_worksync"))
            .arg("--data-root")
            .arg(&root)
            .arg(command)
            .args(if command == "doctor" { vec!["--port", "9"] } else { vec![] })
            .env_remove("WORKSYNC_API_KEY")
            .output()
            .unwrap()
    };
    let doctor = run("doctor");
    let report = String::from_utf8_lossy(&doctor.stdout).to_string();
    assert!(!doctor.status.success(), "{report}");
    let line = report.lines().find(|l| l.contains("'../../x'")).unwrap_or_else(|| panic!("{report}"));
    assert!(line.starts_with("FAIL") && line.contains("config.yaml:6:"), "{line}");
    let cli = run("status");
    assert!(!cli.status.success(), "worksync status exits non-zero when a project cannot be read");

    assert_eq!(
        outside(files(outer.path())),
        before,
        "a file outside the data root (or the decoy beside projects/) was created or changed"
    );
}

/// Registering a project whose repository path does not exist (yet) works, and the reply
/// says so in `warning`; an existing repository gets no warning.
#[tokio::test]
async fn register_warns_about_a_missing_repo() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let missing = server.path("not-cloned-yet");
    let registered =
        call_ok(&client, "worksync_register_project", json!({"name": "later", "repo": missing.display().to_string()}))
            .await;
    let warning = registered["warning"].as_str().unwrap_or_else(|| panic!("no warning in {registered}"));
    assert!(warning.contains("does not exist") && warning.contains("not-cloned-yet"), "{warning}");
    assert!(server.path("projects/later/work-index.yaml").exists(), "registered anyway");

    let repo = tempfile::tempdir().unwrap();
    let fine = call_ok(
        &client,
        "worksync_register_project",
        json!({"name": "now", "repo": repo.path().display().to_string()}),
    )
    .await;
    assert!(fine.get("warning").is_none(), "{fine}");
}

/// Guidance names and repo doc paths from config.yaml never leave their directory: an
/// inherited `../../etc/passwd`, a repo doc at `../../../secret` and one reached through a
/// symlink out of the repository are skipped and listed with why, and nothing of what
/// they point at is returned; the valid documents still are.
#[tokio::test]
async fn guidance_names_and_paths_stay_inside() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.md"), "TOP SECRET").unwrap();
    let repo = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(repo.path().join("docs")).unwrap();
    std::fs::write(repo.path().join("docs/CODING.md"), "Write tests first.").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path().join("secret.md"), repo.path().join("docs/LINK.md")).unwrap();
    let depth = repo.path().components().count();
    let escape = format!(
        "{}{}",
        "../".repeat(depth),
        outside.path().join("secret.md").display().to_string().trim_start_matches('/')
    );
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        let config = format!(
            "projects:\n  orbit-api:\n    repo: {}\n    guidance:\n      inherit: [general, ../../etc/passwd]\n      project:\n        - {{name: coding, source: repo, path: docs/CODING.md}}\n        - {{name: escape, source: repo, path: '{escape}'}}\n        - {{name: absolute, source: repo, path: '{}'}}\n        - {{name: link, source: repo, path: docs/LINK.md}}\n",
            repo.path().display(),
            outside.path().join("secret.md").display()
        );
        std::fs::write(layout.config(), config).unwrap();
    })
    .await;
    let client = server.client("agent").await;
    let guidance = call_ok(&client, "worksync_guidance", json!({"project": "orbit-api"})).await;
    assert!(!guidance.to_string().contains("TOP SECRET"), "{guidance}");
    assert_eq!(guidance["guidance"]["coding"], "Write tests first.");
    assert!(guidance["guidance"]["general"].is_string());
    let skipped: Vec<&str> =
        guidance["skipped"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(skipped, ["../../etc/passwd", "escape", "absolute", "link"], "{guidance}");
    assert!(guidance["skipped"][1]["reason"].as_str().unwrap().contains("leaves the repository"));
}
