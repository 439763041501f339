//! Sharing a project's plan with other machines and teammates through a git remote.
//!
//! - [`git`]: the `git` command line as a child process that never prompts, never runs a
//!   hook or filter, never waits forever, and touches only the repository it is given.
//! - [`format`]: the plan format version a plan repository declares (`worksync/format`).
//! - [`driver`]: `worksync merge-driver`, git's merge driver for a person's clone of a
//!   plan: `work-index.yaml` item by item, the history archive as a union.
//! - [`repo`]: the bare repository a server keeps per shared project, and its remote.
//! - [`setup`]: `worksync git-setup`, which registers that driver in a clone.

pub mod driver;
pub mod format;
pub mod git;
pub mod repo;
pub mod setup;
