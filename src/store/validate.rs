//! Shapes the store accepts for names, ids and texts from requests.
//!
//! Ids and names end up in file names (project directories now, vault notes later), so
//! nothing from a request may ever act as a path: separators, `..`, control characters and
//! look-alikes of `/` are refused with a message saying what is allowed.

use super::error::StoreError;

/// Longest id or name we accept.
pub const MAX_ID_LEN: usize = 128;
/// Longest one-line text (summary, title, theme list entry).
pub const MAX_LINE_LEN: usize = 4_000;
/// Longest free text (notes, goals, history summaries).
pub const MAX_TEXT_LEN: usize = 64 * 1024;

/// Characters that look like a path separator in some font.
const SLASH_LOOKALIKES: [char; 6] = ['\u{2215}', '\u{2044}', '\u{FF0F}', '\u{29F8}', '\u{FF3C}', '\u{29F5}'];

/// An id chosen by a caller (sprint, backlog item, story, theme): any short printable token
/// (`_parity-test-item`, `STORY-5b`), never a path.
pub fn id(field: &'static str, value: &str) -> Result<(), StoreError> {
    let hint = "Use a short token of letters, digits, '-', '_' or '.', e.g. 'cicd-sha-pinning' or 'STORY-7'.";
    if value.is_empty() {
        return Err(StoreError::invalid(field, "must not be empty", hint));
    }
    if value.chars().count() > MAX_ID_LEN {
        return Err(StoreError::invalid(field, format!("is longer than {MAX_ID_LEN} characters"), hint));
    }
    if let Some(c) = value
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '\\' | ':') || SLASH_LOOKALIKES.contains(c))
    {
        return Err(StoreError::invalid(
            field,
            format!("'{}' contains {:?}, which is not allowed in an id (ids are never paths)", value.escape_debug(), c),
            hint,
        ));
    }
    if value.starts_with('.') {
        return Err(StoreError::invalid(field, format!("'{value}' must not start with '.'"), hint));
    }
    Ok(())
}

/// A project name: it names a directory, so only ASCII letters, digits, '-', '_' and '.'.
pub fn project_name(value: &str) -> Result<(), StoreError> {
    let hint = "Use a kebab-case name of ASCII letters, digits, '-', '_' or '.', e.g. 'my-new-project'.";
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && value.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && !value.ends_with('.')
        && !value.contains("..");
    if ok {
        Ok(())
    } else {
        Err(StoreError::invalid("name", format!("'{}' is not a valid project name", value.escape_debug()), hint))
    }
}

/// A one-line text such as a summary or title.
pub fn line(field: &'static str, value: &str) -> Result<(), StoreError> {
    text_within(field, value, MAX_LINE_LEN, false)
}

/// A free text such as notes; newlines and tabs are fine.
pub fn text(field: &'static str, value: &str) -> Result<(), StoreError> {
    text_within(field, value, MAX_TEXT_LEN, true)
}

/// An agent name for attribution.
pub fn agent(value: &str) -> Result<(), StoreError> {
    text_within("agent", value, MAX_ID_LEN, false)?;
    if value.trim().is_empty() {
        return Err(StoreError::invalid("agent", "must not be blank", "Pass your agent's name, e.g. 'claude-code'."));
    }
    Ok(())
}

fn text_within(field: &'static str, value: &str, max: usize, multiline: bool) -> Result<(), StoreError> {
    if value.len() > max {
        return Err(StoreError::invalid(
            field,
            format!("is {} bytes long; the limit is {max}", value.len()),
            "Shorten it: keep the essentials here and put long material in the repository.",
        ));
    }
    let allowed = |c: char| !c.is_control() || (multiline && matches!(c, '\n' | '\t' | '\r'));
    if let Some(c) = value.chars().find(|&c| !allowed(c)) {
        return Err(StoreError::invalid(
            field,
            format!("contains the control character {c:?}"),
            if multiline {
                "Remove control characters (newlines and tabs are fine)."
            } else {
                "Send a single line without control characters."
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids the Python tool's users have are accepted; anything path-like is not.
    #[test]
    fn ids() {
        for ok in ["_parity-test-item", "STORY-5b", "cicd-sha-pinning", "v1.2", "gcp_compute"] {
            assert!(id("id", ok).is_ok(), "{ok}");
        }
        for bad in ["", "../etc", "a/b", "a\\b", ".hidden", "..", "a b", "a\0b", "c:x", "a\u{2215}b", &"x".repeat(129)]
        {
            assert!(id("id", bad).is_err(), "{bad:?}");
        }
    }

    /// Project names are directory-safe.
    #[test]
    fn project_names() {
        assert!(project_name("demo-main").is_ok());
        for bad in ["", "-x", "a/b", "a..b", "x.", "é"] {
            assert!(project_name(bad).is_err(), "{bad:?}");
        }
    }
}
