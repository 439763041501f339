//! How the walker matches old and new: the items of a sequence (by id, or by their unchanged
//! ends) and the key of a mapping entry's line.

use serde_yaml_ng::Value;

/// How the items of a new sequence relate to the old one.
pub(super) struct SequencePlan {
    /// For each new item, the index of the old item it continues (or `None` if it is new).
    pub(super) sources: Vec<Option<usize>>,
    /// Old items that are gone.
    pub(super) removed: Vec<usize>,
}

/// The `id` of every item, if all items are mappings with distinct scalar ids.
pub(super) fn ids_of(items: &[Value]) -> Option<Vec<String>> {
    let mut ids = Vec::with_capacity(items.len());
    for item in items {
        ids.push(match item.get("id")? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.iter().all(|id| seen.insert(id.as_str())).then_some(ids)
}

/// Matches items by id; `None` if surviving items changed order (the caller rewrites the
/// whole sequence then).
pub(super) fn match_by_id(old_ids: &[String], new_ids: &[String]) -> Option<SequencePlan> {
    let position: std::collections::HashMap<&str, usize> =
        old_ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    let sources: Vec<Option<usize>> = new_ids.iter().map(|id| position.get(id.as_str()).copied()).collect();
    let kept: Vec<usize> = sources.iter().flatten().copied().collect();
    if kept.windows(2).any(|w| w[0] >= w[1]) {
        return None;
    }
    let kept_set: std::collections::HashSet<usize> = kept.into_iter().collect();
    let removed = (0..old_ids.len()).filter(|i| !kept_set.contains(i)).collect();
    Some(SequencePlan { sources, removed })
}

/// Matches the longest equal prefix and suffix; what lies between is edited in place when
/// old and new have as many items there, else replaced.
pub(super) fn match_by_ends(old: &[Value], new: &[Value]) -> SequencePlan {
    let max = old.len().min(new.len());
    let prefix = (0..max).take_while(|&i| old[i] == new[i]).count();
    let suffix = (0..max - prefix).take_while(|&i| old[old.len() - 1 - i] == new[new.len() - 1 - i]).count();
    let (old_middle, new_middle) = (prefix..old.len() - suffix, prefix..new.len() - suffix);
    if old_middle.len() == new_middle.len() {
        // Same count in between: items changed in place (e.g. one entry edited).
        return SequencePlan { sources: (0..new.len()).map(Some).collect(), removed: Vec::new() };
    }
    let mut sources = Vec::with_capacity(new.len());
    sources.extend((0..prefix).map(Some));
    sources.extend(new_middle.map(|_| None));
    sources.extend((old.len() - suffix..old.len()).map(Some));
    SequencePlan { sources, removed: old_middle.collect() }
}

/// Parses the key at the start of a mapping entry line (`key:` or `"key":`); `None` for
/// layouts we do not edit in place (complex keys, flow mappings, anchors).
pub(super) fn parse_key(line: &str) -> Option<String> {
    let (raw, rest) = if let Some(quote @ ('"' | '\'')) = line.chars().next() {
        let close = line[1..].find(quote)? + 1;
        (&line[..=close], &line[close + 1..])
    } else {
        let colon = line.match_indices(':').find(|(i, _)| {
            let next = line[i + 1..].chars().next();
            next.is_none() || next == Some(' ')
        })?;
        (&line[..colon.0], &line[colon.0..])
    };
    if !rest.starts_with(':') || raw.starts_with(['?', '&', '*', '!', '{', '[', '-']) || raw.contains(" #") {
        return None;
    }
    // The keys of our files are plain words, which read as themselves: no need to start a
    // parser for each (a merge reads tens of thousands of keys).
    if is_plain_word(raw) {
        return Some(raw.to_string());
    }
    match serde_yaml_ng::from_str::<Value>(raw).ok()? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// A lowercase word (`related_sprints`, `status`) that YAML reads as the string it spells:
/// letters, digits and `_`, starting with a letter, and not `null`, `true` or `false`.
/// (`inf` and `nan` are strings too: only `.inf` and `.nan` are numbers.)
fn is_plain_word(raw: &str) -> bool {
    raw.starts_with(|c: char| c.is_ascii_lowercase())
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !matches!(raw, "null" | "true" | "false")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key read without the parser is the key the parser reads.
    #[test]
    fn plain_words_read_as_the_parser_reads_them() {
        let words = [
            "id",
            "status",
            "related_sprints",
            "x1",
            "null",
            "true",
            "false",
            "inf",
            "nan",
            "infinity",
            "e5",
            "y",
            "n",
            "yes",
            "no",
            "on",
            "off",
            "Null",
            "TRUE",
            "a_b_c",
            "é",
            "0x1f",
            "1e3",
            "_x",
        ];
        for word in words {
            let parsed = match serde_yaml_ng::from_str::<Value>(word).unwrap() {
                Value::String(s) => Some(s),
                _ => None,
            };
            assert_eq!(parse_key(&format!("{word}: 1")), parsed, "{word}");
            if is_plain_word(word) {
                assert_eq!(parsed.as_deref(), Some(word), "{word}");
            }
        }
    }
}
