//! What travels beside the work index for which the Python schema has no room: backlog
//! priorities (for `worksync_next`), in one file per machine.
//!
//! `worksync/machines/<machine>.json` is written by that machine only, so git never has two
//! versions of it to merge. Each value carries a Lamport stamp (one more than any stamp the
//! machine had seen when it set the value); every machine combines the files the same way —
//! the value with the highest (stamp, machine name) wins — so all agree, and a value that lost
//! is still in its machine's file.
//!
//! A machine's file changes at a sync when its own values differ from what the files of the
//! common version combine to: those are the changes made here since.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::repo::Plan;

/// Where the machines' files are in a plan.
pub const MACHINES_DIR: &str = "worksync/machines/";

/// One machine's file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct MachineFile {
    /// The highest stamp in this file.
    lamport: u64,
    /// By item storage key (`backlog/<id>`).
    #[serde(default)]
    priorities: BTreeMap<String, Stamped>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stamped {
    value: u8,
    stamp: u64,
}

/// The path of `machine`'s file.
pub fn file_of(machine: &str) -> String {
    format!("{MACHINES_DIR}{machine}.json")
}

/// Every machine's file in `plan`, by machine name (files that do not parse are skipped).
fn files(plan: &Plan) -> BTreeMap<String, MachineFile> {
    plan.iter()
        .filter_map(|(path, bytes)| {
            let machine = path.strip_prefix(MACHINES_DIR)?.strip_suffix(".json")?;
            Some((machine.to_string(), serde_json::from_slice(bytes).ok()?))
        })
        .collect()
}

/// The priorities the machines' files in `plan` agree on.
pub fn combined(plan: &Plan) -> BTreeMap<String, u8> {
    let mut best: BTreeMap<String, (u64, String, u8)> = BTreeMap::new();
    for (machine, file) in files(plan) {
        for (key, stamped) in file.priorities {
            let candidate = (stamped.stamp, machine.clone(), stamped.value);
            match best.get(&key) {
                Some(current) if (current.0, &current.1) >= (candidate.0, &candidate.1) => {}
                _ => {
                    best.insert(key, candidate);
                }
            }
        }
    }
    best.into_iter().map(|(key, (_, _, value))| (key, value)).collect()
}

/// `machine`'s file for the next commit, given the common version `base` and the priorities
/// this machine holds now; `None` when nothing changed here.
pub fn ours(base: &Plan, machine: &str, local: &BTreeMap<String, u8>) -> Option<Vec<u8>> {
    let agreed = combined(base);
    let all = files(base);
    let mut mine = all.get(machine).cloned().unwrap_or_default();
    let stamp = all.values().map(|f| f.lamport).max().unwrap_or(0) + 1;
    let mut changed = false;
    for (key, value) in local {
        if agreed.get(key) != Some(value) {
            mine.priorities.insert(key.clone(), Stamped { value: *value, stamp });
            changed = true;
        }
    }
    if !changed {
        return None;
    }
    mine.lamport = stamp;
    let mut bytes = serde_json::to_vec_pretty(&mine).ok()?;
    bytes.push(b'\n');
    Some(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(pairs: &[(&str, u8)]) -> BTreeMap<String, u8> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    /// Two machines set one item's priority: the later (higher stamp) wins everywhere, ties go
    /// to the greater machine name, and the losing value stays in its machine's file.
    #[test]
    fn the_latest_value_wins_and_the_loser_is_kept() {
        let mut plan = Plan::new();
        let lap = ours(&plan, "lap", &local(&[("backlog/a", 1), ("backlog/b", 2)])).unwrap();
        plan.insert(file_of("lap"), lap);
        assert_eq!(combined(&plan), local(&[("backlog/a", 1), ("backlog/b", 2)]));
        // box saw lap's values, then set a to 5: its stamp is higher.
        let boxed = ours(&plan, "box", &local(&[("backlog/a", 5), ("backlog/b", 2)])).unwrap();
        plan.insert(file_of("box"), boxed);
        assert_eq!(combined(&plan), local(&[("backlog/a", 5), ("backlog/b", 2)]));
        assert!(String::from_utf8(plan[&file_of("lap")].clone()).unwrap().contains("\"value\": 1"), "kept");
        // Nothing changed here: no new file.
        assert_eq!(ours(&plan, "lap", &local(&[("backlog/a", 5), ("backlog/b", 2)])), None);
        // Both set c concurrently from the same common version: same stamp, "lap" > "box".
        let base = plan.clone();
        plan.insert(file_of("lap"), ours(&base, "lap", &local(&[("backlog/c", 1)])).unwrap());
        plan.insert(file_of("box"), ours(&base, "box", &local(&[("backlog/c", 4)])).unwrap());
        assert_eq!(combined(&plan)["backlog/c"], 1);
    }
}
