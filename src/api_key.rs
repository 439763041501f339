//! The API key clients send as `Authorization: Bearer <key>`: where a run gets it, and the
//! key file that keeps it across restarts.
//!
//! `WORKSYNC_API_KEY` wins (`worksync.sh` puts 1Password's key there). Without it the key is
//! the one in the *key file*, `api-key` in the user's config directory (`~/.config/worksync/`
//! on Linux, `~/Library/Application Support/worksync/` on macOS, or `$WORKSYNC_CONFIG_DIR`),
//! made on first need and kept until `worksync key --rotate`. So a server started in the
//! background can be connected to (`worksync key --show` prints the key), and a restart does
//! not break the clients configured with it. The key file is outside the data root, which
//! people share through git and Obsidian.
//!
//! The key is never logged and never in a file others may read: the key file is created with
//! mode 0600 from the start (a temp file made private, then renamed into place), and a key
//! file that others may read is refused, with the command that fixes it.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The key file's name in the config directory.
const KEY_FILE_NAME: &str = "api-key";

/// Where a key in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// The `WORKSYNC_API_KEY` environment variable.
    Environment,
    /// The key file; `created` when this run made it.
    File { path: PathBuf, created: bool },
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Environment => write!(f, "WORKSYNC_API_KEY"),
            KeySource::File { path, created: false } => write!(f, "the key file {}", path.display()),
            KeySource::File { path, created: true } => write!(f, "the key file {} (created now)", path.display()),
        }
    }
}

/// The key file's path: `<config_dir>/api-key` if a directory is given (`WORKSYNC_CONFIG_DIR`),
/// else in the platform's config directory for worksync.
pub fn key_file(config_dir: Option<&Path>) -> anyhow::Result<PathBuf> {
    let dir = match config_dir {
        Some(dir) => dir.to_path_buf(),
        None => directories::ProjectDirs::from("", "", "worksync")
            .context("cannot find the home directory for the key file; set WORKSYNC_CONFIG_DIR or WORKSYNC_API_KEY")?
            .config_dir()
            .to_path_buf(),
    };
    Ok(dir.join(KEY_FILE_NAME))
}

/// Checks that `key` can travel in an HTTP header; `origin` names where it came from.
pub fn validate(key: &str, origin: &str) -> anyhow::Result<()> {
    if key.is_empty() {
        bail!("{origin} is empty");
    }
    if key.chars().any(|c| c.is_control() || c == ' ') {
        bail!("{origin} contains spaces or control characters; it must be usable in an HTTP header");
    }
    Ok(())
}

/// The key in the key file at `path`, or `None` if there is no key file. Refuses a key file
/// that other users may read, or that holds no usable key.
pub fn read(path: &Path) -> anyhow::Result<Option<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("could not read the key file {}", path.display())),
    };
    refuse_if_shared(path)?;
    let key = text.trim();
    validate(key, &format!("the key file {}", path.display()))
        .context("run `worksync key --rotate` to replace it with a new key")?;
    Ok(Some(key.to_string()))
}

/// The key file's key, creating the file with a new random key if there is none; `true`
/// when it was created now.
pub fn read_or_create(path: &Path) -> anyhow::Result<(String, bool)> {
    if let Some(key) = read(path)? {
        return Ok((key, false));
    }
    let key = random_key()?;
    match write_private(path, &key, false) {
        Ok(()) => Ok((key, true)),
        // Another process made it in the meantime: use theirs, as that process does.
        Err(e) if e.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::AlreadyExists) => {
            let key = read(path)?.with_context(|| format!("the key file {} vanished", path.display()))?;
            Ok((key, false))
        }
        Err(e) => Err(e.context(format!("could not create the key file {}", path.display()))),
    }
}

/// Replaces the key file (or creates it) with a new random key.
pub fn rotate(path: &Path) -> anyhow::Result<()> {
    write_private(path, &random_key()?, true)
}

/// Refuses a key file whose mode lets anyone but its owner in.
#[cfg(unix)]
fn refuse_if_shared(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode =
        std::fs::metadata(path).with_context(|| format!("could not inspect {}", path.display()))?.permissions().mode();
    if mode & 0o077 != 0 {
        bail!(
            "the key file {path} can be read by other users (mode {mode:03o}), so its key is not used. Make it \
             private with `chmod 600 {path}`, or replace the key with `worksync key --rotate` (then update your clients)",
            path = path.display(),
            mode = mode & 0o777
        );
    }
    Ok(())
}

/// Elsewhere the file's ACL is the platform's business.
#[cfg(not(unix))]
fn refuse_if_shared(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// Writes `key` to `path` through a temp file that is private (0600) from its creation, then
/// renamed into place: over an existing file if `replace`, else failing with `AlreadyExists`.
fn write_private(path: &Path, key: &str, replace: bool) -> anyhow::Result<()> {
    let dir = path.parent().context("the key file has no directory")?;
    create_private_dir(dir).with_context(|| format!("could not create {}", dir.display()))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".api-key.");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut temp = builder.tempfile_in(dir).with_context(|| format!("could not create a file in {}", dir.display()))?;
    temp.write_all(format!("{key}\n").as_bytes())
        .and_then(|()| temp.as_file().sync_all())
        .with_context(|| format!("could not write {}", path.display()))?;
    if replace {
        temp.persist(path).map_err(|e| e.error).with_context(|| format!("could not write {}", path.display()))?;
    } else {
        temp.persist_noclobber(path).map_err(|e| anyhow::Error::new(e.error))?;
    }
    Ok(())
}

/// Creates `dir` (and parents) readable by its owner only, if missing.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// 32 random bytes, hex-encoded.
fn random_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for an API key: {e}"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first read creates a private key file; later reads reuse it; rotating replaces it.
    #[test]
    fn created_once_reused_and_rotated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config/worksync").join(KEY_FILE_NAME);
        let (first, created) = read_or_create(&path).unwrap();
        assert!(created);
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        }
        assert_eq!(read_or_create(&path).unwrap(), (first.clone(), false));
        rotate(&path).unwrap();
        let rotated = read(&path).unwrap().unwrap();
        assert_ne!(rotated, first);
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temp file left");
    }

    /// A key file others may read is refused with the command that fixes it.
    #[cfg(unix)]
    #[test]
    fn shared_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        std::fs::write(&path, "0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let refused = format!("{:#}", read_or_create(&path).unwrap_err());
        assert!(
            refused.contains("mode 644") && refused.contains(&format!("chmod 600 {}", path.display())),
            "{refused}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read(&path).unwrap().as_deref(), Some("0123456789abcdef"));
    }

    /// An empty key file is refused, not taken as "no key".
    #[cfg(unix)]
    #[test]
    fn empty_key_file_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(KEY_FILE_NAME);
        std::fs::write(&path, "\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let refused = format!("{:#}", read(&path).unwrap_err());
        assert!(refused.contains("is empty") && refused.contains("worksync key --rotate"), "{refused}");
    }
}
