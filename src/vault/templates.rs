//! The vault's minijinja templates: built into the binary, overridable file by file.
//!
//! A user who wants different notes drops a file with the same name into
//! `<data root>/templates/`. Templates are compiled once and again only when an override
//! changes (the generator asks on every run; that is one `readdir` and a `stat` per file).
//! A broken override never breaks the vault: its error names the file and line, and the
//! built-in template is used until it is fixed.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use include_dir::{Dir, include_dir};
use minijinja::value::ViaDeserialize;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};

use super::error::VaultError;

/// The built-in templates.
static BUILT_IN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The names every vault needs, in the order of the vault's layout.
pub const NAMES: [&str; 11] = [
    "global-dashboard.md",
    "project-dashboard.md",
    "sprint.md",
    "story.md",
    "backlog.md",
    "theme.md",
    "history.md",
    "guidance.md",
    "guidance-index.md",
    "project.base",
    "global.base",
];

/// The compiled templates, and what overrides they were compiled from.
pub struct Templates {
    env: Environment<'static>,
    overrides_dir: PathBuf,
    /// Name, length and mtime of every override file seen, to notice edits.
    fingerprint: Vec<(String, u64, Option<SystemTime>)>,
    /// Problems with the overrides: a template that does not compile, a file that is not a
    /// template name.
    pub problems: Vec<String>,
    /// Changes whenever the templates do, so that cached notes are re-rendered.
    pub generation: u64,
}

impl Templates {
    /// The built-in templates, overridden by those in `overrides_dir` (which may not exist).
    pub fn load(overrides_dir: &Path) -> Templates {
        let mut templates = Templates {
            env: Environment::new(),
            overrides_dir: overrides_dir.to_path_buf(),
            fingerprint: Vec::new(),
            problems: Vec::new(),
            generation: 0,
        };
        templates.compile();
        templates
    }

    /// Recompiles if an override file was added, changed or removed since the last call;
    /// returns whether it did.
    pub fn refresh(&mut self) -> bool {
        if scan(&self.overrides_dir) == self.fingerprint {
            return false;
        }
        self.compile();
        self.generation += 1;
        true
    }

    /// Renders `name` with `context` (plus `project`, if given); an error names the
    /// template and the line.
    pub fn render(
        &self,
        name: &str,
        project: Option<&impl serde::Serialize>,
        context: &impl serde::Serialize,
    ) -> Result<String, VaultError> {
        let template = self.env.get_template(name).map_err(|e| describe(&e, &self.overrides_dir))?;
        let context = match project {
            Some(project) => {
                minijinja::context! { project => Value::from_serialize(project), ..Value::from_serialize(context) }
            }
            None => Value::from_serialize(context),
        };
        template.render(context).map_err(|e| describe(&e, &self.overrides_dir))
    }

    fn compile(&mut self) {
        self.fingerprint = scan(&self.overrides_dir);
        self.problems.clear();
        let mut env = environment();
        for file in BUILT_IN.files() {
            let name = file.path().to_string_lossy().into_owned();
            let source = file.contents_utf8().expect("built-in templates are UTF-8").to_string();
            env.add_template_owned(name, source).expect("built-in templates compile (tested)");
        }
        for (name, _, _) in &self.fingerprint {
            if !NAMES.contains(&name.as_str()) {
                self.problems.push(format!(
                    "templates/{name} is not a vault template and is ignored (templates: {})",
                    NAMES.join(", ")
                ));
                continue;
            }
            let path = self.overrides_dir.join(name);
            let compiled = std::fs::read_to_string(&path)
                .map_err(|cause| VaultError::TemplateUnreadable { name: name.clone(), cause })
                .and_then(|source| {
                    env.add_template_owned(name.clone(), source).map_err(|e| describe(&e, &self.overrides_dir))
                });
            if let Err(problem) = compiled {
                self.problems.push(format!("{problem}; using the built-in {name} until it is fixed"));
                let built_in = BUILT_IN.get_file(name).and_then(|f| f.contents_utf8()).unwrap_or_default();
                env.add_template_owned(name.clone(), built_in.to_string())
                    .expect("built-in templates compile (tested)");
            }
        }
        self.env = env;
    }
}

/// The override files in `dir`: name, length, mtime; sorted.
fn scan(dir: &Path) -> Vec<(String, u64, Option<SystemTime>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<_> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let meta = entry.metadata().ok().filter(|m| m.is_file())?;
            (!name.starts_with('.')).then(|| (name, meta.len(), meta.modified().ok()))
        })
        .collect();
    files.sort();
    files
}

/// `templates/<name>:<line>: <what>`: where to look, in the user's terms.
fn describe(error: &Error, overrides_dir: &Path) -> VaultError {
    let name = error.name().unwrap_or("?");
    let origin = if overrides_dir.join(name).is_file() { "templates/" } else { "built-in template " };
    let detail = error.detail().map(|d| format!(": {d}")).unwrap_or_default();
    VaultError::Template {
        template: format!("{origin}{name}"),
        line: error.line(),
        message: format!("{}{detail}", error.kind()),
    }
}

/// The environment with the filters our templates use.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    // Printing a name that does not exist is a template bug worth reporting; testing one in
    // an `if` is fine.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.add_filter("yaml", yaml_filter);
    env.add_filter("link", link_filter);
    env.add_filter("cell", cell_filter);
    env.add_filter("oneline", oneline_filter);
    env.add_filter("plain", |text: &str| super::names::plain(text));
    env.add_filter("status", |text: &str| super::names::status_words(text));
    env.add_filter("title", |text: &str| super::names::shorten(text, super::notes::TITLE_CHARS).into_owned());
    env.add_filter("when", when_filter);
    env.add_filter("wikilink", wikilink_filter);
    env.add_filter("wikilinks", wikilinks_filter);
    env.add_filter("quoted", |text: &str| serde_json::Value::String(text.to_string()).to_string());
    env.add_filter("prose", |text: &str| super::names::prose(text));
    env
}

