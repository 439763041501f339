//! The one room that shapes what goes on the wire: the store's typed results become the JSON
//! agents read.
//!
//! Every key the Python tool answered with stays exactly as it was (`created`, `updated`,
//! `updated_story`, `removed`, `sprint`, `history_entry`, `projects`, `stats`, …): its users'
//! scripts and prompts read them. Our additions are the same on every tool: an answer about
//! an item names it with `kind` and `id` apart and gives its `rev`; a write names its
//! `agent`; `claimed` is always a boolean, the item being under `item` (claim) or `next`.
//! A new field is added in the store's types and here, nowhere else.

use serde_json::{Map, Value, json};

use crate::share::status::SyncStatus;
use crate::store::outcome::{Done, Item, Kind, Outcome, Registered, Unregistered};
use crate::store::registry::ProjectEntry;
use crate::store::snapshot::HistoryPage;
use crate::store::status::{NotShown, ProjectStatus, ReadyStatus, SHOWN_IN_PROGRESS, Status};
use crate::store::{Changes, Snapshot, StoreError};
use crate::vault::Report;

/// An item as tools show it: its fields, its `rev`, the sprint of a story, a live claim
/// (`claimed_by`, `claimed_until`) and a backlog item's priority.
pub fn item(item: &Item) -> Value {
    let mut map = item.fields.clone();
    if let Some(sprint) = &item.sprint {
        map.insert("sprint".into(), json!(sprint));
    }
    map.insert("rev".into(), json!(item.rev));
    if let Some(claim) = &item.claim {
        map.insert("claimed_by".into(), json!(claim.agent));
        map.insert("claimed_until".into(), json!(claim.until));
    }
    if let Some(priority) = item.priority {
        map.insert("priority".into(), json!(priority));
    }
    if !item.depends_on.is_empty() {
        map.insert("depends_on".into(), json!(item.depends_on));
    }
    if !item.blocked_by.is_empty() {
        map.insert("blocked_by".into(), json!(item.blocked_by));
    }
    Value::Object(map)
}

/// A change's answer.
pub fn done(done: &Done) -> Value {
    let mut out = Map::new();
    // Which item the answer is about; a story with its sprint, as the Python tool did.
    let about = |out: &mut Map<String, Value>, item: &Item| {
        out.insert("kind".into(), json!(item.kind.as_str()));
        out.insert("id".into(), json!(item.id));
        out.insert("rev".into(), json!(item.rev));
        if let (Kind::Story, Some(sprint)) = (item.kind, &item.sprint) {
            out.insert("sprint".into(), json!(sprint));
        }
    };
    match &done.outcome {
        Outcome::Created { item: created } => {
            out.insert("created".into(), item(created));
            about(&mut out, created);
        }
        Outcome::Updated { item: updated } => {
            out.insert("updated".into(), item(updated));
            about(&mut out, updated);
        }
        Outcome::Removed { item: removed } => {
            out.insert("removed".into(), item(removed));
            about(&mut out, removed);
        }
        Outcome::Completed { story, entry, already_done } => {
            out.insert("updated_story".into(), item(story));
            out.insert("history_entry".into(), entry.as_ref().map_or(Value::Null, to_json));
            about(&mut out, story);
            if *already_done {
                out.insert("already_done".into(), json!(true));
                out.insert(
                    "note".into(),
                    json!(format!("Story '{}' was already done; nothing was changed.", story.id)),
                );
            }
        }
        Outcome::HistoryAdded { entry } => {
            out.insert("created".into(), to_json(entry));
            out.insert("kind".into(), json!("history"));
        }
        Outcome::Claimed { item: claimed, until, renewed } => {
            out.insert("claimed".into(), json!(true));
            about(&mut out, claimed);
            out.insert("item".into(), item(claimed));
            out.insert("holder".into(), json!(done.agent));
            out.insert("until".into(), json!(until));
            out.insert("renewed".into(), json!(renewed));
        }
        Outcome::Released { kind, id, holder } => {
            out.insert("released".into(), json!(holder.is_some()));
            out.insert("kind".into(), json!(kind.as_str()));
            out.insert("id".into(), json!(id));
            match holder {
                Some(holder) => {
                    out.insert("holder".into(), json!(holder));
                }
                None => {
                    out.insert("note".into(), json!("It was not claimed."));
                }
            }
        }
        Outcome::Next { pick: None, blocked } => {
            out.insert("next".into(), Value::Null);
            out.insert("claimed".into(), json!(false));
            let reason = match blocked {
                0 => "Nothing is ready: no planned story in an active sprint and no todo backlog item without a live claim.".to_string(),
                n => format!(
                    "Nothing is ready: {n} item{} wait{} on unfinished dependencies, and the rest is claimed or done. worksync_status lists what blocks what.",
                    if *n == 1 { "" } else { "s" },
                    if *n == 1 { "s" } else { "" }
                ),
            };
            out.insert("reason".into(), json!(reason));
        }
        Outcome::Next { pick: Some(pick), .. } => {
            out.insert("next".into(), item(&pick.item));
            about(&mut out, &pick.item);
            out.insert("reason".into(), json!(pick.reason));
            if !pick.unblocks.is_empty() {
                out.insert("unblocks".into(), json!(pick.unblocks));
            }
            out.insert("claimed".into(), json!(pick.claimed.is_some()));
            if let Some((until, renewed)) = pick.claimed {
                out.insert("holder".into(), json!(done.agent));
                out.insert("until".into(), json!(until));
                out.insert("renewed".into(), json!(renewed));
            }
        }
    }
    out.insert("agent".into(), json!(done.agent));
    if let Some(forced) = &done.forced_past {
        out.insert("forced_past_dependencies".into(), json!(forced));
    }
    if let Some(holder) = &done.forced_over {
        out.insert("forced_over".into(), json!(holder));
        if matches!(done.outcome, Outcome::Released { .. }) {
            out.insert("forced".into(), json!(true));
        }
    }
    Value::Object(out)
}

