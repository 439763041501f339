//! What can go wrong in the store, with the context an agent or a person needs to fix it.
//!
//! Each variant carries what the reader must know to act: the file, line and column of a
//! parse error; the ids that do exist when one is missing; the next free id when one is taken.
//! The MCP layer turns these into tool errors (`hint` says what to do next), the CLI prints
//! them; neither has to invent context the store already had.

use std::path::PathBuf;

/// A failure of a store operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No project of that name in `config.yaml`.
    #[error("Project '{name}' not found. Available: {available}")]
    ProjectNotFound { name: String, available: String },

    /// The project is registered but its `work-index.yaml` is missing.
    #[error("work-index.yaml not found for project '{project}' (expected at {path})")]
    IndexMissing { project: String, path: PathBuf },

    /// A YAML file the server must read does not parse (or does not have the expected shape).
    #[error("{path}:{line}:{column}: {message}")]
    Parse { path: PathBuf, line: usize, column: usize, message: String },

    /// An item (sprint, story, backlog item…) does not exist.
    #[error("{kind} '{id}' not found{scope}")]
    NotFound { kind: &'static str, id: String, scope: String, hint: String },

    /// An item with that id already exists.
    #[error("{message}")]
    Duplicate { message: String, hint: String, suggestion: Option<String> },

    /// The item changed since the agent read it (`expected_rev` is stale).
    #[error("{message}")]
    Conflict { message: String, hint: String, current: Option<Box<crate::store::outcome::Item>> },

    /// The item depends on others that are not done (work on it would start too early).
    #[error("{message}")]
    Blocked { message: String, hint: String, blocked_by: Vec<String> },

    /// Another agent holds a live claim on the item.
    #[error("{message}")]
    Held { message: String, hint: String, holder: String, until: chrono::DateTime<chrono::Utc> },

    /// An argument has a value the store does not accept.
    #[error("Invalid {field}: {message}")]
    Invalid { field: &'static str, message: String, hint: String },

    /// Nothing matches what was asked for (e.g. no guidance for a topic).
    #[error("{message}")]
    Unavailable { message: String, hint: String },

    /// A file could not be read or written; nothing was changed.
    ///
    /// The cause is part of the message, so it is deliberately not also the error's
    /// `source()`: a printer of error chains (anyhow's `{:#}` in `main`) would print it twice.
    #[error("failed to {action} `{path}`: {cause}")]
    Io { action: &'static str, path: PathBuf, cause: std::io::Error },

    /// The file changed on disk while a write was being prepared; nothing was written.
    #[error("`{path}` was changed by someone else during the write; nothing was written")]
    Changed { path: PathBuf },

    /// Another worksync process writes this data root (it holds the root's lock).
    #[error(
        "the data root `{root}` is in use by {holder}; only one worksync process may write a data root at a time. \
         Wait for it to finish or stop it (`./worksync.sh stop`, or `kill` that pid), or use another --data-root"
    )]
    InUse { root: PathBuf, holder: String },

    /// The writer is gone (the server is shutting down).
    #[error("the server is shutting down; the change was not made")]
    ShuttingDown,
}

