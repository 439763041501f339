//! One YAML file the server owns: its text, its parsed value and the stamp it was read at.
//!
//! Keeping the text lets a write change only what changed ([`render::render`]); keeping
//! the stamp lets the writer notice that someone else wrote the file since
//! ([`Document::is_stale`]) and re-read it before applying a change on top of theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Serialize, de::DeserializeOwned};

use super::render;
use super::splice::Section;
use super::{aliases, render::leading_comments};
use crate::store::atomic::{self, FileStamp};
use crate::store::error::StoreError;

/// A parsed YAML file and the text it was parsed from.
#[derive(Debug)]
pub struct Document<T> {
    path: PathBuf,
    text: String,
    value: Arc<T>,
    /// `value` as a YAML value, kept for the next minimal-diff render (when the type does
    /// not reduce its documents, see [`Reduce`]).
    yaml: Option<serde_yaml_ng::Value>,
    /// Where the last append left its list in `text` (see [`super::splice`]); dropped
    /// whenever the text changes any other way.
    appended_at: Option<Section>,
    stamp: Option<FileStamp>,
    /// The text uses aliases or merge keys ([`aliases`]): edits are proved on the whole
    /// document, not fragment by fragment.
    linked: bool,
}

/// A document type that can shrink a pair of versions to what an edit needs: untouched
/// items reduced to stand-ins that compare equal, so rendering a change costs what the
/// change costs. The default does not reduce.
pub trait Reduce: Sized {
    /// Stand-ins for `old` and `new`, or `None` to render from the whole documents.
    fn reduce(_old: &Self, _new: &Self) -> Option<(Self, Self)> {
        None
    }

    /// The new text when the change can be written by editing only the text of what changed,
    /// without looking at the rest of the document (see [`super::splice`]); `None`
    /// otherwise. `known` is where the previous append left its list in `old_text`.
    fn local_edit(_old_text: &str, _known: Option<Section>, _old: &Self, _new: &Self) -> Option<LocalEdit> {
        None
    }
}

/// A text produced by [`Reduce::local_edit`].
pub struct LocalEdit {
    pub text: String,
    /// Where the list appended to ends in `text`, when an append was the only edit.
    pub appended_at: Option<Section>,
}

