//! What a regeneration is asked to do ([`Options`]) and what it did ([`Report`]): the
//! counts and names that `worksync_sync`, `worksync sync`, `/status` and the log show.

use serde::Serialize;

use crate::store::snapshot::ProjectView;

/// How many paths a report lists by name (the counts are always complete).
pub(crate) const LISTED: usize = 50;

/// What a run should do.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Re-render every note and compare it with the file on disk, not with our memory.
    pub full: bool,
    /// Take over files at generated paths that worksync did not write (migrating a vault
    /// the Python tool generated). Never the default.
    pub adopt: bool,
    /// Only this project's notes (and the global dashboard); `None` for all.
    pub project: Option<String>,
    /// Hand the `status`/`priority` changes people made in notes to the caller to apply
    /// (the server does; `worksync sync`, which cannot write the data root's items while
    /// the generator runs, reports them as waiting).
    pub apply_edits: bool,
}

/// What a run did.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Report {
    pub vault: String,
    pub full: bool,
    /// Notes the vault should hold.
    pub notes: usize,
    pub written: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// Up to 50 of the written and removed paths.
    pub written_paths: Vec<String>,
    pub removed_paths: Vec<String>,
    /// Files left alone because they are not (or no longer) what worksync wrote.
    pub kept: Vec<Kept>,
    /// Projects in scope whose notes were left as they are, because their work index does
    /// not parse or does not exist.
    pub skipped: Vec<Skipped>,
    /// Notes that could not be rendered or written, and folders it may not write to; their
    /// old versions stay.
    pub errors: Vec<String>,
    /// Problems with the user's template overrides.
    pub template_problems: Vec<String>,
    /// Entries of the vault manifest (or its intent log) that were ignored because they are
    /// not plain note paths inside the vault.
    pub manifest_problems: Vec<String>,
    /// Changes of `status`/`priority` people made in notes, applied (`path: what`).
    pub applied: Vec<String>,
    /// Such changes that were not applied, and why (the note says so too).
    pub refused: Vec<Kept>,
    /// Changes found in this run, for the caller to apply ([`Options::apply_edits`]).
    #[serde(skip)]
    pub edits: Vec<super::edits::FrontmatterEdit>,
    /// How long the run took, in whole milliseconds.
    pub millis: u64,
}

impl Report {
    /// Adds what a second pass of the same run did.
    pub(crate) fn absorb(&mut self, again: Report) {
        self.written += again.written;
        self.removed += again.removed;
        self.written_paths
            .extend(again.written_paths.into_iter().take(LISTED.saturating_sub(self.written_paths.len())));
        self.errors.extend(again.errors);
        self.refused.extend(again.refused);
        self.edits.extend(again.edits);
        self.millis += again.millis;
    }

    /// Did the run leave something that needs a person: a skipped project or an error?
    pub fn is_partial(&self) -> bool {
        !self.skipped.is_empty() || !self.errors.is_empty()
    }
}

/// A file the generator did not touch, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    pub path: String,
    pub reason: String,
}

/// A project whose notes a run left as they were, with where its work index went wrong.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub project: String,
    /// The work index that does not parse (or is missing).
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    pub reason: String,
}

impl Skipped {
    /// Why `project`, in the state `view`, has no current notes; `None` if it is loaded.
    pub(crate) fn of(project: &str, view: Option<&ProjectView>) -> Option<Skipped> {
        let project = project.to_string();
        match view {
            Some(ProjectView::Ready { .. }) => None,
            Some(ProjectView::Broken { problem, .. }) => Some(Skipped {
                project,
                file: problem.path.display().to_string(),
                line: Some(problem.line),
                column: Some(problem.column),
                reason: format!("does not parse: {}", problem.message),
            }),
            Some(ProjectView::Missing { path }) => Some(Skipped {
                project,
                file: path.display().to_string(),
                line: None,
                column: None,
                reason: "does not exist".into(),
            }),
            None => {
                Some(Skipped { project, file: String::new(), line: None, column: None, reason: "not loaded".into() })
            }
        }
    }

    /// `orbit-web (…/work-index.yaml line 3, column 5: does not parse: …)`.
    pub fn describe(&self) -> String {
        let at = match (self.line, self.column) {
            (Some(line), Some(column)) => format!(" line {line}, column {column}"),
            _ => String::new(),
        };
        format!("{} ({}{at}: {})", self.project, self.file, self.reason)
    }
}