/// A frontmatter value: a scalar, plain when YAML reads it back as the same string and
/// quoted otherwise, or a flow list of such scalars.
fn yaml_filter(value: ViaDeserialize<serde_json::Value>) -> String {
    yaml_scalar(&value.0)
}

fn yaml_scalar(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) if is_plain_safe(s) => s.clone(),
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(yaml_scalar).collect::<Vec<_>>().join(", "))
        }
        // JSON is YAML: a JSON string is a valid double-quoted YAML scalar.
        other => other.to_string(),
    }
}

/// Would YAML read `s`, written plain (also inside a flow list), as this very string?
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    let reserved = ["true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"];
    first.is_alphabetic()
        && s.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '/' | '.' | ' '))
        && !s.ends_with(' ')
        && !reserved.contains(&s.to_ascii_lowercase().as_str())
}

/// `[[note|label]]` for anything with a `note` and a `label`; just the label when there is
/// no note to link to.
fn link_filter(value: Value) -> Result<String, Error> {
    let label = value.get_attr("label")?;
    if label.is_undefined() {
        return Err(Error::new(ErrorKind::InvalidOperation, "link needs an object with a label (and a note)"));
    }
    let note = value.get_attr("note")?;
    if note.is_none() || note.is_undefined() { Ok(label.to_string()) } else { Ok(format!("[[{note}|{label}]]")) }
}

/// The first line of a text, cut at a word to 80 characters with an ellipsis: a summary
/// for lists.
fn oneline_filter(text: &str) -> String {
    super::names::shorten(text, 80).into_owned()
}

/// A time as a person reads it: `2026-11-21T10:15:00Z` → `2026-11-21 10:15 UTC`.
fn when_filter(value: Value) -> String {
    let text = value.to_string();
    match chrono::DateTime::parse_from_rfc3339(&text) {
        Ok(time) => time.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => text,
    }
}

/// A link property's value for the frontmatter: `"[[note|label]]"` (quoted, as YAML needs),
/// or the label as a quoted string when there is no note.
fn wikilink_filter(value: Value) -> Result<String, Error> {
    Ok(serde_json::Value::String(link_filter(value)?).to_string())
}

/// A list of link properties: `["[[a|A]]", "[[b|B]]"]`.
fn wikilinks_filter(values: Value) -> Result<String, Error> {
    let links: Result<Vec<String>, Error> = values.try_iter()?.map(wikilink_filter).collect();
    Ok(format!("[{}]", links?.join(", ")))
}

/// Text that fits in one Markdown table cell.
fn cell_filter(value: Value) -> String {
    value.to_string().replace('\n', " ").replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_read_back_as_the_same_string() {
        for text in ["in_progress", "STORY-1", "yes", "2026-01-01", "a: b", "", "x #y", "-a", "12", "Null", "[x]"] {
            let line = format!("k: {}", yaml_scalar(&serde_json::json!(text)));
            let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&line).unwrap();
            assert_eq!(parsed["k"].as_str(), Some(text), "{line}");
        }
        let line = format!("k: {}", yaml_scalar(&serde_json::json!(["a b", "c,d", "true"])));
        let parsed: serde_yaml_ng::Value = serde_yaml_ng::from_str(&line).unwrap();
        assert_eq!(parsed["k"][1].as_str(), Some("c,d"));
        assert_eq!(parsed["k"][2].as_str(), Some("true"));
    }

    #[test]
    fn every_built_in_template_compiles() {
        let templates = Templates::load(Path::new("/nonexistent"));
        assert!(templates.problems.is_empty());
        for name in NAMES {
            assert!(templates.env.get_template(name).is_ok(), "{name}");
        }
        assert_eq!(BUILT_IN.files().count(), NAMES.len(), "templates/ holds exactly the vault templates");
    }

    #[test]
    fn a_broken_override_is_reported_with_its_line_and_the_built_in_is_used() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("story.md"), "ok\n{% if %}\n").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "stray").unwrap();
        let mut templates = Templates::load(dir.path());
        assert_eq!(templates.problems.len(), 2, "{:?}", templates.problems);
        assert!(
            templates.problems.iter().any(|p| p.starts_with("templates/story.md:2: syntax error")),
            "{:?}",
            templates.problems
        );
        assert!(templates.problems.iter().any(|p| p.contains("notes.txt is not a vault template")));
        assert!(templates.env.get_template("story.md").unwrap().source().contains("type: story"));
        assert!(!templates.refresh(), "nothing changed");
        std::fs::write(dir.path().join("story.md"), "fixed {{ story.id }}\n").unwrap();
        std::fs::remove_file(dir.path().join("notes.txt")).unwrap();
        assert!(templates.refresh());
        assert!(templates.problems.is_empty());
        let out = templates.render("story.md", None::<&()>, &serde_json::json!({"story": {"id": "STORY-9"}})).unwrap();
        assert_eq!(out, "fixed STORY-9\n");
        let error = templates.render("story.md", None::<&()>, &serde_json::json!({})).unwrap_err().to_string();
        assert!(error.starts_with("templates/story.md:1: undefined value"), "{error}");
    }
}