/// `worksync_register_project`'s answer.
pub fn registered(r: &Registered) -> Value {
    let mut out = json!({
        "registered": r.name,
        "repo": r.repo.display().to_string(),
        "description": r.description,
        "languages_detected": r.languages,
        "guidance_inherit": r.inherit,
        "created_dirs": r.created_dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>(),
        "work_index": r.work_index.display().to_string(),
        "agent": r.agent,
    });
    if r.kept_existing {
        out["note"] = json!("An existing work-index.yaml was found and kept as it was.");
    }
    if let Some(warning) = &r.warning {
        out["warning"] = json!(warning);
    }
    out
}

/// `worksync_unregister_project`'s answer.
pub fn unregistered(u: &Unregistered) -> Value {
    let mut out = json!({ "config_removed": u.removed_entry.clone().unwrap_or(Value::Null) });
    if u.removed_entry.is_none() {
        out["note"] = json!("Was not in config (already unregistered). Cleaning orphaned data.");
    }
    if let Some((from, to)) = &u.moved {
        out["data_deleted"] = json!(from.display().to_string());
        out["moved_to"] = json!(to.display().to_string());
    }
    out["unregistered"] = json!(u.name);
    out["agent"] = json!(u.agent);
    out
}

/// `worksync_status`'s answer: the Python tool's shape, each item with its `rev` and claim.
pub fn status(status: &Status) -> Value {
    let projects: Map<String, Value> = status
        .projects
        .iter()
        .map(|(name, project)| {
            let value = match project {
                ProjectStatus::Ready(ready) => ready_status(ready),
                ProjectStatus::Unreadable(error) => unreadable(error),
            };
            (name.clone(), value)
        })
        .collect();
    let mut out = json!({ "projects": projects });
    if let Some(warning) = &status.warning {
        out["warning"] = json!(warning);
    }
    out
}

