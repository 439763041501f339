//! Sharing a project's plan with other machines and teammates through a git remote.
//!
//! - [`git`]: the `git` command line as a child process that never prompts, never runs a
//!   hook or filter, never waits forever, and touches only the bare repository it is given.

pub mod git;
