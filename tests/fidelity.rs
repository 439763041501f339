//! The files stay what their owners made them: symlinks stay links, anchors and aliases stay
//! valid, line endings stay as they were, and what an agent sends is what any YAML reader
//! (PyYAML too) reads back.

mod common;

use common::{TestServer, call_ok, read_yaml};
use serde_json::json;

/// `work-index.yaml` and `config.yaml` kept elsewhere (a repo, a dotfiles folder) and linked
/// into the data root: writes go through to the link's target, and the links stay links.
#[cfg(unix)]
#[tokio::test]
async fn symlinked_files_are_written_through() {
    let elsewhere = tempfile::tempdir().unwrap();
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        for (linked, kept) in [("projects/orbit-api/work-index.yaml", "plan.yaml"), ("config.yaml", "config.yaml")] {
            let link = layout.root().join(linked);
            std::fs::rename(&link, elsewhere.path().join(kept)).unwrap();
            std::os::unix::fs::symlink(elsewhere.path().join(kept), &link).unwrap();
        }
    })
    .await;
    let client = server.client("agent").await;
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "through-the-link", "summary": "s", "theme": "t"}),
    )
    .await;
    call_ok(&client, "worksync_register_project", json!({"name": "linked-too", "repo": "/tmp"})).await;

    for (linked, kept, expected) in [
        ("projects/orbit-api/work-index.yaml", "plan.yaml", "id: through-the-link"),
        ("config.yaml", "config.yaml", "linked-too:"),
    ] {
        let link = server.path(linked);
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "{linked} is still a link");
        let target = std::fs::read_to_string(elsewhere.path().join(kept)).unwrap();
        assert!(target.contains(expected), "{kept} holds the write:\n{target}");
    }
    let names: Vec<String> =
        std::fs::read_dir(elsewhere.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert_eq!(names.len(), 2, "no temp file left beside the targets: {names:?}");
    assert_eq!(read_yaml(&server.path("projects/orbit-api/work-index.yaml"))["backlog"][20]["id"], "through-the-link");
}
