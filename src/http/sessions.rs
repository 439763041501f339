//! MCP sessions, bounded: at the cap the least recently used idle session is closed.
//!
//! rmcp's [`LocalSessionManager`] keeps every session until it has been unused for 5 minutes,
//! so a client that opens sessions and abandons them (5,000 cost 340 MB) grows the server
//! without bound. [`CappedSessions`] wraps it, counts the streams each session has open and
//! when it was last used, and when a new session would exceed the cap closes the least
//! recently used session that has no open stream (an SSE stream or a call in progress means
//! a live client). Only if every session is busy does it close the least recently used one
//! anyway: the cap holds. A client whose session was closed gets 404 and, as MCP says,
//! starts a new session (rmcp's client does so by itself).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{LocalSessionManager, LocalSessionManagerError};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};

/// rmcp's local sessions with a cap on their number.
#[derive(Debug)]
pub(crate) struct CappedSessions {
    inner: LocalSessionManager,
    cap: usize,
    /// Which sessions exist and how they are used. A std mutex: held for a lookup or a scan,
    /// never across an await.
    usage: Arc<Mutex<Usage>>,
}

/// How the open sessions are being used.
#[derive(Debug, Default)]
struct Usage {
    /// Advances on every use, so that "least recently used" has no ties.
    clock: u64,
    sessions: HashMap<SessionId, SessionUse>,
}

#[derive(Debug, Clone, Copy)]
struct SessionUse {
    last_used: u64,
    open_streams: usize,
}

impl Usage {
    fn touch(&mut self, id: &SessionId) {
        self.clock += 1;
        if let Some(session) = self.sessions.get_mut(id) {
            session.last_used = self.clock;
        }
    }

    /// The sessions to close so that at most `cap` remain, sparing `newest`: idle ones first,
    /// least recently used first.
    fn over_cap(&mut self, cap: usize, newest: &SessionId) -> Vec<SessionId> {
        let mut victims = Vec::new();
        while self.sessions.len() > cap.max(1) {
            let victim = self
                .sessions
                .iter()
                .filter(|(id, _)| *id != newest)
                .min_by_key(|(_, s)| (s.open_streams > 0, s.last_used))
                .map(|(id, s)| (id.clone(), s.open_streams));
            let Some((victim, open_streams)) = victim else { break };
            if open_streams > 0 {
                tracing::warn!(session = %victim, open_streams, "every session is busy: closing the least recently used one to stay within max_sessions");
            }
            self.sessions.remove(&victim);
            victims.push(victim);
        }
        victims
    }
}

/// Marks a stream of a session as open until dropped (the response ended or the client left).
struct OpenStream {
    usage: Arc<Mutex<Usage>>,
    id: SessionId,
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        let mut usage = lock(&self.usage);
        usage.touch(&self.id);
        if let Some(session) = usage.sessions.get_mut(&self.id) {
            session.open_streams = session.open_streams.saturating_sub(1);
        }
    }
}

fn lock(usage: &Mutex<Usage>) -> std::sync::MutexGuard<'_, Usage> {
    // The data stays consistent even if a holder panicked: every update is a single step.
    usage.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl CappedSessions {
    /// At most `cap` sessions (at least one).
    pub(crate) fn new(cap: usize) -> Self {
        CappedSessions { inner: LocalSessionManager::default(), cap: cap.max(1), usage: Arc::default() }
    }

    /// Sessions open now.
    pub(crate) fn count(&self) -> usize {
        lock(&self.usage).sessions.len()
    }

    /// The most sessions kept.
    pub(crate) fn cap(&self) -> usize {
        self.cap
    }

    /// Whether `id` names an open session.
    pub(crate) fn contains(&self, id: &str) -> bool {
        lock(&self.usage).sessions.contains_key(id)
    }

    /// Counts a stream of `id` as open until the returned stream is dropped.
    fn track<S>(&self, id: &SessionId, stream: S) -> impl Stream<Item = ServerSseMessage> + Send + Sync + 'static
    where
        S: Stream<Item = ServerSseMessage> + Send + Sync + 'static,
    {
        let mut usage = lock(&self.usage);
        usage.touch(id);
        if let Some(session) = usage.sessions.get_mut(id) {
            session.open_streams += 1;
        }
        let open = OpenStream { usage: self.usage.clone(), id: id.clone() };
        stream.map(move |message| {
            let _open = &open;
            message
        })
    }

    fn touch(&self, id: &SessionId) {
        lock(&self.usage).touch(id);
    }

    fn register(&self, id: &SessionId) -> Vec<SessionId> {
        let mut usage = lock(&self.usage);
        usage.clock += 1;
        let last_used = usage.clock;
        usage.sessions.insert(id.clone(), SessionUse { last_used, open_streams: 0 });
        usage.over_cap(self.cap, id)
    }

    async fn close_evicted(&self, victims: Vec<SessionId>) {
        for victim in victims {
            tracing::info!(session = %victim, cap = self.cap, "closed the least recently used MCP session to stay within max_sessions");
            if let Err(e) = self.inner.close_session(&victim).await {
                tracing::warn!(session = %victim, error = %e, "could not close an evicted session");
            }
        }
    }
}

impl SessionManager for CappedSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.inner.create_session().await?;
        let victims = self.register(&id);
        self.close_evicted(victims).await;
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.touch(id);
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        lock(&self.usage).sessions.remove(id);
        self.inner.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.create_stream(id, message).await?;
        Ok(self.track(id, stream))
    }

    async fn accept_message(&self, id: &SessionId, message: ClientJsonRpcMessage) -> Result<(), Self::Error> {
        self.touch(id);
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.create_standalone_stream(id).await?;
        Ok(self.track(id, stream))
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let stream = self.inner.resume(id, last_event_id).await?;
        Ok(self.track(id, stream))
    }

    async fn restore_session(&self, id: SessionId) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let outcome = self.inner.restore_session(id.clone()).await?;
        if matches!(outcome, RestoreOutcome::Restored(_)) {
            let victims = self.register(&id);
            self.close_evicted(victims).await;
        }
        Ok(outcome)
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.inner.event_store()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(sessions: &[(&str, u64, usize)]) -> Usage {
        let sessions = sessions
            .iter()
            .map(|(id, last_used, open_streams)| {
                (SessionId::from(id.to_string()), SessionUse { last_used: *last_used, open_streams: *open_streams })
            })
            .collect();
        Usage { clock: 100, sessions }
    }

    /// Over the cap, idle sessions go first, least recently used first; busy ones only when
    /// no idle one is left; the newest is never chosen.
    #[test]
    fn eviction_order() {
        let mut table = usage(&[("busy-old", 1, 1), ("idle-old", 2, 0), ("idle-new", 5, 0), ("new", 9, 0)]);
        let new = SessionId::from("new".to_string());
        let names = |v: Vec<SessionId>| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(names(table.over_cap(3, &new)), ["idle-old"]);
        assert_eq!(names(table.over_cap(2, &new)), ["idle-new"]);
        assert_eq!(names(table.over_cap(1, &new)), ["busy-old"]);
        assert_eq!(table.sessions.len(), 1);
    }
}
