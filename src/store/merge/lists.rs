//! The lists of a merge whose order matters: items' order (the common version's, with each
//! side's additions where that side put them), scalar lists (themes, related sprints) and
//! history (a multiset merged in date order). Every rule here is symmetric.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_yaml_ng::Value;

use super::canonical;

/// Scalars of a list both sides changed: the common version's that neither removed, in its
/// order, then those either side added, in text order.
pub(super) fn set_merge(o: &[Value], a: &[Value], b: &[Value]) -> Vec<Value> {
    let mut out: Vec<Value> = o.iter().filter(|v| a.contains(v) && b.contains(v)).cloned().collect();
    let mut added: Vec<Value> = a.iter().chain(b).filter(|v| !o.contains(v) && !out.contains(v)).cloned().collect();
    added.sort_by_key(canonical);
    added.dedup();
    out.extend(added);
    out
}

/// The order of a merged item list: the common version's order for the items it had; items
/// a side added follow the item they followed on that side; runs added after the same item
/// on both sides are ordered by their first id.
pub(super) fn merged_order<'i>(o: &[&'i str], a: &[&'i str], b: &[&'i str], kept: &HashSet<&str>) -> Vec<&'i str> {
    let in_o: HashSet<&str> = o.iter().copied().collect();
    // Runs of added ids by the kept common item they follow (`None`: the start).
    let mut runs: BTreeMap<Option<usize>, Vec<Vec<&'i str>>> = BTreeMap::new();
    let position: HashMap<&str, usize> = o.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    for side in [a, b] {
        let mut anchor: Option<usize> = None;
        let mut run: Vec<&'i str> = Vec::new();
        for id in side {
            if in_o.contains(id) {
                if kept.contains(id) {
                    if !run.is_empty() {
                        runs.entry(anchor).or_default().push(std::mem::take(&mut run));
                    }
                    anchor = position.get(id).copied();
                }
            } else if kept.contains(id) {
                run.push(id);
            }
        }
        if !run.is_empty() {
            runs.entry(anchor).or_default().push(run);
        }
    }
    let mut out = Vec::with_capacity(kept.len());
    let mut placed: HashSet<&str> = HashSet::new();
    let mut place_runs = |anchor: Option<usize>, out: &mut Vec<&'i str>| {
        if let Some(list) = runs.get_mut(&anchor) {
            list.sort();
            for run in list.iter() {
                for id in run {
                    if placed.insert(id) {
                        out.push(*id);
                    }
                }
            }
        }
    };
    place_runs(None, &mut out);
    for (i, id) in o.iter().enumerate() {
        if kept.contains(id) {
            out.push(*id);
        }
        place_runs(Some(i), &mut out);
    }
    out
}

/// History as a multiset: the common version's entries that neither side removed (rotated
/// into the archive), then the entries either side added, each once, merged in date order
/// (each side's own order kept).
pub(super) fn history(o: &[Value], a: &[Value], b: &[Value]) -> Vec<Value> {
    if a == b {
        return a.to_vec();
    }
    if a == o {
        return b.to_vec();
    }
    if b == o {
        return a.to_vec();
    }
    let count = |list: &[Value]| {
        let mut counts: HashMap<String, usize> = HashMap::new();
        for entry in list {
            *counts.entry(canonical(entry)).or_default() += 1;
        }
        counts
    };
    let (co, ca, cb) = (count(o), count(a), count(b));
    let get = |counts: &HashMap<String, usize>, key: &str| counts.get(key).copied().unwrap_or(0);
    // Entries of the common version that both sides still have, oldest removals first.
    let mut kept_of_o: HashMap<String, usize> = HashMap::new();
    for (key, n) in &co {
        kept_of_o.insert(key.clone(), (*n).min(get(&ca, key)).min(get(&cb, key)));
    }
    let mut out: Vec<Value> = Vec::new();
    let mut skip: HashMap<String, usize> = co.iter().map(|(k, n)| (k.clone(), n - kept_of_o[k])).collect();
    for entry in o {
        let key = canonical(entry);
        match skip.get_mut(&key) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(entry.clone()),
        }
    }
    // What each side added beyond the common version, in that side's order.
    let added = |side: &[Value], counts: &HashMap<String, usize>| -> Vec<(String, Value)> {
        let mut extra: HashMap<String, usize> =
            counts.iter().map(|(k, n)| (k.clone(), n.saturating_sub(get(&co, k)))).collect();
        let mut list = Vec::new();
        for entry in side.iter().rev() {
            let key = canonical(entry);
            if let Some(n) = extra.get_mut(&key).filter(|n| **n > 0) {
                *n -= 1;
                list.push((key, entry.clone()));
            }
        }
        list.reverse();
        list
    };
    // Both sides' additions merged by (date, content): the smaller head goes next, and equal
    // heads are one entry (an entry both sides added is one event that reached both, e.g. a
    // merge applied on one side already), kept as many times as the side with more has it.
    let (from_a, from_b) = (added(a, &ca), added(b, &cb));
    let extra = |counts: &HashMap<String, usize>, key: &str| get(counts, key).saturating_sub(get(&co, key));
    let wanted = |key: &str| extra(&ca, key).max(extra(&cb, key));
    let date = |entry: &Value| entry.get("date").map(canonical).unwrap_or_default();
    let mut emitted: HashMap<&str, usize> = HashMap::new();
    let (mut j, mut k) = (0, 0);
    loop {
        let (head_a, head_b) = (from_a.get(j), from_b.get(k));
        let (key, entry) = match (head_a, head_b) {
            (Some(x), Some(y)) => {
                if (date(&y.1), &y.0) < (date(&x.1), &x.0) {
                    y
                } else {
                    x
                }
            }
            (Some(x), None) => x,
            (None, Some(y)) => y,
            (None, None) => break,
        };
        j += usize::from(head_a.is_some_and(|(ka, _)| ka == key));
        k += usize::from(head_b.is_some_and(|(kb, _)| kb == key));
        let copies = emitted.entry(key.as_str()).or_default();
        if *copies < wanted(key) {
            *copies += 1;
            out.push(entry.clone());
        }
    }
    out
}
