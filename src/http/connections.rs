//! Accepting TCP connections and serving HTTP/1.1 on them, within bounds.
//!
//! `axum::serve` keeps a connection for as long as the client likes: about 1,100 idle
//! sockets, or sockets that trickle their headers or stop halfway through a body, use up the
//! default 1,024 file descriptors, and then `/healthz` stops answering and the writer cannot
//! open its temp file. This loop serves the same router with hyper, and bounds what a client
//! can hold:
//! - a connection with no request in flight is closed after the idle timeout, and one whose
//!   request headers started arriving but are not complete after the header timeout (the
//!   body timeout is [`super::hygiene`]'s, where the body is read). A request is in flight
//!   from its headers to the end of its answer, so long polls and SSE streams are never cut;
//! - at most `max` connections are open: a new one closes the connection idle the longest,
//!   so a flood of idle sockets cannot lock out a real client; if every connection has a
//!   request in flight the new one is answered 503 and closed;
//! - the cap is kept well under the process's limit of open files
//!   ([`super::open_files::connection_cap`]), so the writer's temp files, the journal, the
//!   watcher and the vault always have descriptors.
//!
//! Graceful shutdown is hyper's: stop accepting, close idle connections, let requests in
//! flight finish, then return once every connection is closed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::response::Response;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The timeouts of a connection.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    /// From the first byte of a request's headers to their end.
    pub(crate) header: Duration,
    /// With no request in flight and nothing received.
    pub(crate) idle: Duration,
}

/// The open connections, at most `cap` of them. A cheap handle: clones share the registry.
#[derive(Debug, Clone)]
pub(crate) struct Connections(Arc<Registry>);

#[derive(Debug)]
struct Registry {
    cap: usize,
    next_id: AtomicU64,
    /// Refused because every connection was busy, since start.
    refused: AtomicU64,
    /// A std mutex: held for an insert, a removal or a scan, never across an await.
    open: Mutex<HashMap<u64, Arc<Tracker>>>,
}

impl Connections {
    /// A registry admitting at most `cap` connections (at least one).
    pub(crate) fn new(cap: usize) -> Self {
        Connections(Arc::new(Registry {
            cap: cap.max(1),
            next_id: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
        }))
    }

    /// Connections open now.
    pub(crate) fn count(&self) -> usize {
        self.open().len()
    }

    /// Connections with a request in flight now.
    pub(crate) fn busy(&self) -> usize {
        self.open().values().filter(|tracker| tracker.idle_since().is_none()).count()
    }

    /// The most connections kept open.
    pub(crate) fn cap(&self) -> usize {
        self.0.cap
    }

    fn open(&self) -> MutexGuard<'_, HashMap<u64, Arc<Tracker>>> {
        // Every update is one insert or removal: the map is consistent even after a panic.
        self.0.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a new connection. At the cap, the connection idle the longest is told to
    /// close and makes room; if none is idle, `None`: the new one must be refused.
    fn admit(&self) -> Option<Admitted> {
        let mut open = self.open();
        if open.len() >= self.0.cap {
            let longest_idle =
                open.iter().filter_map(|(id, tracker)| Some((tracker.idle_since()?, *id))).min().map(|(_, id)| id);
            let evicted = open.remove(&longest_idle?)?;
            evicted.evicted.notify_one();
        }
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        let tracker = Arc::new(Tracker::new());
        open.insert(id, tracker.clone());
        Some(Admitted { connections: self.clone(), id, tracker })
    }
}

/// A connection's place in the registry, given up when the connection ends.
struct Admitted {
    connections: Connections,
    id: u64,
    tracker: Arc<Tracker>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections.open().remove(&self.id);
    }
}

/// What a connection is doing, as its deadline and the eviction order need to know.
#[derive(Debug)]
struct Tracker {
    /// A std mutex: held for a read or an update, never across an await.
    activity: Mutex<Activity>,
    /// Woken when the activity changes, so the connection recomputes its deadline.
    changed: Notify,
    /// Woken to make the connection close at once.
    evicted: Notify,
}