impl Clone for StoreError {
    /// One failed batch write answers every mutation in it; `io::Error` is not `Clone`, so
    /// its copy keeps the kind and message.
    fn clone(&self) -> Self {
        match self {
            StoreError::ProjectNotFound { name, available } => {
                StoreError::ProjectNotFound { name: name.clone(), available: available.clone() }
            }
            StoreError::IndexMissing { project, path } => {
                StoreError::IndexMissing { project: project.clone(), path: path.clone() }
            }
            StoreError::Parse { path, line, column, message } => {
                StoreError::Parse { path: path.clone(), line: *line, column: *column, message: message.clone() }
            }
            StoreError::NotFound { kind, id, scope, hint } => {
                StoreError::NotFound { kind, id: id.clone(), scope: scope.clone(), hint: hint.clone() }
            }
            StoreError::Duplicate { message, hint, suggestion } => {
                StoreError::Duplicate { message: message.clone(), hint: hint.clone(), suggestion: suggestion.clone() }
            }
            StoreError::Invalid { field, message, hint } => {
                StoreError::Invalid { field, message: message.clone(), hint: hint.clone() }
            }
            StoreError::Conflict { message, hint, current } => {
                StoreError::Conflict { message: message.clone(), hint: hint.clone(), current: current.clone() }
            }
            StoreError::Held { message, hint, holder, until } => {
                StoreError::Held { message: message.clone(), hint: hint.clone(), holder: holder.clone(), until: *until }
            }
            StoreError::Unavailable { message, hint } => {
                StoreError::Unavailable { message: message.clone(), hint: hint.clone() }
            }
            StoreError::Io { action, path, cause } => StoreError::Io {
                action,
                path: path.clone(),
                cause: std::io::Error::new(cause.kind(), cause.to_string()),
            },
            StoreError::Blocked { message, hint, blocked_by } => {
                StoreError::Blocked { message: message.clone(), hint: hint.clone(), blocked_by: blocked_by.clone() }
            }
            StoreError::Changed { path } => StoreError::Changed { path: path.clone() },
            StoreError::InUse { root, holder } => StoreError::InUse { root: root.clone(), holder: holder.clone() },
            StoreError::ShuttingDown => StoreError::ShuttingDown,
        }
    }
}

impl StoreError {
    /// Wraps an I/O error with what was being done to which file.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        StoreError::Io { action, path: path.into(), cause: without_temp_path(cause) }
    }

    /// A parse error of `path`, located where the mistake is (1-based).
    ///
    /// libyaml reports where it gave up, which for a `[`, `{` or quote that is never
    /// closed is the next token, often a line or more later; the mistake is where the
    /// construct opened, which the message names as its context. Elsewhere the parser's
    /// position is the mistake's.
    pub fn parse(path: impl Into<PathBuf>, err: &serde_yaml_ng::Error) -> Self {
        let full = err.to_string();
        let (head, context) = match full.split_once(", while ") {
            Some((head, context)) => (head, Some(split_location(context))),
            None => (full.as_str(), None),
        };
        let (problem, stated) = split_location(head);
        let (line, column) = err.location().map(|l| (l.line(), l.column())).or(stated).unwrap_or((1, 1));
        let (line, column, message) = match context {
            None => (line, column, problem.to_string()),
            Some((context, at)) => match (unclosed(context), at) {
                (Some(what), Some((opened_line, opened_column))) => (
                    opened_line,
                    opened_column,
                    format!("this {what} is never closed ({problem} at line {line} column {column})"),
                ),
                _ => {
                    let at = at.map(|(l, c)| format!(" at line {l} column {c}")).unwrap_or_default();
                    (line, column, format!("{problem}, while {context}{at}"))
                }
            },
        };
        StoreError::Parse { path: path.into(), line, column, message }
    }

    /// An invalid argument with a hint on what to send instead.
    pub fn invalid(field: &'static str, message: impl Into<String>, hint: impl Into<String>) -> Self {
        StoreError::Invalid { field, message: message.into(), hint: hint.into() }
    }

    /// What the caller should do next, when there is something to say beyond the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            StoreError::ProjectNotFound { .. } => Some(
                "Call worksync_projects to list registered projects, or worksync_register_project to add one."
                    .into(),
            ),
            StoreError::IndexMissing { .. } => Some(
                "Restore the file (e.g. from git), or unregister and register the project again.".into(),
            ),
            StoreError::Parse { .. } => Some(
                "The file was not changed. Fix the YAML at the given line and column (or ask the human who edited it), then retry."
                    .into(),
            ),
            StoreError::NotFound { hint, .. }
            | StoreError::Duplicate { hint, .. }
            | StoreError::Invalid { hint, .. }
            | StoreError::Conflict { hint, .. }
            | StoreError::Held { hint, .. }
            | StoreError::Blocked { hint, .. }
            | StoreError::Unavailable { hint, .. } => {
                (!hint.is_empty()).then(|| hint.clone())
            }
            StoreError::Io { .. } => Some("Nothing was changed. Check disk space and permissions, then retry.".into()),
            StoreError::Changed { .. } => Some("Retry: the change is applied on top of the new version.".into()),
            StoreError::InUse { .. } => Some("Stop the other worksync process, or use another data root.".into()),
            StoreError::ShuttingDown => Some("Retry once the server is back.".into()),
        }
    }
}

