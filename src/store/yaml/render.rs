//! Writing a new value as text that keeps the old text of everything that did not change.
//!
//! [`render`] compares the old and new values of a document and hands both, with the old
//! text, to the [walker](super::walker), which edits only the entries whose value changed.
//! If the walker gives up (a layout it does not understand, an edit it cannot prove), the
//! whole document is re-serialized instead, keeping its leading comment header, and a
//! warning is logged. Either way the file written parses to exactly the intended value
//! (debug builds, and so the tests, also check the whole result). Fragments are serialized
//! by [`super::scalars`], so every string reads back as a string in YAML 1.1 too.

use serde::{Serialize, de::DeserializeOwned};
use serde_yaml_ng::{Mapping, Value};

use super::scalars;
use super::walker::patch_document;

/// Renders `new` as YAML text, reusing `old_text` (whose parsed value, in YAML value form, is
/// `old`) for everything that did not change.
///
/// Returns the new text and `new` in YAML value form (the `old` of the next render). Fails
/// only if `new` cannot be serialized.
pub fn render<T>(old_text: &str, old: &Value, new: &T) -> Result<(String, Value), serde_yaml_ng::Error>
where
    T: Serialize + DeserializeOwned + PartialEq,
{
    let new_value = serde_yaml_ng::to_value(new)?;
    Ok((render_values(old_text, old, &new_value, new)?, new_value))
}

/// Like [`render`], with both values given (they may stand in for the documents, e.g. with
/// untouched items reduced to their ids: whatever is only in the stand-ins never reaches the
/// file, because an edit based on them fails its local proof and `new` is then written whole).
pub fn render_values<T>(old_text: &str, old: &Value, new_value: &Value, new: &T) -> Result<String, serde_yaml_ng::Error>
where
    T: Serialize + DeserializeOwned + PartialEq,
{
    match patch_document(old_text, old, new_value) {
        Some(text) => {
            // The walker proved each edit locally; the tests also prove the whole result.
            #[cfg(debug_assertions)]
            {
                let parsed = serde_yaml_ng::from_str::<T>(&text);
                assert!(
                    parsed.as_ref().is_ok_and(|p| p == new),
                    "minimal-diff edit verified locally but wrong:\n{text}"
                );
            }
            return Ok(text);
        }
        None => tracing::warn!("document layout not handled by minimal-diff edits; rewriting it whole"),
    }
    full_render(old_text, new)
}

/// Serializes `value` as a whole document, keeping `old_text`'s leading comment header.
pub fn full_render<T: Serialize>(old_text: &str, value: &T) -> Result<String, serde_yaml_ng::Error> {
    let mut out = leading_comments(old_text).to_string();
    out.push_str(&scalars::to_string(value)?);
    Ok(out)
}

/// The comment and blank lines before a document's first content line (e.g. the
/// `# yaml-language-server: $schema=…` header).
pub fn leading_comments(text: &str) -> &str {
    let mut end = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            end += line.len();
        } else {
            break;
        }
    }
    &text[..end]
}

/// Serializes `key: value` as block lines indented to `col`.
pub(super) fn serialize_entry(key: &Value, value: &Value, col: usize) -> Option<String> {
    let mut single = Mapping::new();
    single.insert(key.clone(), value.clone());
    let text = scalars::to_string(&single).ok()?;
    Some(indent_lines(&text, col, col))
}

/// Serializes one sequence item as `- …` with its dash at `col`.
pub(super) fn serialize_item(value: &Value, col: usize) -> Option<String> {
    let text = scalars::to_string(value).ok()?;
    let body = indent_lines(&text, 0, col + 2);
    Some(format!("{}- {}", " ".repeat(col), body))
}

/// Indents the first line of `text` by `first` spaces and the others by `rest`, leaving empty
/// lines empty.
fn indent_lines(text: &str, first: usize, rest: usize) -> String {
    let mut out = String::with_capacity(text.len() + rest * 8);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line != "\n" {
            out.push_str(&" ".repeat(if i == 0 { first } else { rest }));
        }
        out.push_str(line);
    }
    out
}
