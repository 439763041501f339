//! Test harness: the real server on an ephemeral loopback port, real MCP clients over
//! Streamable HTTP, real files in a temp dir.

use std::collections::HashMap;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, Implementation};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{RoleClient, ServiceExt};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use worksync::api_key::KeySource;
use worksync::server::ServerLimits;
use worksync::settings::Auth;
use worksync::store::{Layout, Store};
use worksync::vault::SyncSettings;

/// The bearer token every test server requires.
pub const TOKEN: &str = "test-token-0123456789";

/// A connected MCP client.
pub type Client = RunningService<RoleClient, ClientConfig>;

/// A running server over a data root: a temp dir of its own, or one the caller owns.
pub struct TestServer {
    pub url: String,
    pub base: String,
    root: PathBuf,
    /// The temp dir the data root lives in when the harness made it; removed with the server.
    _temp: Option<tempfile::TempDir>,
    shutdown: CancellationToken,
    running: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Vault settings of test servers that do not test the vault: no regeneration behind the
/// test's back.
pub const NO_AUTO_SYNC: SyncSettings = SyncSettings { auto: false, debounce: Duration::from_secs(2) };

/// How a test server runs: its auth, its vault sync and its limits.
pub struct Options {
    pub auth: Auth,
    pub sync: SyncSettings,
    pub limits: ServerLimits,
}

impl Default for Options {
    /// Bearer auth with [`TOKEN`], no vault sync, the server's default limits.
    fn default() -> Self {
        Options {
            auth: Auth::Bearer { token: TOKEN.into(), source: KeySource::Environment },
            sync: NO_AUTO_SYNC,
            limits: ServerLimits::default(),
        }
    }
}

/// How long [`eventually`] waits before it calls the wait a failure: far longer than
/// anything takes on a loaded machine, so only something that never happens reaches it.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `check` until it yields a value, at most `limit`, and returns the value; panics
/// naming `what` and what `check` saw last otherwise. For waiting on something the server
/// does in its own time (a regeneration, the watcher, a call arriving), instead of a sleep
/// that hopes it has happened.
pub async fn eventually<T, E: Display>(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> Result<T, E>) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => {
                assert!(tokio::time::Instant::now() < deadline, "{what}: not within {limit:?}; last seen: {seen}")
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A client of the MCP endpoint at `url` that names itself `name` (its MCP client name) and
/// sends `headers` on every request.
async fn connect(url: &str, name: &str, headers: HashMap<http::HeaderName, http::HeaderValue>) -> Client {
    let config =
        StreamableHttpClientTransportConfig::with_uri(url.to_string()).auth_header(TOKEN).custom_headers(headers);
    ClientConfig::new(ClientCapabilities::default(), Implementation::new(name, "1.0"))
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("client connects")
}

impl TestServer {
    /// A server over a data root bootstrapped from the bundled defaults (`projects.example/`).
    pub async fn start() -> TestServer {
        Self::start_with(|layout| {
            layout.bootstrap().expect("bootstrap");
        })
        .await
    }

    /// A server over a data root prepared by `setup`.
    pub async fn start_with(setup: impl FnOnce(&Layout)) -> TestServer {
        Self::start_syncing(setup, NO_AUTO_SYNC).await
    }

    /// A server over a data root prepared by `setup`, keeping its vault current as `sync` says.
    pub async fn start_syncing(setup: impl FnOnce(&Layout), sync: SyncSettings) -> TestServer {
        Self::start_with_options(setup, Options { sync, ..Options::default() }).await
    }

    /// A server over the bundled defaults, run as `options` say.
    pub async fn start_options(options: Options) -> TestServer {
        Self::start_with_options(|layout| drop(layout.bootstrap().expect("bootstrap")), options).await
    }

    /// A server over a data root prepared by `setup`, run as `options` say.
    /// The data root is named `.worksync`, as the default `~/.worksync` is, so that nothing
    /// that filters paths by name forgets what the data root is called.
    pub async fn start_with_options(setup: impl FnOnce(&Layout), options: Options) -> TestServer {
        let temp = tempfile::tempdir().expect("temp dir");
        let root = temp.path().join(".worksync");
        std::fs::create_dir(&root).expect("data root");
        setup(&Layout::new(&root));
        Self::launch(root, Some(temp), options).await
    }

    /// A server over a data root the caller prepared and owns (e.g. on a special
    /// filesystem), run with the default [`Options`].
    pub async fn serve_root(root: &Path) -> TestServer {
        Self::launch(root.to_path_buf(), None, Options::default()).await
    }

    async fn launch(root: PathBuf, temp: Option<tempfile::TempDir>, options: Options) -> TestServer {
        let store = Store::open(Layout::new(&root)).expect("store opens");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().unwrap();
        let shutdown = CancellationToken::new();
        let Options { auth, sync, limits } = options;
        let running = Some(tokio::spawn(worksync::server::run(listener, store, auth, sync, limits, shutdown.clone())));
        let (url, base) = (format!("http://{addr}/mcp"), format!("http://{addr}"));
        TestServer { url, base, root, _temp: temp, shutdown, running }
    }

    /// Shuts the server down gracefully and waits until it has stopped.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(running) = self.running.take() {
            running.await.expect("server task").expect("server ran");
        }
    }

