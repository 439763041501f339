//! Ids: new ids are an allow-list (letters, digits, '-', '_', '.') with one spelling per id,
//! while ids already in a file keep working whatever they hold.

use crate::common;

use common::{TestServer, call_err, call_ok, read_yaml};
use serde_json::json;

const P: &str = "orbit-api";

/// A new id carrying an invisible, bidi-control, tag or look-alike character, or a
/// combining mark with no letter to sit on, is refused with an error that names the
/// character by its code point; nothing changes.
#[tokio::test]
async fn invisible_and_lookalike_characters_are_refused_in_new_ids() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let before = std::fs::read_to_string(&path).unwrap();
    let cases = [
        ("zero\u{200B}width", "U+200B"),
        ("\u{FEFF}bom", "U+FEFF"),
        ("soft\u{AD}hyphen", "U+00AD"),
        ("invoice\u{202E}fdp.exe", "U+202E"),
        ("tag\u{E0041}ged", "U+E0041"),
        ("\u{301}lonely-mark", "U+0301"),
        ("a-\u{301}b", "U+0301"),
        ("hangul\u{3164}filler", "U+3164"),
        ("slash\u{2215}lookalike", "U+2215"),
    ];
    for (id, code_point) in cases {
        let error =
            call_err(&client, "worksync_add_backlog", json!({"project": P, "id": id, "summary": "s", "theme": "t"}))
                .await;
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(code_point), "{id:?}: {message}");
        assert_eq!(error["field"], "id");
        assert!(error["hint"].as_str().unwrap().contains("letters, digits"), "{error}");
        let sprint = call_err(&client, "worksync_create_sprint", json!({"project": P, "id": id, "title": "t"})).await;
        assert!(sprint["error"].as_str().unwrap().contains(code_point), "{id:?}: {sprint}");
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "a refused id changed the file");
}

/// The NFC and NFD spellings of `café` name the same item: it is stored once (as NFC),
/// found by either spelling, and the other spelling is refused as a duplicate.
#[tokio::test]
async fn nfc_and_nfd_spellings_name_the_same_item() {
    let server = TestServer::start().await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let (nfc, nfd) = ("caf\u{e9}-item", "cafe\u{301}-item");

    let created =
        call_ok(&client, "worksync_add_backlog", json!({"project": P, "id": nfd, "summary": "s", "theme": "t"})).await;
    assert_eq!(created["created"]["id"], nfc, "the reply shows the id as stored");
    let duplicate =
        call_err(&client, "worksync_add_backlog", json!({"project": P, "id": nfc, "summary": "s", "theme": "t"})).await;
    assert!(duplicate["error"].as_str().unwrap().contains("already exists"), "{duplicate}");
    let updated =
        call_ok(&client, "worksync_update_backlog", json!({"project": P, "id": nfc, "status": "in_progress"})).await;
    assert_eq!(updated["updated"]["id"], nfc);
    call_ok(&client, "worksync_claim", json!({"project": P, "kind": "backlog", "id": nfd})).await;

    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.matches(nfc).count(), 1, "stored once");
    assert!(!text.contains(nfd));
    let removed = call_ok(&client, "worksync_remove_backlog", json!({"project": P, "id": nfd, "force": true})).await;
    assert_eq!(removed["removed"]["id"], nfc);
}

/// Ids already in the file that the allow-list refuses for new items (a space, a slash, an
/// invisible character, an NFD spelling) keep working: update, claim, done and remove.
#[tokio::test]
async fn existing_odd_ids_keep_working() {
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        let odd = "sprints:\n- id: odd sprint/1\n  title: Odd\n  status: active\n  stories:\n  - id: \"STORY 7\\u200B\"\n    status: planned\n    notes: hand typed\nbacklog:\n- id: legacy item/1\n  theme: t\n  summary: s\n  status: todo\n- id: \"cafe\\u0301\"\n  theme: t\n  summary: typed on a Mac\n  status: todo\nhistory: []\n";
        std::fs::write(layout.root().join("projects/orbit-api/work-index.yaml"), odd).unwrap();
    })
    .await;
    let client = server.client("agent").await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let story = "STORY 7\u{200B}";

    call_ok(&client, "worksync_update_backlog", json!({"project": P, "id": "legacy item/1", "status": "in_progress"}))
        .await;
    call_ok(&client, "worksync_claim", json!({"project": P, "kind": "story", "id": story})).await;
    call_ok(
        &client,
        "worksync_update_story",
        json!({"project": P, "sprint_id": "odd sprint/1", "story_id": story, "append_notes": "more"}),
    )
    .await;
    let done = call_ok(&client, "worksync_done", json!({"project": P, "story_id": story, "notes": "Finished"})).await;
    assert_eq!(done["sprint"], "odd sprint/1");
    let mac =
        call_ok(&client, "worksync_update_backlog", json!({"project": P, "id": "caf\u{e9}", "status": "done"})).await;
    assert_eq!(mac["updated"]["id"], "cafe\u{301}", "found by its NFC spelling, kept as the file spells it");
    call_ok(&client, "worksync_remove_backlog", json!({"project": P, "id": "legacy item/1"})).await;

    let index = read_yaml(&path);
    assert_eq!(index["sprints"][0]["stories"][0]["status"], "done");
    assert_eq!(index["backlog"].as_sequence().unwrap().len(), 1);
    assert_eq!(index["backlog"][0]["id"], "cafe\u{301}");
    assert_eq!(index["backlog"][0]["status"], "done");
}
