//! `Waiters`: the FIFO of pending waits behind every primitive here and
//! behind the queues.
//!
//! A wait is a [`Future`] the list keeps one handle to. It leaves the list
//! when it is handed its value (`pop`, `drain`), when its deadline passes
//! (its timer removes it at once, so a `wait(timeout)` loop cannot grow the
//! list), or when it is found abandoned. A wait is abandoned when nobody can
//! observe it any more: it was cancelled (or otherwise finished) by its
//! holder, or every other handle to it was dropped and no done-callback
//! waits for it. Abandoned waits are skipped by `pop`, so a permit or an item
//! is never handed to them, and purged in bulk when the list doubles in size.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::{Rc, Weak};
use std::time::{Duration, Instant};

use tornado_concurrent::{Error, Future};
use tornado_gen::TimeoutError;
use tornado_ioloop::{IOLoop, Timeout};

use crate::deadline::Deadline;

/// The list is never purged below this size: purging tiny lists is waste.
const PURGE_MIN: usize = 64;

/// What a timed-out wait resolves to (an error, or `false` for a condition).
type TimeoutOutcome<T> = fn(TimeoutError) -> Result<T, Error>;

/// One pending wait.
struct Entry<T: 'static, P> {
    /// The waiter's future; the list holds exactly one handle to it, which
    /// is what makes `handle_count` tell whether anyone else still does.
    future: Future<T>,
    /// What the waiter brings along (a blocked `put`'s item), handed back by
    /// `pop` and dropped if the wait ends otherwise.
    payload: P,
    /// The deadline's timer while armed; removed when the wait ends early.
    timer: Option<(IOLoop, Timeout)>,
}

/// The shared state: the entries and how to expire them.
struct List<T: 'static, P> {
    /// Pending waits by id. Ids only grow, so key order is arrival order.
    entries: BTreeMap<u64, Entry<T, P>>,
    /// The id the next wait gets.
    next_id: u64,
    /// When `entries` reaches this size, abandoned waits are purged and it
    /// becomes twice the survivors (at least `PURGE_MIN`): amortised O(1).
    purge_at: usize,
    /// What a wait whose deadline passed resolves to.
    on_timeout: TimeoutOutcome<T>,
}

/// A FIFO of waiting futures, with deadlines, that skips abandoned waiters.
///
/// This is the machinery of [`Event`](crate::Event),
/// [`Condition`](crate::Condition), [`Semaphore`](crate::Semaphore),
/// [`Lock`](crate::Lock) and of `tornado-queues`; it is public for other
/// primitives of the same kind. `P` is a payload each waiter brings (a
/// blocked producer's item). Cloning gives another handle to the same list.
///
/// ```
/// use tornado_ioloop::IOLoop;
/// use tornado_locks::Waiters;
///
/// let _ioloop = IOLoop::new().unwrap();
/// let waiters: Waiters<u32> = Waiters::new();
/// let first = waiters.push((), None);
/// let second = waiters.push((), None);
/// first.cancel(); // the holder gave up: it is skipped
/// let (next, ()) = waiters.pop().unwrap();
/// next.set_result(7).unwrap();
/// assert_eq!(second.result().unwrap(), 7);
/// assert!(waiters.pop().is_none());
/// ```
pub struct Waiters<T: 'static, P: 'static = ()> {
    /// Shared with the deadline timers, which hold it weakly.
    list: Rc<RefCell<List<T, P>>>,
}

impl<T: 'static, P: 'static> Clone for Waiters<T, P> {
    fn clone(&self) -> Self {
        Waiters {
            list: self.list.clone(),
        }
    }
}

