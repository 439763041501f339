//! The work-tracking data model: what `work-index.yaml` holds, typed.
//!
//! The file format is the Python tool's and users' JSON schemas forbid unknown keys,
//! so these types add no keys. They do keep any key they do not know (`extra`), and read
//! scalar fields leniently (`title: 2024` is the string "2024"), so a hand-written file loads
//! and writes back without losing anything. Statuses are kept as strings for the same reason;
//! the status enums below are what tools accept.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_yaml_ng::Mapping;

/// The whole `work-index.yaml` of one project.
///
/// Sections are `Option` so that a file without, say, `history:` does not gain one until
/// something is added to it. Items are shared (`Arc`): every write starts from a copy of the
/// published index, and copying 5,000 shared items, or comparing them with the copy, costs
/// a pointer each, not a deep copy; a change clones only the item it changes
/// (`Arc::make_mut`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkIndex {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sprints: Option<Vec<Arc<Sprint>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<Vec<Arc<BacklogItem>>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<Arc<HistoryEntry>>>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// A sprint: a time-boxed group of stories.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sprint {
    #[serde(deserialize_with = "scalar_string")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub goal: Option<String>,
    #[serde(default, deserialize_with = "opt_string_list", skip_serializing_if = "Option::is_none")]
    pub themes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stories: Option<Vec<Story>>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// A story: one unit of work inside a sprint, id `STORY-N` unique across the project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Story {
    #[serde(deserialize_with = "scalar_string")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// A backlog item: unscheduled work, grouped by theme.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BacklogItem {
    #[serde(deserialize_with = "scalar_string")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, deserialize_with = "opt_string_list", skip_serializing_if = "Option::is_none")]
    pub related_sprints: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Mapping,
}

/// One line of the project's append-only history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
    #[serde(default, deserialize_with = "opt_scalar_string", skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, deserialize_with = "opt_string_list", skip_serializing_if = "Option::is_none")]
    pub related_sprints: Option<Vec<String>>,
    #[serde(flatten)]
    pub extra: Mapping,
}

impl WorkIndex {
    /// Every sprint (none if the section is absent).
    pub fn sprints(&self) -> &[Arc<Sprint>] {
        self.sprints.as_deref().unwrap_or_default()
    }

    /// Every backlog item.
    pub fn backlog(&self) -> &[Arc<BacklogItem>] {
        self.backlog.as_deref().unwrap_or_default()
    }

    /// Every history entry, oldest first.
    pub fn history(&self) -> &[Arc<HistoryEntry>] {
        self.history.as_deref().unwrap_or_default()
    }

    /// The sprint with this id.
    pub fn sprint(&self, id: &str) -> Option<&Sprint> {
        self.sprints().iter().find(|s| s.id == id).map(|s| s.as_ref())
    }

    /// The sprint with this id, for changing it (unshared first).
    pub fn sprint_mut(&mut self, id: &str) -> Option<&mut Sprint> {
        self.sprints.as_mut()?.iter_mut().find(|s| s.id == id).map(Arc::make_mut)
    }

    /// The backlog item with this id.
    pub fn backlog_item(&self, id: &str) -> Option<&BacklogItem> {
        self.backlog().iter().find(|b| b.id == id).map(|b| b.as_ref())
    }

    /// The backlog item with this id, for changing it (unshared first).
    pub fn backlog_item_mut(&mut self, id: &str) -> Option<&mut BacklogItem> {
        self.backlog.as_mut()?.iter_mut().find(|b| b.id == id).map(Arc::make_mut)
    }

    /// The sprint that holds story `story_id` (ids are unique across the project).
    pub fn sprint_of_story(&self, story_id: &str) -> Option<&Sprint> {
        self.sprints().iter().find(|s| s.stories().iter().any(|st| st.id == story_id)).map(|s| s.as_ref())
    }

