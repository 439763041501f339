//! The process's limit of open files, and the connection cap it allows.
//!
//! Every connection holds a file descriptor, and so do the writer's temp files, the change
//! journals, the watcher and the vault's notes. Linux starts a process with a soft limit of
//! 1,024 (macOS 256), a leftover of `select()`, which the server does not use: `serve` raises
//! it to the hard limit at start, and the connection cap is kept well under whatever limit is
//! in force, so a full house of connections never leaves the writer without a descriptor.

/// File descriptors kept free of client connections: the writer's temp files, the journals,
/// the watcher, the vault's notes, the listener, logs.
const RESERVED_FDS: u64 = 128;

/// The connection cap: as configured, but at most the open-file limit less what the rest of
/// the server needs, so a full house of connections never starves the writer of descriptors.
pub(crate) fn connection_cap(configured: usize, open_file_limit: Option<u64>) -> usize {
    let Some(limit) = open_file_limit else { return configured.max(1) };
    let available = limit.saturating_sub(RESERVED_FDS).max(limit / 4).max(1);
    configured.clamp(1, usize::try_from(available).unwrap_or(usize::MAX))
}

/// The soft limit of open files of this process, if the platform has one.
pub(crate) fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        rustix::process::getrlimit(rustix::process::Resource::Nofile).current
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Raises the soft limit of open files to the hard limit (at most 10,240 on macOS, its
/// `OPEN_MAX`, and 2^20 elsewhere, what kernels accept), so that the connection cap need not
/// be small; returns the limit now in force. The default soft limit (1,024 on Linux, 256 on
/// macOS) is a leftover of `select()`, which the server does not use.
pub(crate) fn raise_open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let ceiling: u64 = if cfg!(target_os = "macos") { 10_240 } else { 1 << 20 };
        let limit = getrlimit(Resource::Nofile);
        let wanted = limit.maximum.unwrap_or(ceiling).min(ceiling);
        if limit.current.is_some_and(|current| current < wanted) {
            let raised = Rlimit { current: Some(wanted), maximum: limit.maximum };
            if let Err(e) = setrlimit(Resource::Nofile, raised) {
                tracing::debug!(error = %e, wanted, "could not raise the open-file limit");
            }
        }
        open_file_limit()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap stays at the configured value with room to spare, shrinks to keep 128
    /// descriptors free under a low limit, and never reaches zero.
    #[test]
    fn cap_leaves_descriptors_for_the_server() {
        assert_eq!(connection_cap(512, Some(1_048_576)), 512);
        assert_eq!(connection_cap(512, Some(1024)), 512);
        assert_eq!(connection_cap(512, Some(256)), 128);
        assert_eq!(connection_cap(512, Some(100)), 25);
        assert_eq!(connection_cap(512, None), 512);
        assert_eq!(connection_cap(0, Some(1024)), 1);
    }
}
