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
    Conflict { message: String, hint: String, current: serde_json::Value },

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
    #[error("failed to {action} `{path}`: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

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
            StoreError::Io { action, path, source } => StoreError::Io {
                action,
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            StoreError::Changed { path } => StoreError::Changed { path: path.clone() },
            StoreError::InUse { root, holder } => StoreError::InUse { root: root.clone(), holder: holder.clone() },
            StoreError::ShuttingDown => StoreError::ShuttingDown,
        }
    }
}

impl StoreError {
    /// Wraps an I/O error with what was being done to which file.
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StoreError::Io { action, path: path.into(), source }
    }

    /// A parse error of `path`, located where the YAML library says (1-based).
    pub fn parse(path: impl Into<PathBuf>, err: &serde_yaml_ng::Error) -> Self {
        let (line, column) = err.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        let message = err.to_string();
        // The library appends " at line L column C"; we already say where.
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_string(),
            None => message,
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
