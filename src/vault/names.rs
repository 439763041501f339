//! Turning ids, themes and names from the YAML into vault paths, tags and link labels.
//!
//! Everything here comes from files people edit by hand, so nothing is trusted: a theme
//! called `CI/CD` must not become a directory, and a label with `]]` must not end its
//! wikilink early. Two names that clean up to the same file name get distinct files
//! (`-2`, `-3` …) so no note overwrites another.

use std::collections::HashSet;

/// Longest file stem we generate (bytes), well under every filesystem's name limit.
const MAX_STEM: usize = 120;

/// A file stem safe on every platform Obsidian runs on: no separators, no characters that
/// Windows or Obsidian links reject, no leading dot (hidden), never empty, and never ending
/// in `.md`: Obsidian reads a link to `x.md` as a link to the note `x`, so the note of an id
/// `x.md` is `x-md.md`.
pub fn file_stem(name: &str) -> String {
    let mut stem: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '#' | '^' | '[' | ']' => '-',
            c if c.is_control() => '-',
            c => c,
        })
        .collect();
    if stem.len() > MAX_STEM {
        let mut end = MAX_STEM;
        while !stem.is_char_boundary(end) {
            end -= 1;
        }
        stem.truncate(end);
    }
    stem = stem.trim_start_matches(['.', ' ']).trim_end_matches(['.', ' ']).to_string();
    let md = stem.len().checked_sub(3).filter(|&at| stem.get(at..).is_some_and(|end| end.eq_ignore_ascii_case(".md")));
    if let Some(dot) = md {
        stem.replace_range(dot..=dot, "-");
    }
    if stem.is_empty() { "untitled".to_string() } else { stem }
}

/// Hands out distinct file stems within one folder, first come first served.
#[derive(Debug, Default)]
pub struct StemAllocator {
    taken: HashSet<String>,
}

impl StemAllocator {
    /// A stem for `name` not handed out before (compared case-insensitively, as macOS and
    /// Windows filesystems do).
    pub fn allocate(&mut self, name: &str) -> String {
        let base = file_stem(name);
        let mut stem = base.clone();
        let mut n = 2;
        while !self.taken.insert(stem.to_lowercase()) {
            stem = format!("{base}-{n}");
            n += 1;
        }
        stem
    }
}

/// An Obsidian tag segment: letters, digits, `_`, `-` and `/`; anything else becomes `-`.
/// A tag made only of digits is not a tag in Obsidian, so it gets a leading `_`.
pub fn tag(name: &str) -> String {
    TagText(name).to_string()
}

/// Writes [`tag`]'s form of a text without allocating (tags are formatted for every note
/// on every run).
pub struct TagText<'a>(pub &'a str);

impl std::fmt::Display for TagText<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use std::fmt::Write;
        let text = self.0.trim().trim_matches('/');
        if text.is_empty() {
            return f.write_str("untitled");
        }
        if text.chars().all(|c| c.is_ascii_digit()) {
            f.write_char('_')?;
        }
        for c in text.chars() {
            f.write_char(if c.is_alphanumeric() || matches!(c, '_' | '-' | '/') { c } else { '-' })?;
        }
        Ok(())
    }
}

/// Text that can sit inside `[[target|label]]` without ending the link.
pub fn label(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '[' => '(',
            ']' => ')',
            '|' => '/',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

/// A name shown as text on a line with links (an agent, an id, a status): its brackets
/// become parentheses, so it can neither open a link nor close one. `|` stays (the `cell`
/// filter escapes it in tables).
pub fn plain(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '[' => '(',
            ']' => ')',
            '\n' | '\r' => ' ',
            c => c,
        })
        .collect()
}

/// Prose (a summary) shown on a line before links: kept as written, links included, but a
/// `[[` that no `]]` closes, or a `]]` that closes nothing, is escaped (`\[\[`), so it
/// cannot pair with the brackets of the links after it.
pub fn prose(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    loop {
        let open = rest.find("[[").unwrap_or(usize::MAX);
        let close = rest.find("]]").unwrap_or(usize::MAX);
        if open == usize::MAX && close == usize::MAX {
            out.push_str(rest);
            break;
        }
        if open < close && close != usize::MAX && !rest[open + 2..close].contains("[[") {
            // A whole link: kept as it is.
            out.push_str(&rest[..close + 2]);
            rest = &rest[close + 2..];
        } else {
            let (at, escaped) = if open < close { (open, "\\[\\[") } else { (close, "\\]\\]") };
            out.push_str(&rest[..at]);
            out.push_str(escaped);
            rest = &rest[at + 2..];
        }
    }
    out
}

