//! Blocking detection: per-callback timing on the loop thread, and a
//! watchdog thread that reports a loop stuck in one callback while it is
//! still stuck (Tornado's `set_blocking_signal_threshold`, without signals).

use std::panic::Location;
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Written by the loop, read by the watchdog thread.
pub(crate) struct WatchState {
    /// Origin of the nanosecond counters below.
    epoch: Instant,
    /// When the loop last came back from polling, in ns since `epoch` plus
    /// one; 0 while it polls or is not running.
    busy_since: AtomicU64,
    /// The source location of the callback running now.
    location: AtomicPtr<Location<'static>>,
    /// The threshold in ns; 0 when detection is off.
    threshold: AtomicU64,
}

impl WatchState {
    pub(crate) fn new() -> WatchState {
        WatchState {
            epoch: Instant::now(),
            busy_since: AtomicU64::new(0),
            location: AtomicPtr::new(std::ptr::null_mut()),
            threshold: AtomicU64::new(0),
        }
    }

    fn nanos(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.epoch).as_nanos() as u64 + 1
    }

    /// The loop left `select` (or started) at `now`.
    pub(crate) fn busy(&self, now: Instant) {
        self.busy_since.store(self.nanos(now), Ordering::Release);
    }

    /// The loop is about to wait in `select` (or stopped).
    pub(crate) fn idle(&self) {
        self.busy_since.store(0, Ordering::Release);
    }

    /// The callback registered at `location` starts running.
    pub(crate) fn running(&self, location: &'static Location<'static>) {
        self.location
            .store(location as *const _ as *mut _, Ordering::Relaxed);
    }
}

/// Sets the threshold; starts a watchdog thread if none runs for this loop.
/// `None` (also set when the loop closes) makes the thread exit.
pub(crate) fn set_threshold(watch: &Arc<WatchState>, threshold: Option<Duration>) {
    let ns = threshold.map_or(0, |d| d.as_nanos().clamp(1, u64::MAX as u128) as u64);
    let previous = watch.threshold.swap(ns, Ordering::AcqRel);
    if ns != 0 && previous == 0 {
        let weak = Arc::downgrade(watch);
        let spawned = std::thread::Builder::new()
            .name("tornado-ioloop-watchdog".into())
            .spawn(move || watch_loop(weak));
        if let Err(e) = spawned {
            log::error!(target: "tornado.general", "cannot start the IOLoop watchdog: {e}");
        }
    }
}

/// The watchdog thread: exits when the loop is gone or detection is off.
fn watch_loop(watch: Weak<WatchState>) {
    let mut reported = 0u64;
    loop {
        let Some(s) = watch.upgrade() else { return };
        let threshold = s.threshold.load(Ordering::Acquire);
        if threshold == 0 {
            return;
        }
        let since = s.busy_since.load(Ordering::Acquire);
        let now = s.nanos(Instant::now());
        if since != 0 && since != reported && now.saturating_sub(since) > threshold {
            reported = since;
            let loc = s.location.load(Ordering::Relaxed);
            // SAFETY: the pointer is null or came from a `&'static Location`.
            let loc = unsafe { loc.as_ref() };
            log::warn!(
                target: "tornado.general",
                "IOLoop blocked for {:?} (threshold {:?}); still running the callback registered at {}",
                Duration::from_nanos(now - since),
                Duration::from_nanos(threshold),
                loc.map_or_else(|| "<unknown>".to_owned(), |l| l.to_string()),
            );
        }
        drop(s);
        let tick = Duration::from_nanos(threshold / 4)
            .clamp(Duration::from_millis(1), Duration::from_millis(250));
        std::thread::sleep(tick);
    }
}
