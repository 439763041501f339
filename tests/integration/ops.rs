//! Operations: worksync.sh with a 1Password stand-in, client configuration, doctor.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const FAKE_KEY: &str = "fake-op-key-5150-zq";

fn worksync() -> Command {
    Command::new(env!("CARGO_BIN_EXE_worksync"))
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return found };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// worksync.sh start/status/logs/stop with a fake `op` first on PATH: the server requires
/// the key `op` printed, and the key is in no file of the data root and no process argument.
#[tokio::test]
async fn worksync_sh_lifecycle_with_op_key() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let op = bin.join("op");
    std::fs::write(&op, format!("#!/bin/sh\n[ \"$1\" = read ] && echo {FAKE_KEY}\n")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&op, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("worksync.sh");
    // WORKSYNC_TEST_BASH runs the script under another bash (e.g. macOS's 3.2) when available.
    let bash = std::env::var("WORKSYNC_TEST_BASH").unwrap_or_else(|_| "bash".into());
    let run = |command: &str| {
        Command::new(&bash)
            .arg(&script)
            .arg(command)
            .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()))
            .env("WORKSYNC_DATA_ROOT", &root)
            .env("WORKSYNC_PORT", port.to_string())
            .env("WORKSYNC_BIN", env!("CARGO_BIN_EXE_worksync"))
            .env("WORKSYNC_CONFIG_DIR", dir.path().join("config"))
            .env_remove("WORKSYNC_OP_REF")
            .env_remove("WORKSYNC_API_KEY")
            .env_remove("WORKSYNC_DEBUG")
            .output()
            .unwrap()
    };

    let started = run("start");
    assert!(started.status.success(), "start: {}", text(&started));
    let status = run("status");
    assert!(status.status.success(), "status: {}", text(&status));
    assert!(text(&status).contains("auth:     bearer"), "{}", text(&status));

    let url = format!("http://127.0.0.1:{port}/mcp");
    let client = reqwest::Client::new();
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"ops","version":"1"}}}"#;
    let post = |auth: Option<&str>| {
        let mut request = client
            .post(&url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(initialize);
        if let Some(auth) = auth {
            request = request.header("authorization", format!("Bearer {auth}"));
        }
        request.send()
    };
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert_eq!(post(Some("wrong")).await.unwrap().status(), 401);
    assert_eq!(post(Some(FAKE_KEY)).await.unwrap().status(), 200, "the key from op is the server's key");

    let logs = run("logs");
    assert!(text(&logs).contains("worksync is ready"), "logs: {}", text(&logs));
    let processes = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    assert!(!String::from_utf8_lossy(&processes.stdout).contains(FAKE_KEY), "the key is in a process's arguments");
    assert!(root.join("worksync.pid").exists());
    assert_eq!(files_containing(&root, FAKE_KEY), Vec::<String>::new(), "the key is in a file of the data root");

    let stopped = run("stop");
    assert!(stopped.status.success(), "stop: {}", text(&stopped));
    assert_eq!(run("status").status.code(), Some(3), "not running after stop");
    assert!(client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.is_err(), "the port is closed");
    assert_eq!(files_containing(&root, FAKE_KEY), Vec::<String>::new());
}

/// mcp-config prints a .mcp.json that parses as JSON and a Codex block that parses as TOML,
/// both pointing at the configured address with the key taken from the environment.
#[test]
fn mcp_config_output_parses() {
    let json = worksync().args(["mcp-config", "json", "--port", "9911"]).output().unwrap();
    assert!(json.status.success());
    let document: Value = serde_json::from_slice(&json.stdout).expect("JSON");
    let entry = &document["mcpServers"]["worksync"];
    assert_eq!(entry["url"], "http://127.0.0.1:9911/mcp");
    assert_eq!(entry["type"], "http");
    assert_eq!(entry["headers"]["Authorization"], "Bearer ${WORKSYNC_API_KEY}");

    let codex = worksync().args(["mcp-config", "codex", "--port", "9911"]).output().unwrap();
    let table: toml::Table = String::from_utf8_lossy(&codex.stdout).parse().expect("TOML");
    assert_eq!(table["mcp_servers"]["worksync"]["url"].as_str(), Some("http://127.0.0.1:9911/mcp"));
    assert_eq!(table["mcp_servers"]["worksync"]["bearer_token_env_var"].as_str(), Some("WORKSYNC_API_KEY"));

    let claude = worksync().args(["mcp-config", "claude"]).output().unwrap();
    let claude = String::from_utf8_lossy(&claude.stdout);
    assert!(claude.starts_with("claude mcp add --transport http worksync http://127.0.0.1:"), "{claude}");
    assert!(claude.contains("--header \"Authorization: Bearer ${WORKSYNC_API_KEY}\""));
}

