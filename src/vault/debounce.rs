//! When the vault regenerates: once a burst of store changes is over.
//!
//! The store counts its published versions on a watch channel. [`Bursts`] follows that
//! count: a burst begins with the first change after the last regeneration and is over when
//! no change came for one debounce, or when it has lasted five debounces (a burst that never
//! pauses still gets regenerations). Kept apart from what a regeneration does, so these
//! rules are tested on tokio's paused clock.

use tokio::sync::watch;
use tokio::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A burst that never pauses is cut after this many debounces.
const MAX_DELAY_IN_DEBOUNCES: u32 = 5;

/// The store's versions, seen in bursts.
pub(super) struct Bursts {
    versions: watch::Receiver<u64>,
    /// The version the last burst (or the start) covered.
    seen: u64,
    debounce: Duration,
}

/// A burst that is over.
#[derive(Debug, PartialEq)]
pub(super) struct Burst {
    /// Versions it covered (e.g. 50 mutations → 50).
    pub changes: u64,
    /// It ended because `stop` was cancelled, not because it was quiet.
    pub stopped: bool,
}

impl Bursts {
    /// Follows `versions` from the version it holds now.
    pub fn new(mut versions: watch::Receiver<u64>, debounce: Duration) -> Bursts {
        let seen = *versions.borrow_and_update();
        Bursts { versions, seen, debounce }
    }

    /// Waits for the first change of the next burst; false once `stop` is cancelled or the
    /// store is gone.
    pub async fn begun(&mut self, stop: &CancellationToken) -> bool {
        tokio::select! {
            changed = self.versions.changed() => changed.is_ok(),
            _ = stop.cancelled() => false,
        }
    }

    /// Waits until the burst that has begun is over: no change for one debounce, five
    /// debounces since it began, or `stop`.
    pub async fn over(&mut self, stop: &CancellationToken) -> Burst {
        let began = Instant::now();
        let cap = self.debounce * MAX_DELAY_IN_DEBOUNCES;
        let stopped = loop {
            let wait = self.debounce.min(cap.saturating_sub(began.elapsed()));
            tokio::select! {
                _ = tokio::time::sleep(wait) => break false,
                changed = self.versions.changed() => {
                    if changed.is_err() || began.elapsed() >= cap {
                        break false;
                    }
                }
                _ = stop.cancelled() => break true,
            }
        };
        Burst { changes: self.take_unseen(), stopped }
    }

    /// The changes no burst has covered yet (at shutdown), now covered.
    pub fn take_unseen(&mut self) -> u64 {
        let now = *self.versions.borrow_and_update();
        let changes = now - self.seen;
        self.seen = now;
        changes
    }
}

#[cfg(test)]
mod tests {
    //! On tokio's paused clock: a sleep returns as soon as every task waits, with the clock
    //! moved to its deadline, so the instants below are exact and nothing really waits.

    use super::*;

    const DEBOUNCE: Duration = Duration::from_secs(1);

    /// What the store's writer does on every publish.
    fn publish(versions: &watch::Sender<u64>) {
        versions.send_modify(|version| *version += 1);
    }

    /// Publishes `times` changes, `every` apart (the first after `every`).
    async fn changes(versions: &watch::Sender<u64>, times: usize, every: Duration) {
        for _ in 0..times {
            tokio::time::sleep(every).await;
            publish(versions);
        }
    }

    /// The store's versions, followed in bursts.
    struct Followed {
        versions: watch::Sender<u64>,
        bursts: Bursts,
        stop: CancellationToken,
    }

    impl Followed {
        fn new() -> Followed {
            let (versions, receiver) = watch::channel(0);
            Followed { versions, bursts: Bursts::new(receiver, DEBOUNCE), stop: CancellationToken::new() }
        }

        /// Publishes one change and waits for the burst it begins; returns when that was.
        async fn change_begins_a_burst(&mut self) -> Instant {
            let start = Instant::now();
            publish(&self.versions);
            assert!(self.bursts.begun(&self.stop).await, "a change begins a burst");
            start
        }
    }

    /// Changes 300 ms apart are one burst, over one debounce after the last of them and
    /// covering all five; a lone change is over one debounce after it.
    #[tokio::test(start_paused = true)]
    async fn a_burst_is_over_one_debounce_after_its_last_change() {
        let mut followed = Followed::new();
        let start = followed.change_begins_a_burst().await;
        let Followed { versions, bursts, stop } = &mut followed;
        let (burst, ()) = tokio::join!(bursts.over(stop), changes(versions, 4, Duration::from_millis(300)));
        assert_eq!(burst, Burst { changes: 5, stopped: false });
        assert_eq!(start.elapsed(), Duration::from_millis(1200) + DEBOUNCE);

        let start = followed.change_begins_a_burst().await;
        assert_eq!(followed.bursts.over(&followed.stop).await, Burst { changes: 1, stopped: false });
        assert_eq!(start.elapsed(), DEBOUNCE);
    }

    /// Changes 400 ms apart never leave a quiet debounce, yet the burst is over five debounces
    /// after it began, covering what came until then; the changes after it make the next.
    #[tokio::test(start_paused = true)]
    async fn a_burst_that_never_pauses_is_cut_after_five_debounces() {
        let mut followed = Followed::new();
        let start = followed.change_begins_a_burst().await;
        let Followed { versions, bursts, stop } = &mut followed;
        let endless = changes(versions, usize::MAX, Duration::from_millis(400));
        tokio::pin!(endless);
        let burst = tokio::select! {
            burst = bursts.over(stop) => burst,
            () = &mut endless => unreachable!("the changes never end"),
        };
        assert_eq!(start.elapsed(), DEBOUNCE * 5);
        assert_eq!(burst, Burst { changes: 1 + 12, stopped: false }, "the first change and one every 400 ms");

        let next = tokio::select! {
            begun = bursts.begun(stop) => begun,
            () = &mut endless => unreachable!("the changes never end"),
        };
        assert!(next);
        assert_eq!(start.elapsed(), Duration::from_millis(5200), "the next burst begins with the next change");
    }

    /// After a burst is over, nothing begins until the store changes again.
    #[tokio::test(start_paused = true)]
    async fn a_burst_is_seen_once() {
        let mut followed = Followed::new();
        followed.change_begins_a_burst().await;
        followed.bursts.over(&followed.stop).await;
        let quiet = tokio::time::timeout(DEBOUNCE * 60, followed.bursts.begun(&followed.stop)).await;
        assert!(quiet.is_err(), "no burst without a change");
        followed.change_begins_a_burst().await;
    }

    /// `stop` ends a burst at once, and says so; no burst begins after it, and the changes
    /// that came meanwhile are still counted for the last regeneration.
    #[tokio::test(start_paused = true)]
    async fn stop_ends_a_burst_and_says_so() {
        let mut followed = Followed::new();
        let start = followed.change_begins_a_burst().await;
        let Followed { versions, bursts, stop } = &mut followed;
        let stopping = async {
            tokio::time::sleep(Duration::from_millis(500)).await;
            stop.cancel();
        };
        let (burst, ()) = tokio::join!(bursts.over(stop), stopping);
        assert_eq!(burst, Burst { changes: 1, stopped: true });
        assert_eq!(start.elapsed(), Duration::from_millis(500));

        assert!(!bursts.begun(stop).await, "no burst begins after stop");
        publish(versions);
        publish(versions);
        assert_eq!(bursts.take_unseen(), 2, "changes made during the last regeneration");
        assert_eq!(bursts.take_unseen(), 0);
    }
}
