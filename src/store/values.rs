//! What a work index must hold beyond what parses: the statuses its schema allows.
//!
//! The model keeps statuses as strings, so that any file loads and writes back as it was,
//! and the tools only ever write allowed values. A person may type `status: blocked`,
//! though, and agents would then see, count and act on a value the project's schema
//! (`SCHEMA/work-flow-schema.json`) forbids. Such a file is treated like one that does not
//! parse: the project refuses changes until it is fixed, so the value is never rewritten,
//! and every tool on the project reports it with file, line and column. The position is
//! the YAML parser's own: [`check`] reads the text a second time into types that accept
//! only the allowed values, and a value they refuse is reported where it stands, whatever
//! its quoting or style.

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

use super::document::Document;
use super::error::StoreError;
use super::model::{BacklogStatus, SprintStatus, StoryStatus, WorkIndex};

/// Reads and parses a work index, and refuses one holding a value its schema does not
/// allow (a [`StoreError::Parse`] at the value).
pub fn load_work_index(path: &Path) -> Result<Document<WorkIndex>, StoreError> {
    let doc = Document::<WorkIndex>::load(path)?;
    check(path, doc.text())?;
    Ok(doc)
}

/// Checks the values of a work index's text that parses.
pub(crate) fn check(path: &Path, text: &str) -> Result<(), StoreError> {
    serde_yaml_ng::from_str::<IndexValues>(text).map(|_| ()).map_err(|e| StoreError::parse(path, &e))
}

// The fields of these types are never read: deserializing them is the check.

/// The parts of a work index whose values are constrained; every other key is ignored.
#[derive(Deserialize)]
#[allow(dead_code)]
struct IndexValues {
    #[serde(default)]
    sprints: Option<Vec<SprintValues>>,
    #[serde(default)]
    backlog: Option<Vec<ItemValues<BacklogStatus>>>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct SprintValues {
    #[serde(default)]
    status: Option<Allowed<SprintStatus>>,
    #[serde(default)]
    stories: Option<Vec<ItemValues<StoryStatus>>>,
}

#[derive(Deserialize)]
#[serde(bound = "S: Vocabulary")]
#[allow(dead_code)]
struct ItemValues<S> {
    #[serde(default)]
    status: Option<Allowed<S>>,
}

/// A status field's vocabulary.
trait Vocabulary: 'static {
    /// What the value is, for messages ("story status").
    const KIND: &'static str;
    /// The allowed values.
    fn allowed() -> Vec<&'static str>;
}

impl Vocabulary for SprintStatus {
    const KIND: &'static str = "sprint status";
    fn allowed() -> Vec<&'static str> {
        Self::ALL.iter().map(|s| s.as_str()).collect()
    }
}

impl Vocabulary for StoryStatus {
    const KIND: &'static str = "story status";
    fn allowed() -> Vec<&'static str> {
        Self::ALL.iter().map(|s| s.as_str()).collect()
    }
}

impl Vocabulary for BacklogStatus {
    const KIND: &'static str = "backlog status";
    fn allowed() -> Vec<&'static str> {
        Self::ALL.iter().map(|s| s.as_str()).collect()
    }
}

/// A value of vocabulary `S`. It is refused from inside the visitor, while the parser
/// still stands on the value, so that the error carries the value's own position (an
/// error raised after reading it would point at the item holding it).
struct Allowed<S>(PhantomData<S>);

impl<'de, S: Vocabulary> Deserialize<'de> for Allowed<S> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_str(AllowedVisitor(PhantomData))
    }
}

struct AllowedVisitor<S>(PhantomData<S>);

impl<S: Vocabulary> Visitor<'_> for AllowedVisitor<S> {
    type Value = Allowed<S>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}: one of {}", S::KIND, S::allowed().join(", "))
    }

    fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Allowed<S>, E> {
        if S::allowed().contains(&value) {
            Ok(Allowed(PhantomData))
        } else {
            Err(E::custom(format!(
                "'{}' is not a {}; the schema allows {}",
                value.escape_debug(),
                S::KIND,
                S::allowed().join(", ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(text: &str) -> (usize, usize, String) {
        match check(Path::new("w.yaml"), text) {
            Err(StoreError::Parse { line, column, message, .. }) => (line, column, message),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// A value outside the schema is reported at the value itself, block or flow style,
    /// quoted or not, with the allowed values; allowed and absent values pass.
    #[test]
    fn values_outside_the_schema_are_located_exactly() {
        let story = "sprints:\n- id: a\n  status: active\n  stories:\n  - id: S\n    status: blocked\n    notes: x\n";
        assert_eq!(
            refusal(story),
            (6, 13, "sprints[0].stories[0].status: 'blocked' is not a story status; the schema allows planned, in_progress, done".into())
        );
        let (line, column, _) = refusal("sprints:\n- id: a\n  stories:\n  - {id: S, status: \"Done\", notes: x}\n");
        assert_eq!((line, column), (4, 21));
        let (line, column, message) = refusal("sprints:\n- id: a\n  status: archived\n");
        assert_eq!((line, column), (3, 11));
        assert!(message.contains("planned, active, reference, completed"), "{message}");
        let (line, column, message) = refusal("sprints: []\nbacklog:\n- id: b\n  status: 'wip'\n");
        assert_eq!((line, column), (4, 11));
        assert!(message.contains("todo, in_progress, done"), "{message}");
        let fine = "sprints:\n- id: a\n  status: active\n  stories:\n  - {id: S}\n  - id: T\n    status:\nbacklog:\n- {id: b, status: done}\n";
        assert!(check(Path::new("w.yaml"), fine).is_ok());
    }
}
