//! A person saves work-index.yaml by hand while agents keep writing: no save is lost
//! silently.
//!
//! Editors save in two ways: by writing a new file and renaming it over the old one (vim,
//! VS Code, most IDEs) or by rewriting the file in place (nano, `echo >`, many scripts). The
//! server's write is a rename too; between its last look at the file and its rename, a save
//! could slip in and be replaced. This test races the two on purpose and counts.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{TestServer, call_ok};
use serde_json::json;

/// Inserts a backlog item with `id` at the top of the backlog, as a person would type it.
fn with_marker(text: &str, id: &str) -> String {
    let at = text.find("backlog:\n").expect("the sample has a backlog") + "backlog:\n".len();
    format!("{}- id: {id}\n  theme: hand\n  summary: typed by a person\n  status: todo\n{}", &text[..at], &text[at..])
}

/// How a person's editor saves.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Save {
    Rename,
    InPlace,
}

fn save(path: &std::path::Path, text: &str, how: Save) {
    match how {
        Save::Rename => {
            let temp = path.with_file_name(".work-index.yaml.swp");
            std::fs::write(&temp, text).unwrap();
            std::fs::rename(&temp, path).unwrap();
        }
        Save::InPlace => std::fs::write(path, text).unwrap(),
    }
}

/// Four agents add items without pause while a person saves the file 100 times, alternating
/// rename saves and in-place saves. Every save the person made is still in the file at the
/// end (none was replaced by a write of the server), and every acknowledged agent item that
/// a person's save dropped (their editor held an older copy) is reported in the change feed
/// as removed by an external edit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hand_saves_during_a_write_storm_are_kept() {
    let server = TestServer::start().await;
    let path = server.path("projects/orbit-api/work-index.yaml");
    let stop = Arc::new(AtomicBool::new(false));
    let observer = server.client("observer").await;
    let start = call_ok(&observer, "worksync_changes", json!({"project": "orbit-api"})).await;
    let mut cursor = start["cursor"].as_str().expect("a cursor").to_string();

    let mut agents = Vec::new();
    for agent in 0..4 {
        let client = server.client(&format!("agent-{agent}")).await;
        let stop = stop.clone();
        agents.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("a{agent}-{n}");
                n += 1;
                let args = json!({"project": "orbit-api", "id": id, "summary": "s", "theme": "t"});
                let result = common::call(&client, "worksync_add_backlog", args).await;
                if result.is_error != Some(true) {
                    acknowledged.push(id);
                }
            }
            client.cancel().await.ok();
            acknowledged
        }));
    }

    let saves = 100;
    let person_path = path.clone();
    let person = tokio::task::spawn_blocking(move || {
        let mut made = Vec::new();
        for i in 0..saves {
            let how = if i % 2 == 0 { Save::Rename } else { Save::InPlace };
            let text = std::fs::read_to_string(&person_path).unwrap();
            let id = format!("hand-{i}");
            save(&person_path, &with_marker(&text, &id), how);
            made.push((id, how));
            // The person's pause between saves, part of the scenario (not a wait for the
            // server): long enough for the server to read the file once it holds still
            // (20 ms), and short enough that saves keep landing in the middle of writes.
            std::thread::sleep(Duration::from_millis(40 + (i as u64 * 7) % 20));
        }
        made
    });
    let made = person.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = Vec::new();
    for agent in agents {
        acknowledged.extend(agent.await.unwrap());
    }

    // The next read picks up whatever is on disk now.
    let client = observer;
    call_ok(&client, "worksync_status", json!({"project": "orbit-api"})).await;
    let text = std::fs::read_to_string(&path).unwrap();
    let index: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("the file parses");
    let ids: std::collections::HashSet<&str> =
        index["backlog"].as_sequence().unwrap().iter().filter_map(|b| b["id"].as_str()).collect();
    let lost = |how: Save| made.iter().filter(|(id, h)| *h == how && !ids.contains(id.as_str())).count();
    let (lost_renames, lost_in_place) = (lost(Save::Rename), lost(Save::InPlace));

    // Agent items a person's older copy dropped must be visible in the change feed.
    let mut removed_by_hand = std::collections::HashSet::new();
    loop {
        let args = json!({"project": "orbit-api", "since": cursor, "limit": 1000});
        let page = call_ok(&client, "worksync_changes", args).await;
        let changes = page["changes"].as_array().unwrap();
        for change in changes {
            if change["agent"] == "external edit" && change["action"] == "removed" {
                removed_by_hand.insert(change["id"].as_str().unwrap().to_string());
            }
        }
        cursor = page["cursor"].as_str().expect("a cursor").to_string();
        if changes.is_empty() || page["more"] != json!(true) {
            break;
        }
    }
    let missing: Vec<&String> = acknowledged.iter().filter(|id| !ids.contains(id.as_str())).collect();
    let unreported: Vec<&&String> = missing.iter().filter(|id| !removed_by_hand.contains(id.as_str())).collect();
    eprintln!(
        "{} hand saves ({} by rename, {} in place): {lost_renames} rename saves lost, {lost_in_place} in-place saves lost; \
         {} acknowledged agent writes, {} dropped by stale hand saves, {} of them unreported",
        made.len(),
        made.len() / 2,
        made.len() - made.len() / 2,
        acknowledged.len(),
        missing.len(),
        unreported.len()
    );
    assert!(acknowledged.len() > 10, "the agents kept writing ({} writes)", acknowledged.len());
    assert_eq!(lost_renames, 0, "rename saves replaced by a server write");
    assert_eq!(lost_in_place, 0, "in-place saves replaced by a server write");
    assert!(unreported.is_empty(), "agent writes lost without a trace in the change feed: {unreported:?}");
}
