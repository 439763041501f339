//! One writer per data root: the lock that keeps a second server, or an offline writer such
//! as `worksync sync`, off a data root that another worksync process writes.
//!
//! Two servers on one root would each number the change journals on their own (duplicate
//! sequence numbers) and take each other's writes for hand edits. So every writer holds an
//! exclusive advisory lock (`flock`, through std's `File::try_lock`, on Linux and macOS
//! alike) on `<data root>/.worksync/lock` for as long as its [`RootLock`] lives. The kernel
//! releases it when the process dies, so even a `kill -9` leaves no stale lock. The file also
//! says who holds it (pid, command, and the address a server listens on) so that a refusal
//! can name the holder. It is never deleted: deleting a lock file races with a process that
//! has just opened it and would then lock a file nobody else can see.
//!
//! Why there: `.worksync/` is where worksync keeps machine state beside what it belongs to
//! (`projects/<name>/.worksync/`, `vault/.worksync/lock`), a hidden folder that editors,
//! Obsidian, the watcher and the Python tool leave alone; and a root holding only it still
//! counts as fresh (see [`Layout::is_fresh`]).
//!
//! Readers (`status`, `doctor`, `mcp-config`) never take it: every write replaces a file
//! atomically, so they read whole files while a server runs.

use std::fmt;
use std::fs::{File, TryLockError};
use std::io::{Seek, SeekFrom, Write};
use std::net::SocketAddr;

use super::atomic;
use super::error::StoreError;
use super::layout::Layout;

/// The command a lock holder runs, as the lock file records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `worksync serve`: the MCP server (and any test server).
    Serve,
    /// `worksync sync`: regenerates the vault offline.
    Sync,
    /// `worksync init`: creates what is missing of the data root.
    Init,
    /// `worksync share`, `join` or `pull` without a server: syncs a shared project.
    Share,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Serve => "serve",
            Role::Sync => "sync",
            Role::Init => "init",
            Role::Share => "share",
        }
    }
}

/// How long [`RootLock::acquire`] waits for a lock whose recorded holder has exited (a child
/// it was starting still shares the lock), and how often it looks again.
const GONE_HOLDER_GRACE: std::time::Duration = std::time::Duration::from_secs(3);
const GONE_HOLDER_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// The held lock of one data root; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct RootLock {
    file: File,
    layout: Layout,
    role: Role,
}

impl RootLock {
    /// Takes the data root's lock for `role` without waiting; if another process holds it,
    /// fails with [`StoreError::InUse`] naming that process. Creates the data root if needed.
    pub fn acquire(layout: &Layout, role: Role) -> Result<RootLock, StoreError> {
        let path = layout.lock_file();
        if let Some(dir) = path.parent() {
            atomic::create_dir_durable(dir)?;
        }
        // Never truncated on open: the holder's record must survive a rival's attempt.
        let file = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::io("open the lock file", &path, e))?;
        let mut waited_for_gone_holder = std::time::Duration::ZERO;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = Holder::parse(&std::fs::read_to_string(&path).unwrap_or_default());
                    // A holder that has died (`kill -9`) still holds the lock for as long as a
                    // child it was starting at that moment runs: between its fork and its exec
                    // the child shares the lock. That lasts milliseconds, so a restart right
                    // after a kill waits for it instead of naming a dead process.
                    if holder.has_exited() && waited_for_gone_holder < GONE_HOLDER_GRACE {
                        std::thread::sleep(GONE_HOLDER_POLL);
                        waited_for_gone_holder += GONE_HOLDER_POLL;
                        continue;
                    }
                    return Err(StoreError::InUse { root: layout.root().to_path_buf(), holder: holder.to_string() });
                }
                Err(TryLockError::Error(e)) => return Err(StoreError::io("lock", &path, e)),
            }
        }
        let lock = RootLock { file, layout: layout.clone(), role };
        lock.record(None)?;
        Ok(lock)
    }

    /// The address the process holding the lock listens on, if it recorded one (a running
    /// server): how commands find the server of a data root.
    pub fn holder_address(layout: &Layout) -> Option<SocketAddr> {
        Holder::parse(&std::fs::read_to_string(layout.lock_file()).ok()?).address
    }

    /// Adds the address the server listens on to the record, so a refused rival can say
    /// which port to look at.
    pub fn record_address(&self, address: SocketAddr) -> Result<(), StoreError> {
        self.record(Some(address))
    }

    /// The layout of the locked data root.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    fn record(&self, address: Option<SocketAddr>) -> Result<(), StoreError> {
        let mut text = format!("pid: {}\ncommand: {}\n", std::process::id(), self.role.name());
        if let Some(address) = address {
            text.push_str(&format!("address: {address}\n"));
        }
        // One small write at offset 0 after truncating: a rival reads the old record, the
        // new one or (in that instant) nothing, which it reports as an unnamed process.
        let mut file = &self.file;
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(text.as_bytes()))
            .map_err(|e| StoreError::io("record the holder in", self.layout.lock_file(), e))
    }
}

