//! What one run of the server needs to know, resolved and validated before any I/O.
//!
//! The CLI (flags and environment variables) produces raw values; [`ServeSettings::resolve`]
//! turns them into a ready-to-use configuration or an error that says which setting is
//! wrong. Nothing downstream re-reads the environment.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::api_key::{self, KeySource};
use crate::vault::SyncSettings;

/// Port of the Python tool, kept so existing client entries keep working.
pub const DEFAULT_PORT: u16 = 8321;

/// How clients must authenticate on `/mcp`.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer <token>` required; `source` says where the key came from.
    Bearer { token: String, source: KeySource },
    /// No authentication (`--no-auth` or `WORKSYNC_DEBUG=1`): development only.
    Disabled,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        match self {
            Auth::Bearer { source, .. } => f.debug_struct("Bearer").field("source", source).finish_non_exhaustive(),
            Auth::Disabled => write!(f, "Disabled"),
        }
    }
}

impl std::fmt::Display for Auth {
    /// What a log line says about auth: the mode and where the key came from, never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Bearer { source, .. } => write!(f, "bearer key from {source}"),
            Auth::Disabled => write!(f, "disabled"),
        }
    }
}

impl Auth {
    /// Auth for `serve`: disabled if asked, else the key from `WORKSYNC_API_KEY` if set, else
    /// the key file's key (in `config_dir` if given; created on first use, see
    /// [`crate::api_key`]).
    pub fn resolve(api_key: Option<String>, no_auth: bool, config_dir: Option<&Path>) -> anyhow::Result<Auth> {
        if no_auth {
            return Ok(Auth::Disabled);
        }
        match api_key.map(|k| k.trim().to_string()).filter(|k| !k.is_empty()) {
            Some(token) => {
                api_key::validate(&token, "WORKSYNC_API_KEY")?;
                Ok(Auth::Bearer { token, source: KeySource::Environment })
            }
            None => {
                let path = api_key::key_file(config_dir)?;
                let (token, created) = api_key::read_or_create(&path)?;
                Ok(Auth::Bearer { token, source: KeySource::File { path, created } })
            }
        }
    }
}

/// Settings of `worksync serve`.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub data_root: PathBuf,
    pub addr: SocketAddr,
    pub auth: Auth,
}

impl ServeSettings {
    /// Validates the raw values: the host must be an IP address, and a non-loopback one only
    /// with `allow_remote` and auth enabled (the server holds a team's plans).
    pub fn resolve(
        data_root: PathBuf,
        host: &str,
        port: u16,
        auth: Auth,
        allow_remote: bool,
    ) -> anyhow::Result<ServeSettings> {
        let ip: IpAddr = match host {
            "localhost" => IpAddr::from([127, 0, 0, 1]),
            other => other.parse().with_context(|| format!("WORKSYNC_HOST / --host '{other}' is not an IP address"))?,
        };
        if !ip.is_loopback() {
            if !allow_remote {
                bail!(
                    "refusing to listen on {ip}: it is reachable from other machines. Use 127.0.0.1, or pass --allow-remote (with auth enabled) if you really mean it"
                );
            }
            if matches!(auth, Auth::Disabled) {
                bail!("--allow-remote needs auth: set WORKSYNC_API_KEY and drop --no-auth / WORKSYNC_DEBUG");
            }
        }
        Ok(ServeSettings { data_root, addr: SocketAddr::new(ip, port), auth })
    }
}

/// How the vault follows changes: the flag or `WORKSYNC_AUTO_SYNC` if given, else
/// `settings.auto_sync` of config.yaml, else on; the debounce in seconds (0 to 1 hour).
pub fn sync_settings(auto_sync: Option<bool>, configured: Option<bool>, debounce: f64) -> anyhow::Result<SyncSettings> {
    if !(0.0..=3600.0).contains(&debounce) {
        bail!("WORKSYNC_SYNC_DEBOUNCE / --sync-debounce is {debounce}; give seconds between 0 and 3600 (default 2.0)");
    }
    Ok(SyncSettings { auto: auto_sync.or(configured).unwrap_or(true), debounce: Duration::from_secs_f64(debounce) })
}

