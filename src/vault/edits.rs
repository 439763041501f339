//! The two fields a person may change from Obsidian: a story's or backlog item's `status`,
//! and a backlog item's `priority`, in the note's frontmatter (by hand, in the Properties
//! view, or in a cell of a Bases table).
//!
//! The rule: a generated note that differs from what worksync wrote is a person's. If the
//! only difference is those fields (compared by meaning, not by bytes: Obsidian rewrites the
//! whole frontmatter in its own style when one property changes), the change is applied
//! through the writer as a change by the vault editor (`obsidian`, or `settings.vault_editor`)
//! guarded by the revision the note was written at; if the item moved on since, or the value
//! is not allowed, it is not applied and the note says why in a callout. Any other edit keeps
//! the note as the person left it, as before. A note can only change the item it was
//! generated for: its path names the item, and its `id`, `type` and `rev` must be what was
//! written (they are part of what must not change).
//!
//! What was written is remembered per note in the manifest ([`Written`]): the revision, the
//! two fields, and a hash of everything else by meaning.

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value as Yaml;

use super::manifest::{self, Hash};
use crate::store::model::{BacklogStatus, StoryStatus};

/// What worksync wrote into an item's note: enough to tell a change of the two fields from
/// any other edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    pub rev: u64,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// Hash of the frontmatter without the two fields (by meaning) and of the body.
    #[serde(with = "hex")]
    pub rest: Hash,
}

/// A note's frontmatter by meaning, its editable fields apart, and its body.
struct Parsed {
    rev: Option<u64>,
    status: Option<String>,
    priority: Option<Yaml>,
    rest: Hash,
}

impl Written {
    /// What `text` (a note worksync renders) says; `None` for a note without frontmatter or
    /// revision (an item the server never changed has no `rev`: it cannot be edited from
    /// Obsidian until it has one).
    pub fn of(text: &str) -> Option<Written> {
        let parsed = parse(text)?;
        Some(Written {
            rev: parsed.rev?,
            status: parsed.status?,
            priority: parsed.priority.as_ref().and_then(Yaml::as_u64).and_then(|p| u8::try_from(p).ok()),
            rest: parsed.rest,
        })
    }
}

/// What a person did to a note that holds something else than what was written.
#[derive(Debug, PartialEq, Eq)]
pub enum Inspection {
    /// Only its form changed (Obsidian rewrote the frontmatter): nothing to apply.
    Reformatted,
    /// Only `status` and/or `priority` changed, to these values (as written in the note).
    Changed { status: Option<String>, priority: Option<String> },
    /// Anything else: the note is the person's now.
    Other,
}

/// Compares the note's `bytes` with what was written.
pub fn inspect(bytes: &[u8], written: &Written) -> Inspection {
    let Some(parsed) = std::str::from_utf8(bytes).ok().and_then(parse) else { return Inspection::Other };
    if parsed.rest != written.rest || parsed.rev != Some(written.rev) {
        return Inspection::Other;
    }
    let status = parsed.status.filter(|s| *s != written.status);
    let priority = match (&parsed.priority, written.priority) {
        (Some(Yaml::Number(n)), Some(p)) if n.as_u64() == Some(u64::from(p)) => None,
        (None, None) => None,
        (Some(value), _) => Some(scalar_text(value)),
        (None, Some(_)) => Some(String::new()),
    };
    if status.is_none() && priority.is_none() {
        Inspection::Reformatted
    } else {
        Inspection::Changed { status, priority }
    }
}

/// A change a person made in a note, to apply through the writer.
#[derive(Debug, Clone)]
pub struct FrontmatterEdit {
    pub project: String,
    /// `story` or `backlog`.
    pub kind: &'static str,
    pub id: String,
    /// The story's sprint.
    pub sprint: Option<String>,
    /// The note, inside the vault.
    pub path: String,
    /// The revision the note was written at.
    pub rev: u64,
    pub status: Option<String>,
    pub priority: Option<u8>,
    /// Hash of the note as the person left it.
    pub seen: Hash,
}

/// Checks the values a person set; the error says what is allowed.
pub fn allowed(kind: &str, status: Option<&str>, priority: Option<&str>) -> Result<Option<u8>, String> {
    if let Some(status) = status {
        let names: Vec<&str> = if kind == "story" {
            StoryStatus::ALL.iter().map(|s| s.as_str()).collect()
        } else {
            BacklogStatus::ALL.iter().map(|s| s.as_str()).collect()
        };
        if !names.contains(&status) {
            return Err(format!("status `{status}` is not a {kind} status (one of: {})", names.join(", ")));
        }
    }
    let Some(priority) = priority else { return Ok(None) };
    if kind != "backlog" {
        return Err("only backlog items have a priority".into());
    }
    match priority.trim().parse::<u8>() {
        Ok(p @ 1..=5) => Ok(Some(p)),
        _ => Err(format!("priority `{priority}` is not a whole number from 1 (highest) to 5")),
    }
}