impl<T> Document<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Default + Reduce,
{
    /// Reads and parses `path`. A parse error names the file, line and column.
    ///
    /// Someone may be writing the file in place right now (not every editor saves by
    /// renaming), so the read is repeated until the file holds still: same stamp before
    /// and after, and not modified within the last few milliseconds.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let (text, stamp) = read_settled(path)?;
        let value = parse::<T>(path, &text)?;
        let linked = aliases::is_linked(&text);
        Ok(Document {
            path: path.to_path_buf(),
            text,
            value: Arc::new(value),
            yaml: None,
            appended_at: None,
            stamp,
            linked,
        })
    }

    /// A document for a file that does not exist yet; the first write creates it with
    /// `header` (e.g. the schema comment) above the content.
    pub fn new_file(path: &Path, header: &str) -> Self {
        Document {
            path: path.to_path_buf(),
            text: header.to_string(),
            value: Arc::new(T::default()),
            yaml: None,
            appended_at: None,
            stamp: None,
            linked: false,
        }
    }

    /// The parsed value (shared with readers of the published snapshot).
    pub fn value(&self) -> &Arc<T> {
        &self.value
    }

    /// The text the value was read from or last written as.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The stamp of the file as last read or written.
    pub fn stamp(&self) -> Option<FileStamp> {
        self.stamp
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Does the file's stamp (size, mtime, inode) differ from when we last read or wrote it?
    /// Cheaper than [`Document::is_stale`], and blind to a same-size edit within the same
    /// timestamp tick.
    pub fn stamp_changed(&self) -> Result<bool, StoreError> {
        Ok(FileStamp::of(&self.path)? != self.stamp)
    }

    /// Has the file changed on disk since we last read or wrote it? The stamp (size, mtime,
    /// inode) says so in most cases; within a timestamp tick of our last look, an edit of
    /// the same size keeps the stamp, so then the bytes are compared too.
    pub fn is_stale(&self) -> Result<bool, StoreError> {
        Ok(!self.holds_last_read(&self.path)?)
    }

    /// Is the file at `path` (ours, or the version a write just displaced) the one we last
    /// read or wrote? Same test as [`Document::is_stale`].
    fn holds_last_read(&self, path: &Path) -> Result<bool, StoreError> {
        let stamp = FileStamp::of(path)?;
        if stamp != self.stamp {
            return Ok(false);
        }
        match stamp {
            Some(stamp) if stamp.is_racy() => {
                let bytes = std::fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
                Ok(bytes == self.text.as_bytes())
            }
            _ => Ok(true),
        }
    }

    /// Writes `new` durably, changing only the text of what differs from the current value,
    /// and makes it the current value. On error nothing changes, on disk or in memory.
    pub fn replace(&mut self, new: T) -> Result<(), StoreError> {
        let (text, yaml, appended_at) = if self.linked {
            (self.render_linked(&new)?, None, None)
        } else {
            let local = T::local_edit(&self.text, self.appended_at, &self.value, &new);
            #[cfg(debug_assertions)]
            if let Some(LocalEdit { text, .. }) = &local {
                assert!(
                    parse::<T>(&self.path, text).is_ok_and(|p| p == new),
                    "edit verified locally but wrong:\n{text}"
                );
            }
            match local {
                // Only the changed items' text was edited, nothing else looked at.
                Some(LocalEdit { text, appended_at }) => (text, None, appended_at),
                None => {
                    let (text, yaml) = self.render(&new)?;
                    (text, yaml, None)
                }
            }
        };
        let text = with_line_endings_of(&self.text, text);
        let stamp = atomic::write_atomic_unless_changed(&self.path, text.as_bytes(), |p| self.holds_last_read(p))?;
        // Text we write never adds an alias or a merge key: it can only stop being linked.
        self.linked = self.linked && aliases::is_linked(&text);
        self.text = text;
        self.value = Arc::new(new);
        self.yaml = yaml;
        self.appended_at = appended_at;
        self.stamp = Some(stamp);
        Ok(())
    }

    /// Writes `text` exactly as given (a merge's result, which other machines hold byte for
    /// byte too) and makes what it parses to the current value. A text that does not parse
    /// is refused and nothing changes.
    pub fn replace_text(&mut self, text: String) -> Result<(), StoreError> {
        let value = parse::<T>(&self.path, &text)?;
        let stamp = atomic::write_atomic_unless_changed(&self.path, text.as_bytes(), |p| self.holds_last_read(p))?;
        // A merge can bring aliases in from another machine's text.
        self.linked = aliases::is_linked(&text);
        self.text = text;
        self.value = Arc::new(value);
        self.yaml = None;
        self.appended_at = None;
        self.stamp = Some(stamp);
        Ok(())
    }

    /// The new text of a document with aliases or merge keys, proved whole before it is
    /// written: edited in place with its aliases repaired, or else rewritten whole (which
    /// writes every alias out as its value), keeping the leading comments.
    fn render_linked(&self, new: &T) -> Result<String, StoreError> {
        let proves = |text: &str| parse::<T>(&self.path, text).is_ok_and(|parsed| &parsed == new);
        let old_value = to_yaml(&self.path, self.value.as_ref())?;
        let new_value = to_yaml(&self.path, new)?;
        if let Some(text) = aliases::render(&self.text, &old_value, &new_value, proves) {
            return Ok(text);
        }
        tracing::warn!(path = %self.path.display(), "aliases could not be kept in place; rewriting the file whole, with each alias written out as its value");
        let text = render::full_render(&self.text, new)
            .map_err(|e| StoreError::io("serialize", &self.path, std::io::Error::other(e.to_string())))?;
        if !proves(&text) {
            return Err(StoreError::io(
                "write",
                &self.path,
                std::io::Error::other("no text could be proved to hold the change; nothing was written"),
            ));
        }
        Ok(text)
    }

    /// The new text by the minimal-diff walker, and (for types that do not reduce) `new` as a
    /// YAML value for the next render.
    fn render(&mut self, new: &T) -> Result<(String, Option<serde_yaml_ng::Value>), StoreError> {
        let serialize =
            |e: serde_yaml_ng::Error| StoreError::io("serialize", &self.path, std::io::Error::other(e.to_string()));
        Ok(match T::reduce(&self.value, new) {
            // Only what changed (and its neighbours) is converted and compared.
            Some((old_part, new_part)) => {
                let old_value = serde_yaml_ng::to_value(&old_part).map_err(serialize)?;
                let new_value = serde_yaml_ng::to_value(&new_part).map_err(serialize)?;
                (render::render_values(&self.text, &old_value, &new_value, new).map_err(serialize)?, None)
            }
            None => {
                let old_value = match self.yaml.take() {
                    Some(value) => value,
                    None => to_yaml(&self.path, self.value.as_ref())?,
                };
                let (text, new_value) = render::render(&self.text, &old_value, new).map_err(serialize)?;
                (text, Some(new_value))
            }
        })
    }
}

