//! `Deadline`: when a wait gives up.

use std::time::{Duration, Instant};

use tornado_ioloop::IOLoop;

/// When a timed wait gives up: after a duration from now, or at an instant
/// of the loop's clock (Tornado accepts a `timedelta` or an absolute
/// `IOLoop.time()`; these are the two cases).
///
/// Every `*_timeout` method takes `impl Into<Deadline>`, so a `Duration` or
/// an `Instant` can be passed directly.
///
/// ```
/// use std::time::Duration;
/// use tornado_ioloop::IOLoop;
/// use tornado_locks::Deadline;
///
/// let ioloop = IOLoop::new().unwrap();
/// let relative = Deadline::from(Duration::from_secs(1));
/// let absolute = Deadline::from(ioloop.time() + Duration::from_secs(1));
/// assert_eq!(relative.resolve(&ioloop).1, Duration::from_secs(1));
/// assert!(absolute.resolve(&ioloop).1 <= Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// This long after the wait starts.
    After(Duration),
    /// At this instant of the loop's clock ([`IOLoop::time`]).
    At(Instant),
}

impl Deadline {
    /// The deadline on `ioloop`'s clock, and how long that is from now (the
    /// duration a [`TimeoutError`](tornado_gen::TimeoutError) reports).
    pub fn resolve(self, ioloop: &IOLoop) -> (Instant, Duration) {
        let now = ioloop.time();
        match self {
            Deadline::After(d) => (now + d, d),
            Deadline::At(t) => (t, t.saturating_duration_since(now)),
        }
    }
}

impl From<Duration> for Deadline {
    fn from(d: Duration) -> Self {
        Deadline::After(d)
    }
}

impl From<Instant> for Deadline {
    fn from(t: Instant) -> Self {
        Deadline::At(t)
    }
}
