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
    // An entry is known by its text; each entry's text is made once (a serializer per
    // entry is most of the cost of merging thousands of them).
    let keyed = |list: &[Value]| -> Vec<String> { list.iter().map(canonical).collect() };
    let (ko, ka, kb) = (keyed(o), keyed(a), keyed(b));
    let (co, ca, cb) = (counts(&ko), counts(&ka), counts(&kb));
    // Entries of the common version that both sides still have, oldest removals first.
    let mut skip: HashMap<&str, usize> =
        co.iter().map(|(key, n)| (*key, n - (*n).min(get(&ca, key)).min(get(&cb, key)))).collect();
    let mut out: Vec<Value> = Vec::new();
    for (entry, key) in o.iter().zip(&ko) {
        match skip.get_mut(key.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(entry.clone()),
        }
    }
    // Both sides' additions merged by (date, content): the smaller head goes next, and equal
    // heads are one entry (an entry both sides added is one event that reached both, e.g. a
    // merge applied on one side already), kept as many times as the side with more has it.
    let (from_a, from_b) = (additions(a, &ka, &ca, &co), additions(b, &kb, &cb, &co));
    let extra = |counts: &HashMap<&str, usize>, key: &str| get(counts, key).saturating_sub(get(&co, key));
    let wanted = |key: &str| extra(&ca, key).max(extra(&cb, key));
    let mut emitted: HashMap<&str, usize> = HashMap::new();
    let (mut j, mut k) = (0, 0);
    loop {
        let (head_a, head_b) = (from_a.get(j), from_b.get(k));
        let (_, key, entry) = match (head_a, head_b) {
            (Some(x), Some(y)) => {
                if (&y.0, y.1) < (&x.0, x.1) {
                    y
                } else {
                    x
                }
            }
            (Some(x), None) => x,
            (None, Some(y)) => y,
            (None, None) => break,
        };
        j += usize::from(head_a.is_some_and(|(_, ka, _)| ka == key));
        k += usize::from(head_b.is_some_and(|(_, kb, _)| kb == key));
        let copies = emitted.entry(key).or_default();
        if *copies < wanted(key) {
            *copies += 1;
            out.push((*entry).clone());
        }
    }
    out
}

/// How many copies of each entry (known by its text) a list holds.
fn counts(keys: &[String]) -> HashMap<&str, usize> {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for key in keys {
        *counts.entry(key.as_str()).or_default() += 1;
    }
    counts
}

fn get(counts: &HashMap<&str, usize>, key: &str) -> usize {
    counts.get(key).copied().unwrap_or(0)
}

/// What a side added beyond the common version (its last copies of each entry beyond the
/// common version's count), in the side's order, each with its date, text and value.
fn additions<'s>(
    side: &'s [Value],
    keys: &'s [String],
    counts: &HashMap<&str, usize>,
    common: &HashMap<&str, usize>,
) -> Vec<(String, &'s str, &'s Value)> {
    let mut extra: HashMap<&str, usize> =
        counts.iter().map(|(key, n)| (*key, n.saturating_sub(get(common, key)))).collect();
    let mut list = Vec::new();
    for (entry, key) in side.iter().zip(keys).rev() {
        if let Some(n) = extra.get_mut(key.as_str()).filter(|n| **n > 0) {
            *n -= 1;
            list.push((entry.get("date").map(canonical).unwrap_or_default(), key.as_str(), entry));
        }
    }
    list.reverse();
    list
}
