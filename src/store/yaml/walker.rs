//! Minimal-diff edits of YAML documents that people edit by hand: the walker.
//!
//! Users keep `work-index.yaml` and `config.yaml` in git and edit them in their editors, so a
//! write must change only the text of what changed: untouched entries keep their folding,
//! quoting and comments byte for byte. Re-serializing the whole document would reflow every
//! long line and drop every comment.
//!
//! Vocabulary:
//! - a *block* is a mapping or sequence written in YAML block style, one entry per line group;
//! - an *entry* is one `key: value` of a block mapping, or one `- item` of a block sequence,
//!   spanning its first line and every following line indented deeper than it;
//! - a *gap* is the blank and comment lines between entries; they belong to no entry and are
//!   never rewritten.
//!
//! [`patch_document`] walks the old text's block structure in step with the old and new
//! values, and replaces only the entries whose value changed (recursing into block
//! mappings, and into block sequences of mappings matched by their `id`).
//!
//! Every edit is proved locally, so the cost follows the change, not the file: the old text
//! of each replaced or deleted entry (and of the entry a new one goes next to) must parse to
//! exactly that entry's old value, and each fragment written must parse to its new value.
//! If a proof fails, or the text uses a layout this walker does not understand (flow style
//! spanning lines, anchors, complex keys…), it gives up (`None`) and the
//! [renderer](super::render) writes the document whole.

use std::ops::Range;

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

use super::matching::{ids_of, match_by_ends, match_by_id, parse_key};
use super::render::{serialize_entry, serialize_item};
use super::splice::Splice;

/// One physical line of the document.
#[derive(Debug, Clone, Copy)]
struct Line {
    /// Byte offset of the first character.
    start: usize,
    /// Byte offset just past the line's `\n` (or the end of the text).
    end: usize,
    /// Number of leading spaces.
    indent: usize,
    kind: LineKind,
}

/// What a line contributes to the block structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineKind {
    Blank,
    /// A full-line comment, or a document marker (`---`, `...`).
    Comment,
    Content,
}

/// A text replacement: bytes `range` of the old text become `text`.
#[derive(Debug)]
struct Edit {
    range: Range<usize>,
    text: String,
}

/// An entry of a block mapping or sequence: its lines, gaps excluded.
#[derive(Debug, Clone)]
struct Entry {
    /// The key (for mapping entries); empty for sequence items.
    key: String,
    lines: Range<usize>,
}

/// The old text split into lines, with the edits collected while walking it.
struct Walker<'a> {
    text: &'a str,
    lines: Vec<Line>,
    edits: Vec<Edit>,
    /// Local proofs that the edits are right: each text must parse to its value.
    checks: Vec<Check>,
    /// Whether the local proofs are run (see [`patch_document_edits`] for when they are not).
    prove: bool,
}

/// A piece of YAML text (of the old document, or a fragment we wrote) and the value it must
/// parse to.
#[derive(Debug)]
struct Check {
    text: String,
    expected: Value,
}

/// Patches `text` (which parsed to `old`) into a text for `new`; `None` if the layout is not
/// one this walker handles.
pub(crate) fn patch_document(text: &str, old: &Value, new: &Value) -> Option<String> {
    Some(walk(text, old, new, true)?.apply())
}

/// The edits that turn `text` (which parsed to `old`) into a text for `new`, found without
/// the local proofs: for documents whose fragments do not parse alone (aliases, see
/// [`super::aliases`]), whose caller proves the whole result instead.
pub(super) fn patch_document_edits(text: &str, old: &Value, new: &Value) -> Option<Vec<Splice>> {
    let walker = walk(text, old, new, false)?;
    Some(walker.edits.into_iter().map(|e| Splice { range: e.range, text: e.text }).collect())
}

fn walk<'a>(text: &'a str, old: &Value, new: &Value, prove: bool) -> Option<Walker<'a>> {
    let (Value::Mapping(old), Value::Mapping(new)) = (old, new) else {
        return None;
    };
    let mut walker = Walker::new(text, prove);
    let first = walker.first_content_line(0..walker.lines.len());
    match first {
        Some(first) => {
            if walker.lines[first].indent != 0 {
                return None;
            }
            let range = first..walker.lines.len();
            walker.patch_mapping(range, 0, old, new)?;
            if !walker.verified() {
                return None;
            }
        }
        None => {
            // An empty document (only comments): append every key.
            let mut added = String::new();
            for (key, value) in new {
                if !value.is_null() {
                    added.push_str(&serialize_entry(key, value, 0)?);
                }
            }
            let at = text.len();
            let prefix = if text.is_empty() || text.ends_with('\n') { "" } else { "\n" };
            walker.edits.push(Edit { range: at..at, text: format!("{prefix}{added}") });
        }
    }
    Some(walker)
}

