//! The YAML codec: files people edit by hand, read and written so that a change touches only
//! the text of what changed.
//!
//! - [`Document`] (`document.rs`) is one owned file: its text, its parsed value, the stamp it
//!   was read at. A write edits the old text; nothing else in the store writes YAML.
//! - `splice.rs` and `reduce.rs` edit the changed run of a list in place, at the cost of the
//!   change (an append, one item's status at 5,000 items);
//! - `walker.rs` edits the changed entries of a whole document, proving each edit locally
//!   (`matching.rs`: how it pairs old and new items and reads an entry's key);
//! - `render.rs` chooses between them and rewrites the document whole when neither applies;
//! - `aliases.rs` handles documents that share values (anchors, aliases, merge keys), which
//!   are proved whole instead of piece by piece;
//! - `scalars.rs` serializes fragments so that every string reads back as a string in YAML
//!   1.1 (PyYAML) too.
//!
//! Outside this folder the store uses [`Document`], [`parse`] and what the merge needs to
//! write a merged value from a common version's text.

mod aliases;
mod document;
mod matching;
mod reduce;
mod render;
mod scalars;
mod splice;
mod walker;

pub(crate) use aliases::{is_linked, render as render_linked};
pub(crate) use document::{Document, Reduce, parse, with_line_endings_of};
pub(crate) use render::{full_render, leading_comments, render};
pub(crate) use walker::patch_document;