/// init --write-mcp-config adds worksync to a project's .mcp.json and keeps its other
/// servers; --write-agents-md adds the marked section once.
#[test]
fn init_merges_mcp_json() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let existing = r#"{"mcpServers": {"github": {"type": "http", "url": "https://example.invalid/mcp"}}, "other": 1}"#;
    std::fs::write(project.join(".mcp.json"), existing).unwrap();
    for _ in 0..2 {
        let output = worksync()
            .arg("--data-root")
            .arg(dir.path().join("root"))
            .arg("init")
            .arg("--write-mcp-config")
            .arg(&project)
            .arg("--write-agents-md")
            .arg(&project)
            .args(["--project", "orbit-api"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output));
    }
    let document: Value = serde_json::from_str(&std::fs::read_to_string(project.join(".mcp.json")).unwrap()).unwrap();
    assert_eq!(document["mcpServers"]["github"]["url"], "https://example.invalid/mcp", "other server kept");
    assert_eq!(document["other"], 1);
    assert_eq!(document["mcpServers"]["worksync"]["url"], "http://127.0.0.1:8321/mcp");
    let agents = std::fs::read_to_string(project.join("AGENTS.md")).unwrap();
    assert_eq!(agents.matches("worksync:begin").count(), 1);
    assert!(dir.path().join("root/config.yaml").exists(), "init also bootstraps the data root");
}

/// doctor passes on a healthy data root and fails with file:line on a broken YAML file.
#[test]
fn doctor_reports_broken_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let doctor = || {
        worksync()
            .arg("--data-root")
            .arg(&root)
            .args(["doctor", "--port", &free_port().to_string()])
            .env_remove("WORKSYNC_API_KEY")
            .env("WORKSYNC_CONFIG_DIR", dir.path().join("config"))
            .output()
            .unwrap()
    };
    assert!(worksync().arg("--data-root").arg(&root).arg("init").output().unwrap().status.success());
    let healthy = doctor();
    assert!(healthy.status.success(), "{}", text(&healthy));
    assert!(text(&healthy).contains("ok   projects/orbit-api/work-index.yaml"), "{}", text(&healthy));

    let index = root.join("projects/orbit-api/work-index.yaml");
    let broken = std::fs::read_to_string(&index).unwrap().replacen("sprints:\n", "sprints: [\n", 1);
    std::fs::write(&index, broken).unwrap();
    std::fs::write(root.join("projects/orbit-api/BACKLOG/archive.yaml"), "a: b\n  c: d\n").unwrap();
    let sick = doctor();
    assert!(!sick.status.success());
    let report = text(&sick);
    let line = report.lines().find(|l| l.starts_with("FAIL projects/orbit-api/work-index.yaml")).expect(&report);
    assert!(line.contains("work-index.yaml:"), "{line}");
    let archive = report.lines().find(|l| l.contains("archive.yaml")).expect(&report);
    assert!(archive.starts_with("FAIL") && archive.contains("archive.yaml:2:"), "{archive}");

    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::write(root.join("templates/sprint.md"), "# {{ sprint.title }\n").unwrap();
    let report = text(&doctor());
    let templates = report.lines().find(|l| l.contains("templates")).expect(&report);
    assert!(templates.starts_with("FAIL") && templates.contains("templates/sprint.md:1: syntax error"), "{templates}");
}

/// `worksync sync` regenerates the vault offline and says what it wrote.
#[test]
fn sync_command_regenerates_the_vault() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    assert!(worksync().arg("--data-root").arg(&root).arg("init").output().unwrap().status.success());
    let sync = || worksync().arg("--data-root").arg(&root).arg("sync").output().unwrap();
    let first = sync();
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("61 notes, 61 written"), "{}", text(&first));
    assert!(root.join("vault/Global Dashboard.md").exists());
    let again = sync();
    assert!(text(&again).contains("0 written, 0 removed, 61 unchanged"), "{}", text(&again));
    let missing = worksync().arg("--data-root").arg(&root).args(["sync", "nope"]).output().unwrap();
    assert!(!missing.status.success() && text(&missing).contains("nope"), "{}", text(&missing));
}
