//! A merge's disagreements in words, one line each: what the git merge driver prints and
//! logs, and what the writer reports when it merges an editor's stale save.

use serde_yaml_ng::Value;

use super::{Conflict, ConflictKind};

impl Conflict {
    /// `<where>: <kind>; kept <value>; lost <value>`, values as one-line JSON cut to `width`
    /// characters (`usize::MAX`: whole).
    pub fn describe(&self, width: usize) -> String {
        let kept = match &self.kept {
            Some(value) => one_line(value, width),
            None => "nothing (removed)".to_string(),
        };
        let lost = match (&self.lost, self.kind) {
            (Some(value), _) => one_line(value, width),
            (None, ConflictKind::RemovedChanged) => "the other side's removal".to_string(),
            (None, ConflictKind::IdCollision) => "nothing (both items kept, this one under a new id)".to_string(),
            (None, ConflictKind::SameField) => "nothing (both changes kept)".to_string(),
        };
        format!("{}: {}; kept {kept}; lost {lost}", self.at, self.kind.as_str())
    }
}

/// A value on one line (JSON: strings quoted, newlines escaped), cut to `width` characters.
fn one_line(value: &Value, width: usize) -> String {
    let text = serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"));
    if text.chars().count() <= width {
        return text;
    }
    let mut cut: String = text.chars().take(width).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disagreement is one line: where, what kind, kept and lost, long values cut.
    #[test]
    fn describe_is_one_line() {
        let conflict = Conflict {
            at: "backlog/b1/summary".into(),
            kind: ConflictKind::SameField,
            kept: Some(Value::String("two (x)".into())),
            lost: Some(Value::String(format!("deux\n{}", "long ".repeat(50)))),
        };
        let line = conflict.describe(40);
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("backlog/b1/summary: same field changed on both sides; kept \"two (x)\"; lost \"deux\\n")
        );
        assert!(line.ends_with('…'), "{line}");
        assert!(conflict.describe(usize::MAX).ends_with("long \""));
    }
}