impl<T: 'static, P: 'static> Default for Waiters<T, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static, P: 'static> Waiters<T, P> {
    /// An empty list whose timed-out waits fail with [`TimeoutError`].
    pub fn new() -> Self {
        Self::with_timeout_outcome(|e| Err(e.into()))
    }

    /// An empty list whose timed-out waits resolve to `on_timeout(error)`
    /// (a [`Condition`](crate::Condition) resolves them to `false`).
    pub fn with_timeout_outcome(on_timeout: fn(TimeoutError) -> Result<T, Error>) -> Self {
        Waiters {
            list: Rc::new(RefCell::new(List {
                entries: BTreeMap::new(),
                next_id: 0,
                purge_at: PURGE_MIN,
                on_timeout,
            })),
        }
    }

    /// Adds a waiter at the back and returns its future. With a deadline,
    /// the wait ends with the timeout outcome when it passes; a deadline
    /// that already passed ends it at once (nothing is queued, and the
    /// payload is dropped).
    pub fn push(&self, payload: P, deadline: Option<Deadline>) -> Future<T> {
        let future = Future::new();
        let mut arm = None;
        if let Some(deadline) = deadline {
            let ioloop = IOLoop::current();
            let (at, after) = deadline.resolve(&ioloop);
            if after.is_zero() {
                let on_timeout = self.list.borrow().on_timeout;
                settle(&future, on_timeout(TimeoutError(after)));
                return future;
            }
            arm = Some((ioloop, at, after));
        }
        let (id, purged) = {
            let mut list = self.list.borrow_mut();
            let purged = list.purge_if_due();
            let id = list.next_id;
            list.next_id += 1;
            let entry = Entry {
                future: future.clone(),
                payload,
                timer: None,
            };
            list.entries.insert(id, entry);
            (id, purged)
        };
        if let Some((ioloop, at, after)) = arm {
            self.arm(ioloop, id, at, after);
        }
        discard(purged);
        future
    }

    /// Starts the timer that expires wait `id` at `at`.
    fn arm(&self, ioloop: IOLoop, id: u64, at: Instant, after: Duration) {
        // Weak: a pending timer must not keep a dropped primitive alive.
        let list = Rc::downgrade(&self.list);
        let handle = ioloop.add_timeout(at, move || expire(&list, id, after));
        if let Some(entry) = self.list.borrow_mut().entries.get_mut(&id) {
            entry.timer = Some((ioloop, handle));
        }
    }

    /// Removes and returns the oldest waiter still wanted, with its payload;
    /// its deadline timer is removed. Abandoned waiters met on the way are
    /// dropped. The caller resolves the future.
    pub fn pop(&self) -> Option<(Future<T>, P)> {
        let mut skipped = Vec::new();
        let found = loop {
            let next = self.list.borrow_mut().entries.pop_first();
            match next {
                None => break None,
                Some((_, entry)) if wanted(&entry.future) => break Some(entry),
                Some((_, entry)) => skipped.push(entry),
            }
        };
        discard(skipped);
        found.map(|mut entry| {
            stop_timer(&mut entry);
            (entry.future, entry.payload)
        })
    }

    /// Removes every waiter; returns those still wanted, oldest first.
    pub fn drain(&self) -> Vec<(Future<T>, P)> {
        let entries = std::mem::take(&mut self.list.borrow_mut().entries);
        let mut live = Vec::with_capacity(entries.len());
        let mut skipped = Vec::new();
        for (_, mut entry) in entries {
            if wanted(&entry.future) {
                stop_timer(&mut entry);
                live.push((entry.future, entry.payload));
            } else {
                skipped.push(entry);
            }
        }
        discard(skipped);
        live
    }

    /// The number of waiters still wanted (O(n): for reports and tests).
    pub fn len(&self) -> usize {
        let list = self.list.borrow();
        list.entries.values().filter(|e| wanted(&e.future)).count()
    }

    /// True if no waiter is still wanted.
    pub fn is_empty(&self) -> bool {
        let list = self.list.borrow();
        !list.entries.values().any(|e| wanted(&e.future))
    }

    /// The number of entries held, abandoned ones included.
    #[cfg(test)]
    fn held(&self) -> usize {
        self.list.borrow().entries.len()
    }
}

impl<T: 'static, P: 'static> List<T, P> {
    /// Takes the abandoned entries out if the list reached `purge_at`.
    fn purge_if_due(&mut self) -> Vec<Entry<T, P>> {
        if self.entries.len() < self.purge_at {
            return Vec::new();
        }
        let dead: Vec<u64> = self
            .entries
            .iter()
            .filter(|(_, e)| !wanted(&e.future))
            .map(|(id, _)| *id)
            .collect();
        let removed = dead
            .into_iter()
            .filter_map(|id| self.entries.remove(&id))
            .collect();
        self.purge_at = (self.entries.len() * 2).max(PURGE_MIN);
        removed
    }
}

impl<T: 'static, P> Drop for List<T, P> {
    fn drop(&mut self) {
        // Nobody can wake these waiters any more; at least free the timers.
        for entry in self.entries.values_mut() {
            stop_timer(entry);
        }
    }
}

impl<T: 'static, P: 'static> fmt::Debug for Waiters<T, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Waiters({})", self.len())
    }
}

/// True if someone can still observe `future`: it is pending and a handle
/// besides the list's, or a done-callback, exists.
fn wanted<T: 'static>(future: &Future<T>) -> bool {
    !future.done() && (future.handle_count() > 1 || future.has_done_callbacks())
}

/// The timer callback: ends wait `id` with the timeout outcome.
fn expire<T: 'static, P>(list: &Weak<RefCell<List<T, P>>>, id: u64, after: Duration) {
    let Some(list) = list.upgrade() else { return };
    let (entry, on_timeout) = {
        let mut l = list.borrow_mut();
        (l.entries.remove(&id), l.on_timeout)
    };
    // Already handed its value, or purged: nothing to do.
    let Some(entry) = entry else { return };
    if !entry.future.done() {
        settle(&entry.future, on_timeout(TimeoutError(after)));
    }
    // Dropped here, outside the borrow: the payload may run arbitrary code.
    drop(entry);
}

