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
//! its quoting or style. That second reading happens only when the loaded model holds a
//! value outside the schema (about 30 ms for 5,000 items, so not on every load).

use std::fmt;
use std::marker::PhantomData;
use std::path::Path;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};

use super::error::StoreError;
use super::model::{BacklogStatus, SprintStatus, StoryStatus, WorkIndex};
use super::yaml::Document;

/// Reads and parses a work index, and refuses one holding a value its schema does not
/// allow (a [`StoreError::Parse`] at the value).
pub fn load_work_index(path: &Path) -> Result<Document<WorkIndex>, StoreError> {
    let doc = Document::<WorkIndex>::load(path)?;
    if let Some(found) = first_outside_schema(doc.value()) {
        check(path, doc.text())?;
        // The model saw a value the located check did not (it should not happen): refuse
        // the file all the same, saying which value.
        return Err(StoreError::Parse { path: path.to_path_buf(), line: 1, column: 1, message: found });
    }
    Ok(doc)
}

/// The first status of `index` its schema does not allow, described; a cheap walk of the
/// model that tells whether the located check is needed at all.
fn first_outside_schema(index: &WorkIndex) -> Option<String> {
    fn outside<S: Vocabulary>(status: Option<&str>, at: impl FnOnce() -> String) -> Option<String> {
        let status = status?;
        (!S::allows(status)).then(|| format!("{}: '{status}' is not a {}", at(), S::KIND))
    }
    index
        .sprints()
        .iter()
        .enumerate()
        .find_map(|(n, sprint)| {
            outside::<SprintStatus>(sprint.status.as_deref(), || format!("sprints[{n}].status")).or_else(|| {
                sprint.stories().iter().enumerate().find_map(|(m, story)| {
                    outside::<StoryStatus>(story.status.as_deref(), || format!("sprints[{n}].stories[{m}].status"))
                })
            })
        })
        .or_else(|| {
            index.backlog().iter().enumerate().find_map(|(n, item)| {
                outside::<BacklogStatus>(item.status.as_deref(), || format!("backlog[{n}].status"))
            })
        })
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
trait Vocabulary: Copy + 'static {
    /// What the value is, for messages ("story status").
    const KIND: &'static str;
    /// Every allowed value.
    const ALL: &'static [Self];
    /// The value as the file spells it.
    fn name(self) -> &'static str;

    fn allows(value: &str) -> bool {
        Self::ALL.iter().any(|s| s.name() == value)
    }

    fn allowed() -> Vec<&'static str> {
        Self::ALL.iter().map(|s| s.name()).collect()
    }
}

macro_rules! vocabulary {
    ($($status:ident => $kind:literal),+) => {
        $(impl Vocabulary for $status {
            const KIND: &'static str = $kind;
            const ALL: &'static [Self] = $status::ALL;
            fn name(self) -> &'static str {
                self.as_str()
            }
        })+
    };
}

vocabulary!(SprintStatus => "sprint status", StoryStatus => "story status", BacklogStatus => "backlog status");

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
        if S::allows(value) {
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
        assert_eq!(first_outside_schema(&serde_yaml_ng::from_str(fine).unwrap()), None);
        let blocked: WorkIndex = serde_yaml_ng::from_str(story).unwrap();
        assert_eq!(
            first_outside_schema(&blocked).as_deref(),
            Some("sprints[0].stories[0].status: 'blocked' is not a story status")
        );
    }
}
