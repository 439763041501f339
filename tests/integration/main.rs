//! Every integration test, in one binary: the crate and its dependencies are linked once, not
//! once per test file (35 links of a 200 MB debug binary each filled CI's disk). Each module is
//! one area of the product; `common` is the harness (the real server on an ephemeral loopback
//! port, real MCP clients, real files) and `git_lab` the git setup of the sharing tests.
//! Run one area with `cargo test --test integration vault::`.

mod common;
mod git_lab;

mod architecture;
mod board;
mod broken_files;
mod cli;
mod compat;
mod concurrency;
mod connections;
mod coordination;
mod crash;
mod dependencies;
mod done;
mod external_edits;
mod faults;
mod fidelity;
mod hand_saves;
mod hostile;
mod http;
mod ids;
mod merge_driver;
mod notice;
mod ops;
mod process;
mod project_names;
mod resources;
mod sessions;
mod sharing;
mod shutdown;
mod stale_saves;
mod tools;
mod vault;
mod vault_binary;
mod vault_links;
mod vault_render;
