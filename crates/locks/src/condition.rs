//! `Condition`: coroutines wait until another notifies them.

use std::fmt;

use tornado_concurrent::Future;

use crate::deadline::Deadline;
use crate::waiters::Waiters;

/// Lets coroutines wait until another one notifies them (Tornado's
/// `locks.Condition`: like `threading.Condition`, without an underlying
/// lock, since only one coroutine runs at a time anyway).
///
/// A wait resolves to `true` when notified, or to `false` if its deadline
/// passed first (as in Tornado, a timed-out wait is not an error). Waiters
/// are notified oldest first; one that timed out, was cancelled or was
/// dropped does not use up a notification. Cloning gives another handle to
/// the same condition.
///
/// ```
/// use tornado_gen::{coroutine, multi};
/// use tornado_ioloop::IOLoop;
/// use tornado_locks::Condition;
///
/// let condition = Condition::new();
/// let (c1, c2) = (condition.clone(), condition.clone());
/// let (notified, ()) = IOLoop::new().unwrap().run_sync(move || {
///     let waiter = coroutine(async move { c1.wait().await });
///     let notifier = coroutine(async move {
///         c2.notify(1);
///         Ok(())
///     });
///     multi((waiter, notifier))
/// }, None).unwrap();
/// assert!(notified);
/// ```
#[derive(Clone, Default)]
pub struct Condition {
    /// Pending waits; each resolves to `true` (notified) or `false`.
    waiters: Waiters<bool>,
}

impl Condition {
    /// A condition nobody waits on yet.
    pub fn new() -> Condition {
        Condition {
            waiters: Waiters::with_timeout_outcome(|_| Ok(false)),
        }
    }

    /// A future that resolves to `true` at the next notification that
    /// reaches it.
    pub fn wait(&self) -> Future<bool> {
        self.waiters.push((), None)
    }

    /// As [`wait`](Condition::wait), resolving to `false` if not notified by
    /// `deadline` (a `Duration` from now, or an `Instant` of the loop's
    /// clock). A waiter that timed out is forgotten.
    pub fn wait_timeout(&self, deadline: impl Into<Deadline>) -> Future<bool> {
        self.waiters.push((), Some(deadline.into()))
    }

    /// Wakes the `n` oldest waiters still waiting.
    pub fn notify(&self, n: usize) {
        // Collected first, resolved after: resolving schedules callbacks that
        // may call `notify` again, and each of them sees a consistent list.
        let woken: Vec<_> = (0..n).map_while(|_| self.waiters.pop()).collect();
        for (waiter, ()) in woken {
            let _ = waiter.set_result(true);
        }
    }

    /// Wakes every waiter.
    pub fn notify_all(&self) {
        for (waiter, ()) in self.waiters.drain() {
            let _ = waiter.set_result(true);
        }
    }

    /// The number of coroutines waiting.
    pub fn waiters(&self) -> usize {
        self.waiters.len()
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.waiters.len() {
            0 => write!(f, "<Condition>"),
            n => write!(f, "<Condition waiters[{n}]>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use tornado_ioloop::IOLoop;

    use super::*;

    #[test]
    fn repr_counts_live_waiters() {
        let _l = IOLoop::new().unwrap();
        let c = Condition::new();
        assert_eq!(format!("{c:?}"), "<Condition>");
        let w = c.wait();
        assert_eq!(format!("{c:?}"), "<Condition waiters[1]>");
        drop(w);
        assert_eq!(format!("{c:?}"), "<Condition>", "a dropped wait is gone");
    }

    #[test]
    fn notify_n_in_fifo_order() {
        let _l = IOLoop::new().unwrap();
        let c = Condition::new();
        let ws: Vec<_> = (0..6).map(|_| c.wait()).collect();
        c.notify(3);
        let done: Vec<bool> = ws.iter().map(|w| w.done()).collect();
        assert_eq!(done, [true, true, true, false, false, false]);
        c.notify(1);
        assert!(ws[3].done() && !ws[4].done());
        c.notify_all();
        assert!(ws.iter().all(|w| w.result().unwrap()));
    }
}
