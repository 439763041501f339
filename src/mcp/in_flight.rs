//! Counts tool calls in progress, so a graceful shutdown can let them finish before it
//! closes the MCP sessions (whose open streams would otherwise keep the server up forever).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A shared count of tool calls in progress.
#[derive(Debug, Clone, Default)]
pub struct InFlight(Arc<AtomicUsize>);

/// Marks one call in progress until dropped.
#[derive(Debug)]
pub struct CallGuard(Arc<AtomicUsize>);

impl InFlight {
    /// Marks a call as started; it ends when the guard is dropped (also on panic or cancel).
    pub fn enter(&self) -> CallGuard {
        self.0.fetch_add(1, Ordering::SeqCst);
        CallGuard(self.0.clone())
    }

    /// Calls in progress now.
    pub fn count(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// Waits until no call is in progress, or `limit` has passed; true if drained.
    pub async fn drained(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.count() > 0 {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }
}

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drained waits for the last guard and gives up at the limit otherwise.
    #[tokio::test(start_paused = true)]
    async fn drains_when_guards_drop() {
        let in_flight = InFlight::default();
        let guard = in_flight.enter();
        assert_eq!(in_flight.count(), 1);
        assert!(!in_flight.drained(Duration::from_millis(50)).await);
        let waiter = tokio::spawn({
            let in_flight = in_flight.clone();
            async move { in_flight.drained(Duration::from_secs(5)).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        drop(guard);
        assert!(waiter.await.unwrap());
    }
}
