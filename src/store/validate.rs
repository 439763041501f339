//! Shapes the store accepts for names, ids and texts from requests.
//!
//! Ids and names end up in file names (project directories now, vault notes later), so
//! nothing from a request may ever act as a path: separators, `..`, control characters and
//! look-alikes of `/` are refused with a message saying what is allowed.
//!
//! Vocabulary:
//! - a *new id* is one a call creates (a sprint, backlog item or story id, a theme) or a
//!   name that becomes a file name (guidance, prompts, languages): an allow-list of letters
//!   and digits of any script, `-`, `_` and `.`, so that no invisible, bidi-control or
//!   look-alike character makes two ids that look the same;
//! - a *reference* names an item that may already exist: files hold ids from before these
//!   rules (spaces, slashes, anything), and those stay reachable, so a reference is only
//!   bounded;
//! - every id has one spelling, its NFKC form ([`normalize_id`]): the NFC and NFD forms of
//!   `café`, or a fullwidth `ＳＴＯＲＹ-１`, name the same item as what they look like.

use std::borrow::Cow;

use icu_normalizer::ComposingNormalizerBorrowed;
use icu_properties::props::{BidiControl, DefaultIgnorableCodePoint, GeneralCategory, GeneralCategoryGroup};
use icu_properties::{CodePointMapData, CodePointSetData};

use super::error::StoreError;

/// Longest id or name we accept.
pub const MAX_ID_LEN: usize = 128;
/// Longest one-line text (summary, title, theme list entry).
pub const MAX_LINE_LEN: usize = 4_000;
/// Longest free text (notes, goals, history summaries).
pub const MAX_TEXT_LEN: usize = 64 * 1024;

const ID_HINT: &str = "Use a short token of letters, digits, '-', '_' or '.', e.g. 'cicd-sha-pinning' or 'STORY-7'.";

/// The one spelling of an id: its NFKC form. Agents cannot see the difference between
/// the NFC and NFD forms of a word, so both must name one item; NFKC (as Python uses for
/// identifiers) also folds fullwidth and other compatibility look-alikes into what they
/// look like. ASCII is its own NFKC form.
pub fn normalize_id(value: &str) -> Cow<'_, str> {
    if value.is_ascii() { Cow::Borrowed(value) } else { ComposingNormalizerBorrowed::new_nfkc().normalize(value) }
}

/// A new id (see the module doc), already in its normalized spelling: letters and digits
/// of any script, '-', '_' and '.', not starting with '.'.
pub fn id(field: &'static str, value: &str) -> Result<(), StoreError> {
    if value.is_empty() {
        return Err(StoreError::invalid(field, "must not be empty", ID_HINT));
    }
    if value.chars().count() > MAX_ID_LEN {
        return Err(StoreError::invalid(field, format!("is longer than {MAX_ID_LEN} characters"), ID_HINT));
    }
    let mut previous = None;
    for c in value.chars() {
        if let Some(why) = refusal(c, previous) {
            return Err(StoreError::invalid(
                field,
                format!(
                    "'{}' contains U+{:04X} ({why}), which is not allowed in an id: ids are letters, digits, '-', '_' and '.' (and never paths)",
                    value.escape_debug(),
                    c as u32
                ),
                ID_HINT,
            ));
        }
        previous = Some(c);
    }
    if value.starts_with('.') {
        return Err(StoreError::invalid(field, format!("'{value}' must not start with '.'"), ID_HINT));
    }
    Ok(())
}

/// Why `c` may not be in a new id after `previous`, if it may not.
fn refusal(c: char, previous: Option<char>) -> Option<&'static str> {
    if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
        return None;
    }
    if matches!(c, '/' | '\\') {
        return Some("a path separator");
    }
    if c.is_whitespace() {
        return Some("white space");
    }
    if c.is_control() {
        return Some("a control character");
    }
    if CodePointSetData::new::<BidiControl>().contains(c) {
        return Some("a bidirectional-text control, which reorders how the text displays");
    }
    if CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c) {
        return Some("an invisible character");
    }
    if is_mark(c) {
        // A mark belongs to the letter before it; alone it stacks on whatever precedes.
        let carried = previous.is_some_and(|p| p.is_alphanumeric() || is_mark(p));
        return (!carried).then_some("a combining mark with no letter before it");
    }
    if c.is_alphanumeric() {
        return None;
    }
    Some(if CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format {
        "an invisible formatting character"
    } else {
        "not a letter or digit"
    })
}

fn is_mark(c: char) -> bool {
    GeneralCategoryGroup::Mark.contains(CodePointMapData::<GeneralCategory>::new().get(c))
}