/// The data root: the flag or `WORKSYNC_DATA_ROOT` if given, else `~/.worksync`.
pub fn data_root(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(path) if path.as_os_str().is_empty() => bail!("the data root path is empty"),
        Some(path) => Ok(expand_tilde(path)),
        None => {
            let dirs = directories::BaseDirs::new().context("cannot find the home directory; pass --data-root")?;
            Ok(dirs.home_dir().join(".worksync"))
        }
    }
}

fn expand_tilde(path: PathBuf) -> PathBuf {
    match path.to_str() {
        Some(s) if s == "~" || s.starts_with("~/") => crate::store::layout::expand_home(s),
        _ => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A non-loopback address needs both --allow-remote and auth.
    #[test]
    fn remote_binding_needs_consent_and_auth() {
        let key = || Auth::Bearer { token: "k".into(), source: KeySource::Environment };
        assert!(ServeSettings::resolve("/d".into(), "127.0.0.1", 1, Auth::Disabled, false).is_ok());
        assert!(ServeSettings::resolve("/d".into(), "0.0.0.0", 1, key(), false).is_err());
        assert!(ServeSettings::resolve("/d".into(), "0.0.0.0", 1, Auth::Disabled, true).is_err());
        assert!(ServeSettings::resolve("/d".into(), "0.0.0.0", 1, key(), true).is_ok());
        assert!(ServeSettings::resolve("/d".into(), "example.com", 1, key(), true).is_err());
    }

    /// The environment wins over config.yaml; nonsense debounces are refused.
    #[test]
    fn sync_settings_precedence() {
        assert!(sync_settings(None, None, 2.0).unwrap().auto);
        assert!(!sync_settings(None, Some(false), 2.0).unwrap().auto);
        assert!(sync_settings(Some(true), Some(false), 2.0).unwrap().auto);
        assert_eq!(sync_settings(None, None, 0.5).unwrap().debounce, Duration::from_millis(500));
        assert!(sync_settings(None, None, -1.0).is_err());
        assert!(sync_settings(None, None, f64::NAN).is_err());
    }

    /// No key configured means the key file's key (made on first use), not an open server;
    /// the environment wins over the file.
    #[test]
    fn key_sources() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("api-key");
        let config_dir = Some(dir.path());
        let Auth::Bearer { token, source } = Auth::resolve(None, false, config_dir).unwrap() else { panic!("no auth") };
        assert_eq!(source, KeySource::File { path: file.clone(), created: true });
        assert_eq!(std::fs::read_to_string(&file).unwrap(), format!("{token}\n"));
        let Auth::Bearer { token: again, source } = Auth::resolve(None, false, config_dir).unwrap() else { panic!() };
        assert_eq!((again, source), (token, KeySource::File { path: file.clone(), created: false }));
        let Auth::Bearer { token, source } = Auth::resolve(Some(" abc ".into()), false, config_dir).unwrap() else {
            panic!()
        };
        assert_eq!((token.as_str(), source), ("abc", KeySource::Environment));
        assert!(matches!(Auth::resolve(Some("abc".into()), true, config_dir).unwrap(), Auth::Disabled));
        assert!(Auth::resolve(Some("a b".into()), false, config_dir).is_err());
    }

    /// Log lines say in words where the key came from, never the key or Rust debug syntax.
    #[test]
    fn auth_reads_well_in_logs() {
        let file =
            Auth::Bearer { token: "secret".into(), source: KeySource::File { path: "/k".into(), created: true } };
        assert_eq!(file.to_string(), "bearer key from the key file /k (created now)");
        let env = Auth::Bearer { token: "secret".into(), source: KeySource::Environment };
        assert_eq!(env.to_string(), "bearer key from WORKSYNC_API_KEY");
        assert!(!format!("{env:?}").contains("secret"));
        assert_eq!(Auth::Disabled.to_string(), "disabled");
    }
}
