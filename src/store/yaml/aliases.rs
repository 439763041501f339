//! Hand-written YAML that shares values: anchors (`&name`), aliases (`*name`) and merge keys
//! (`<<: *base`).
//!
//! The minimal-diff walker ([`super::walker`]) proves each edit by parsing the edited
//! fragment on its own. In a document with aliases that proof is unsound both ways: a
//! fragment holding `*name` does not parse without its anchor, and a fragment holding
//! `&name` parses fine while the edit that drops it leaves every `*name` elsewhere dangling,
//! so the whole file no longer parses. Such documents (*linked* documents here) are
//! therefore edited without local proofs and proved whole instead: the new text must parse
//! to exactly the new value before it is written. When an edit rewrote or removed the node
//! an anchor was on, the aliases that still point to it are repaired in the text:
//! - the first alias of an anchor that is gone takes the anchor over (`*th` becomes
//!   `&th "security"`, with the value it always had), so the others keep pointing to it;
//! - if the document still does not read as intended (an anchored node whose value the edit
//!   changed), every alias outside the edits is written out as the value it had.
//!
//! The value an alias had is found with the parser itself: the alias is replaced by a probe
//! scalar in the old text, the probe's path in the parsed document is the alias's path, and
//! the old document's value at that path is what the alias resolved to. If anything cannot be
//! repaired and proved, the caller rewrites the document whole (which writes no aliases).

use std::collections::HashSet;
use std::ops::Range;

use serde_yaml_ng::Value;

use super::splice::{self, Splice};
use super::walker;

/// A plain scalar no hand-written document holds, standing in for an alias while its path
/// is looked up.
const PROBE: &str = "worksync-alias-probe-5f0c1e";

/// Does `text` use aliases or merge keys, so that its fragments may not parse alone and an
/// edit may leave an alias dangling? Errs on the side of yes: a `*word` in a comment or a
/// quoted string counts when the same `&word` appears too, and any `<<` counts. Text the
/// server writes never adds either, so a document that was not linked stays so.
pub fn is_linked(text: &str) -> bool {
    text.contains("<<") || !alias_tokens(text).is_empty()
}

/// The text for `new` (whose YAML form is `new_value`), edited from `old_text` (which
/// parsed to `old_value`) without local proofs, with aliases repaired; `None` if no such
/// text proves (`proves` says whether a whole text parses to exactly `new`).
pub fn render(old_text: &str, old_value: &Value, new_value: &Value, proves: impl Fn(&str) -> bool) -> Option<String> {
    let edits = walker::patch_document_edits(old_text, old_value, new_value)?;
    let old_raw: Value = serde_yaml_ng::from_str(old_text).ok()?;
    let mut repairs: Vec<Splice> = Vec::new();
    let all = |repairs: &[Splice]| -> Vec<Splice> {
        edits.iter().chain(repairs).map(|s| Splice { range: s.range.clone(), text: s.text.clone() }).collect()
    };
    // First: each alias whose anchor is gone takes the anchor over, one at a time, in
    // document order (the parser names the first dangling one).
    let mut text = splice::apply(old_text, all(&repairs));
    for _ in 0..=alias_tokens(old_text).len() {
        let dangling = match serde_yaml_ng::from_str::<Value>(&text) {
            Ok(_) => break,
            Err(e) if e.to_string().starts_with("unknown anchor") => e.location()?,
            Err(_) => return None,
        };
        let at_new = byte_offset(&text, dangling.line(), dangling.column())?;
        let at = to_old_offset(&all(&repairs), at_new)?;
        let name = alias_at(old_text, at)?;
        let value = resolved(old_text, &old_raw, at..at + 1 + name.len())?;
        repairs.push(Splice { range: at..at + 1 + name.len(), text: format!("&{name} {}", flow(&value)?) });
        text = splice::apply(old_text, all(&repairs));
    }
    if proves(&text) {
        return Some(text);
    }
    // Then: an anchored node the edit changed in place still lends its new value to its
    // aliases; write each remaining alias out as the value it had.
    let touched: Vec<Range<usize>> = all(&repairs).iter().map(|s| s.range.clone()).collect();
    for (at, name) in alias_tokens(old_text) {
        let range = at..at + 1 + name.len();
        if touched.iter().any(|t| t.start < range.end && range.start < t.end) {
            continue;
        }
        let value = resolved(old_text, &old_raw, range.clone())?;
        repairs.push(Splice { range, text: flow(&value)? });
    }
    let text = splice::apply(old_text, all(&repairs));
    proves(&text).then_some(text)
}