#[derive(Debug, Clone, Copy)]
struct Activity {
    /// Requests whose answers are not finished.
    in_flight: usize,
    /// When the last request finished (or the connection opened), or when the headers of the
    /// next one started arriving.
    since: Instant,
    /// Bytes of a request's headers arrived while no request was in flight.
    receiving_head: bool,
}

impl Tracker {
    fn new() -> Self {
        let activity = Activity { in_flight: 0, since: Instant::now(), receiving_head: false };
        Tracker { activity: Mutex::new(activity), changed: Notify::new(), evicted: Notify::new() }
    }

    fn activity(&self) -> MutexGuard<'_, Activity> {
        // Plain values, each update one step: consistent even after a panic.
        self.activity.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Idle since when; `None` while a request is in flight.
    fn idle_since(&self) -> Option<Instant> {
        let activity = *self.activity();
        (activity.in_flight == 0).then_some(activity.since)
    }

    /// When the connection must be closed if nothing changes; `None` while a request is in
    /// flight.
    fn deadline(&self, timeouts: Timeouts) -> Option<Instant> {
        let activity = *self.activity();
        let limit = if activity.receiving_head { timeouts.header } else { timeouts.idle };
        (activity.in_flight == 0).then(|| activity.since + limit)
    }

    fn bytes_received(&self) {
        let mut activity = self.activity();
        if activity.in_flight == 0 && !activity.receiving_head {
            activity.receiving_head = true;
            activity.since = Instant::now();
            drop(activity);
            self.changed.notify_one();
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        let mut activity = self.activity();
        activity.in_flight += 1;
        activity.receiving_head = false;
        drop(activity);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    fn request_finished(&self) {
        let mut activity = self.activity();
        activity.in_flight = activity.in_flight.saturating_sub(1);
        if activity.in_flight == 0 {
            activity.since = Instant::now();
        }
        drop(activity);
        self.changed.notify_one();
    }
}

/// A request in flight on a connection, until its answer is finished or dropped.
struct InFlight(Arc<Tracker>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then shuts down gracefully
/// and returns once every connection is closed.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    connections: Connections,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) {
    let tasks = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.cancelled() => break,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                accept_failed(e, &shutdown).await;
                continue;
            }
        };
        // Answers are small writes in quick succession (an SSE event, then the end of the
        // stream): with Nagle's algorithm on, the last one waits for the client's delayed
        // ACK, up to 40 ms, for every client that reads an answer to its end.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY on a connection");
        }
        match connections.admit() {
            Some(admitted) => {
                tasks.spawn(serve_connection(stream, router.clone(), admitted, timeouts, shutdown.clone()));
            }
            None => refuse(stream, &connections),
        }
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
}

/// An accept error: a connection that failed before we got it is nothing; anything else
/// (out of file descriptors) is logged and waited out, so the loop does not spin.
async fn accept_failed(error: io::Error, shutdown: &CancellationToken) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        return;
    }
    tracing::error!(error = %error, "could not accept a connection; retrying in 1 s");
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        _ = shutdown.cancelled() => {}
    }
}

/// Answers 503 on a new connection when every admitted one is busy, and closes it.
fn refuse(stream: TcpStream, connections: &Connections) {
    const BODY: &str = r#"{"error":"Service Unavailable","detail":"worksync has as many connections as it keeps open and every one has a request in flight; retry in a moment."}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\nretry-after: 1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    // A new socket's send buffer is empty: this write does not block, and if it fails the
    // client sees the connection closed, which is the answer too.
    let _ = stream.try_write(response.as_bytes());
    let refused = connections.0.refused.fetch_add(1, Ordering::Relaxed) + 1;
    if refused == 1 || refused.is_multiple_of(100) {
        tracing::warn!(cap = connections.cap(), refused, "every connection is busy: refused a new one with 503");
    }
}

