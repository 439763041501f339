//! Text that every YAML reader reads back as the string an agent sent.
//!
//! serde_yaml_ng writes by the YAML 1.2 core schema, where `yes`, `on`, `1_000`,
//! `2024-01-01` and `12:30:45` are plain strings, so it leaves them unquoted. PyYAML (the
//! Python tool, most scripts around these files) reads YAML 1.1, where they are booleans,
//! numbers, dates and sexagesimal numbers, and where a plain `=` is a "value" node it refuses
//! to load at all. [`to_string`] serializes like serde_yaml_ng and then single-quotes every
//! plain scalar that YAML 1.2 reads as a string but YAML 1.1 might not, so both read the same
//! string. It quotes too much rather than too little: a quoted string is still that string.

use serde::Serialize;

/// Serializes `value` as block YAML whose strings read back as strings in YAML 1.1 too.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_yaml_ng::Error> {
    Ok(quote_ambiguous(&serde_yaml_ng::to_string(value)?))
}

/// Quotes the plain scalars (keys and values) of serde_yaml_ng's block output that a YAML
/// 1.1 reader would not read as the same string. Block scalar bodies (`|`) are left alone.
fn quote_ambiguous(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // While inside a block scalar: its lines are those indented deeper than this column.
    let mut block_body_deeper_than: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let content = line.trim_end_matches('\n');
        let indent = content.len() - content.trim_start_matches(' ').len();
        if block_body_deeper_than.is_some_and(|column| content.trim().is_empty() || indent > column) {
            out.push_str(line);
            continue;
        }
        let (rewritten, block_at) = quote_line(content);
        block_body_deeper_than = block_at;
        out.push_str(&rewritten);
        out.push_str(&line[content.len()..]);
    }
    out
}

/// One line of block YAML with its ambiguous plain key and value quoted; also, if the line
/// opens a block scalar, the column its body must be indented deeper than.
fn quote_line(line: &str) -> (String, Option<usize>) {
    // Sequence dashes first: `- `, `- - `, …
    let mut at = line.len() - line.trim_start_matches(' ').len();
    let mut node_column = at;
    while line[at..].starts_with("- ") {
        node_column = at;
        at += 2;
    }
    let (head, rest) = line.split_at(at);
    if rest.is_empty() || rest == "-" {
        return (line.to_string(), None);
    }
    let mut out = head.to_string();
    let value = match split_key(rest) {
        Some((key, value)) => {
            out.push_str(&quoted_if_ambiguous(key));
            out.push(':');
            node_column = at;
            value
        }
        None => rest,
    };
    let trimmed = value.trim_start();
    out.push_str(&value[..value.len() - trimmed.len()]);
    out.push_str(&quoted_if_ambiguous(trimmed));
    let opens_block = trimmed.starts_with(['|', '>']);
    (out, opens_block.then_some(node_column))
}

/// Splits `key: value` (or `key:`) at the separator after the key, which may be quoted;
/// `None` if the text is a lone scalar.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let key_end = match text.chars().next()? {
        '\'' => closing_single_quote(text)? + 1,
        '"' => closing_double_quote(text)? + 1,
        _ => {
            // A plain scalar never holds ": " or ends in ":" (the emitter quotes those).
            let colon = text.find(": ").or_else(|| text.strip_suffix(':').map(|k| k.len()))?;
            return Some((&text[..colon], &text[colon + 1..]));
        }
    };
    let after = &text[key_end..];
    (after.starts_with(": ") || after == ":").then(|| (&text[..key_end], &text[key_end + 1..]))
}

fn closing_single_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            if bytes.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

fn closing_double_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// `scalar` single-quoted if it is a plain scalar that YAML 1.2 reads as a string and YAML
/// 1.1 might read as something else; as it is otherwise.
fn quoted_if_ambiguous(scalar: &str) -> std::borrow::Cow<'_, str> {
    let plain = !scalar.is_empty() && !scalar.starts_with(['\'', '"', '|', '>', '[', '{', '&', '*', '!', '#']);
    if plain && ambiguous_in_yaml11(scalar) && reads_as_string_in_yaml12(scalar) {
        format!("'{}'", scalar.replace('\'', "''")).into()
    } else {
        scalar.into()
    }
}

