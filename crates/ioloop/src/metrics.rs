//! Loop metrics: plain counters, cheap enough to leave on.

use std::cell::Cell;
use std::time::Duration;

/// A snapshot of a loop's counters, from [`IOLoop::metrics`](crate::IOLoop::metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Iterations of the loop (one poll each).
    pub iterations: u64,
    /// Callbacks run (`add_callback`, future done-callbacks, remote ones).
    pub callbacks_run: u64,
    /// Timeouts whose callback ran.
    pub timeouts_fired: u64,
    /// Timeouts scheduled and not yet fired or removed.
    pub timeouts_pending: usize,
    /// Fd handlers registered now.
    pub handlers_registered: usize,
    /// Calls made to fd handlers.
    pub handler_calls: u64,
    /// Panics caught in callbacks, timeouts and handlers.
    pub panics: u64,
    /// Time spent waiting in the backend's `select`.
    pub poll_time: Duration,
    /// Time spent running callbacks, timeouts and handlers.
    pub run_time: Duration,
}

/// The live counters inside the loop.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) iterations: Cell<u64>,
    pub(crate) callbacks_run: Cell<u64>,
    pub(crate) timeouts_fired: Cell<u64>,
    pub(crate) handler_calls: Cell<u64>,
    pub(crate) panics: Cell<u64>,
    pub(crate) poll_time: Cell<Duration>,
    pub(crate) run_time: Cell<Duration>,
}

/// Adds one to a counter.
pub(crate) fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}
