//! Connections are bounded: idle, trickled-header and partial-body connections cannot hold
//! the server's file descriptors, lock out real clients or starve the writer.

use crate::common;

use std::time::Duration;

use common::{Options, TOKEN, TestServer, call_ok};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use worksync::server::ServerLimits;

/// How a hoarding client uses its connection.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Hoard {
    /// Connects and sends nothing.
    Idle,
    /// Sends the start of request headers and never finishes them.
    TrickledHeaders,
    /// Sends complete, authenticated headers of a POST and part of its body.
    PartialBody,
}

/// Opens a connection to `addr` and starts hoarding it.
async fn hoard(addr: &str, how: Hoard) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let sent = match how {
        Hoard::Idle => String::new(),
        Hoard::TrickledHeaders => format!("POST /mcp HTTP/1.1\r\nHost: {addr}\r\nX-Slow: "),
        Hoard::PartialBody => format!(
            "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
             Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n\
             Content-Length: 1000\r\n\r\n{{\"jsonrpc\": \"2.0\", "
        ),
    };
    stream.write_all(sent.as_bytes()).await.expect("send");
    stream
}

/// What the server sent before it closed the connection, and when it closed it; `None` if it
/// is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<(String, Instant)> {
    let mut received = Vec::new();
    let deadline = Instant::now() + limit;
    loop {
        let mut buffer = [0u8; 1024];
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some((String::from_utf8_lossy(&received).into_owned(), Instant::now())),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

fn addr_of(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// A flood of 3.5 times the cap (idle sockets, trickled headers, partial bodies): `/healthz`
/// answers at once and an agent's write succeeds, because a new connection closes the one
/// idle the longest; the server never holds more than the cap; the partial bodies get 408
/// at the body timeout and every hoarded connection is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_hoarded_connections_cannot_lock_out_a_client() {
    let limits = ServerLimits {
        max_connections: 16,
        header_timeout: Duration::from_secs(1),
        // Long enough for the check below that the partial bodies are being read.
        body_timeout: Duration::from_secs(3),
        // Long: here eviction, not the idle timeout, must make room.
        idle_timeout: Duration::from_secs(60),
        ..ServerLimits::default()
    };
    let server = TestServer::start_options(Options { limits, ..Options::default() }).await;
    let addr = addr_of(&server);
    let mut flood = Vec::new();
    for _ in 0..8 {
        flood.push((Hoard::PartialBody, hoard(&addr, Hoard::PartialBody).await));
    }
    // Until its headers are read a connection is idle, and the flood would close it first.
    // Busy: the 8 partial bodies and the status request itself.
    common::eventually("the partial bodies being read", Duration::from_secs(10), async || {
        let busy = server.status().await["connections"]["busy"].clone();
        if busy == 9 { Ok(()) } else { Err(busy) }
    })
    .await;
    for how in [Hoard::Idle, Hoard::TrickledHeaders] {
        for _ in 0..24 {
            flood.push((how, hoard(&addr, how).await));
        }
    }

    let health = reqwest::get(format!("{}/healthz", server.base)).await.expect("healthz answers under the flood");
    assert_eq!(health.status(), 200);
    let agent = server.client("agent").await;
    let added = call_ok(
        &agent,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "under-flood", "summary": "s", "theme": "t"}),
    )
    .await;
    assert_eq!(added["created"]["id"], "under-flood");
    let status = server.status().await;
    let open = status["connections"]["open"].as_u64().unwrap();
    eprintln!("under a flood of {} hoarded connections the server holds {open} (cap 16)", flood.len());
    assert!(open <= 16, "{status}");

    for (how, stream) in &mut flood {
        let (answer, _) =
            closed_within(stream, Duration::from_secs(10)).await.unwrap_or_else(|| panic!("{how:?} kept"));
        if *how == Hoard::PartialBody {
            assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
        }
    }
}

/// Each timeout on its own: an idle connection is closed after the idle timeout; headers
/// still trickling in are cut at the header timeout from their first byte; a body that stops
/// gets 408 at the body timeout. A long poll outlasting the idle timeout is a request in
/// flight and gets its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_time_out_but_long_polls_do_not() {
    let limits = ServerLimits {
        header_timeout: Duration::from_millis(400),
        body_timeout: Duration::from_millis(400),
        idle_timeout: Duration::from_millis(800),
        ..ServerLimits::default()
    };
    let server = TestServer::start_options(Options { limits, ..Options::default() }).await;
    let addr = addr_of(&server);

    let opened = Instant::now();
    let mut idle = hoard(&addr, Hoard::Idle).await;
    let (_, closed) = closed_within(&mut idle, Duration::from_secs(10)).await.expect("idle connection closed");
    let lived = closed - opened;
    assert!(lived >= Duration::from_millis(800) && lived < Duration::from_secs(5), "idle for {lived:?}");

    let started = Instant::now();
    let mut trickle = hoard(&addr, Hoard::TrickledHeaders).await;
    let closed = loop {
        // A byte every 100 ms: the headers never end, and never stall long enough to be idle.
        match closed_within(&mut trickle, Duration::from_millis(100)).await {
            Some((_, at)) => break at,
            None => {
                let _ = trickle.write_all(b"x").await;
                assert!(started.elapsed() < Duration::from_secs(10), "trickled headers were never cut");
            }
        }
    };
    let lived = closed - started;
    assert!(lived >= Duration::from_millis(400) && lived < Duration::from_secs(3), "headers trickled for {lived:?}");

    let mut partial = hoard(&addr, Hoard::PartialBody).await;
    let (answer, _) = closed_within(&mut partial, Duration::from_secs(10)).await.expect("partial body cut");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body"), "the answer says what was too slow: {answer}");

    let agent = server.client("poller").await;
    let start = call_ok(&agent, "worksync_changes", json!({"project": "orbit-api"})).await;
    let waited = Instant::now();
    let answer = call_ok(
        &agent,
        "worksync_changes",
        json!({"project": "orbit-api", "since": start["cursor"], "wait_seconds": 1.5}),
    )
    .await;
    assert!(waited.elapsed() >= Duration::from_millis(1400), "the long poll waited its time");
    assert_eq!(answer["changes"], json!([]), "{answer}");
}

/// The real binary with only 256 file descriptors (soft and hard) under a flood of 400 idle
/// connections: it keeps its connections under the limit, `/healthz` answers and a write
/// (temp file, journal, rename) succeeds. Without a cap, accepting the flood used every
/// descriptor and the write failed with "Too many open files".
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_keeps_descriptors_under_a_flood() {
    let dir = tempfile::tempdir().unwrap();
    let server = common::Process::serve_with_open_file_limit(&dir.path().join("root"), 256);
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut flood = Vec::new();
    for _ in 0..400 {
        flood.push(hoard(&addr, Hoard::Idle).await);
    }
    let health = reqwest::get(format!("{}/healthz", server.base)).await.expect("healthz answers");
    assert_eq!(health.status(), 200);
    let agent = server.client("agent").await;
    let added = call_ok(
        &agent,
        "worksync_add_backlog",
        json!({"project": "orbit-api", "id": "fd-flood", "summary": "s", "theme": "t"}),
    )
    .await;
    assert_eq!(added["created"]["id"], "fd-flood");
    let fds = std::fs::read_dir(format!("/proc/{}/fd", server.child.id())).unwrap().count();
    eprintln!("under a flood of 400 idle connections the server holds {fds} file descriptors (limit 256)");
    assert!(fds < 256, "{fds} descriptors");
}