/// Might a YAML 1.1 reader resolve this plain scalar to something other than a string (a
/// boolean, null, a number in any of its forms, a date, a merge or value key)? A superset of
/// PyYAML's implicit resolvers, with the boolean words in any case.
fn ambiguous_in_yaml11(scalar: &str) -> bool {
    let lower = scalar.to_ascii_lowercase();
    let words = ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", "=", "<<"];
    if words.contains(&lower.as_str()) {
        return true;
    }
    let unsigned = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    if matches!(unsigned, ".inf" | ".nan") {
        return true;
    }
    let numeric_start = unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.');
    let numeric_chars = unsigned.chars().all(|c| c.is_ascii_hexdigit() || "xob_:.+-".contains(c));
    if numeric_start && numeric_chars {
        return true;
    }
    // Dates and timestamps: `2024-01-01`, `2024-1-1 10:00:00`, `2024-01-01T10:00:00Z`.
    let bytes = scalar.as_bytes();
    bytes.len() >= 5 && bytes[..4].iter().all(u8::is_ascii_digit) && bytes[4] == b'-'
}

/// Does serde_yaml_ng read this plain scalar as a string? (Numbers and booleans it wrote
/// from numbers and booleans must stay unquoted.)
fn reads_as_string_in_yaml12(scalar: &str) -> bool {
    matches!(serde_yaml_ng::from_str::<serde_yaml_ng::Value>(scalar), Ok(serde_yaml_ng::Value::String(_)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_yaml_ng::{Mapping, Value};

    /// The values a YAML 1.1 reader misreads, from the report that found them.
    pub const MISREAD_BY_YAML_11: [&str; 24] = [
        "yes",
        "No",
        "ON",
        "off",
        "Yes",
        "NO",
        "On",
        "OFF",
        "y",
        "n",
        "1_000",
        "2024-01-01",
        "12:30:45",
        "190:20:30.15",
        "=",
        "<<",
        "0b1010",
        "0x1F",
        "0o17",
        "+.inf",
        ".NaN",
        "1.5e3",
        "2024-01-01 12:30:00",
        "2024-01-01T10:00:00Z",
    ];

    /// Each misread value comes out quoted, as a value, a key, a list item and in a nested
    /// mapping, and reads back as the same string.
    #[test]
    fn quotes_what_yaml_11_misreads() {
        for scalar in MISREAD_BY_YAML_11 {
            let mut map = Mapping::new();
            map.insert("summary".into(), scalar.into());
            map.insert(scalar.into(), "key".into());
            map.insert("list".into(), Value::Sequence(vec![scalar.into(), "plain".into()]));
            let mut inner = Mapping::new();
            inner.insert("x".into(), scalar.into());
            map.insert("nested".into(), Value::Sequence(vec![Value::Mapping(inner)]));
            let text = to_string(&Value::Mapping(map.clone())).unwrap();
            let quoted = format!("'{}'", scalar.replace('\'', "''"));
            assert!(!text.contains(&format!(": {scalar}\n")), "{scalar}: plain value in\n{text}");
            assert!(text.contains(&format!("summary: {quoted}\n")), "{scalar}:\n{text}");
            assert!(text.contains(&format!("{quoted}: key\n")), "{scalar}: key\n{text}");
            assert!(text.contains(&format!("- {quoted}\n")), "{scalar}: item\n{text}");
            assert!(text.contains(&format!("- x: {quoted}\n")), "{scalar}: nested\n{text}");
            assert_eq!(serde_yaml_ng::from_str::<Value>(&text).unwrap(), Value::Mapping(map), "{text}");
        }
    }

    /// Numbers and booleans stay what they are; ordinary words and block scalars are left
    /// alone.
    #[test]
    fn leaves_the_rest_alone() {
        let text = "count: 5\nratio: 1.5\nflag: true\nname: plain words\nnotes: |-\n  yes\n  2024-01-01\nempty: ''\n";
        let value: Value = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(to_string(&value).unwrap(), text);
        let items: Value = serde_yaml_ng::from_str("- key: |-\n    on\n    off\n  other: on\n").unwrap();
        assert_eq!(to_string(&items).unwrap(), "- key: |-\n    on\n    off\n  other: 'on'\n");
    }
}
