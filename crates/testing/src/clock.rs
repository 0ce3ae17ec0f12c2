//! `VirtualClock`: time that a test controls.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tornado_ioloop::{Clock, IOLoop};

/// A clock for test loops whose time moves only when the test (or the
/// loop, when it would otherwise sleep) says so; a test of a 30-second
/// timeout takes no real time, and timers still fire in deadline order, at
/// exactly the virtual times they would have.
///
/// Two modes:
///
/// - **auto-advance** (the default): whenever the loop is about to sleep
///   until its next timer, the clock jumps to that timer's deadline instead
///   and the loop does not sleep. With no timer pending the loop waits for
///   I/O as usual. Suits code driven by timers and loop callbacks; a test
///   that waits for real I/O still in flight (a socket another thread will
///   write to later) should pause the clock, or the next timer may fire
///   first.
/// - **paused** ([`pause`](VirtualClock::pause)): time moves only by
///   [`advance`](VirtualClock::advance); a loop with only future timers
///   waits for I/O or a wake-up.
///
/// After `advance`, timers now due run on the loop's next iteration; a
/// coroutine can `sleep(Duration::ZERO).await` to resume after them.
///
/// ```
/// use std::time::{Duration, Instant};
/// use tornado_gen::{coroutine, sleep};
/// use tornado_ioloop::IOLoop;
/// use tornado_testing::VirtualClock;
///
/// let ioloop = IOLoop::new().unwrap();
/// let clock = VirtualClock::install(&ioloop);
/// let started = Instant::now();
/// ioloop.run_sync(|| coroutine(async {
///     sleep(Duration::from_secs(30)).await;
///     Ok(())
/// }), None).unwrap();
/// assert_eq!(clock.elapsed(), Duration::from_secs(30));
/// assert!(started.elapsed() < Duration::from_secs(1));
/// ```
#[derive(Debug)]
pub struct VirtualClock {
    /// The real instant virtual time starts from: `now() = base + offset`.
    base: Instant,
    /// Virtual time elapsed since `base`; it only grows.
    offset: Cell<Duration>,
    /// True while time moves only through `advance`.
    paused: Cell<bool>,
}

impl VirtualClock {
    /// A new auto-advancing clock reading the real time of now. It does
    /// nothing until given to a loop: see [`install`](VirtualClock::install).
    pub fn new() -> Rc<VirtualClock> {
        Rc::new(VirtualClock {
            base: Instant::now(),
            offset: Cell::new(Duration::ZERO),
            paused: Cell::new(false),
        })
    }

    /// A new auto-advancing clock, made `ioloop`'s clock. Its time starts at
    /// the real time of now, so timers already scheduled keep their places;
    /// `ioloop.set_clock(None)` goes back to real time.
    pub fn install(ioloop: &IOLoop) -> Rc<VirtualClock> {
        let clock = VirtualClock::new();
        ioloop.set_clock(Some(clock.clone() as Rc<dyn Clock>));
        clock
    }

    /// The clock's current (virtual) time.
    pub fn now(&self) -> Instant {
        self.base + self.offset.get()
    }

    /// Virtual time passed since the clock was made.
    pub fn elapsed(&self) -> Duration {
        self.offset.get()
    }

    /// Moves the time forward by `by`; timers due by then fire on the loop's
    /// next iteration, in deadline order.
    pub fn advance(&self, by: Duration) {
        self.offset.set(self.offset.get() + by);
    }

    /// Stops auto-advance: time moves only through `advance`.
    pub fn pause(&self) {
        self.paused.set(true);
    }

    /// Resumes auto-advance.
    pub fn resume(&self) {
        self.paused.set(false);
    }

    /// True while paused.
    pub fn is_paused(&self) -> bool {
        self.paused.get()
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        VirtualClock::now(self)
    }

    fn poll_timeout(&self, wanted: Option<Duration>) -> Option<Duration> {
        match wanted {
            // Work is waiting, or nothing is scheduled: as the loop asks.
            Some(d) if d.is_zero() => wanted,
            None => None,
            // Only a timer in the future: jump to it rather than sleep.
            Some(d) if !self.paused.get() => {
                self.advance(d);
                Some(Duration::ZERO)
            }
            // Paused: that deadline never comes by itself; wait for I/O or a
            // wake-up (from another thread) only.
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_timeout_in_both_modes() {
        let clock = VirtualClock::new();
        let t0 = clock.now();
        assert_eq!(clock.poll_timeout(None), None);
        assert_eq!(
            clock.poll_timeout(Some(Duration::ZERO)),
            Some(Duration::ZERO)
        );
        assert_eq!(
            clock.poll_timeout(Some(Duration::from_secs(3))),
            Some(Duration::ZERO)
        );
        assert_eq!(clock.now() - t0, Duration::from_secs(3));
        clock.pause();
        assert!(clock.is_paused());
        assert_eq!(clock.poll_timeout(Some(Duration::from_secs(3))), None);
        assert_eq!(clock.elapsed(), Duration::from_secs(3), "paused: unmoved");
        clock.advance(Duration::from_millis(5));
        assert_eq!(clock.elapsed(), Duration::from_millis(3005));
        clock.resume();
        assert!(!clock.is_paused());
    }
}