fn to_yaml<T: Serialize>(path: &Path, value: &T) -> Result<serde_yaml_ng::Value, StoreError> {
    serde_yaml_ng::to_value(value).map_err(|e| StoreError::io("represent", path, std::io::Error::other(e.to_string())))
}

/// `text` with the line endings of `old`: a file saved with CRLF line ends (Windows
/// editors) keeps them, though the fragments we write end lines in `\n`. YAML reads a line
/// break inside a value as `\n` either way.
pub(crate) fn with_line_endings_of(old: &str, text: String) -> String {
    let first_line_end = memchr::memchr(b'\n', old.as_bytes());
    let crlf = first_line_end.is_some_and(|at| at > 0 && old.as_bytes()[at - 1] == b'\r');
    if !crlf {
        return text;
    }
    let mut out = String::with_capacity(text.len() + text.len() / 32);
    let mut previous = '\0';
    for c in text.chars() {
        if c == '\n' && previous != '\r' {
            out.push('\r');
        }
        out.push(c);
        previous = c;
    }
    out
}

/// How long a file must have been left alone before it is read as a whole.
const QUIET: std::time::Duration = std::time::Duration::from_millis(20);

/// Reads a file once nobody is writing it: retried (for up to about a second) while its
/// stamp changes during the read or it was modified less than [`QUIET`] ago.
fn read_settled(path: &Path) -> Result<(String, Option<FileStamp>), StoreError> {
    for _ in 0..50 {
        let before = FileStamp::of(path)?;
        if before.is_some_and(|s| s.age() < QUIET) {
            std::thread::sleep(QUIET);
            continue;
        }
        let bytes = std::fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
        if FileStamp::of(path)? == before {
            let text = String::from_utf8(bytes).map_err(|e| StoreError::Parse {
                path: path.to_path_buf(),
                line: 1,
                column: 1,
                message: format!("the file is not valid UTF-8 ({e})"),
            })?;
            return Ok((text, before));
        }
    }
    Err(StoreError::io("read", path, std::io::Error::other("the file kept changing while it was read; retry")))
}

/// Parses YAML text into `T`. A file with no content at all is refused rather than read
/// as empty: it is far more likely a save in progress or a truncation than a wish to drop
/// every item, and the next write would make that loss permanent.
pub fn parse<T: DeserializeOwned>(path: &Path, text: &str) -> Result<T, StoreError> {
    if text.trim().is_empty() || leading_comments(text).len() == text.len() {
        return Err(StoreError::Parse {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: "the file has no content (a save in progress, or truncated?); it is not overwritten. \
                      For an empty project write `sprints: []`"
                .into(),
        });
    }
    let typed = serde_yaml_ng::from_str::<T>(text).map_err(|e| StoreError::parse(path, &e))?;
    if !text.contains("<<") {
        return Ok(typed);
    }
    // Merge keys (`<<: *base`) are applied, as PyYAML and the Python tool read them; the
    // typed read above has already found any error with its line and column.
    let mut value: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| StoreError::parse(path, &e))?;
    let merged = value.apply_merge().and_then(|()| T::deserialize(value));
    merged.map_err(|e| StoreError::Parse {
        path: path.to_path_buf(),
        line: 1,
        column: 1,
        message: format!("merge key: {e}"),
    })
}