    /// The next free `STORY-N`: one past the highest numeric story id in the project.
    /// Non-numeric suffixes (`STORY-5b`) do not count, as in the Python tool.
    pub fn next_story_id(&self) -> String {
        let highest = self
            .sprints()
            .iter()
            .flat_map(|s| s.stories())
            .filter_map(|st| st.id.strip_prefix("STORY-")?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        format!("STORY-{}", highest + 1)
    }
}

impl Sprint {
    /// The sprint's stories (none if the key is absent).
    pub fn stories(&self) -> &[Story] {
        self.stories.as_deref().unwrap_or_default()
    }

    /// The sprint's status, or "" when the file has none.
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or_default()
    }
}

impl Story {
    /// The story's status, or "" when the file has none.
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or_default()
    }
}

impl BacklogItem {
    /// The item's status, or "" when the file has none.
    pub fn status(&self) -> &str {
        self.status.as_deref().unwrap_or_default()
    }
}

/// Defines a status enum whose wire names are the file's status strings.
macro_rules! status_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        #[schemars(inline)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in the order the schema lists them.
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            /// Every value's file string, in the same order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The string written to the YAML file.
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text,)+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum!(
    /// Lifecycle of a sprint.
    SprintStatus { Planned => "planned", Active => "active", Reference => "reference", Completed => "completed" }
);
status_enum!(
    /// Lifecycle of a story.
    StoryStatus { Planned => "planned", InProgress => "in_progress", Done => "done" }
);
status_enum!(
    /// Lifecycle of a backlog item.
    BacklogStatus { Todo => "todo", InProgress => "in_progress", Done => "done" }
);

/// Reads any YAML scalar as its string form, so hand-typed numbers and dates load.
fn scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    opt_scalar_string(d)?.ok_or_else(|| serde::de::Error::custom("expected a string, found null"))
}

/// Like [`scalar_string`], with `null` (or `~`, or an empty value) read as absent.
fn opt_scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    use serde_yaml_ng::Value;
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(n.to_string())),
        other => Err(serde::de::Error::custom(format!("expected a text value, found {}", describe(&other)))),
    }
}

/// Reads a list of scalars as strings; `null` is absent.
fn opt_string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    use serde_yaml_ng::Value;
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::Sequence(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                other => Err(serde::de::Error::custom(format!(
                    "expected a list of names, found {} in the list",
                    describe(&other)
                ))),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        other => Err(serde::de::Error::custom(format!("expected a list (e.g. [a, b]), found {}", describe(&other)))),
    }
}

/// A short name for the kind of a YAML value, for error messages.
fn describe(value: &serde_yaml_ng::Value) -> &'static str {
    use serde_yaml_ng::Value;
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hand-typed scalars and unknown keys load and survive a round trip.
    #[test]
    fn lenient_scalars_and_extra_keys() {
        let text = "sprints:\n- id: 2024\n  title: 12\n  custom: {a: 1}\n  stories:\n  - id: STORY-1\n    status: done\n    notes:\n";
        let index: WorkIndex = serde_yaml_ng::from_str(text).unwrap();
        let sprint = &index.sprints()[0];
        assert_eq!(sprint.id, "2024");
        assert_eq!(sprint.title.as_deref(), Some("12"));
        assert!(sprint.extra.contains_key("custom"));
        assert_eq!(sprint.stories()[0].notes, None);
        let again: WorkIndex = serde_yaml_ng::from_str(&serde_yaml_ng::to_string(&index).unwrap()).unwrap();
        assert_eq!(again, index);
    }

    /// The next story id skips non-numeric suffixes and counts across sprints.
    #[test]
    fn next_story_id_is_project_wide() {
        let text =
            "sprints:\n- id: a\n  stories: [{id: STORY-3}, {id: STORY-5b}]\n- id: b\n  stories: [{id: STORY-4}]\n";
        let index: WorkIndex = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(index.next_story_id(), "STORY-5");
        assert_eq!(WorkIndex::default().next_story_id(), "STORY-1");
    }
}
