//! What travels beside the work index for which the Python schema has no room: backlog
//! priorities (for `worksync_next`) and dependencies between items, in one file per machine.
//!
//! `worksync/machines/<machine>.json` is written by that machine only, so git never has two
//! versions of it to merge. Each value carries a Lamport stamp (one more than any stamp the
//! machine had seen when it set the value); every machine combines the files the same way —
//! the value with the highest (stamp, machine name) wins — so all agree, and a value that lost
//! is still in its machine's file. An item's dependencies are one value (its whole list).
//!
//! Two machines can each add an edge that is fine alone and closes a cycle together (A → B
//! here, B → A there). Combining takes the winning lists oldest first (stamp, machine, item)
//! and leaves out an edge that would close a cycle, so every machine drops the same, newest
//! edge and nothing is blocked forever; the edge stays in its machine's file.
//!
//! A machine's file changes at a sync when its own values differ from what the files of the
//! common version combine to: those are the changes made here since.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::repo::Plan;
use crate::store::Travelling;

/// Where the machines' files are in a plan.
pub const MACHINES_DIR: &str = "worksync/machines/";

/// One machine's file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct MachineFile {
    /// The highest stamp in this file.
    lamport: u64,
    /// By item storage key (`backlog/<id>`).
    #[serde(default)]
    priorities: BTreeMap<String, Stamped<u8>>,
    /// By item storage key: the storage keys it depends on (an empty list: none any more).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    depends_on: BTreeMap<String, Stamped<Vec<String>>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stamped<T> {
    value: T,
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

/// Per key, the value with the highest (stamp, machine) among `values`.
fn latest<'a, T: Clone + 'a>(
    values: impl Iterator<Item = (&'a String, &'a String, &'a Stamped<T>)>,
) -> BTreeMap<String, (u64, String, T)> {
    let mut best: BTreeMap<String, (u64, String, T)> = BTreeMap::new();
    for (machine, key, stamped) in values {
        match best.get(key) {
            Some(current) if (current.0, &current.1) >= (stamped.stamp, machine) => {}
            _ => {
                best.insert(key.clone(), (stamped.stamp, machine.clone(), stamped.value.clone()));
            }
        }
    }
    best
}

/// What the machines' files in `plan` agree on (dependencies without empty lists).
pub fn combined(plan: &Plan) -> Travelling {
    let files = files(plan);
    let priorities = latest(files.iter().flat_map(|(m, f)| f.priorities.iter().map(move |(k, v)| (m, k, v))));
    let depends_on = latest(files.iter().flat_map(|(m, f)| f.depends_on.iter().map(move |(k, v)| (m, k, v))));
    Travelling {
        priorities: priorities.into_iter().map(|(key, (_, _, value))| (key, value)).collect(),
        depends_on: acyclic(depends_on),
    }
}

/// The winning dependency lists with every edge that would close a cycle left out, taken
/// oldest first so that the newest edge of a cycle is the one dropped.
fn acyclic(lists: BTreeMap<String, (u64, String, Vec<String>)>) -> BTreeMap<String, Vec<String>> {
    let mut order: Vec<(u64, String, String, Vec<String>)> =
        lists.into_iter().map(|(key, (stamp, machine, deps))| (stamp, machine, key, deps)).collect();
    order.sort();
    let mut edges: HashMap<String, Vec<String>> = HashMap::new();
    let mut kept = BTreeMap::new();
    for (_, machine, key, deps) in order {
        let mut accepted = Vec::new();
        for dep in deps {
            if reaches(&edges, &dep, &key) {
                tracing::warn!(item = %key, dependency = %dep, machine = %machine, "a dependency from the shared plan would close a cycle; it is left out");
                continue;
            }
            edges.entry(key.clone()).or_default().push(dep.clone());
            accepted.push(dep);
        }
        if !accepted.is_empty() {
            kept.insert(key, accepted);
        }
    }
    kept
}

/// Whether `to` can be reached from `from` along `edges`.
fn reaches(edges: &HashMap<String, Vec<String>>, from: &str, to: &str) -> bool {
    let mut seen: HashSet<&str> = HashSet::new();
    let mut stack = vec![from];
    while let Some(at) = stack.pop() {
        if at == to {
            return true;
        }
        if seen.insert(at) {
            stack.extend(edges.get(at).into_iter().flatten().map(String::as_str));
        }
    }
    false
}

/// `machine`'s file for the next commit, given the common version `base` and what this
/// machine holds now; `None` when nothing changed here. A dependency list agreed on but not
/// held here any more (removed here, or its item removed) travels as an empty list.
pub fn ours(base: &Plan, machine: &str, local: &Travelling) -> Option<Vec<u8>> {
    let agreed = combined(base);
    let all = files(base);
    let mut mine = all.get(machine).cloned().unwrap_or_default();
    let stamp = all.values().map(|f| f.lamport).max().unwrap_or(0) + 1;
    let mut changed = false;
    for (key, value) in &local.priorities {
        if agreed.priorities.get(key) != Some(value) {
            mine.priorities.insert(key.clone(), Stamped { value: *value, stamp });
            changed = true;
        }
    }
    let keys: std::collections::BTreeSet<&String> = local.depends_on.keys().chain(agreed.depends_on.keys()).collect();
    for key in keys {
        let here = local.depends_on.get(key).map(Vec::as_slice).unwrap_or_default();
        if agreed.depends_on.get(key).map(Vec::as_slice).unwrap_or_default() != here {
            mine.depends_on.insert(key.clone(), Stamped { value: here.to_vec(), stamp });
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

    fn local(pairs: &[(&str, u8)]) -> Travelling {
        Travelling { priorities: pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect(), ..Travelling::default() }
    }

    fn edges(pairs: &[(&str, &[&str])]) -> Travelling {
        let depends_on =
            pairs.iter().map(|(k, v)| (k.to_string(), v.iter().map(|d| d.to_string()).collect())).collect();
        Travelling { depends_on, ..Travelling::default() }
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
        assert_eq!(combined(&plan).priorities["backlog/c"], 1);
    }

    /// A dependency list travels whole; removing it here travels as an empty list. Two
    /// machines closing a cycle from the same common version: the edge of the greater
    /// machine name (the newer at equal stamps) is left out on every machine, and kept in
    /// its file.
    #[test]
    fn dependencies_travel_and_a_cycle_loses_its_newest_edge() {
        let mut plan = Plan::new();
        plan.insert(file_of("lap"), ours(&plan, "lap", &edges(&[("backlog/b", &["backlog/a"])])).unwrap());
        assert_eq!(combined(&plan), edges(&[("backlog/b", &["backlog/a"])]));
        plan.insert(file_of("box"), ours(&plan, "box", &Travelling::default()).unwrap());
        assert_eq!(combined(&plan), Travelling::default(), "box removed the dependency");

        let base = plan.clone();
        plan.insert(file_of("box"), ours(&base, "box", &edges(&[("backlog/x", &["backlog/y"])])).unwrap());
        plan.insert(file_of("lap"), ours(&base, "lap", &edges(&[("backlog/y", &["backlog/x"])])).unwrap());
        assert_eq!(combined(&plan), edges(&[("backlog/x", &["backlog/y"])]));
        assert!(String::from_utf8(plan[&file_of("lap")].clone()).unwrap().contains("backlog/y"), "kept");
    }
}