    /// The authenticated `/status` JSON.
    pub async fn status(&self) -> Value {
        reqwest::Client::new()
            .get(format!("{}/status", self.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("status answers")
            .json()
            .await
            .expect("status is JSON")
    }

    /// Connections busy answering a request now (this `/status` request included).
    pub async fn busy_connections(&self) -> u64 {
        self.status().await["connections"]["busy"].as_u64().expect("a count of busy connections")
    }

    /// Waits until `n` connections are busy answering (e.g. a long poll has reached the
    /// server and waits): what [`TestServer::busy_connections`] said before, plus one.
    pub async fn await_busy_connections(&self, n: u64) {
        eventually(&format!("{n} busy connections"), PATIENCE, async || {
            let busy = self.busy_connections().await;
            if busy == n { Ok(()) } else { Err(busy) }
        })
        .await
    }

    /// The data root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path under the data root.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// A client that names itself `name` (its MCP client name).
    pub async fn client(&self, name: &str) -> Client {
        connect(&self.url, name, HashMap::new()).await
    }

    /// A client sending extra headers on every request.
    pub async fn client_with_headers(
        &self,
        name: &str,
        headers: HashMap<http::HeaderName, http::HeaderValue>,
    ) -> Client {
        connect(&self.url, name, headers).await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Calls `tool` with `args` (a JSON object).
pub async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let args = args.as_object().cloned().unwrap_or_default();
    client
        .call_tool(CallToolRequestParams::new(tool.to_string()).with_arguments(args))
        .await
        .unwrap_or_else(|e| panic!("{tool} failed at the protocol level: {e}"))
}

/// The JSON of a successful result; panics with the error text otherwise. Also checks that
/// the first text block carries the same JSON.
pub fn ok(result: CallToolResult) -> Value {
    let text = first_text(&result);
    assert_ne!(result.is_error, Some(true), "expected success, got error: {text}");
    let structured = result.structured_content.clone().expect("structured content");
    assert_eq!(serde_json::from_str::<Value>(&text).expect("text is JSON"), structured);
    structured
}

/// The JSON of a tool error; panics if the call succeeded.
pub fn err(result: CallToolResult) -> Value {
    let text = first_text(&result);
    assert_eq!(result.is_error, Some(true), "expected a tool error, got: {text}");
    let body: Value = serde_json::from_str(&text).expect("error text is JSON");
    assert!(body["error"].is_string(), "error JSON has an 'error' key: {body}");
    body
}

fn first_text(result: &CallToolResult) -> String {
    result.content.iter().find_map(|c| c.as_text().map(|t| t.text.clone())).unwrap_or_default()
}

/// Calls a tool and returns its successful JSON.
pub async fn call_ok(client: &Client, tool: &str, args: Value) -> Value {
    ok(call(client, tool, args).await)
}

/// Calls a tool and returns its error JSON.
pub async fn call_err(client: &Client, tool: &str, args: Value) -> Value {
    err(call(client, tool, args).await)
}

/// Parses a YAML file on disk.
pub fn read_yaml(path: &Path) -> serde_yaml_ng::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()))
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// The fixture directory of this crate's tests.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The real `worksync` binary running `serve` in a child process.
pub struct Process {
    pub child: std::process::Child,
    pub url: String,
    pub base: String,
}

impl Process {
    /// Starts `worksync --data-root <root> serve --port 0` with `WORKSYNC_API_KEY=TOKEN` and
    /// waits until it logs that it is ready.
    pub fn serve(root: &Path) -> Process {
        Self::start(std::process::Command::new(env!("CARGO_BIN_EXE_worksync")), root)
    }

