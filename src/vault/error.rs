//! What can go wrong in the vault, with what a person needs to fix it.
//!
//! A run fails as a whole only for the vault itself: its folder, its lock, its intent log or
//! its manifest. A note's own problem (a template that does not render, a file that cannot be
//! written) is not a failure: the run goes on and lists it in its [report](super::Report).
//! The server shows a failure in `/status` (`vault.last.failure`) and in `worksync_sync`'s
//! answer; `worksync sync` prints it.
//!
//! As in the store's errors, an underlying cause is part of the message, deliberately not the
//! error's `source()`: a printer of error chains (anyhow's `{:#}` in `main`) would print it
//! twice.

use std::path::PathBuf;

use crate::store::error::StoreError;

/// A failure of the vault.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The vault folder (or its `.worksync/`) cannot be created.
    #[error("cannot create the vault at {}: {cause}; check vault_path in config.yaml", vault.display())]
    Create { vault: PathBuf, cause: std::io::Error },

    /// `<vault>/.worksync/lock`, which keeps a server and `worksync sync` from writing the
    /// vault at once, cannot be opened or locked.
    #[error("cannot {action} {}: {cause}", path.display())]
    Lock { action: &'static str, path: PathBuf, cause: std::io::Error },

    /// The intents of a batch of notes cannot be made durable; the batch was not written.
    #[error(
        "cannot record the notes about to be written in {}: {cause}; they were not written (check that the disk \
         has space and the vault is writable)",
        path.display()
    )]
    Intent { path: PathBuf, cause: std::io::Error },

    /// The intent log cannot be emptied or rewritten after the manifest was saved.
    #[error("cannot update {}: {cause}", path.display())]
    Settle { path: PathBuf, cause: Box<dyn std::error::Error + Send + Sync> },

    /// The manifest, which proves which notes are worksync's, cannot be saved (the store's
    /// error names the file).
    #[error("{cause}")]
    Manifest { cause: StoreError },

    /// A template does not compile or render: the template (an override in `templates/` or
    /// a built-in one), the line when known, and what is wrong.
    #[error("{template}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Template { template: String, line: Option<usize>, message: String },

    /// An override in `templates/` cannot be read.
    #[error("templates/{name}: cannot be read ({cause})")]
    TemplateUnreadable { name: String, cause: std::io::Error },

    /// The thread that ran the generator ended without an answer (it panicked).
    #[error("the vault generator failed: {cause}")]
    Crashed { cause: String },

    /// A test's stand-in for a SIGKILL in the middle of a run.
    #[cfg(test)]
    #[error("simulated crash")]
    SimulatedCrash,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Layout, Snapshot};
    use crate::vault::{Generator, Options};

    /// A vault that cannot be created fails the run with the path and where to change it,
    /// and writes nothing.
    #[test]
    fn a_vault_that_cannot_be_created_names_its_path_and_vault_path() {
        let root = tempfile::tempdir().unwrap();
        let layout = Layout::new(root.path());
        layout.bootstrap().unwrap();
        let vault = root.path().join("in-the-way");
        std::fs::write(&vault, "a file where the vault should be").unwrap();
        let snapshot = Snapshot::read_only(&layout).unwrap();
        let mut generator = Generator::new(vault.clone(), &layout.templates_dir());
        let error = generator.run(&snapshot, &Options::default()).unwrap_err();
        assert!(matches!(&error, VaultError::Create { vault: at, .. } if *at == vault), "{error:?}");
        let message = error.to_string();
        assert!(message.contains(&vault.display().to_string()) && message.contains("vault_path"), "{message}");
        assert_eq!(std::fs::read_to_string(&vault).unwrap(), "a file where the vault should be");
    }
}