fn ready_status(ready: &ReadyStatus) -> Value {
    let sprints: Vec<Value> = ready
        .sprints
        .iter()
        .map(|(sprint, stories)| {
            let mut value = item(sprint);
            value["stories"] = stories.iter().map(item).collect();
            value
        })
        .collect();
    let claims: Vec<Value> = ready
        .claims
        .iter()
        .map(|c| json!({ "kind": c.kind.as_str(), "id": c.id, "holder": c.holder, "until": c.until }))
        .collect();
    let activity: Map<String, Value> = ready
        .activity
        .iter()
        .map(|a| {
            let last = json!({ "kind": a.last_item.0.as_str(), "id": a.last_item.1 });
            let value = json!({
                "last_change_at": a.last_change_at,
                "last_item": last,
                "items_last_changed": a.items_last_changed,
            });
            (a.agent.clone(), value)
        })
        .collect();
    let mut status = json!({
        "sprints": sprints,
        "in_progress_stories": ready.in_progress_stories.iter().map(item).collect::<Vec<_>>(),
        "in_progress_backlog": ready.in_progress_backlog.iter().map(item).collect::<Vec<_>>(),
        "stats": {
            "total_backlog": ready.stats.total_backlog,
            "todo": ready.stats.todo,
            "in_progress": ready.stats.in_progress,
            "done": ready.stats.done,
        },
        "ready": ready.ready,
        "blocked": ready.blocked,
        "claims": claims,
        "activity": activity,
        "recent_history": ready.recent_history.iter().map(to_json).collect::<Vec<_>>(),
    });
    if ready.not_shown != NotShown::default() {
        status["in_progress_not_shown"] = json!({
            "stories": ready.not_shown.stories,
            "backlog": ready.not_shown.backlog,
            "note": format!(
                "In progress lists the {SHOWN_IN_PROGRESS} most recently changed of each kind; worksync_changes shows every change."
            ),
        });
    }
    status
}

/// A project that cannot be read, as `status` lists it: the error, what to do, and for a
/// file that does not parse (or a name in `config.yaml`) its file, line and column.
fn unreadable(error: &StoreError) -> Value {
    let mut entry = json!({ "error": error.to_string(), "hint": error.hint() });
    if let StoreError::Parse { path, line, column, .. } = error {
        entry["file"] = json!(path.display().to_string());
        entry["line"] = json!(line);
        entry["column"] = json!(column);
    }
    entry
}

/// `worksync_projects`' answer: the registry, or one project's entry.
pub fn projects(
    snapshot: &Snapshot,
    project: Option<&str>,
    sync: &dyn Fn(&str) -> Option<SyncStatus>,
) -> Result<Value, StoreError> {
    // A shared project's entry carries its sync status beside its `share` settings.
    let entry = |name: &str, entry: &ProjectEntry| {
        let mut value = to_json(entry);
        if let (Value::Object(map), Some(status)) = (&mut value, sync(name)) {
            map.insert("sync".into(), to_json(&status));
        }
        value
    };
    match project {
        Some(name) => {
            let mut out = Map::new();
            out.insert("project".into(), json!(name));
            if let Value::Object(fields) = entry(name, snapshot.project_entry(name)?) {
                out.extend(fields);
            }
            Ok(Value::Object(out))
        }
        None => {
            let projects: Map<String, Value> =
                snapshot.config.projects().map(|(n, e)| (n.clone(), entry(n, e))).collect();
            Ok(json!({ "projects": projects }))
        }
    }
}

/// `worksync_changes`' answer: the changes and the cursor to continue from, or a resync;
/// `note` says how the wait asked for was capped.
pub fn changes(changes: Changes, note: Option<String>) -> Value {
    let mut answer = match changes {
        Changes::Listed { changes, cursor, more } => json!({ "changes": changes, "cursor": cursor, "more": more }),
        Changes::Resync { reason, cursor } => json!({
            "resync": true,
            "reason": reason,
            "cursor": cursor,
            "changes": [],
            "hint": "Re-read what you need (worksync_status), then call worksync_changes with this cursor.",
        }),
    };
    if let Some(note) = note {
        answer["note"] = json!(note);
    }
    answer
}

/// The answer of a call the client cancelled (a long poll it stopped waiting for).
pub fn cancelled() -> Value {
    json!({ "cancelled": true })
}

/// `worksync_history`'s list answer: each entry with the agent that appended it.
pub fn history(page: &HistoryPage<'_>) -> Value {
    let entries: Vec<Value> = page
        .entries
        .iter()
        .map(|(entry, agent)| {
            let mut value = to_json(*entry);
            if let (Value::Object(map), Some(agent)) = (&mut value, agent) {
                map.insert("agent".into(), json!(agent));
            }
            value
        })
        .collect();
    json!({ "history": entries, "total": page.total, "offset": page.offset, "returned": entries.len() })
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    crate::store::ops::to_json(value)
}

