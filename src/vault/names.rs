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
/// Windows or Obsidian links reject, no leading dot (hidden), never empty.
pub fn file_stem(name: &str) -> String {
    let mut stem: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' | '#' | '^' | '[' | ']' => '-',
            c if c.is_control() => '-',
            c => c,
        })
        .collect();
    stem = stem.trim_start_matches(['.', ' ']).trim_end_matches(['.', ' ']).to_string();
    if stem.len() > MAX_STEM {
        let mut end = MAX_STEM;
        while !stem.is_char_boundary(end) {
            end -= 1;
        }
        stem.truncate(end);
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
    }
}