fn parse(text: &str) -> Option<Parsed> {
    let rest = text.strip_prefix("---\n").or_else(|| text.strip_prefix("---\r\n"))?;
    let end = rest.find("\n---\n").or_else(|| rest.find("\n---\r\n")).or_else(|| {
        // A note that ends right after its frontmatter.
        rest.strip_suffix("\n---").map(|front| front.len())
    })?;
    let (front, after) = rest.split_at(end);
    let body = after.trim_start_matches('\n').strip_prefix("---").unwrap_or_default();
    let Ok(Yaml::Mapping(mut mapping)) = serde_yaml_ng::from_str::<Yaml>(front) else { return None };
    let status = mapping.remove("status");
    let priority = mapping.remove("priority");
    let rev = mapping.get("rev").and_then(Yaml::as_u64);
    let mut canonical = serde_json::to_vec(&to_json(&Yaml::Mapping(mapping))).ok()?;
    canonical.push(0);
    canonical.extend_from_slice(body.trim().as_bytes());
    Some(Parsed {
        rev,
        status: status.as_ref().map(scalar_text),
        priority: priority.filter(|p| !p.is_null()),
        rest: manifest::hash(&canonical),
    })
}

/// A YAML value as JSON with keys in order, so that two spellings of the same frontmatter
/// compare equal.
fn to_json(value: &Yaml) -> serde_json::Value {
    match value {
        Yaml::Mapping(mapping) => {
            let sorted: std::collections::BTreeMap<String, serde_json::Value> =
                mapping.iter().map(|(k, v)| (scalar_text(k), to_json(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        Yaml::Sequence(items) => serde_json::Value::Array(items.iter().map(to_json).collect()),
        Yaml::Tagged(tagged) => to_json(&tagged.value),
        other => serde_json::Value::String(scalar_text(other)),
    }
}

/// A scalar as text (`3`, `true`, `in_progress`, "" for null).
fn scalar_text(value: &Yaml) -> String {
    match value {
        Yaml::String(s) => s.clone(),
        Yaml::Number(n) => n.to_string(),
        Yaml::Bool(b) => b.to_string(),
        Yaml::Null => String::new(),
        other => serde_yaml_ng::to_string(other).unwrap_or_default().trim().to_string(),
    }
}

/// Hashes as 32 hex digits, as the manifest writes them.
mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(hash: &u128, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&format_args!("{hash:032x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u128, D::Error> {
        let text = String::deserialize(deserializer)?;
        u128::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "---\ntype: backlog\nid: x\nstatus: todo\npriority: 3\nrev: 4\ntags: [a, b]\n---\n# x\n\nbody\n";

    #[test]
    fn a_status_change_is_told_from_a_reformat_and_from_other_edits() {
        let written = Written::of(NOTE).unwrap();
        assert_eq!((written.rev, written.status.as_str(), written.priority), (4, "todo", Some(3)));
        assert_eq!(inspect(NOTE.as_bytes(), &written), Inspection::Reformatted);
        // Obsidian's own style: block lists, keys moved, quotes.
        let obsidian = "---\ntype: backlog\nid: \"x\"\nstatus: in_progress\nrev: 4\npriority: 1\ntags:\n  - a\n  - b\n---\n# x\n\nbody\n";
        assert_eq!(
            inspect(obsidian.as_bytes(), &written),
            Inspection::Changed { status: Some("in_progress".into()), priority: Some("1".into()) }
        );
        let body = NOTE.replace("body", "my own words").replace("todo", "done");
        assert_eq!(inspect(body.as_bytes(), &written), Inspection::Other);
        let other_item = NOTE.replace("id: x", "id: y").replace("todo", "done");
        assert_eq!(inspect(other_item.as_bytes(), &written), Inspection::Other);
        let rev = NOTE.replace("rev: 4", "rev: 9").replace("todo", "done");
        assert_eq!(inspect(rev.as_bytes(), &written), Inspection::Other);
        assert_eq!(inspect(b"no frontmatter", &written), Inspection::Other);
    }

    #[test]
    fn only_allowed_values_pass() {
        assert_eq!(allowed("backlog", Some("done"), Some("2")), Ok(Some(2)));
        assert!(allowed("backlog", Some("finished"), None).unwrap_err().contains("one of: todo"));
        assert!(allowed("backlog", None, Some("9")).unwrap_err().contains("1 (highest) to 5"));
        assert!(allowed("story", None, Some("1")).is_err());
        assert_eq!(allowed("story", Some("in_progress"), None), Ok(None));
    }
}
