//! One YAML file the server owns: its text, its parsed value and the stamp it was read at.
//!
//! Keeping the text lets a write change only what changed ([`yaml_text::render`]); keeping
//! the stamp lets the writer notice that someone else wrote the file since
//! ([`Document::is_stale`]) and re-read it before applying a change on top of theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Serialize, de::DeserializeOwned};

use super::atomic::{self, FileStamp};
use super::error::StoreError;
use super::yaml_text;

/// A parsed YAML file and the text it was parsed from.
#[derive(Debug)]
pub struct Document<T> {
    path: PathBuf,
    text: String,
    value: Arc<T>,
    /// `value` as a YAML value, kept for the next minimal-diff render.
    yaml: serde_yaml_ng::Value,
    stamp: Option<FileStamp>,
}

impl<T> Document<T>
where
    T: Serialize + DeserializeOwned + PartialEq + Default,
{
    /// Reads and parses `path`. A parse error names the file, line and column.
    pub fn load(path: &Path) -> Result<Self, StoreError> {
        let stamp = FileStamp::of(path)?;
        let bytes = std::fs::read(path).map_err(|e| StoreError::io("read", path, e))?;
        let text = String::from_utf8(bytes).map_err(|e| StoreError::Parse {
            path: path.to_path_buf(),
            line: 1,
            column: 1,
            message: format!("the file is not valid UTF-8 ({e})"),
        })?;
        let value = parse::<T>(path, &text)?;
        let yaml = to_yaml(path, &value)?;
        Ok(Document { path: path.to_path_buf(), text, value: Arc::new(value), yaml, stamp })
    }

    /// A document for a file that does not exist yet; the first write creates it with
    /// `header` (e.g. the schema comment) above the content.
    pub fn new_file(path: &Path, header: &str) -> Self {
        let value = T::default();
        let yaml = serde_yaml_ng::to_value(&value).unwrap_or(serde_yaml_ng::Value::Null);
        Document { path: path.to_path_buf(), text: header.to_string(), value: Arc::new(value), yaml, stamp: None }
    }

    /// The parsed value (shared with readers of the published snapshot).
    pub fn value(&self) -> &Arc<T> {
        &self.value
    }

    /// The stamp of the file as last read or written.
    pub fn stamp(&self) -> Option<FileStamp> {
        self.stamp
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Has the file changed on disk since we last read or wrote it? The stamp (size, mtime,
    /// inode) says so in most cases; within a timestamp tick of our last look, an edit of
    /// the same size keeps the stamp, so then the bytes are compared too.
    pub fn is_stale(&self) -> Result<bool, StoreError> {
        let stamp = FileStamp::of(&self.path)?;
        if stamp != self.stamp {
            return Ok(true);
        }
        match stamp {
            Some(stamp) if stamp.is_racy() => {
                let bytes = std::fs::read(&self.path).map_err(|e| StoreError::io("read", &self.path, e))?;
                Ok(bytes != self.text.as_bytes())
            }
            _ => Ok(false),
        }
    }

    /// Writes `new` durably, changing only the text of what differs from the current value,
    /// and makes it the current value. On error nothing changes, on disk or in memory.
    pub fn replace(&mut self, new: T) -> Result<(), StoreError> {
        let (text, yaml) = yaml_text::render(&self.text, &self.yaml, &new)
            .map_err(|e| StoreError::io("serialize", &self.path, std::io::Error::other(e.to_string())))?;
        let stamp = atomic::write_atomic(&self.path, text.as_bytes())?;
        self.text = text;
        self.value = Arc::new(new);
        self.yaml = yaml;
        self.stamp = Some(stamp);
        Ok(())
    }
}

fn to_yaml<T: Serialize>(path: &Path, value: &T) -> Result<serde_yaml_ng::Value, StoreError> {
    serde_yaml_ng::to_value(value).map_err(|e| StoreError::io("represent", path, std::io::Error::other(e.to_string())))
}

/// Parses YAML text into `T`; an empty file is the default value.
pub fn parse<T: DeserializeOwned + Default>(path: &Path, text: &str) -> Result<T, StoreError> {
    if text.trim().is_empty() || yaml_text::leading_comments(text).len() == text.len() {
        return Ok(T::default());
    }
    serde_yaml_ng::from_str::<T>(text).map_err(|e| StoreError::parse(path, &e))
}