impl<'a> Walker<'a> {
    fn new(text: &'a str, prove: bool) -> Self {
        let mut lines = Vec::new();
        let mut start = 0;
        for raw in text.split_inclusive('\n') {
            let content = raw.trim_end_matches(['\n', '\r']);
            let indent = content.len() - content.trim_start_matches(' ').len();
            let rest = &content[indent..];
            let kind = if rest.trim().is_empty() {
                LineKind::Blank
            } else if rest.starts_with('#') || (indent == 0 && (rest.starts_with("---") || rest.starts_with("..."))) {
                LineKind::Comment
            } else {
                LineKind::Content
            };
            lines.push(Line { start, end: start + raw.len(), indent, kind });
            start += raw.len();
        }
        Walker { text, lines, edits: Vec::new(), checks: Vec::new(), prove }
    }

    fn apply(mut self) -> String {
        self.edits.sort_by_key(|e| (e.range.start, e.range.end));
        let mut out = String::with_capacity(self.text.len() + 256);
        let mut at = 0;
        for edit in &self.edits {
            out.push_str(&self.text[at..edit.range.start]);
            out.push_str(&edit.text);
            at = edit.range.end;
        }
        out.push_str(&self.text[at..]);
        out
    }

    /// Records that the old text at `bytes` must be exactly the mapping entry `key: old`.
    fn check_entry(&mut self, bytes: Range<usize>, key: &Value, old: Option<&Value>) {
        let mut expected = Mapping::new();
        expected.insert(key.clone(), old.cloned().unwrap_or(Value::Null));
        self.checks.push(Check { text: self.text[bytes].to_string(), expected: Value::Mapping(expected) });
    }

    /// Records that the old lines of `item` must be exactly the sequence item `old`.
    fn check_item(&mut self, item: &Entry, old: &Value) {
        let bytes = self.lines[item.lines.start].start..self.lines[item.lines.end - 1].end;
        self.checks.push(Check { text: self.text[bytes].to_string(), expected: Value::Sequence(vec![old.clone()]) });
    }

    /// Records that a fragment we wrote must parse to `expected`.
    fn check_fragment(&mut self, text: &str, expected: Value) {
        self.checks.push(Check { text: text.to_string(), expected });
    }

    /// Do all recorded texts parse to their values? Each check is local (the size of one
    /// entry), so this costs what the change costs, not what the file costs.
    ///
    /// The texts are parsed as the documents of one stream (each after a `---` line of its
    /// own), which reads each exactly as it reads alone: starting a parser costs more than
    /// parsing one entry, and a merge of thousands of items checks thousands of entries.
    fn verified(&self) -> bool {
        if !self.prove || self.checks.is_empty() {
            return true;
        }
        let length = self.checks.iter().map(|check| check.text.len() + 5).sum();
        let mut stream = String::with_capacity(length);
        for check in &self.checks {
            stream.push_str("---\n");
            stream.push_str(&check.text);
            if !check.text.ends_with('\n') {
                stream.push('\n');
            }
        }
        let mut expected = self.checks.iter();
        for document in serde_yaml_ng::Deserializer::from_str(&stream) {
            let parsed = Value::deserialize(document);
            if !expected.next().is_some_and(|check| parsed.is_ok_and(|parsed| same(&parsed, &check.expected))) {
                return false;
            }
        }
        expected.next().is_none()
    }

    fn first_content_line(&self, range: Range<usize>) -> Option<usize> {
        range.into_iter().find(|&i| self.lines[i].kind == LineKind::Content)
    }

