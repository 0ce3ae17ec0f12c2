//! The loop's clock. Every time read of the loop goes through it so that a
//! test can substitute a virtual clock.

use std::time::Instant;

/// A monotonic time source for one loop.
pub trait Clock {
    /// The current time.
    fn now(&self) -> Instant;
}

/// The real monotonic clock (`Instant::now`), the default.
#[derive(Debug, Clone, Copy, Default)]
pub struct MonotonicClock;

impl Clock for MonotonicClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}