/// The answer of `worksync_sync`: the Python tool's `status`, `project` and `output`, then
/// the report. `status` is "partial" when some notes are not current, with a `hint` saying
/// what to fix; it is not a tool error, because the rest of the vault was regenerated and
/// calling again will not help until the file is fixed.
pub fn sync_report(project: &str, report: &Report) -> Value {
    let mut output = format!(
        "{} notes in {}: {} written, {} removed, {} unchanged, {} kept, {} errors ({} ms)",
        report.notes,
        report.vault,
        report.written,
        report.removed,
        report.unchanged,
        report.kept.len(),
        report.errors.len(),
        report.millis
    );
    for skipped in &report.skipped {
        output.push_str(&format!("; skipped {}", skipped.describe()));
    }
    let status = if report.is_partial() { "partial" } else { "success" };
    let mut value = json!({ "status": status, "project": project, "output": output });
    if report.is_partial() {
        value["hint"] = json!(if report.skipped.is_empty() {
            "Some notes could not be written (see errors): fix what each error names, then call worksync_sync again."
        } else {
            "The notes of the skipped projects are not current: fix their work-index.yaml at the line and column \
             given (or ask the person who edits it), then call worksync_sync again. The other projects' notes are \
             current."
        });
    }
    if let (Some(map), Ok(Value::Object(details))) = (value.as_object_mut(), serde_json::to_value(report)) {
        map.extend(details);
    }
    // Files left alone are grouped by reason, a few paths each: a vault migrated from the
    // Python tool keeps a hundred notes for one reason, and the agent needs the reason once.
    value["kept"] = grouped(&report.kept);
    value["refused"] = grouped(&report.refused);
    value
}

/// Paths listed per reason in a `worksync_sync` answer; the rest are counted.
const PATHS_PER_REASON: usize = 5;

/// `[{reason, count, paths (at most 5)}]`, the most frequent reason first.
fn grouped(files: &[crate::vault::report::Kept]) -> Value {
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for file in files {
        match groups.iter_mut().find(|(reason, _)| *reason == file.reason) {
            Some((_, paths)) => paths.push(&file.path),
            None => groups.push((&file.reason, vec![&file.path])),
        }
    }
    groups.sort_by_key(|(_, paths)| std::cmp::Reverse(paths.len()));
    let groups: Vec<Value> = groups
        .into_iter()
        .map(|(reason, paths)| {
            let shown: Vec<&str> = paths.iter().take(PATHS_PER_REASON).copied().collect();
            json!({ "reason": reason, "count": paths.len(), "paths": shown })
        })
        .collect();
    Value::Array(groups)
}

#[cfg(test)]
mod tests {
    use crate::vault::report::{Kept, Report};

    /// A migrated vault keeps a hundred notes for one reason: the answer names the reason
    /// once, with a count and a few paths, and stays small.
    #[test]
    fn kept_notes_are_grouped_by_reason() {
        let long = "not written by worksync (a person's note, or one from another tool); left as it is — move or \
                    delete it, or run `worksync sync --adopt` to let worksync replace it";
        let mut kept: Vec<Kept> =
            (0..112).map(|i| Kept { path: format!("Stories/STORY-{i}.md"), reason: long.into() }).collect();
        kept.push(Kept { path: "Mine.md".into(), reason: "a symlink".into() });
        let report = Report { kept, ..Default::default() };
        let answer = super::sync_report("all", &report);
        let kept = answer["kept"].as_array().unwrap();
        assert_eq!(kept.len(), 2);
        assert_eq!((kept[0]["count"].as_u64(), kept[0]["paths"].as_array().unwrap().len()), (Some(112), 5));
        assert_eq!(kept[1]["paths"][0], "Mine.md");
        let bytes = answer.to_string().len();
        assert!(bytes < 1_500, "{bytes} bytes: {answer}");
        assert!(answer["output"].as_str().unwrap().contains("113 kept"));
    }
}