/// A status as a person reads it: `in_progress` → `in progress`.
pub fn status_words(status: &str) -> String {
    plain(status).replace('_', " ")
}

/// The first line of `text`, cut to at most `max` characters at a word, with an ellipsis
/// when cut: a title for a story from its notes, a summary in a list.
pub fn shorten(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default();
    if line.chars().count() <= max {
        return std::borrow::Cow::Borrowed(line);
    }
    let head: String = line.chars().take(max.saturating_sub(1)).collect();
    let at_word = match head.rfind(char::is_whitespace) {
        Some(space) if space >= head.len() / 2 => &head[..space],
        _ => head.as_str(),
    };
    std::borrow::Cow::Owned(format!(
        "{}…",
        at_word.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == ':')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_never_escape_or_hide() {
        assert_eq!(file_stem("../../etc/passwd"), "-..-etc-passwd");
        assert_eq!(file_stem(".obsidian"), "obsidian");
        assert_eq!(file_stem("CI/CD: build"), "CI-CD- build");
        assert_eq!(file_stem(""), "untitled");
        assert_eq!(file_stem(&"é".repeat(200)).len(), 120);
    }

    #[test]
    fn a_stem_never_ends_in_md() {
        assert_eq!(file_stem("notes.md"), "notes-md");
        assert_eq!(file_stem("NOTES.MD"), "NOTES-MD");
        assert_eq!(file_stem("x.md."), "x-md");
        assert_eq!(file_stem(".md"), "md");
        assert_eq!(file_stem("v1.2"), "v1.2");
        assert_eq!(file_stem("readme.mdx"), "readme.mdx");
        let long = format!("{}.md{}", "a".repeat(MAX_STEM - 3), "tail");
        assert!(!file_stem(&long).ends_with(".md"), "{}", file_stem(&long));
    }

    #[test]
    fn colliding_names_get_distinct_stems() {
        let mut stems = StemAllocator::default();
        assert_eq!(stems.allocate("CI/CD"), "CI-CD");
        assert_eq!(stems.allocate("CI:CD"), "CI-CD-2");
        assert_eq!(stems.allocate("ci-cd"), "ci-cd-3");
    }

    #[test]
    fn tags_and_labels_are_well_formed() {
        assert_eq!(tag("GCP CI/CD"), "GCP-CI/CD");
        assert_eq!(tag("2024"), "_2024");
        assert_eq!(label("a]] b|c"), "a)) b/c");
        assert_eq!(plain("evil]]|[[agent"), "evil))|((agent");
        assert_eq!(status_words("in_progress"), "in progress");
    }

    #[test]
    fn shortened_text_ends_at_a_word() {
        assert_eq!(shorten("Short title\nmore lines", 60), "Short title");
        assert_eq!(shorten("", 60), "");
        let cut = shorten("Add rate limiting to every public endpoint of the gateway service", 40);
        assert_eq!(cut, "Add rate limiting to every public…");
        assert!(cut.chars().count() <= 40);
        assert_eq!(shorten(&"x".repeat(50), 10), format!("{}…", "x".repeat(9)));
    }

    #[test]
    fn prose_keeps_its_links_but_not_stray_brackets() {
        assert_eq!(prose("See [[Roadmap]] and [[x|y]]."), "See [[Roadmap]] and [[x|y]].");
        assert_eq!(prose("Opened [[ and never closed"), "Opened \\[\\[ and never closed");
        assert_eq!(prose("closed ]] first, then [[a]]"), "closed \\]\\] first, then [[a]]");
        assert_eq!(prose("[[ [[a]]"), "\\[\\[ [[a]]");
        assert_eq!(prose("a]]|[[b"), "a\\]\\]|\\[\\[b");
    }
}
