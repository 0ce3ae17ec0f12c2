//! The loop's clock. Every time read of the loop goes through it so that a
//! test can substitute a virtual clock.

use std::time::{Duration, Instant};

/// A monotonic time source for one loop.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;

    /// Given how long the loop wants to wait for I/O (until its next timeout,
    /// `None` for no timeout), returns how long it should really wait. A
    /// virtual clock advances itself to the deadline here and returns zero,
    /// so a test of a long timeout takes no real time; the real clock waits
    /// as asked.
    fn poll_timeout(&self, wanted: Option<Duration>) -> Option<Duration> {
        wanted
    }
}

/// The real monotonic clock (`Instant::now`), the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}
