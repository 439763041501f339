//! The real binary as separate processes: one writer per data root (the lock), and the API
//! key of a server started in the background (the key file).
//!
//! Self-contained on purpose (no `common` harness): every process here is the real
//! `worksync` binary, with its own data root and its own config directory for the key file,
//! so nothing touches the real home directory.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a process may take to get ready or to exit.
const LIMIT: Duration = Duration::from_secs(30);

fn worksync(config_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_worksync"));
    command.env("WORKSYNC_CONFIG_DIR", config_dir).env_remove("WORKSYNC_API_KEY").env_remove("WORKSYNC_DEBUG");
    command
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// A `worksync serve` child, its address once ready, and every line it logged so far.
struct Server {
    child: Child,
    port: u16,
    log: Arc<Mutex<Vec<String>>>,
    /// The threads reading its stderr and stdout; they end when the process has exited.
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts `worksync serve --port 0` on `root` (stdout not a terminal, as under nohup) and
    /// waits for "worksync is ready".
    fn start(root: &Path, config_dir: &Path, api_key: Option<&str>) -> Server {
        let mut command = worksync(config_dir);
        command.args(["--log-format", "json", "--data-root"]).arg(root).args(["serve", "--port", "0"]);
        if let Some(key) = api_key {
            command.env("WORKSYNC_API_KEY", key);
        }
        let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start worksync");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let mut readers = Vec::new();
        for stream in [
            Box::new(child.stderr.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stdout.take().unwrap()),
        ] {
            let (log, ready_tx) = (log.clone(), ready_tx.clone());
            readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(entry) = serde_json::from_str::<Value>(&line)
                        && entry["fields"]["message"] == "worksync is ready"
                    {
                        let _ = ready_tx.send(entry["fields"]["url"].as_str().unwrap_or_default().to_string());
                    }
                    log.lock().unwrap().push(line);
                }
            }));
        }
        let url = ready.recv_timeout(LIMIT).unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("the server was not ready within {LIMIT:?}; it logged:\n{}", log.lock().unwrap().join("\n"))
        });
        let port = url.trim_end_matches("/mcp").rsplit(':').next().unwrap().parse().unwrap();
        Server { child, port, log, readers }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) -> String {
        let status = Command::new("kill").arg("-TERM").arg(self.pid().to_string()).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + LIMIT;
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "the server did not stop within {LIMIT:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The pipes close with the process: the readers end once they have taken the last lines.
        for reader in self.readers.drain(..) {
            reader.join().expect("a log reader");
        }
        self.log()
    }

    /// The HTTP status of an MCP `initialize` sent with `key` (None: no Authorization header).
    async fn initialize_status(&self, key: Option<&str>) -> u16 {
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"process-test","version":"1"}}}"#;
        let mut request = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/mcp", self.port))
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(body);
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        request.send().await.expect("the server answers").status().as_u16()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A data root made by `worksync init`, and a private config directory for the key file.
fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let (root, config) = (dir.path().join("root"), dir.path().join("config"));
    let init = worksync(&config).arg("--data-root").arg(&root).arg("init").output().unwrap();
    assert!(init.status.success(), "{}", text(&init));
    (dir, root, config)
}

