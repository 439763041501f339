//! Appending items to a top-level block sequence at the cost of the items appended.
//!
//! `worksync_add_backlog` is the most frequent write, and it only appends. The general
//! minimal-diff walker ([`super::yaml_text`]) is O(items): it indexes every line and matches
//! every item by id. An append needs neither: find where the section's last item ends, write
//! the new items there. The edit is proved locally like the walker's: the old last item's
//! text must parse to exactly the old last item (so its end was found right), and the text
//! written must parse to exactly the new items. Anything unexpected (a flow sequence, a
//! section that is not a sequence of items at one indentation) returns
//! `None`, and the caller falls back to the walker.
//!
//! Finding the section means reading every line before its end (about 1 ms for 5,000 items),
//! so an append also returns where the section ends in the text it produced: the next
//! append to that same text starts there.

use serde_yaml_ng::Value;

use super::yaml_text::{same, serialize_item};

/// The text after an append, and where the section now ends in it.
#[derive(Debug)]
pub struct Appended {
    pub text: String,
    pub section: Section,
}

/// `text` with `items` appended to the block sequence under the top-level `key`, whose last
/// item is `old_last`; `None` if that cannot be done and proved here. `known` is where the
/// section ends in `text`, if an earlier append to exactly this text said so.
pub fn append_items(
    text: &str,
    key: &str,
    known: Option<Section>,
    old_last: &Value,
    items: &[Value],
) -> Option<Appended> {
    if text.contains('\r') {
        return None; // CRLF files: the walker keeps their line endings
    }
    let section = match known {
        Some(section) => section,
        None => find_section(text, key)?,
    };
    let last_item = text.get(section.last_item_start..section.content_end)?;
    match serde_yaml_ng::from_str::<Value>(last_item).ok()? {
        Value::Sequence(parsed) if parsed.len() == 1 && same(&parsed[0], old_last) => {}
        _ => return None,
    }
    let mut fragment = String::new();
    let mut last_start = 0;
    for item in items {
        last_start = fragment.len();
        fragment.push_str(&serialize_item(item, section.indent)?);
    }
    match serde_yaml_ng::from_str::<Value>(&fragment).ok()? {
        Value::Sequence(parsed) if parsed.len() == items.len() && parsed.iter().zip(items).all(|(p, i)| same(p, i)) => {
        }
        _ => return None,
    }
    if !fragment.ends_with('\n') {
        return None; // every serialized item ends its last line; the section bounds rely on it
    }
    let (before, after) = text.split_at(section.content_end);
    let mut out = String::with_capacity(text.len() + fragment.len() + 1);
    out.push_str(before);
    if !before.ends_with('\n') {
        out.push('\n');
    }
    let inserted_at = out.len();
    out.push_str(&fragment);
    out.push_str(after);
    let section = Section {
        indent: section.indent,
        last_item_start: inserted_at + last_start,
        content_end: inserted_at + fragment.len(),
    };
    Some(Appended { text: out, section })
}

/// Where a top-level block sequence's items are in one particular text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Section {
    /// Column of the items' dashes.
    indent: usize,
    /// Byte offset of the last item's first line.
    last_item_start: usize,
    /// Byte offset just after the last line of the last item that is neither blank nor a
    /// comment.
    content_end: usize,
}