/// Removes an entry's deadline timer, if armed.
fn stop_timer<T: 'static, P>(entry: &mut Entry<T, P>) {
    if let Some((ioloop, handle)) = entry.timer.take() {
        ioloop.remove_timeout(handle);
    }
}

/// Drops entries that left the list without being handed anything.
fn discard<T: 'static, P>(entries: Vec<Entry<T, P>>) {
    for mut entry in entries {
        stop_timer(&mut entry);
    }
}

/// Finishes `future` with `outcome`; a finished future is left alone.
pub(crate) fn settle<T: 'static>(future: &Future<T>, outcome: Result<T, Error>) {
    let _ = match outcome {
        Ok(v) => future.set_result(v),
        Err(e) => future.set_exception(e),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> IOLoop {
        let l = IOLoop::new().unwrap();
        l.make_current();
        l
    }

    /// Runs the loop until `ms` milliseconds of its clock passed.
    fn run_for(l: &IOLoop, ms: u64) {
        let m = l.clone();
        l.call_later(Duration::from_millis(ms), move || m.stop());
        l.start().unwrap();
    }

    #[test]
    fn fifo_and_skips_cancelled_and_dropped_waiters() {
        let _l = fresh();
        let w: Waiters<u8, &str> = Waiters::new();
        let a = w.push("a", None);
        let b = w.push("b", None);
        drop(w.push("c", None)); // the holder dropped it
        let d = w.push("d", None);
        assert_eq!(w.len(), 3);
        assert_eq!(w.held(), 4);
        assert!(b.cancel());
        assert_eq!(w.pop().unwrap().1, "a");
        assert_eq!(w.pop().unwrap().1, "d", "cancelled b and dropped c skipped");
        assert!(w.pop().is_none());
        assert!(w.is_empty());
        drop((a, d));
    }

    #[test]
    fn a_done_callback_counts_as_interest() {
        let _l = fresh();
        let w: Waiters<u8> = Waiters::new();
        w.push((), None).add_done_callback(|_| {});
        assert_eq!(w.len(), 1, "no handle kept, but a callback waits");
        assert!(w.pop().is_some());
    }

    #[test]
    fn deadlines_expire_and_remove_the_waiter() {
        let l = fresh();
        let w: Waiters<u8> = Waiters::new();
        let short = w.push((), Some(Duration::from_millis(5).into()));
        let long = w.push((), Some(Duration::from_secs(60).into()));
        assert_eq!(l.metrics().timeouts_pending, 2);
        run_for(&l, 20);
        let e = short.exception().expect("timed out");
        assert_eq!(
            e.downcast_ref::<TimeoutError>(),
            Some(&TimeoutError(Duration::from_millis(5)))
        );
        assert_eq!(w.held(), 1, "removed by its timer, not left for a purge");
        let (f, ()) = w.pop().unwrap();
        assert_eq!(l.metrics().timeouts_pending, 0, "pop removed the timer");
        f.set_result(1).unwrap();
        assert_eq!(long.result().unwrap(), 1);
    }

    #[test]
    fn a_passed_deadline_ends_the_wait_at_once() {
        let l = fresh();
        let w: Waiters<bool> = Waiters::with_timeout_outcome(|_| Ok(false));
        let f = w.push((), Some(Duration::ZERO.into()));
        assert!(!f.result().unwrap());
        let g = w.push((), Some(Deadline::At(l.time() - Duration::from_millis(1))));
        assert!(!g.result().unwrap());
        assert_eq!(w.held(), 0);
        assert_eq!(l.metrics().timeouts_pending, 0);
    }

    #[test]
    fn abandoned_waiters_are_purged_as_the_list_grows() {
        let l = fresh();
        let w: Waiters<u8> = Waiters::new();
        let kept = w.push((), None);
        for _ in 0..1000 {
            drop(w.push((), Some(Duration::from_secs(60).into())));
        }
        assert!(w.held() <= 2 * PURGE_MIN, "held {}", w.held());
        assert!(l.metrics().timeouts_pending <= 2 * PURGE_MIN);
        assert_eq!(w.len(), 1);
        drop(kept);
    }

    #[test]
    fn dropping_the_list_frees_its_timers() {
        let l = fresh();
        let w: Waiters<u8> = Waiters::new();
        let f = w.push((), Some(Duration::from_secs(60).into()));
        assert_eq!(l.metrics().timeouts_pending, 1);
        drop(w);
        assert_eq!(l.metrics().timeouts_pending, 0);
        assert!(!f.done());
    }

    #[test]
    fn drain_returns_the_live_waiters_in_order() {
        let _l = fresh();
        let w: Waiters<u8, u8> = Waiters::new();
        let fs: Vec<_> = (0..4).map(|i| w.push(i, None)).collect();
        fs[2].cancel();
        let order: Vec<u8> = w.drain().into_iter().map(|(_, p)| p).collect();
        assert_eq!(order, vec![0, 1, 3]);
        assert_eq!(w.held(), 0);
    }
}