/// Every `*name` in `text` whose `&name` also appears, with its byte offset. Names are what
/// the parser (libyaml) accepts: ASCII letters, digits, `-` and `_`.
fn alias_tokens(text: &str) -> Vec<(usize, &str)> {
    let names = |sigil: u8| {
        memchr::memchr_iter(sigil, text.as_bytes()).filter_map(move |at| {
            let name = name_after(text, at);
            (!name.is_empty()).then_some((at, name))
        })
    };
    let aliases: Vec<(usize, &str)> = names(b'*').collect();
    if aliases.is_empty() {
        return aliases;
    }
    let anchors: HashSet<&str> = names(b'&').map(|(_, name)| name).collect();
    aliases.into_iter().filter(|(_, name)| anchors.contains(name)).collect()
}

/// The anchor or alias name that follows the sigil at `at`.
fn name_after(text: &str, at: usize) -> &str {
    let rest = &text[at + 1..];
    let len = rest.bytes().take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_')).count();
    &rest[..len]
}

/// The name of the alias at byte `at` of `text`, if one is there.
fn alias_at(text: &str, at: usize) -> Option<&str> {
    let name = (text.as_bytes().get(at) == Some(&b'*')).then(|| name_after(text, at))?;
    (!name.is_empty()).then_some(name)
}

/// The byte offset of a parser location (1-based line, 1-based column in characters).
fn byte_offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let start = if line <= 1 { 0 } else { memchr::memchr_iter(b'\n', text.as_bytes()).nth(line - 2)? + 1 };
    let within = text[start..].char_indices().nth(column.checked_sub(1)?).map(|(i, _)| i)?;
    Some(start + within)
}

/// Where byte `at` of the edited text was in the original, if it lies outside every edit.
fn to_old_offset(edits: &[Splice], at: usize) -> Option<usize> {
    let mut sorted: Vec<&Splice> = edits.iter().collect();
    sorted.sort_by_key(|s| s.range.start);
    let mut shift: isize = 0;
    for edit in sorted {
        let new_start = (edit.range.start as isize + shift) as usize;
        if at < new_start {
            break;
        }
        let new_end = new_start + edit.text.len();
        if at < new_end {
            return None; // inside text an edit wrote: no alias of the original is there
        }
        shift += edit.text.len() as isize - edit.range.len() as isize;
    }
    usize::try_from(at as isize - shift).ok()
}

/// The value the alias at `range` of `old_text` resolved to.
fn resolved(old_text: &str, old_raw: &Value, range: Range<usize>) -> Option<Value> {
    let probe = format!("{}{PROBE}{}", &old_text[..range.start], &old_text[range.end..]);
    let probed: Value = serde_yaml_ng::from_str(&probe).ok()?;
    let path = path_to_probe(&probed)?;
    let mut value = old_raw;
    for step in &path {
        value = match step {
            Step::Key(key) => value.as_mapping()?.get(key)?,
            Step::Index(i) => value.as_sequence()?.get(*i)?,
        };
    }
    Some(value.clone())
}

/// One step from a node to one of its children.
enum Step {
    Key(Value),
    Index(usize),
}

/// Where the probe scalar is in `value`.
fn path_to_probe(value: &Value) -> Option<Vec<Step>> {
    match value {
        Value::String(s) if s == PROBE => Some(Vec::new()),
        Value::Mapping(map) => map.iter().find_map(|(key, child)| {
            let mut path = path_to_probe(child)?;
            path.insert(0, Step::Key(key.clone()));
            Some(path)
        }),
        Value::Sequence(items) => items.iter().enumerate().find_map(|(i, child)| {
            let mut path = path_to_probe(child)?;
            path.insert(0, Step::Index(i));
            Some(path)
        }),
        Value::Tagged(tagged) => path_to_probe(&tagged.value),
        _ => None,
    }
}