/// A reference to an item that may already exist (see the module doc): anything a file
/// may hold, bounded, without control characters.
pub fn reference(field: &'static str, value: &str) -> Result<(), StoreError> {
    let hint = "Pass the id exactly as worksync_status shows it.";
    if value.is_empty() {
        return Err(StoreError::invalid(field, "must not be empty", hint));
    }
    if value.len() > MAX_LINE_LEN {
        return Err(StoreError::invalid(field, format!("is {} bytes long; no id is that long", value.len()), hint));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(StoreError::invalid(field, format!("contains the control character {c:?}"), hint));
    }
    Ok(())
}

/// A project name for a new registration: it names a directory, so only ASCII letters,
/// digits, '-', '_' and '.'.
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

/// A project name from anywhere (`config.yaml` as people and the Python tool wrote it, a
/// tool argument): it must be exactly one plain directory name under `projects/`. Looser
/// than [`project_name`], because registered names such as `My App` must keep working;
/// strict about everything that would let a name leave `projects/`.
pub fn directory_name(field: &'static str, value: &str) -> Result<(), StoreError> {
    let forbidden = value.chars().find(|c| matches!(c, '/' | '\\' | ':') || c.is_control());
    let why = if let Some(c) = forbidden {
        Some(format!("it contains {c:?}"))
    } else if value.is_empty() {
        Some("it is empty".to_string())
    } else if value.starts_with('.') {
        Some("it starts with '.'".to_string())
    } else if value.len() > 255 {
        Some("it is longer than 255 bytes".to_string())
    } else {
        None
    };
    match why {
        None => Ok(()),
        Some(why) => Err(StoreError::invalid(
            field,
            format!("'{}' is not one plain directory name ({why})", value.escape_debug()),
            "A project name is one directory name under projects/: no '/', '\\', ':' or control characters, \
             not starting with '.'. A name like this in config.yaml is skipped: rename it there.",
        )),
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

    /// New ids are an allow-list: invisible, bidi-control, tag and look-alike characters and
    /// combining marks with no letter before them are refused, each named by code point;
    /// letters and digits of any script are fine.
    #[test]
    fn new_ids_are_an_allow_list() {
        let refused = [
            ("zero\u{200B}width", "U+200B"),
            ("\u{FEFF}bom", "U+FEFF"),
            ("soft\u{AD}hyphen", "U+00AD"),
            ("rtl\u{202E}override", "U+202E"),
            ("tag\u{E0041}", "U+E0041"),
            ("\u{301}mark-first", "U+0301"),
            ("x_\u{301}", "U+0301"),
            ("hangul\u{3164}filler", "U+3164"),
            ("fullwidth\u{FF0F}slash", "U+FF0F"),
            ("emoji\u{1F600}", "U+1F600"),
        ];
        for (bad, code_point) in refused {
            let message = id("id", bad).unwrap_err().to_string();
            assert!(message.contains(code_point), "{bad:?}: {message}");
        }
        for ok in [
            "caf\u{e9}-item",
            "cafe\u{301}-item",
            "\u{65e5}\u{672c}\u{8a9e}",
            "\u{939}\u{93f}\u{928}\u{94d}\u{926}\u{940}",
            "STORY-5b",
        ] {
            assert!(id("id", ok).is_ok(), "{ok:?}: {:?}", id("id", ok));
        }
    }

    /// The NFC and NFD spellings of a word, and fullwidth look-alikes, have one spelling.
    #[test]
    fn one_spelling_per_id() {
        assert_eq!(normalize_id("cafe\u{301}-item"), "caf\u{e9}-item");
        assert_eq!(normalize_id("caf\u{e9}-item"), "caf\u{e9}-item");
        assert_eq!(normalize_id("\u{FF33}\u{FF34}\u{FF2F}\u{FF32}\u{FF39}-\u{FF11}"), "STORY-1");
        assert!(matches!(normalize_id("STORY-1"), Cow::Borrowed(_)));
    }

    /// References are only bounded: ids files already hold stay reachable.
    #[test]
    fn references_keep_existing_ids_reachable() {
        for ok in ["legacy item/1", "STORY 7\u{200B}", "a:b", "_x"] {
            assert!(reference("id", ok).is_ok(), "{ok:?}");
        }
        for bad in ["", "nul\0byte", &"x".repeat(MAX_LINE_LEN + 1)] {
            assert!(reference("id", bad).is_err(), "{bad:?}");
        }
    }

    /// Project names are directory-safe; names from config.yaml need only be one plain
    /// directory name.
    #[test]
    fn project_names() {
        assert!(project_name("demo-main").is_ok());
        for bad in ["", "-x", "a/b", "a..b", "x.", "\u{e9}"] {
            assert!(project_name(bad).is_err(), "{bad:?}");
        }
        for ok in ["demo-main", "My App", "caf\u{e9}", "a..b"] {
            assert!(directory_name("project", ok).is_ok(), "{ok:?}");
        }
        for bad in ["", ".", "..", ".hidden", "/abs/dir", "../../x", "a/../../b", "a\\b", "c:x", "a\0b", "tab\tname"] {
            assert!(directory_name("project", bad).is_err(), "{bad:?}");
        }
    }
}
