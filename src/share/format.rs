//! The plan format version of a shared plan repository (`worksync/format`, one line).
//!
//! A later worksync may change what the plan files hold in a way this one would merge
//! wrongly. The repository says which format it is in, so an older worksync refuses to set
//! up or merge instead of guessing. A repository without the file is format 1 (the first
//! format had no file yet).

use std::path::Path;

/// Where the version is, relative to the repository's top.
pub const FORMAT_FILE: &str = "worksync/format";

/// The one plan format this worksync reads and merges.
pub const FORMAT_VERSION: &str = "1";

/// A plan repository in a format this worksync does not know.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "this plan repository is in plan format {found:?} ({FORMAT_FILE} {place}), but this worksync knows \
     format {FORMAT_VERSION} only: it is too old. Update worksync on this machine, then run the command again"
)]
pub struct UnknownFormat {
    /// The version the file holds.
    pub found: String,
    /// Where it was read: "in the work tree", "in commit 1a2b3c4".
    pub place: String,
}

/// Checks a version file's bytes; `place` says where they came from, for the error.
pub fn check(bytes: &[u8], place: &str) -> Result<(), UnknownFormat> {
    let found = String::from_utf8_lossy(bytes).trim().to_string();
    if found == FORMAT_VERSION {
        return Ok(());
    }
    Err(UnknownFormat { found, place: place.to_string() })
}

/// Checks the version file of the work tree at `top`; a missing file is format 1.
pub fn check_work_tree(top: &Path) -> Result<(), FormatProblem> {
    match std::fs::read(top.join(FORMAT_FILE)) {
        Ok(bytes) => check(&bytes, "in the work tree").map_err(FormatProblem::Unknown),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(FormatProblem::Unreadable(format!("could not read {}: {e}", top.join(FORMAT_FILE).display()))),
    }
}

/// Why a repository's format could not be accepted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum FormatProblem {
    /// A version this worksync does not know.
    #[error(transparent)]
    Unknown(#[from] UnknownFormat),
    /// The version file exists but cannot be read.
    #[error("{0}; fix its permissions, then run the command again")]
    Unreadable(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// "1" with or without a newline is known; anything else is refused, naming the version
    /// and saying that this worksync is too old.
    #[test]
    fn versions() {
        assert!(check(b"1\n", "here").is_ok());
        assert!(check(b" 1\r\n", "here").is_ok());
        let error = check(b"2\n", "in commit abc").unwrap_err().to_string();
        assert!(error.contains("\"2\"") && error.contains("too old") && error.contains("in commit abc"), "{error}");
        assert!(check(b"", "here").is_err(), "an emptied file is not format 1");
    }

    /// A work tree without the file is format 1; with an unknown one it is refused.
    #[test]
    fn work_tree_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(check_work_tree(dir.path()).is_ok());
        std::fs::create_dir(dir.path().join("worksync")).unwrap();
        std::fs::write(dir.path().join(FORMAT_FILE), "7\n").unwrap();
        assert!(matches!(check_work_tree(dir.path()), Err(FormatProblem::Unknown(_))));
    }
}