    fn line_text(&self, i: usize) -> &'a str {
        let l = self.lines[i];
        self.text[l.start..l.end].trim_end_matches(['\n', '\r'])
    }

    /// Is line `i` a sequence item indicator (`-` then space or end of line) at column `col`?
    fn is_dash_at(&self, i: usize, col: usize) -> bool {
        let l = self.lines[i];
        if l.kind != LineKind::Content || l.indent != col {
            return false;
        }
        let rest = &self.line_text(i)[col..];
        rest == "-" || rest.starts_with("- ")
    }

    /// Drops trailing blank lines and comments at or left of `col` from an entry: they
    /// introduce whatever follows, so they stay in the gap.
    fn trim_entry(&self, lines: Range<usize>, col: usize) -> Range<usize> {
        let mut end = lines.end;
        while end > lines.start + 1 {
            let l = self.lines[end - 1];
            let trailing = l.kind == LineKind::Blank || (l.kind == LineKind::Comment && l.indent <= col);
            if !trailing {
                break;
            }
            end -= 1;
        }
        lines.start..end
    }

    /// The entries of a block mapping whose keys sit at column `col`; `range` starts at the
    /// line holding the first key (which may follow a `- ` on that line).
    fn mapping_entries(&self, range: Range<usize>, col: usize) -> Option<Vec<Entry>> {
        let mut entries: Vec<Entry> = Vec::new();
        for i in range.clone() {
            let l = self.lines[i];
            let starts_key = if i == range.start {
                true
            } else if l.kind != LineKind::Content {
                false
            } else if l.indent < col {
                return None;
            } else {
                l.indent == col && !self.is_dash_at(i, col)
            };
            if starts_key {
                let key = parse_key(&self.line_text(i)[col..])?;
                if let Some(prev) = entries.last_mut() {
                    prev.lines = self.trim_entry(prev.lines.start..i, col);
                }
                entries.push(Entry { key, lines: i..range.end });
            }
        }
        if let Some(last) = entries.last_mut() {
            last.lines = self.trim_entry(last.lines.clone(), col);
        }
        Some(entries)
    }

    /// The items of a block sequence whose dashes sit at column `col`.
    fn sequence_items(&self, range: Range<usize>, col: usize) -> Option<Vec<Entry>> {
        let mut items: Vec<Entry> = Vec::new();
        for i in range.clone() {
            let l = self.lines[i];
            if l.kind != LineKind::Content {
                continue;
            }
            if self.is_dash_at(i, col) {
                if let Some(prev) = items.last_mut() {
                    prev.lines = self.trim_entry(prev.lines.start..i, col);
                }
                items.push(Entry { key: String::new(), lines: i..range.end });
            } else if l.indent <= col || items.is_empty() {
                return None;
            }
        }
        if let Some(last) = items.last_mut() {
            last.lines = self.trim_entry(last.lines.clone(), col);
        }
        Some(items)
    }

    /// Byte range of an entry's lines; for the first entry of a sequence item's mapping the
    /// range starts at the key, so the `- ` before it survives a replacement.
    fn entry_bytes(&self, lines: &Range<usize>, col: usize) -> Range<usize> {
        let first = self.lines[lines.start];
        let start = if first.indent < col { first.start + col } else { first.start };
        start..self.lines[lines.end - 1].end
    }

    /// Where a new entry goes after `lines`: the end of its last line, made to end in `\n`.
    fn insertion_after(&self, lines: &Range<usize>) -> (usize, &'static str) {
        let last = self.lines[lines.end - 1];
        let newline = if self.text[..last.end].ends_with('\n') { "" } else { "\n" };
        (last.end, newline)
    }

    /// The block value of a mapping entry: the lines after the key line, if the key line
    /// carries nothing but the key (and perhaps a comment).
    fn block_value(&self, entry: &Entry, col: usize) -> Option<Range<usize>> {
        let key_line = &self.line_text(entry.lines.start)[col..];
        let after = key_line.split_once(':').map(|(_, rest)| rest.trim())?;
        if !(after.is_empty() || after.starts_with('#')) {
            return None;
        }
        let body = entry.lines.start + 1..entry.lines.end;
        let first = self.first_content_line(body.clone())?;
        Some(first..body.end)
    }

    fn patch_mapping(&mut self, range: Range<usize>, col: usize, old: &Mapping, new: &Mapping) -> Option<()> {
        let entries = self.mapping_entries(range, col)?;
        let prefixed = self.lines[entries.first()?.lines.start].indent < col;
        let mut seen = Vec::with_capacity(entries.len());
        for (n, entry) in entries.iter().enumerate() {
            let key = Value::String(entry.key.clone());
            seen.push(key.clone());
            let old_v = old.get(&key).filter(|v| !v.is_null());
            let new_v = new.get(&key).filter(|v| !v.is_null());
            match (old_v, new_v) {
                (_, None) if old_v.is_none() => {}
                (Some(_), None) => {
                    if n == 0 && prefixed {
                        return None;
                    }
                    let bytes = self.entry_bytes(&entry.lines, col);
                    self.check_entry(bytes.clone(), &key, old_v);
                    self.edits.push(Edit { range: bytes, text: String::new() });
                }
                (Some(o), Some(n)) if o == n => {}
                (_, Some(new_v)) => self.patch_entry(entry, col, &key, old_v, new_v)?,
                (None, None) => {}
            }
        }
        let last_entry = entries.last()?.clone();
        let last = last_entry.lines.clone();
        let mut added = String::new();
        let mut added_values = Mapping::new();
        for (key, value) in new {
            if value.is_null() || seen.contains(key) {
                continue;
            }
            added.push_str(&serialize_entry(key, value, col)?);
            added_values.insert(key.clone(), value.clone());
        }
        if !added.is_empty() {
            // The new keys go right after the last entry: it must end where we think.
            let last_key = Value::String(last_entry.key.clone());
            let last_bytes = self.entry_bytes(&last, col);
            self.check_entry(last_bytes, &last_key, old.get(&last_key).filter(|v| !v.is_null()));
            self.check_fragment(&added, Value::Mapping(added_values));
            let (at, newline) = self.insertion_after(&last);
            self.edits.push(Edit { range: at..at, text: format!("{newline}{added}") });
        }
        Some(())
    }

    /// Rewrites one mapping entry whose value changed, as locally as its layout allows.
    fn patch_entry(&mut self, entry: &Entry, col: usize, key: &Value, old: Option<&Value>, new: &Value) -> Option<()> {
        if let (Some(old), Some(body)) = (old, self.block_value(entry, col)) {
            let inner_col = self.lines[body.start].indent;
            let nested = match (old, new) {
                (Value::Mapping(o), Value::Mapping(n))
                    if inner_col > col && !self.is_dash_at(body.start, inner_col) =>
                {
                    self.try_nested(|w| w.patch_mapping(body.clone(), inner_col, o, n))
                }
                // An emptied sequence must become `[]`: removing every item would leave null.
                (Value::Sequence(o), Value::Sequence(n)) if !n.is_empty() && self.is_dash_at(body.start, inner_col) => {
                    self.try_nested(|w| w.patch_sequence(body.clone(), inner_col, o, n))
                }
                _ => None,
            };
            if nested.is_some() {
                return Some(());
            }
        }
        let bytes = self.entry_bytes(&entry.lines, col);
        let mut text = serialize_entry(key, new, col)?;
        self.check_entry(bytes.clone(), key, old);
        let mut single = Mapping::new();
        single.insert(key.clone(), new.clone());
        self.check_fragment(&text, Value::Mapping(single));
        if bytes.start != self.lines[entry.lines.start].start {
            text = text[col..].to_string();
        }
        if !self.text[..bytes.end].ends_with('\n') {
            text.pop();
        }
        self.edits.push(Edit { range: bytes, text });
        Some(())
    }

    /// Runs a nested patch, discarding its partial edits if it gives up.
    fn try_nested(&mut self, patch: impl FnOnce(&mut Self) -> Option<()>) -> Option<()> {
        let (mark, checks) = (self.edits.len(), self.checks.len());
        let outcome = patch(self);
        if outcome.is_none() {
            self.edits.truncate(mark);
            self.checks.truncate(checks);
        }
        outcome
    }

    /// Patches a block sequence: items are matched by `id` when every item has a unique one,
    /// otherwise by their unchanged prefix and suffix (append and trim-from-front stay local).
    fn patch_sequence(&mut self, range: Range<usize>, col: usize, old: &[Value], new: &[Value]) -> Option<()> {
        let items = self.sequence_items(range, col)?;
        if items.len() != old.len() || items.is_empty() {
            return None;
        }
        let plan = match (ids_of(old), ids_of(new)) {
            (Some(old_ids), Some(new_ids)) => match_by_id(&old_ids, &new_ids)?,
            _ => match_by_ends(old, new),
        };
        // Walk the new order; `cursor` is the old item after which new items are inserted.
        let mut cursor: Option<usize> = None;
        let mut pending = String::new();
        let mut pending_values = Vec::new();
        let flush = |w: &mut Self, cursor: Option<usize>, pending: &mut String, values: &mut Vec<Value>| {
            if pending.is_empty() {
                return;
            }
            let text = std::mem::take(pending);
            w.check_fragment(&text, Value::Sequence(std::mem::take(values)));
            // New items go right after (or before) an old item: it must be where we think.
            let neighbour = cursor.unwrap_or(0);
            w.check_item(&items[neighbour], &old[neighbour]);
            match cursor {
                Some(i) => {
                    let (at, newline) = w.insertion_after(&items[i].lines);
                    w.edits.push(Edit { range: at..at, text: format!("{newline}{text}") });
                }
                None => {
                    let at = w.lines[items[0].lines.start].start;
                    w.edits.push(Edit { range: at..at, text });
                }
            }
        };
        for (new_index, source) in plan.sources.iter().enumerate() {
            match source {
                Some(old_index) => {
                    flush(self, cursor, &mut pending, &mut pending_values);
                    cursor = Some(*old_index);
                    let (o, n) = (&old[*old_index], &new[new_index]);
                    if o != n {
                        self.patch_item(&items[*old_index], col, o, n)?;
                    }
                }
                None => {
                    pending.push_str(&serialize_item(&new[new_index], col)?);
                    pending_values.push(new[new_index].clone());
                }
            }
        }
        flush(self, cursor, &mut pending, &mut pending_values);
        for removed in plan.removed {
            self.check_item(&items[removed], &old[removed]);
            let lines = &items[removed].lines;
            let bytes = self.lines[lines.start].start..self.lines[lines.end - 1].end;
            self.edits.push(Edit { range: bytes, text: String::new() });
        }
        Some(())
    }

    /// Rewrites one sequence item whose value changed: field by field when it is a mapping
    /// written on the dash line, else as a whole.
    fn patch_item(&mut self, item: &Entry, col: usize, old: &Value, new: &Value) -> Option<()> {
        if let (Value::Mapping(o), Value::Mapping(n)) = (old, new) {
            let rest = &self.line_text(item.lines.start)[col + 1..];
            let key_col = col + 1 + (rest.len() - rest.trim_start().len());
            if !rest.trim().is_empty()
                && self.try_nested(|w| w.patch_mapping(item.lines.clone(), key_col, o, n)).is_some()
            {
                return Some(());
            }
        }
        let bytes = self.lines[item.lines.start].start..self.lines[item.lines.end - 1].end;
        let mut text = serialize_item(new, col)?;
        self.check_item(item, old);
        self.check_fragment(&text, Value::Sequence(vec![new.clone()]));
        if !self.text[..bytes.end].ends_with('\n') {
            text.pop();
        }
        self.edits.push(Edit { range: bytes, text });
        Some(())
    }
}

