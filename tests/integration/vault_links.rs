//! Links in the vault stay links whatever the YAML and the agents call things: ids and
//! themes ending in `.md`, agent names and texts with `]]`, `|` and `[[` in them.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{TestServer, call_ok};
use serde_json::json;

/// Every Markdown note and Bases file under `dir`, by `/`-separated relative path.
fn markdown_files(dir: &Path) -> BTreeMap<String, String> {
    common::files_ending(dir, &["md", "base"])
}

/// Where `pattern` occurs in `text` without a backslash before it (Markdown's escape).
fn find_unescaped(text: &str, pattern: &str) -> Option<usize> {
    text.match_indices(pattern).map(|(at, _)| at).find(|&at| !text[..at].ends_with('\\'))
}

/// The wikilink targets of one line, read as Obsidian reads them: a link runs from `[[` to
/// the next `]]` on the line. Anything else with link brackets (a `]]` that closes nothing,
/// a `[[` that opens nothing, a target or label with `[`, `]` or `|` in it) is an error.
fn wikilinks(line: &str) -> Result<Vec<String>, String> {
    let mut targets = Vec::new();
    let mut rest = line;
    loop {
        let open = find_unescaped(rest, "[[");
        let stray = find_unescaped(rest, "]]");
        if stray.is_some_and(|close| open.is_none_or(|open| close < open)) {
            return Err("a `]]` that closes no link".into());
        }
        let Some(open) = open else { return Ok(targets) };
        let after = &rest[open + 2..];
        let close = find_unescaped(after, "]]").ok_or("a `[[` that opens no link")?;
        let inner = &after[..close];
        let (target, label) = match inner.split_once('|') {
            Some((target, label)) => (target.strip_suffix('\\').unwrap_or(target), Some(label)),
            None => (inner, None),
        };
        if target.is_empty() || target.contains(['[', ']', '|', '#', '^']) {
            return Err(format!("the link target {target:?} is broken"));
        }
        if label.is_some_and(|l| l.contains(['[', ']', '|'])) {
            return Err(format!("the label {label:?} breaks out of its link"));
        }
        targets.push(target.to_string());
        rest = &after[close + 2..];
    }
}

/// The note file an Obsidian link target names: the target itself when it ends in `.md`,
/// else the target with `.md` added.
fn note_of(target: &str) -> String {
    let lower = target.to_lowercase();
    if lower.ends_with(".md") || lower.ends_with(".base") { target.to_string() } else { format!("{target}.md") }
}

/// Ids and themes ending in `.md` (and `.MD`), ids and themes with `]]|[[` (typed into the
/// file by hand: tools accept only letters, digits, '-', '_' and '.' in new ids), agents
/// named `x]] [[Global Dashboard` and `]]|[[`, and a history entry with a `[[` it never
/// closes: after a sync every wikilink in every note resolves to a note that exists, no
/// text breaks out of a link or opens one, and each such item still has its note.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_ids_themes_and_agent_names_never_break_a_link() {
    let server = TestServer::start_with(|layout| {
        layout.bootstrap().unwrap();
        let path = layout.root().join("projects/orbit-api/work-index.yaml");
        let by_hand = "- id: 'a]]|[[b'\n  theme: docs.MD\n  summary: S\n  status: todo\n  related_sprints: [release.md]\n\
                       - id: ops-item\n  theme: 'ops]]|[[x'\n  summary: S\n  status: todo\n  related_sprints: []\n";
        let text = std::fs::read_to_string(&path).unwrap().replacen("\nhistory:\n", &format!("\n{by_hand}history:\n"), 1);
        std::fs::write(&path, text).unwrap();
    })
    .await;
    let client = server.client("evil]]|[[client").await;
    let project = "orbit-api";
    call_ok(
        &client,
        "worksync_create_sprint",
        json!({"project": project, "id": "release.md", "title": "Release", "themes": ["docs.md"],
               "status": "active", "agent": "x]] [[Global Dashboard"}),
    )
    .await;
    call_ok(
        &client,
        "worksync_add_story",
        json!({"project": project, "sprint_id": "release.md", "story_id": "STORY-90.md"}),
    )
    .await;
    call_ok(
        &client,
        "worksync_add_backlog",
        json!({"project": project, "id": "notes.md", "summary": "S", "theme": "docs.md", "agent": "]]|[["}),
    )
    .await;
    call_ok(
        &client,
        "worksync_history",
        json!({"project": project, "action": "add", "summary": "Opened [[ and never closed",
               "related_sprints": ["release.md"], "agent": "]]|[["}),
    )
    .await;
    call_ok(&client, "worksync_sync", json!({})).await;

    let notes = markdown_files(&server.path("vault"));
    let mut links = 0;
    for (path, text) in &notes {
        let body = text.strip_prefix("---\n").and_then(|t| t.split_once("\n---\n")).map_or(text.as_str(), |(_, b)| b);
        for line in body.lines() {
            let targets = wikilinks(line).unwrap_or_else(|e| panic!("{path}: {e}: {line}"));
            for target in targets {
                links += 1;
                let file = note_of(&target);
                assert!(notes.contains_key(&file), "{path}: [[{target}]] names {file}, which is not a note: {line}");
            }
        }
    }
    assert!(links > 300, "links were checked ({links})");
    for (label, folder) in [
        ("release.md", "Sprints"),
        ("STORY-90.md", "Stories"),
        ("notes.md", "Backlog"),
        ("docs.md", "Themes"),
        ("docs.MD", "Themes"),
        ("a))/((b", "Backlog"),
        ("ops))/((x", "Themes"),
    ] {
        let linked = notes.values().any(|text| {
            text.match_indices(&format!("|{label}]]")).any(|(at, _)| {
                let target = text[..at].rsplit("[[").next().unwrap().trim_end_matches('\\');
                target.starts_with(&format!("projects/{project}/{folder}/")) && notes.contains_key(&note_of(target))
            })
        });
        assert!(linked, "{label} has a note in {folder} that links reach");
    }
}
