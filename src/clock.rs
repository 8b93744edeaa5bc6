//! The injected clock: wall time in production, virtual time in simulations.
//!
//! Every component that needs "now" (the engine, the amoCRM client's rate limiter and retries,
//! the mock's `created_at`) gets a [`Clock`]. Under a virtual clock nothing waits in real time:
//! `Clock::sleep` moves virtual time forward instead, so a scenario that spans an hour of
//! calls runs in milliseconds and gives the same journal on every machine.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A source of time, cheap to clone. Times are Unix milliseconds.
#[derive(Clone, Debug)]
pub enum Clock {
    /// The system clock; `sleep` really sleeps.
    System,
    /// Virtual time shared by every clone; `sleep` advances it without waiting.
    Virtual(Arc<AtomicI64>),
}

impl Clock {
    /// A virtual clock that starts at `start_ms` (Unix milliseconds).
    pub fn virtual_at(start_ms: i64) -> Self {
        Clock::Virtual(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Current time in Unix milliseconds.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => chrono::Utc::now().timestamp_millis(),
            Clock::Virtual(t) => t.load(Ordering::SeqCst),
        }
    }

    /// Current time in whole Unix seconds (amoCRM and Sipuni timestamps are seconds).
    pub fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }

    /// Is this a virtual clock (a simulation)?
    pub fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual(_))
    }

    /// Moves a virtual clock forward to `ms` if that is later than now; no-op for the system clock.
    pub fn advance_to(&self, ms: i64) {
        if let Clock::Virtual(t) = self {
            t.fetch_max(ms, Ordering::SeqCst);
        }
    }

    /// Waits for `d`: really on the system clock, by moving time forward on a virtual one.
    pub(crate) async fn sleep(&self, d: Duration) {
        match self {
            Clock::System => tokio::time::sleep(d).await,
            Clock::Virtual(t) => {
                // Rounded up, so that a wait is never shorter than asked for.
                let ms = i64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(i64::MAX);
                t.fetch_add(ms, Ordering::SeqCst);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn virtual_sleep_advances_time_without_waiting() {
        let clock = Clock::virtual_at(1_000);
        let started = std::time::Instant::now();
        clock.sleep(Duration::from_secs(3600)).await;
        assert_eq!(clock.now_ms(), 1_000 + 3_600_000);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn advance_to_never_goes_backwards() {
        let clock = Clock::virtual_at(5_000);
        clock.advance_to(4_000);
        assert_eq!(clock.now_ms(), 5_000);
        clock.advance_to(7_500);
        assert_eq!(clock.now_secs(), 7);
    }
}