fn find_section(text: &str, key: &str) -> Option<Section> {
    let mut offset = 0;
    let mut lines = text.split_inclusive('\n').map(|line| {
        let start = offset;
        offset += line.len();
        (start, line)
    });
    // The key's line: `key:` at column 0, nothing after it but a comment. (A document with
    // the key twice never gets here: it does not load.)
    let is_key_line = |line: &str| {
        line.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix(':'))
            .is_some_and(|rest| rest.trim().is_empty() || rest.trim_start().starts_with('#') && rest.starts_with(' '))
    };
    lines.by_ref().find(|(_, line)| is_key_line(line))?;
    let mut indent = None;
    let mut last_item_start = None;
    let mut content_end = None;
    for (start, line) in lines.by_ref() {
        let content = line.trim_end_matches(['\n', '\r']);
        let trimmed = content.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let column = content.len() - trimmed.len();
        let is_item = trimmed == "-" || trimmed.starts_with("- ");
        if column == 0 && !is_item {
            // The next top-level key (or a document marker): the section ends here.
            break;
        }
        match indent {
            None if is_item => indent = Some(column),
            None => return None, // not a block sequence
            Some(_) => {}
        }
        if is_item && Some(column) == indent {
            last_item_start = Some(start);
        } else if column <= indent.unwrap_or(0) {
            return None; // content at or left of the dashes that is not an item
        }
        content_end = Some(start + content.len() + (line.len() - content.len()).min(1));
    }
    Some(Section { indent: indent?, last_item_start: last_item_start?, content_end: content_end? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    const DOC: &str = "# header\n\nsprints:\n- id: s\n  stories: []\nbacklog:\n- id: b1\n  summary: first folded\n    across lines\n\n- id: b2\n  summary: second  # note\n  related_sprints: []\n# about history\n\nhistory:\n- date: '2026-01-01'\n  summary: x\n";

    fn append(text: &str, key: &str, item: &str) -> Option<String> {
        let old = value(text);
        let items = [value(item)];
        let last = old[key].as_sequence().unwrap().last().unwrap().clone();
        let appended = append_items(text, key, None, &last, &items)?;
        let out = appended.text;
        let mut expected = old.clone();
        expected[key].as_sequence_mut().unwrap().push(items[0].clone());
        assert_eq!(value(&out), expected, "{out}");
        // The section it reports is the one a fresh scan of the new text finds, and the
        // next append from it gives what an append from a fresh scan gives.
        assert_eq!(Some(appended.section), find_section(&out, key), "{out}");
        let next = [value("{id: zz, summary: next}")];
        let from_known = append_items(&out, key, Some(appended.section), &items[0], &next).unwrap();
        let from_scan = append_items(&out, key, None, &items[0], &next).unwrap();
        assert_eq!(from_known.text, from_scan.text);
        Some(out)
    }

    /// The new item goes right after the last one: the comment and the history after it
    /// stay where they were, every other byte too.
    #[test]
    fn appends_after_the_last_item() {
        let out = append(DOC, "backlog", "{id: b3, summary: 'third: one', status: todo}").unwrap();
        let expected = DOC.replace(
            "  related_sprints: []\n# about history",
            "  related_sprints: []\n- id: b3\n  summary: 'third: one'\n  status: todo\n# about history",
        );
        assert_eq!(out, expected);
        let history = append(DOC, "history", "{date: '2026-02-02', summary: y}").unwrap();
        assert!(history.ends_with("  summary: x\n- date: 2026-02-02\n  summary: y\n"), "{history}");
    }

    /// Indented sequences, a file without a final newline, and layouts left to the walker.
    #[test]
    fn handles_indentation_and_refuses_what_it_cannot_prove() {
        let indented = "backlog:\n  - id: a\n    status: todo\nhistory: []";
        let out = append(indented, "backlog", "{id: b}").unwrap();
        assert_eq!(out, "backlog:\n  - id: a\n    status: todo\n  - id: b\nhistory: []");
        assert!(append("backlog:\n- id: a", "backlog", "{id: b}").unwrap().ends_with("- id: a\n- id: b\n"));
        let flow = "backlog: [{id: a}]\n";
        assert_eq!(append_items(flow, "backlog", None, &value("{id: a}"), &[value("{id: b}")]).map(|a| a.text), None);
        // A keep-chomped block scalar's trailing blank lines are content: the proof fails.
        let keep = "backlog:\n- id: a\n  summary: |+\n    text\n\nhistory: []\n";
        let last = value(keep)["backlog"][0].clone();
        assert_eq!(append_items(keep, "backlog", None, &last, &[value("{id: b}")]).map(|a| a.text), None);
        // A document with the key twice does not load, so it never reaches the append.
        let twice = "backlog:\n- id: a\nbacklog:\n- id: b\n";
        assert!(serde_yaml_ng::from_str::<crate::store::model::WorkIndex>(twice).is_err());
        // The wrong old item (the model and the text disagree): refused.
        assert_eq!(append_items(DOC, "backlog", None, &value("{id: b1}"), &[value("{id: b3}")]).map(|a| a.text), None);
    }
}
