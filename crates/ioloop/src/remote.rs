//! The thread-safe side of a loop: its remote queue, stop flag and waker,
//! and the `Send + Sync` handle other threads hold.

use std::panic::Location;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tornado_concurrent::schedule::{RemoteSchedule, SendCallback};

use crate::error::Error;
use crate::sys::Waker;
use crate::watchdog::WatchState;

/// A callback sent from another thread, with where it was added.
pub(crate) type RemoteQueued = (SendCallback, &'static Location<'static>);

/// What a loop shares with other threads.
pub(crate) struct Shared {
    /// Callbacks sent from other threads, moved into the local queue at the
    /// start of each iteration.
    pub(crate) queue: Mutex<Vec<RemoteQueued>>,
    /// True from a remote push until the loop drains the queue; the waker
    /// is written only on its false-to-true edge, so a burst of remote
    /// callbacks costs one system call.
    pub(crate) notified: AtomicBool,
    /// Set by `stop`; consumed by the running loop, or by the next `start`.
    pub(crate) stop: AtomicBool,
    /// Set once by `close`; remote callbacks are then refused.
    pub(crate) closed: AtomicBool,
    /// Wakes the loop from `select`. Its fds close only when the last
    /// `Shared` reference goes, so a late remote write never hits a reused fd.
    pub(crate) waker: Waker,
    /// What the blocking watchdog reads.
    pub(crate) watch: Arc<WatchState>,
}

impl Shared {
    pub(crate) fn new(waker: Waker) -> Shared {
        Shared {
            queue: Mutex::new(Vec::new()),
            notified: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            waker,
            watch: Arc::new(WatchState::new()),
        }
    }

    pub(crate) fn push(
        &self,
        callback: SendCallback,
        location: &'static Location<'static>,
    ) -> Result<(), SendCallback> {
        if self.closed.load(Ordering::Acquire) {
            return Err(callback);
        }
        self.queue.lock().push((callback, location));
        self.notify();
        Ok(())
    }

    /// Wakes the loop unless a wake-up is already pending.
    pub(crate) fn notify(&self) {
        if !self.notified.swap(true, Ordering::AcqRel) {
            self.waker.wake();
        }
    }
}

impl RemoteSchedule for Shared {
    fn schedule_remote(
        &self,
        callback: SendCallback,
        location: &'static Location<'static>,
    ) -> Result<(), SendCallback> {
        self.push(callback, location)
    }
}

/// A `Send + Sync` handle to a loop, for other threads: the one safe way to
/// reach a loop from elsewhere, as `add_callback` is in Tornado.
///
/// ```
/// use tornado_ioloop::IOLoop;
///
/// let ioloop = IOLoop::new().unwrap();
/// let remote = ioloop.remote();
/// std::thread::spawn(move || {
///     remote.add_callback(|| IOLoop::current().stop());
/// });
/// ioloop.start().unwrap(); // returns once the other thread's callback ran
/// ```
#[derive(Clone)]
pub struct Remote {
    pub(crate) shared: Arc<Shared>,
}

impl Remote {
    /// Queues `callback` on the loop and wakes it. Dropped (with a debug
    /// log) if the loop is closed; see [`try_add_callback`](Remote::try_add_callback).
    #[track_caller]
    pub fn add_callback(&self, callback: impl FnOnce() + Send + 'static) {
        if self.try_add_callback(callback).is_err() {
            log::debug!(target: "tornado.general", "add_callback on a closed IOLoop: dropped");
        }
    }

    /// Queues `callback`, or fails with [`Error::Closed`].
    #[track_caller]
    pub fn try_add_callback(&self, callback: impl FnOnce() + Send + 'static) -> Result<(), Error> {
        self.shared
            .push(Box::new(callback), Location::caller())
            .map_err(|_| Error::Closed)
    }

    /// Stops the loop: `start` returns after the current iteration. If the
    /// loop is not running, its next `start` returns at once.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.notify();
    }

    /// True once the loop was closed.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// True if both handles reach the same loop.
    pub fn same_loop(&self, other: &Remote) -> bool {
        Arc::ptr_eq(&self.shared, &other.shared)
    }
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Remote({:p})", Arc::as_ptr(&self.shared))
    }
}