/// Runs `command` to its end, at most `LIMIT` (a second server that wrongly starts would
/// otherwise run forever).
fn run_bounded(command: &mut Command) -> Output {
    let mut child = command.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = Instant::now() + LIMIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let output = child.wait_with_output().unwrap();
            panic!("still running after {LIMIT:?} (it should have been refused):\n{}", text(&output));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A second `worksync serve` on a data root a server already writes exits non-zero, naming
/// the first one's pid and port; readers (status, doctor, mcp-config) keep working.
#[test]
fn second_server_on_one_root_is_refused() {
    let (_dir, root, config) = setup();
    let first = Server::start(&root, &config, Some("key-one-2718"));
    let second = run_bounded(
        worksync(&config).arg("--data-root").arg(&root).args(["serve", "--port", "0"]).env("WORKSYNC_API_KEY", "k"),
    );
    assert!(!second.status.success(), "{}", text(&second));
    let message = text(&second);
    assert!(message.contains(&format!("pid {}", first.pid())), "{message}");
    assert!(message.contains(&format!("port {}", first.port)), "{message}");
    assert!(message.contains("in use"), "{message}");

    for reader in [vec!["status"], vec!["mcp-config", "all"], vec!["doctor", "--port", &first.port.to_string()]] {
        let output = worksync(&config).arg("--data-root").arg(&root).args(&reader).output().unwrap();
        assert!(output.status.success(), "{reader:?} beside a running server: {}", text(&output));
    }
}

/// `worksync sync` (an offline writer) is refused while a server writes the data root, with
/// what to do instead; `init` with nothing to add still runs beside the server, and `init`
/// with files to add is refused.
#[test]
fn offline_writers_are_refused_while_a_server_runs() {
    let (_dir, root, config) = setup();
    let server = Server::start(&root, &config, Some("key-two-3141"));
    let sync = run_bounded(worksync(&config).arg("--data-root").arg(&root).arg("sync"));
    assert!(!sync.status.success(), "{}", text(&sync));
    let message = text(&sync);
    assert!(message.contains(&format!("pid {}", server.pid())) && message.contains("worksync_sync"), "{message}");

    let complete = worksync(&config).arg("--data-root").arg(&root).arg("init").output().unwrap();
    assert!(complete.status.success(), "{}", text(&complete));
    std::fs::remove_file(root.join("guidance/rust.md")).unwrap();
    let incomplete = worksync(&config).arg("--data-root").arg(&root).arg("init").output().unwrap();
    assert!(!incomplete.status.success(), "{}", text(&incomplete));
    assert!(text(&incomplete).contains(&format!("pid {}", server.pid())), "{}", text(&incomplete));
    assert!(!root.join("guidance/rust.md").exists(), "nothing was written");
}

/// A server killed with SIGKILL leaves no stale lock: the next one starts at once.
#[test]
fn killed_server_leaves_no_stale_lock() {
    let (_dir, root, config) = setup();
    let mut first = Server::start(&root, &config, Some("key-three-1618"));
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let second = Server::start(&root, &config, Some("key-three-1618"));
    assert!(root.join(".worksync/lock").exists());
    let record = std::fs::read_to_string(root.join(".worksync/lock")).unwrap();
    assert!(record.contains(&format!("pid: {}", second.pid())), "{record}");
    assert!(record.contains(&format!(":{}", second.port)), "{record}");
}

/// In one process too: a second `Store` on a root whose store is open is refused, naming
/// this process; once the first is closed, the root opens again.
#[tokio::test]
async fn second_store_on_one_root_is_refused() {
    let (_dir, root, _config) = setup();
    let layout = worksync::store::Layout::new(&root);
    let first = worksync::store::Store::open(layout.clone()).expect("first store");
    let refused = worksync::store::Store::open(layout.clone()).err().expect("a second store is refused").to_string();
    assert!(refused.contains(&format!("pid {}", std::process::id())), "{refused}");
    first.close().await;
    worksync::store::Store::open(layout).expect("the root opens again once the first store is closed");
}

/// Started without WORKSYNC_API_KEY and without a terminal (as `worksync.sh start` does), the
/// server makes a key file readable by the user only, which `worksync key --show` prints and
/// clients can use; a restart keeps the key; the key is in no log line.
#[tokio::test]
async fn background_server_keeps_its_key_across_restarts() {
    let (_dir, root, config) = setup();
    let first = Server::start(&root, &config, None);
    let key_file = config.join("api-key");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).expect("a key file was made").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is private");
    }
    let shown = worksync(&config).args(["key", "--show"]).output().unwrap();
    assert!(shown.status.success(), "{}", text(&shown));
    let key = String::from_utf8(shown.stdout).unwrap().trim().to_string();
    assert_eq!(key.len(), 64);
    assert_eq!(first.initialize_status(Some(&key)).await, 200);
    assert_eq!(first.initialize_status(None).await, 401);
    let first_log = first.stop();

    let second = Server::start(&root, &config, None);
    assert_eq!(second.initialize_status(Some(&key)).await, 200, "a restart keeps the key");
    let second_log = second.stop();
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), key);
    for log in [&first_log, &second_log] {
        assert!(!log.contains(&key), "the key is in the log:\n{log}");
    }
    let info = worksync(&config).arg("key").output().unwrap();
    assert!(info.status.success() && text(&info).contains(&key_file.display().to_string()), "{}", text(&info));
    assert!(!text(&info).contains(&key), "`worksync key` without --show prints no key");
}

/// The log says in words where the key came from, not Rust debug output.
#[test]
fn log_names_the_key_source_in_words() {
    let (_dir, root, config) = setup();
    let server = Server::start(&root, &config, None);
    let log = server.stop();
    assert!(!log.contains("Bearer {") && !log.contains("generated:"), "{log}");
    let serving = log.lines().find(|l| l.contains("serving http")).expect(&log);
    let entry: Value = serde_json::from_str(serving).unwrap();
    let expected = format!("bearer key from the key file {} (created now)", config.join("api-key").display());
    assert_eq!(entry["fields"]["auth"], expected.as_str(), "{serving}");
}

/// `worksync key --rotate` replaces the key (without printing it); WORKSYNC_API_KEY wins over
/// the key file.
#[tokio::test]
async fn rotated_key_and_environment_precedence() {
    let (_dir, root, config) = setup();
    let show = || {
        let output = worksync(&config).args(["key", "--show"]).output().unwrap();
        assert!(output.status.success(), "{}", text(&output));
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    };
    let before = show();
    let rotated = worksync(&config).args(["key", "--rotate"]).output().unwrap();
    assert!(rotated.status.success(), "{}", text(&rotated));
    let after = show();
    assert_ne!(before, after);
    assert!(!text(&rotated).contains(&after), "--rotate does not print the key");

    let server = Server::start(&root, &config, Some("from-the-environment-577"));
    assert_eq!(server.initialize_status(Some("from-the-environment-577")).await, 200);
    assert_eq!(server.initialize_status(Some(&after)).await, 401, "the environment wins over the key file");
}

/// A key file that other users may read is refused, with the command that fixes it.
#[cfg(unix)]
#[test]
fn shared_key_file_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, root, config) = setup();
    std::fs::create_dir_all(&config).unwrap();
    let key_file = config.join("api-key");
    std::fs::write(&key_file, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let serve = run_bounded(worksync(&config).arg("--data-root").arg(&root).args(["serve", "--port", "0"]));
    assert!(!serve.status.success(), "{}", text(&serve));
    let message = text(&serve);
    assert!(message.contains(&format!("chmod 600 {}", key_file.display())), "{message}");
    assert!(!message.contains("0123456789abcdef"), "{message}");
}