/// tempfile adds the temp file's random name to its errors (`… at path "/x/.config.yaml.a1B2.worksync-tmp"`);
/// the message already names the file being written, so only the cause is kept.
fn without_temp_path(cause: std::io::Error) -> std::io::Error {
    if cause.get_ref().is_none() {
        return cause;
    }
    let text = cause.to_string();
    match text.split_once(" at path \"") {
        Some((plain, _)) => std::io::Error::new(cause.kind(), plain.to_string()),
        None => cause,
    }
}

/// `text` without its trailing " at line L column C", and that position.
fn split_location(text: &str) -> (&str, Option<(usize, usize)>) {
    let Some(at) = text.rfind(" at line ") else { return (text, None) };
    let position = text[at + " at line ".len()..].split_once(" column ");
    match position.map(|(line, column)| (line.parse(), column.parse())) {
        Some((Ok(line), Ok(column))) => (&text[..at], Some((line, column))),
        _ => (text, None),
    }
}

/// What a parser context that ended unclosed had opened (libyaml's own wording).
fn unclosed(context: &str) -> Option<&'static str> {
    match context {
        "parsing a flow sequence" => Some("'['"),
        "parsing a flow mapping" => Some("'{'"),
        "scanning a quoted scalar" => Some("quote"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::WorkIndex;
    use crate::store::yaml::parse;

    /// The location and message of the parse error of `text`.
    fn parse_error(text: &str) -> (usize, usize, String) {
        match parse::<WorkIndex>(std::path::Path::new("w.yaml"), text) {
            Err(StoreError::Parse { line, column, message, .. }) => (line, column, message),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    /// A temp file that cannot be created is reported with its cause once, both in the
    /// message agents get and in the chain `main` prints with `{:#}`.
    #[test]
    fn io_error_names_its_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("missing/config.yaml");
        let error = crate::store::atomic::write_atomic(&target, b"x").unwrap_err();
        let expected = format!(
            "failed to create a temp file next to `{}`: No such file or directory (os error 2)",
            target.display()
        );
        assert_eq!(error.to_string(), expected);
        assert_eq!(format!("{:#}", anyhow::Error::from(error.clone())), expected);
        assert_eq!(
            format!("{:#}", anyhow::Error::from(error).context("could not load the data root")),
            format!("could not load the data root: {expected}")
        );
    }

    /// A `[` that is never closed is reported where it opens (line 23, column 10 of the
    /// fixture edit), not on the next line where the parser gave up; the same for `{` and
    /// quotes. Other errors keep the parser's position, and a message never repeats it.
    #[test]
    fn parse_errors_point_at_the_mistake() {
        let fixture = include_str!("../../tests/fixtures/python-root/projects/legacy-app/work-index.yaml");
        let broken = fixture.replace("  title: Portal Payments\n", "  title: [Portal Payments\n");
        let (line, column, message) = parse_error(&broken);
        assert_eq!((line, column), (23, 10), "{message}");
        assert_eq!(message, "this '[' is never closed (did not find expected ',' or ']' at line 24 column 7)");

        let (line, column, message) = parse_error("sprints:\n- id: a\n  title: {x\n  file: y\nbacklog: []\n");
        assert_eq!(
            (line, column, message.as_str()),
            (3, 10, "this '{' is never closed (did not find expected ',' or '}' at line 4 column 7)")
        );
        let (line, column, message) = parse_error("sprints:\n- id: a\n  title: 'x\n  file: y\nbacklog: []\n");
        assert_eq!(
            (line, column, message.as_str()),
            (3, 10, "this quote is never closed (found unexpected end of stream at line 6 column 1)")
        );
        let (line, column, message) = parse_error("sprints:\n  - id: a\n    title: x\n   bad: 1\n");
        assert_eq!(
            (line, column, message.as_str()),
            (4, 4, "did not find expected '-' indicator, while parsing a block collection at line 2 column 3")
        );
        let (line, column, message) = parse_error("sprints:\n- id: a\n  stories:\n  - status: done\n");
        assert_eq!((line, column, message.as_str()), (4, 5, "sprints[0].stories[0]: missing field `id`"));
    }
}