/// Who holds a data root's lock, as its file says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Holder {
    pid: Option<u32>,
    command: Option<String>,
    address: Option<SocketAddr>,
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let mut holder = Holder::default();
        for line in text.lines() {
            match line.split_once(": ") {
                Some(("pid", pid)) => holder.pid = pid.trim().parse().ok(),
                Some(("command", command)) => holder.command = Some(command.trim().to_string()),
                Some(("address", address)) => holder.address = address.trim().parse().ok(),
                _ => {}
            }
        }
        holder
    }
}

impl Holder {
    /// Whether the recorded holder is known to be gone (no process has its pid).
    fn has_exited(&self) -> bool {
        #[cfg(unix)]
        if let Some(pid) = self.pid.and_then(|pid| rustix::process::Pid::from_raw(pid as i32)) {
            return rustix::process::test_kill_process(pid) == Err(rustix::io::Errno::SRCH);
        }
        false
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(pid) = self.pid else {
            return write!(f, "another worksync process (it is starting and has not recorded its pid yet)");
        };
        write!(f, "worksync {} (pid {pid}", self.command.as_deref().unwrap_or("process"))?;
        if let Some(address) = self.address {
            write!(f, ", port {}, at http://{address}/mcp", address.port())?;
        }
        if self.has_exited() {
            write!(
                f,
                "; it has exited, but a process it started still holds the lock: `fuser -v` on the lock file names it"
            )?;
        }
        write!(f, ")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A second lock on a root is refused with the holder's pid and port; once the first is
    /// dropped the root can be locked again.
    #[test]
    fn second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("root"));
        let first = RootLock::acquire(&layout, Role::Serve).unwrap();
        first.record_address("127.0.0.1:48123".parse().unwrap()).unwrap();

        let refused = RootLock::acquire(&layout, Role::Sync).unwrap_err().to_string();
        assert!(refused.contains(&format!("pid {}", std::process::id())), "{refused}");
        assert!(refused.contains("port 48123"), "{refused}");
        assert!(refused.contains("worksync serve"), "{refused}");

        drop(first);
        let again = RootLock::acquire(&layout, Role::Sync).expect("free after the holder is gone");
        let record = std::fs::read_to_string(layout.lock_file()).unwrap();
        assert_eq!(record, format!("pid: {}\ncommand: sync\n", std::process::id()));
        drop(again);
    }

    /// A record that is empty or garbled still gives a readable refusal.
    #[test]
    fn unreadable_record_is_still_explained() {
        assert!(Holder::parse("").to_string().starts_with("another worksync process"));
        let me = std::process::id();
        let holder = Holder::parse(&format!("pid: {me}\ncommand: serve\naddress: nonsense\n"));
        assert_eq!(holder.to_string(), format!("worksync serve (pid {me})"));
    }

    /// The pid of a process that has exited.
    fn gone_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    /// A lock whose recorded holder has died (a child it was starting still shares the lock)
    /// is waited for, not refused in the name of a dead process; if it outlasts the wait,
    /// the refusal says the holder has exited and how to find who holds the lock.
    #[test]
    fn lock_of_an_exited_holder_is_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path().join("root"));
        let inherited = RootLock::acquire(&layout, Role::Serve).unwrap();
        let dead = gone_pid();
        std::fs::write(layout.lock_file(), format!("pid: {dead}\ncommand: serve\n")).unwrap();
        let released = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            drop(inherited);
        });
        RootLock::acquire(&layout, Role::Serve).expect("the lock is taken once the child lets go");
        released.join().unwrap();

        let told = Holder::parse(&format!("pid: {dead}\ncommand: serve\n")).to_string();
        assert!(told.contains("it has exited, but a process it started still holds the lock"), "{told}");
    }
}
