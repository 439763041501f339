//! The architecture invariants of ARCHITECTURE.md that the compiler does not check: which
//! rooms may use which, read off the sources.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

/// The lines of the files under `src/<room>` that mention any of `forbidden`.
fn mentions(room: &str, forbidden: &[&str]) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(room);
    let mut found = Vec::new();
    for file in sources(&dir) {
        for (n, line) in std::fs::read_to_string(&file).unwrap().lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if forbidden.iter().any(|f| code.contains(f)) {
                found.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    found
}

/// The store knows nothing of MCP, HTTP or the rooms above it.
#[test]
fn the_store_imports_no_protocol_and_no_room_above_it() {
    let found =
        mentions("store", &["rmcp", "axum", "hyper", "crate::mcp", "crate::http", "crate::vault", "crate::share"]);
    assert!(found.is_empty(), "the store reaches out of its room:\n{}", found.join("\n"));
}

/// The vault knows nothing of MCP or HTTP.
#[test]
fn the_vault_imports_no_protocol() {
    let found = mentions("vault", &["rmcp", "axum", "hyper", "crate::mcp", "crate::http"]);
    assert!(found.is_empty(), "the vault reaches out of its room:\n{}", found.join("\n"));
}

/// git runs only through the safe runner in share/git.rs.
#[test]
fn git_runs_only_through_the_safe_runner() {
    let found: Vec<String> = ["store", "vault", "mcp", "http", "share"]
        .iter()
        .flat_map(|room| mentions(room, &["Command::new(\"git\")"]))
        .filter(|line| !line.contains("src/share/git.rs"))
        .collect();
    assert!(found.is_empty(), "git started outside share/git.rs:\n{}", found.join("\n"));
}