/// `value` as one line of flow YAML (JSON is flow YAML); `None` for what JSON cannot say
/// (keys that are not strings, tags).
fn flow(value: &Value) -> Option<String> {
    fn json_safe(value: &Value) -> bool {
        match value {
            Value::Mapping(map) => map.iter().all(|(k, v)| k.is_string() && json_safe(v)),
            Value::Sequence(items) => items.iter().all(json_safe),
            Value::Tagged(_) => false,
            _ => true,
        }
    }
    json_safe(value).then(|| serde_json::to_string(value).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edit(text: &str, change: impl FnOnce(&mut Value)) -> String {
        let mut old: Value = serde_yaml_ng::from_str(text).unwrap();
        old.apply_merge().unwrap();
        let mut new = old.clone();
        change(&mut new);
        let proves = |candidate: &str| {
            serde_yaml_ng::from_str::<Value>(candidate)
                .is_ok_and(|mut parsed| parsed.apply_merge().is_ok() && parsed == new)
        };
        render(text, &old, &new, proves).unwrap_or_else(|| panic!("no proven text for:\n{text}"))
    }

    const SHARED: &str = "backlog:\n- id: a\n  theme: &th security\n  summary: first\n- id: b\n  theme: *th\n  summary: second\n- id: c\n  theme: *th\n";

    /// Removing the item that holds the anchor: the next alias takes it over, the one after
    /// keeps pointing to it, nothing else changes.
    #[test]
    fn removing_the_anchor_moves_it_to_the_first_alias() {
        let out = edit(SHARED, |v| {
            v["backlog"].as_sequence_mut().unwrap().remove(0);
        });
        assert_eq!(out, "backlog:\n- id: b\n  theme: &th \"security\"\n  summary: second\n- id: c\n  theme: *th\n");
    }

    /// Changing the anchored value itself: the aliases keep the value they had.
    #[test]
    fn changing_the_anchored_value_keeps_the_aliases_value() {
        let out = edit(SHARED, |v| v["backlog"][0]["theme"] = "ops".into());
        let parsed: Value = serde_yaml_ng::from_str(&out).unwrap();
        assert_eq!(parsed["backlog"][0]["theme"], "ops");
        assert_eq!(parsed["backlog"][1]["theme"], "security");
        assert_eq!(parsed["backlog"][2]["theme"], "security");
    }

    /// An edit elsewhere in the item holding the anchor leaves the anchor where it is.
    #[test]
    fn unrelated_edit_keeps_the_anchor() {
        let out = edit(SHARED, |v| v["backlog"][0]["summary"] = "changed".into());
        assert_eq!(out, SHARED.replace("summary: first", "summary: changed"));
        let out = edit(SHARED, |v| v["backlog"][1]["summary"] = "changed".into());
        assert_eq!(out, SHARED.replace("summary: second", "summary: changed"));
    }

    /// A merge key whose base is removed: the merging item keeps its merged fields.
    #[test]
    fn merge_base_removed() {
        let text =
            "x-base: &base\n  theme: devops\n  status: todo\nbacklog:\n- <<: *base\n  id: a\n- id: b\n  <<: *base\n";
        let out = edit(text, |v| {
            v.as_mapping_mut().unwrap().remove("x-base");
        });
        let mut parsed: Value = serde_yaml_ng::from_str(&out).unwrap();
        parsed.apply_merge().unwrap();
        assert_eq!(parsed["backlog"][0]["theme"], "devops");
        assert_eq!(parsed["backlog"][1]["status"], "todo");
        assert!(out.contains("- <<: &base {"), "{out}");
    }

    /// An anchored item whose own field changes: an alias of the whole item keeps the old
    /// item.
    #[test]
    fn anchored_node_changed_in_place() {
        let text = "backlog:\n- &first\n  id: a\n  status: todo\nhistory:\n- *first\n";
        let out = edit(text, |v| v["backlog"][0]["status"] = "done".into());
        let parsed: Value = serde_yaml_ng::from_str(&out).unwrap();
        assert_eq!(parsed["backlog"][0]["status"], "done");
        assert_eq!(parsed["history"][0]["status"], "todo");
    }

    /// Detection: an alias needs its anchor; emphasis in notes is not an alias.
    #[test]
    fn linked_documents_are_recognised() {
        assert!(is_linked(SHARED));
        assert!(is_linked("a:\n  <<: {b: 1}\n"));
        assert!(!is_linked("notes: '**bold** and *emphasis*, R&D'\n"));
        assert!(!is_linked("a: &only-an-anchor 1\n"));
    }

    /// Parser locations count characters; offsets are bytes.
    #[test]
    fn locations_become_byte_offsets() {
        let text = "a: ümlaut\nb: *x\n";
        let error = serde_yaml_ng::from_str::<Value>(text).unwrap_err();
        let location = error.location().unwrap();
        assert_eq!(byte_offset(text, location.line(), location.column()), text.find('*'));
        assert_eq!(byte_offset("é: *x", 1, 4), Some(4));
    }
}
