//! The engine's clock: virtual (tests: time jumps to the next timer) or real.
//!
//! Every timestamp the engine writes (records, events, timers) comes from one
//! [`Clock`]. A [`LocalRunner`](crate::LocalRunner) and its service share the
//! same clock, and nothing is global: two runners never see each other's time.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A source of epoch-millisecond timestamps, cheap to clone (clones share the
/// same time).
#[derive(Clone, Debug)]
pub struct Clock {
    inner: Arc<ClockKind>,
}

#[derive(Debug)]
enum ClockKind {
    /// Time stands still until [`Clock::advance_to`] moves it.
    Virtual(AtomicI64),
    /// The system clock.
    Real,
}

impl Clock {
    /// A virtual clock that starts at the real current time and only moves
    /// when told to (the [`LocalRunner`](crate::LocalRunner) default: waits and
    /// retry back-offs complete instantly).
    pub fn virtual_now() -> Self {
        Self::virtual_at(system_now_ms())
    }

    /// A virtual clock that starts at `epoch_ms`.
    pub fn virtual_at(epoch_ms: i64) -> Self {
        Self {
            inner: Arc::new(ClockKind::Virtual(AtomicI64::new(epoch_ms))),
        }
    }

    /// The system clock: timers fire when their time has really come.
    pub fn real() -> Self {
        Self {
            inner: Arc::new(ClockKind::Real),
        }
    }

    /// Whether this is a virtual clock.
    pub fn is_virtual(&self) -> bool {
        matches!(*self.inner, ClockKind::Virtual(_))
    }

    /// The current time in epoch milliseconds.
    pub fn now_ms(&self) -> i64 {
        match &*self.inner {
            ClockKind::Virtual(now) => now.load(Ordering::Acquire),
            ClockKind::Real => system_now_ms(),
        }
    }

    /// Moves a virtual clock forward to `epoch_ms` (never backwards). Does
    /// nothing on a real clock.
    pub fn advance_to(&self, epoch_ms: i64) {
        if let ClockKind::Virtual(now) = &*self.inner {
            now.fetch_max(epoch_ms, Ordering::AcqRel);
        }
    }

    /// Moves a virtual clock forward by `by`. Does nothing on a real clock.
    pub fn advance(&self, by: Duration) {
        if let ClockKind::Virtual(now) = &*self.inner {
            let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            let _ = now.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(ms))
            });
        }
    }

    /// Waits until `epoch_ms`: a virtual clock jumps there at once, a real
    /// clock sleeps (needs a Tokio runtime with time enabled).
    pub async fn sleep_until(&self, epoch_ms: i64) {
        match &*self.inner {
            ClockKind::Virtual(_) => self.advance_to(epoch_ms),
            ClockKind::Real => {
                let wait = epoch_ms.saturating_sub(system_now_ms());
                if wait > 0 {
                    tokio::time::sleep(Duration::from_millis(wait.unsigned_abs())).await;
                }
            }
        }
    }
}

impl Default for Clock {
    /// [`Clock::virtual_now`].
    fn default() -> Self {
        Self::virtual_now()
    }
}

/// The system time in epoch milliseconds (0 if the system clock is before 1970).
fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_clock_moves_only_forward_and_only_when_told() {
        let clock = Clock::virtual_at(1_000);
        assert!(clock.is_virtual());
        assert_eq!(clock.now_ms(), 1_000);
        clock.advance_to(5_000);
        assert_eq!(clock.now_ms(), 5_000);
        clock.advance_to(2_000);
        assert_eq!(clock.now_ms(), 5_000);
        clock.advance(Duration::from_secs(2));
        assert_eq!(clock.clone().now_ms(), 7_000);
    }

    #[test]
    fn real_clock_follows_the_system() {
        let clock = Clock::real();
        assert!(!clock.is_virtual());
        let before = system_now_ms();
        clock.advance_to(i64::MAX);
        assert!(clock.now_ms() >= before && clock.now_ms() < before + 60_000);
    }

    #[test]
    fn virtual_clock_starts_at_real_now() {
        let before = system_now_ms();
        let now = Clock::virtual_now().now_ms();
        assert!(now >= before && now < before + 60_000);
    }
}