    /// As [`Process::serve`], with the process's limit of open files (soft and hard) set to
    /// `limit` (by the shell's `ulimit`, so the server cannot raise it).
    pub fn serve_with_open_file_limit(root: &Path, limit: u64) -> Process {
        let mut command = std::process::Command::new("sh");
        command.arg("-c").arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\"")).arg(env!("CARGO_BIN_EXE_worksync"));
        Self::start(command, root)
    }

    /// As [`Process::serve`], on a machine whose wall clock runs `ahead` (a `faketime`
    /// offset such as `+10m`; its monotonic clock is left alone, as on a real machine whose
    /// clock is wrong). The git it runs sees the same clock.
    pub fn serve_with_clock_ahead(root: &Path, ahead: &str) -> Process {
        let found = std::process::Command::new("faketime").arg("-f").arg("+0").arg("true").status();
        assert!(
            found.is_ok_and(|status| status.success()),
            "this test needs `faketime` (libfaketime): `apt install faketime` or `brew install libfaketime`"
        );
        let mut command = std::process::Command::new("faketime");
        command.arg("-f").arg(ahead).arg(env!("CARGO_BIN_EXE_worksync")).env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        Self::start(command, root)
    }

    /// Runs `command` with the arguments of `worksync serve` over `root`.
    fn start(mut command: std::process::Command, root: &Path) -> Process {
        use std::io::BufRead;
        let mut child = command
            .args(["--log-format", "json", "--data-root"])
            .arg(root)
            .args(["serve", "--port", "0"])
            .env("WORKSYNC_API_KEY", TOKEN)
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start the worksync binary");
        let stderr = child.stderr.take().unwrap();
        let mut lines = std::io::BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let url = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("the server exited before it was ready; its log:\n{}", seen.join("\n"));
            };
            seen.push(line.clone());
            let Ok(entry) = serde_json::from_str::<Value>(&line) else { continue };
            if entry["fields"]["message"] == "worksync is ready" {
                break entry["fields"]["url"].as_str().unwrap().to_string();
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let base = url.trim_end_matches("/mcp").to_string();
        Process { child, url, base }
    }

    /// Sends a signal (e.g. "TERM", "KILL") to the process.
    pub fn signal(&self, name: &str) {
        let status =
            std::process::Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
        assert!(status.unwrap().success(), "kill -{name}");
    }

    /// Waits for the process to exit, at most `limit`.
    pub fn wait(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "the server did not exit within {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the process with SIGKILL and waits (off the async threads) until it is gone.
    pub async fn kill_and_wait(mut self) {
        self.signal("KILL");
        tokio::task::spawn_blocking(move || {
            self.wait(Duration::from_secs(10));
        })
        .await
        .unwrap();
    }

    /// A client of this process.
    pub async fn client(&self, name: &str) -> Client {
        connect(&self.url, name, HashMap::new()).await
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every file under `dir` with one of `extensions`, by `/`-separated relative path.
pub fn files_ending(dir: &Path, extensions: &[&str]) -> std::collections::BTreeMap<String, String> {
    let mut files = std::collections::BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap().flatten() {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| extensions.iter().any(|x| e == *x)) {
                let relative = path.strip_prefix(dir).unwrap().to_string_lossy().replace('\\', "/");
                files.insert(relative, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    files
}

/// Where screenshots and other test artifacts go: `target/test-artifacts/<area>/` (or under
/// `CARGO_TARGET_DIR`).
pub fn artifacts_dir(area: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"), PathBuf::from);
    let dir = target.join("test-artifacts").join(area);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Chromium to drive: `WORKSYNC_CHROMIUM`, else the first of the usual names found on
/// `PATH`.
pub fn chromium() -> PathBuf {
    if let Some(chosen) = std::env::var_os("WORKSYNC_CHROMIUM") {
        return chosen.into();
    }
    on_path(&["chromium", "chromium-browser", "google-chrome"])
        .expect("install Debian's chromium (apt-get install chromium) or set WORKSYNC_CHROMIUM")
}

/// The first of `names` found on `PATH`.
pub fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    names.iter().find_map(|name| std::env::split_paths(&path).map(|dir| dir.join(name)).find(|found| found.is_file()))
}