/// Equal, counting a key with a null value as absent (the typed model drops null fields).
pub(super) fn same(parsed: &Value, expected: &Value) -> bool {
    match (parsed, expected) {
        (Value::Mapping(a), Value::Mapping(b)) => {
            let a_keys = a.iter().filter(|(_, v)| !v.is_null()).count();
            let b_keys = b.iter().filter(|(_, v)| !v.is_null()).count();
            a_keys == b_keys
                && a.iter().filter(|(_, v)| !v.is_null()).all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        (Value::Sequence(a), Value::Sequence(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)),
        _ => parsed == expected,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::yaml::render::render;

    fn value(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    fn patched(text: &str, edit: impl FnOnce(&mut Value)) -> String {
        let old = value(text);
        let mut new = old.clone();
        edit(&mut new);
        let (out, rendered) = render(text, &old, &new).unwrap();
        assert_eq!(rendered, new);
        assert_eq!(value(&out), new, "rendered text must parse to the new value:\n{out}");
        out
    }

    const DOC: &str = "# yaml-language-server: $schema=./SCHEMA/work-flow-schema.json\n\nsprints:\n- id: alpha\n  title: Alpha\n  goal: Establish a long goal that was folded by hand across two\n    lines like PyYAML does\n  stories:\n  - id: STORY-1\n    status: done\n    notes: 'Folded: note'\n  # comment about story two\n  - id: STORY-2\n    status: planned\nbacklog:\n- id: b1\n  summary: first\n  status: todo\n  related_sprints: []\n\n- id: b2\n  summary: second  # trailing comment\n  status: todo\nhistory:\n- date: '2026-02-24'\n  summary: registered\n";

    /// Changing one story's status rewrites exactly that line.
    #[test]
    fn status_change_touches_one_line() {
        let out = patched(DOC, |v| v["sprints"][0]["stories"][1]["status"] = "in_progress".into());
        assert_eq!(out, DOC.replace("    status: planned", "    status: in_progress"));
    }

    /// Appending to a sequence adds lines after its last item and nothing else.
    #[test]
    fn append_backlog_item_keeps_the_rest() {
        let out = patched(DOC, |v| {
            let item = value("id: b3\nsummary: third\nstatus: todo\nrelated_sprints: []\n");
            v["backlog"].as_sequence_mut().unwrap().push(item);
        });
        let expected = DOC.replace(
            "  status: todo\nhistory:",
            "  status: todo\n- id: b3\n  summary: third\n  status: todo\n  related_sprints: []\nhistory:",
        );
        assert_eq!(out, expected);
    }

    /// Removing an item deletes its lines; the gap before the next item stays.
    #[test]
    fn remove_item() {
        let out = patched(DOC, |v| {
            v["backlog"].as_sequence_mut().unwrap().remove(0);
        });
        assert!(!out.contains("id: b1"));
        assert!(out.contains("- id: b2\n  summary: second  # trailing comment"));
        assert!(out.starts_with("# yaml-language-server"));
    }

    /// A new key in an item is appended to that item only.
    #[test]
    fn new_key_in_first_item_field() {
        let out = patched(DOC, |v| {
            v["sprints"][0]["stories"][0]["status"] = "planned".into();
            v["history"][0]["related_sprints"] = value("[alpha]");
        });
        assert!(out.contains("    status: planned\n    notes: 'Folded: note'"));
        assert!(out.ends_with("- date: '2026-02-24'\n  summary: registered\n  related_sprints:\n  - alpha\n"));
    }

    /// Replacing a key on the dash line keeps the dash.
    #[test]
    fn replace_first_key_of_item() {
        let text = "items:\n- status: todo\n  id: a\n";
        let out = patched(text, |v| v["items"][0]["status"] = "done".into());
        assert_eq!(out, "items:\n- status: done\n  id: a\n");
    }

    /// An empty flow sequence becomes a block sequence when it gains an item.
    #[test]
    fn empty_flow_sequence_gains_item() {
        let text = "sprints: []\nbacklog: []\n";
        let out = patched(text, |v| v["backlog"] = value("- id: x\n  status: todo\n"));
        assert_eq!(out, "sprints: []\nbacklog:\n- id: x\n  status: todo\n");
    }

    /// History trimmed from the front and appended at the back stays local.
    #[test]
    fn history_rotation_is_local() {
        let text = "history:\n- date: '1'\n  summary: a\n- date: '2'\n  summary: b\n";
        let out = patched(text, |v| {
            let seq = v["history"].as_sequence_mut().unwrap();
            seq.remove(0);
            seq.push(value("date: '3'\nsummary: c\n"));
        });
        assert_eq!(out, "history:\n- date: '2'\n  summary: b\n- date: '3'\n  summary: c\n");
    }

    /// Indented (non-indentless) sequences are edited at their own column.
    #[test]
    fn indented_sequences() {
        let text = "backlog:\n  - id: a\n    status: todo\n  - id: b\n    status: todo\n";
        let out = patched(text, |v| {
            v["backlog"][1]["status"] = "done".into();
            v["backlog"].as_sequence_mut().unwrap().push(value("id: c\nstatus: todo\n"));
        });
        assert_eq!(
            out,
            "backlog:\n  - id: a\n    status: todo\n  - id: b\n    status: done\n  - id: c\n    status: todo\n"
        );
    }

    /// A file without a trailing newline still gets well-formed appends.
    #[test]
    fn no_trailing_newline() {
        let text = "backlog:\n- id: a\n  status: todo";
        let out = patched(text, |v| {
            v["backlog"].as_sequence_mut().unwrap().push(value("id: b\nstatus: todo\n"));
        });
        assert_eq!(out, "backlog:\n- id: a\n  status: todo\n- id: b\n  status: todo\n");
    }

    /// Block scalars whose lines look like comments stay inside their entry.
    #[test]
    fn block_scalar_with_hash_lines() {
        let text = "a:\n  notes: |\n    # not a comment\n  status: x\nb: 1\n";
        let out = patched(text, |v| v["a"]["status"] = "z".into());
        assert_eq!(out, "a:\n  notes: |\n    # not a comment\n  status: z\nb: 1\n");
    }

    /// The local proofs are read as one stream of documents: one wrong proof among many
    /// still makes the walker give up, wherever it is in the stream.
    #[test]
    fn one_failed_proof_among_many_gives_up() {
        let text: String = (0..50).map(|n| format!("- id: i{n}\n  status: todo\n")).collect();
        let text = format!("backlog:\n{text}");
        let old = value(&text);
        let mut new = old.clone();
        for item in new["backlog"].as_sequence_mut().unwrap().iter_mut().step_by(2) {
            item["status"] = "done".into();
        }
        assert!(patch_document(&text, &old, &new).is_some());
        for stale in [0, 24, 48] {
            // The text no longer says what `old` says about one changed item.
            let mut wrong = old.clone();
            wrong["backlog"][stale]["status"] = "in_progress".into();
            assert_eq!(patch_document(&text, &wrong, &new), None, "item {stale}");
        }
    }

    /// A proof whose text is a whole document of its own (no trailing newline, a comment
    /// line, a quoted key) reads in the stream as it reads alone.
    #[test]
    fn proofs_read_in_a_stream_as_alone() {
        let text = "a: 1\n# about b\n\"b c\": 2\nd:\n  - x\n  # inner\n  - y";
        let old = value(text);
        let mut new = old.clone();
        new["a"] = 10.into();
        new["b c"] = 20.into();
        new["d"] = Value::Sequence(vec!["x".into(), "z".into()]);
        let out = patch_document(text, &old, &new).unwrap();
        assert_eq!(value(&out), new);
        assert!(out.starts_with("a: 10\n# about b\n") && out.ends_with("\n  - x\n  # inner\n  - z"), "{out}");
    }

    /// A layout the walker does not handle falls back to a full render with the header kept.
    #[test]
    fn flow_mapping_falls_back_but_keeps_header() {
        let text = "# header\n{a: 1, b: 2}\n";
        let out = patched(text, |v| v["a"] = 3.into());
        assert!(out.starts_with("# header\n"));
    }

    /// Reordered items are rewritten as a whole sequence, still correctly.
    #[test]
    fn reordered_items() {
        let text = "s:\n- id: a\n- id: b\n";
        let out = patched(text, |v| v["s"].as_sequence_mut().unwrap().reverse());
        assert_eq!(out, "s:\n- id: b\n- id: a\n");
    }

    /// Keys of a top-level mapping are removed and added in place.
    #[test]
    fn config_project_add_and_remove() {
        let text = "projects:\n  one:\n    repo: ~/one\n  two:\n    repo: ~/two\nvault_path: ./vault\n";
        let out = patched(text, |v| {
            let projects = v["projects"].as_mapping_mut().unwrap();
            projects.remove("one");
            projects.insert("three".into(), value("repo: ~/three\n"));
        });
        assert_eq!(out, "projects:\n  two:\n    repo: ~/two\n  three:\n    repo: ~/three\nvault_path: ./vault\n");
    }

    /// Tricky scalars: quoting, YAML indicators, look-alikes of other types, unicode, lines.
    const AWKWARD: [&str; 14] = [
        "plain words",
        "colon: inside",
        "'single' and \"double\" quotes",
        "# looks like a comment",
        "- looks like an item",
        "yes",
        "123",
        "",
        "ümlaut — em dash ✓",
        "two\nlines",
        "trailing newline\n",
        "  leading spaces",
        "a very long line that goes on and on well past eighty columns so that an emitter might want to fold it somewhere",
        "{flow: like}",
    ];

    /// A small deterministic generator (no test dependency needed).
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: usize) -> usize {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((self.0 >> 33) as usize) % n.max(1)
        }
        fn text(&mut self) -> Value {
            AWKWARD[self.below(AWKWARD.len())].into()
        }
    }

    /// Hundreds of random edits of a realistic file: every one is done in place (never by the
    /// whole-document fallback) and parses back to exactly the intended value.
    #[test]
    fn random_edits_stay_minimal_and_exact() {
        for (name, start) in [
            ("sample", include_str!("../../../projects.example/orbit-api/work-index.yaml")),
            ("python", include_str!("../../../tests/fixtures/python-root/projects/legacy-app/work-index.yaml")),
        ] {
            let mut rng = Lcg(name.len() as u64);
            let mut text = start.to_string();
            let mut current = value(&text);
            for step in 0..300 {
                let mut next = current.clone();
                let backlog = next["backlog"].as_sequence_mut().unwrap();
                match rng.below(11) {
                    0 | 1 => {
                        let mut item = Mapping::new();
                        item.insert("id".into(), format!("gen-{step}").into());
                        item.insert("theme".into(), "t".into());
                        item.insert("summary".into(), rng.text());
                        item.insert("status".into(), "todo".into());
                        item.insert("related_sprints".into(), Value::Sequence(vec![]));
                        let at = rng.below(backlog.len() + 1);
                        backlog.insert(at, Value::Mapping(item));
                    }
                    2 if !backlog.is_empty() => {
                        let at = rng.below(backlog.len());
                        backlog.remove(at);
                    }
                    3 if !backlog.is_empty() => {
                        let at = rng.below(backlog.len());
                        backlog[at]["summary"] = rng.text();
                        backlog[at]["status"] = ["todo", "in_progress", "done"][rng.below(3)].into();
                    }
                    4 if !backlog.is_empty() => {
                        let at = rng.below(backlog.len());
                        let list = (0..rng.below(3)).map(|_| rng.text()).collect();
                        backlog[at]["related_sprints"] = Value::Sequence(list);
                    }
                    5 => {
                        let sprints = next["sprints"].as_sequence_mut().unwrap();
                        let at = rng.below(sprints.len());
                        let stories = sprints[at]["stories"].as_sequence_mut().unwrap();
                        let mut story = Mapping::new();
                        story.insert("id".into(), format!("STORY-G{step}").into());
                        story.insert("status".into(), "planned".into());
                        story.insert("notes".into(), rng.text());
                        stories.push(Value::Mapping(story));
                    }
                    6 => {
                        let sprints = next["sprints"].as_sequence_mut().unwrap();
                        let at = rng.below(sprints.len());
                        if let Some(stories) = sprints[at]["stories"].as_sequence_mut()
                            && !stories.is_empty()
                        {
                            let pick = rng.below(stories.len());
                            stories[pick]["notes"] = rng.text();
                        }
                    }
                    7 => {
                        let history = next["history"].as_sequence_mut().unwrap();
                        let mut entry = Mapping::new();
                        entry.insert("date".into(), "2026-11-21".into());
                        entry.insert("summary".into(), rng.text());
                        history.push(Value::Mapping(entry));
                        if history.len() > 12 {
                            history.remove(0);
                        }
                    }
                    8 => {
                        let sprints = next["sprints"].as_sequence_mut().unwrap();
                        let at = rng.below(sprints.len());
                        if let Some(stories) = sprints[at]["stories"].as_sequence_mut()
                            && !stories.is_empty()
                        {
                            let pick = rng.below(stories.len());
                            stories.remove(pick);
                        }
                    }
                    9 if !backlog.is_empty() => {
                        // A key disappears (as a null field does when re-serialized).
                        let at = rng.below(backlog.len());
                        backlog[at].as_mapping_mut().unwrap().remove("theme");
                    }
                    _ => {
                        let sprints = next["sprints"].as_sequence_mut().unwrap();
                        let at = rng.below(sprints.len());
                        sprints[at]["goal"] = rng.text();
                    }
                }
                let patched = patch_document(&text, &current, &next)
                    .unwrap_or_else(|| panic!("{name} step {step}: the walker gave up"));
                let parsed: Value =
                    serde_yaml_ng::from_str(&patched).unwrap_or_else(|e| panic!("{name} step {step}: {e}\n{patched}"));
                assert_eq!(parsed, next, "{name} step {step}:\n{patched}");
                assert!(patched.starts_with("# yaml-language-server"), "{name} step {step}: header kept");
                text = patched;
                current = next;
            }
        }
    }
}