/// Serves one connection until the client closes it, a timeout passes, it is evicted, or
/// the graceful shutdown has let its requests in flight finish.
async fn serve_connection(
    stream: TcpStream,
    router: Router,
    admitted: Admitted,
    timeouts: Timeouts,
    shutdown: CancellationToken,
) {
    let tracker = admitted.tracker.clone();
    let io = TokioIo::new(Watched { stream, tracker: tracker.clone() });
    let service = Tracked { router: TowerToHyperService::new(router), tracker: tracker.clone() };
    let mut builder = hyper::server::conn::http1::Builder::new();
    // Our own header timeout (above) starts at the first byte of a request; hyper's would
    // start when the connection goes idle and so cut idle connections at the header timeout.
    builder.header_read_timeout(None);
    let mut connection = pin!(builder.serve_connection(io, service));
    let mut draining = false;
    loop {
        let deadline = tracker.deadline(timeouts);
        tokio::select! {
            served = connection.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "connection ended with an error");
                }
                break;
            }
            _ = tracker.changed.notified() => {}
            _ = sleep_until(deadline) => {
                tracing::debug!("closed a connection: idle, or its request headers too slow");
                break;
            }
            _ = tracker.evicted.notified() => {
                tracing::debug!("closed the connection idle the longest to admit a new one");
                break;
            }
            _ = shutdown.cancelled(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
        }
    }
    drop(admitted);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The router as hyper's service, counting each request in flight until its answer ends.
#[derive(Clone)]
struct Tracked {
    router: TowerToHyperService<Router>,
    tracker: Arc<Tracker>,
}

impl hyper::service::Service<hyper::Request<Incoming>> for Tracked {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<Incoming>) -> Self::Future {
        let in_flight = self.tracker.request_started();
        let answer = self.router.call(request);
        Box::pin(async move {
            let response = answer.await?;
            // The request stays in flight while its answer streams (an SSE stream, a long
            // poll's answer), until hyper has sent the body or dropped it.
            Ok(response.map(|body| Body::new(AnswerBody { body, _in_flight: in_flight })))
        })
    }
}

/// An answer's body that keeps its request counted in flight until it is finished or dropped.
struct AnswerBody {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for AnswerBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, telling the tracker when bytes of a new request arrive.
struct Watched {
    stream: TcpStream,
    tracker: Arc<Tracker>,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.tracker.bytes_received();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At the cap the connection idle the longest makes room; a busy one is never chosen,
    /// and with every connection busy the newcomer is refused.
    #[tokio::test(start_paused = true)]
    async fn the_longest_idle_connection_makes_room() {
        let connections = Connections::new(3);
        let oldest = connections.admit().unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let busy = connections.admit().unwrap();
        let _request = busy.tracker.request_started();
        tokio::time::advance(Duration::from_secs(1)).await;
        let newer = connections.admit().unwrap();
        let fourth = connections.admit().unwrap();
        assert_eq!(connections.count(), 3);
        assert!(!connections.open().contains_key(&oldest.id), "the oldest idle one was evicted");
        assert!(connections.open().contains_key(&busy.id), "busy connections stay");
        let _requests = (newer.tracker.request_started(), fourth.tracker.request_started());
        assert!(connections.admit().is_none(), "every connection is busy");
    }

    /// An idle connection's deadline is the idle timeout; once header bytes arrive it is the
    /// header timeout from then; in flight there is none; after the answer, idle again.
    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_connection() {
        let timeouts = Timeouts { header: Duration::from_secs(2), idle: Duration::from_secs(60) };
        let tracker = Arc::new(Tracker::new());
        let opened = Instant::now();
        assert_eq!(tracker.deadline(timeouts), Some(opened + timeouts.idle));
        tokio::time::advance(Duration::from_secs(5)).await;
        tracker.bytes_received();
        assert_eq!(tracker.deadline(timeouts), Some(opened + Duration::from_secs(7)));
        let request = tracker.request_started();
        tracker.bytes_received();
        assert_eq!(tracker.deadline(timeouts), None);
        tokio::time::advance(Duration::from_secs(100)).await;
        drop(request);
        assert_eq!(tracker.deadline(timeouts), Some(Instant::now() + timeouts.idle));
    }
}
