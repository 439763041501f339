//! Sharing a project's plan with other machines and teammates through a git remote.
//!
//! - [`git`]: the `git` command line as a child process that never prompts, never runs a
//!   hook or filter, never waits forever, and touches only the repository it is given.
//! - [`format`]: the plan format version a plan repository declares (`worksync/format`).
//! - [`claims`]: claims across machines, won by a compare-and-swap on a ref of the remote.
//! - [`commands`]: `worksync share` and `worksync join`.
//! - [`coordination`]: claims, releases and `next(claim)` in a shared project.
//! - [`driver`]: `worksync merge-driver`, git's merge driver for a person's clone of a
//!   plan: `work-index.yaml` item by item, the history archive as a union.
//! - [`repo`]: the bare repository a server keeps per shared project, and its remote.
//! - [`ids`]: story ids reserved on the remote (or machine-suffixed offline).
//! - [`machines`]: what travels beside the work index (priorities), one file per machine.
//! - [`plan_merge`]: the three-way merge of a whole plan, file by file.
//! - [`sync`]: one sync of a shared project (fetch, merge, apply, commit, push).
//! - [`status`]: what is shown of each shared project's sync, and its conflict log.
//! - [`supervisor`]: a running server's sync loops, one per shared project.
//! - [`setup`]: `worksync git-setup`, which registers that driver in a clone.

pub mod claims;
pub mod commands;
pub mod coordination;
pub mod driver;
pub mod format;
pub mod git;
pub mod ids;
pub mod machines;
pub mod plan_merge;
pub mod repo;
pub mod setup;
pub mod status;
pub mod supervisor;
pub mod sync;
