//! `Semaphore` and `BoundedSemaphore`, their guard, and the counter core
//! they share with `Lock`.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use tornado_concurrent::Future;

use crate::deadline::Deadline;
use crate::waiters::Waiters;

/// A guard type handed out by a [`Core`]: it holds one permit.
pub(crate) trait Permit: Sized + 'static {
    /// Wraps a permit just taken from `core`.
    fn grant(core: Rc<Core<Self>>) -> Self;
}

/// The counter and queue behind a semaphore or a lock; shared by its
/// handles and by the guards it handed out.
pub(crate) struct Core<G: 'static> {
    /// Permits free now. Nonzero only while no wanted waiter waits: a
    /// release hands its permit straight to the oldest waiter instead, so a
    /// newcomer never overtakes a waiter (FIFO).
    value: Cell<usize>,
    /// The most `value` may reach by releasing, for bounded semaphores and
    /// locks; `None` for plain semaphores.
    bound: Option<usize>,
    /// Acquisitions waiting for a permit; each resolves to a guard.
    waiters: Waiters<G>,
}

impl<G: Permit> Core<G> {
    pub(crate) fn new(value: usize, bound: Option<usize>) -> Rc<Core<G>> {
        Rc::new(Core {
            value: Cell::new(value),
            bound,
            waiters: Waiters::new(),
        })
    }

    pub(crate) fn value(&self) -> usize {
        self.value.get()
    }

    pub(crate) fn waiters(&self) -> usize {
        self.waiters.len()
    }

    /// Takes a permit if one is free now.
    pub(crate) fn try_acquire(self: &Rc<Self>) -> Option<G> {
        let value = self.value.get();
        if value == 0 {
            return None;
        }
        self.value.set(value - 1);
        Some(G::grant(self.clone()))
    }

    /// Takes a permit now or joins the queue for one.
    pub(crate) fn acquire(self: &Rc<Self>, deadline: Option<Deadline>) -> Future<G> {
        match self.try_acquire() {
            Some(guard) => Future::resolved(guard),
            None => self.waiters.push((), deadline),
        }
    }

    /// Returns a permit: to the oldest wanted waiter, else to the counter.
    /// False (and nothing done) if that would pass the bound.
    pub(crate) fn release(self: &Rc<Self>) -> bool {
        if self.bound.is_some_and(|b| self.value.get() >= b) {
            return false;
        }
        match self.waiters.pop() {
            Some((waiter, ())) => {
                // `pop` returns only pending waiters, so this cannot fail.
                let _ = waiter.set_result(G::grant(self.clone()));
            }
            None => self.value.set(self.value.get() + 1),
        }
        true
    }

    /// Tornado's repr: `<Name [unlocked,value:1]>`, `<Name [locked,waiters:2]>`.
    pub(crate) fn describe(&self, f: &mut fmt::Formatter<'_>, name: &str) -> fmt::Result {
        let value = self.value.get();
        write!(f, "<{name} [")?;
        if value == 0 {
            write!(f, "locked")?;
        } else {
            write!(f, "unlocked,value:{value}")?;
        }
        match self.waiters.len() {
            0 => write!(f, "]>"),
            n => write!(f, ",waiters:{n}]>"),
        }
    }
}

/// A released-too-often bounded semaphore (Tornado's `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Semaphore released too many times")]
pub struct TooManyReleases;

/// One permit of a [`Semaphore`] or [`BoundedSemaphore`]; dropping it
/// releases the permit (Tornado's `with (yield sem.acquire()):`).
#[must_use = "dropping the guard releases the permit at once"]
pub struct SemaphoreGuard {
    /// The semaphore the permit goes back to; `None` after `forget`.
    core: Option<Rc<Core<SemaphoreGuard>>>,
}

impl Permit for SemaphoreGuard {
    fn grant(core: Rc<Core<Self>>) -> Self {
        SemaphoreGuard { core: Some(core) }
    }
}

impl SemaphoreGuard {
    /// Keeps the permit taken without releasing it on drop, for code that
    /// calls `release` itself (Tornado's `acquire()` / `release()` style).
    pub fn forget(mut self) {
        self.core = None;
    }
}

impl Drop for SemaphoreGuard {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            if !core.release() {
                // Only possible if `release` was also called by hand while
                // this guard was held; a drop cannot return the error.
                log::error!(target: "tornado.application", "{TooManyReleases} (by a guard)");
            }
        }
    }
}

impl fmt::Debug for SemaphoreGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SemaphoreGuard")
    }
}

/// A counter of permits that coroutines acquire and release (Tornado's
/// `locks.Semaphore`): `acquire` waits while none is free. Permits go to
/// waiters oldest first; a waiter that timed out, was cancelled or was
/// dropped never gets one. Cloning gives another handle to the same
/// semaphore.
///
/// Two workers at a time:
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
/// use tornado_gen::{coroutine, multi, sleep};
/// use tornado_ioloop::IOLoop;
/// use tornado_locks::Semaphore;
///
/// let ioloop = IOLoop::new().unwrap(); // current: the coroutines run on it
/// let sem = Semaphore::new(2);
/// let log = Rc::new(RefCell::new(Vec::new()));
/// let worker = |id: u64| {
///     let (sem, log) = (sem.clone(), log.clone());
///     coroutine(async move {
///         let _permit = sem.acquire().await?;
///         log.borrow_mut().push(format!("{id} working"));
///         sleep(Duration::from_millis(5 * (id + 1))).await;
///         log.borrow_mut().push(format!("{id} done"));
///         Ok(())
///     }) // the permit is released when `_permit` drops
/// };
/// let workers = vec![worker(0), worker(1), worker(2)];
/// ioloop.run_sync(|| multi(workers), None).unwrap();
/// assert_eq!(
///     *log.borrow(),
///     ["0 working", "1 working", "0 done", "2 working", "1 done", "2 done"]
/// );
/// ```
#[derive(Clone)]
pub struct Semaphore {
    /// Shared by the clones and the guards.
    core: Rc<Core<SemaphoreGuard>>,
}

impl Semaphore {
    /// A semaphore with `value` free permits.
    pub fn new(value: usize) -> Semaphore {
        Semaphore {
            core: Core::new(value, None),
        }
    }

    /// A future that resolves to a permit's guard: at once if one is free,
    /// else once one is released to this waiter.
    pub fn acquire(&self) -> Future<SemaphoreGuard> {
        self.core.acquire(None)
    }

    /// As [`acquire`](Semaphore::acquire), failing with
    /// [`TimeoutError`](tornado_gen::TimeoutError) if no permit came by
    /// `deadline`; the waiter is then forgotten and the count unchanged.
    pub fn acquire_timeout(&self, deadline: impl Into<Deadline>) -> Future<SemaphoreGuard> {
        self.core.acquire(Some(deadline.into()))
    }

    /// A permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphoreGuard> {
        self.core.try_acquire()
    }

    /// Adds a permit, waking the oldest waiter if any. A plain semaphore
    /// has no upper limit: see [`BoundedSemaphore`] for one.
    pub fn release(&self) {
        self.core.release();
    }

    /// The number of free permits.
    pub fn value(&self) -> usize {
        self.core.value()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.describe(f, "Semaphore")
    }
}

/// A [`Semaphore`] that cannot be released above its initial value
/// (Tornado's `locks.BoundedSemaphore`): releasing too often is a
/// [`TooManyReleases`] error, a sign of a bug in the caller.
///
/// ```
/// use tornado_ioloop::IOLoop;
/// use tornado_locks::{BoundedSemaphore, TooManyReleases};
///
/// let _ioloop = IOLoop::new().unwrap();
/// let sem = BoundedSemaphore::new(1);
/// assert_eq!(sem.release(), Err(TooManyReleases));
/// sem.try_acquire().unwrap().forget(); // taken, released by hand below
/// assert_eq!(sem.release(), Ok(()));
/// assert_eq!(sem.value(), 1);
/// ```
#[derive(Clone)]
pub struct BoundedSemaphore {
    /// Shared by the clones and the guards; bounded by the initial value.
    core: Rc<Core<SemaphoreGuard>>,
}

impl BoundedSemaphore {
    /// A semaphore with `value` free permits, never more.
    pub fn new(value: usize) -> BoundedSemaphore {
        BoundedSemaphore {
            core: Core::new(value, Some(value)),
        }
    }

    /// See [`Semaphore::acquire`].
    pub fn acquire(&self) -> Future<SemaphoreGuard> {
        self.core.acquire(None)
    }

    /// See [`Semaphore::acquire_timeout`].
    pub fn acquire_timeout(&self, deadline: impl Into<Deadline>) -> Future<SemaphoreGuard> {
        self.core.acquire(Some(deadline.into()))
    }

    /// A permit if one is free now.
    pub fn try_acquire(&self) -> Option<SemaphoreGuard> {
        self.core.try_acquire()
    }

    /// Returns a permit, waking the oldest waiter if any; fails if every
    /// permit is already free.
    pub fn release(&self) -> Result<(), TooManyReleases> {
        if self.core.release() {
            Ok(())
        } else {
            Err(TooManyReleases)
        }
    }

    /// The number of free permits.
    pub fn value(&self) -> usize {
        self.core.value()
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.describe(f, "BoundedSemaphore")
    }
}

#[cfg(test)]
mod tests {
    use tornado_ioloop::IOLoop;

    use super::*;

    #[test]
    fn acquire_blocks_at_zero_and_release_hands_over_in_order() {
        let _l = IOLoop::new().unwrap();
        let sem = Semaphore::new(1);
        let f0 = sem.acquire();
        assert!(f0.done());
        let f1 = sem.acquire();
        let f2 = sem.acquire();
        assert!(!f1.done());
        f0.take_result().unwrap().forget();
        sem.release();
        assert!(f1.done() && !f2.done());
        sem.release();
        assert!(f2.done());
        sem.release();
        assert_eq!(sem.value(), 1, "no waiter left: the permit is free");
        // The guards handed to f1 and f2 still hold theirs.
        drop((f1, f2));
        assert_eq!(sem.value(), 3);
    }

    #[test]
    fn repr_like_tornado() {
        let _l = IOLoop::new().unwrap();
        let sem = Semaphore::new(1);
        assert_eq!(format!("{sem:?}"), "<Semaphore [unlocked,value:1]>");
        let g = sem.try_acquire().unwrap();
        assert_eq!(format!("{sem:?}"), "<Semaphore [locked]>");
        let w = sem.acquire();
        assert_eq!(format!("{sem:?}"), "<Semaphore [locked,waiters:1]>");
        drop((g, w));
    }

    #[test]
    fn unbounded_release_adds_permits() {
        let _l = IOLoop::new().unwrap();
        let sem = Semaphore::new(1);
        sem.release();
        sem.release();
        let held: Vec<_> = (0..3).map(|_| sem.try_acquire().unwrap()).collect();
        assert!(sem.try_acquire().is_none());
        drop(held);
        assert_eq!(sem.value(), 3);
    }

    #[test]
    fn bounded_release_is_checked() {
        let _l = IOLoop::new().unwrap();
        let sem = BoundedSemaphore::new(1);
        assert_eq!(sem.release(), Err(TooManyReleases));
        let g = sem.try_acquire().unwrap();
        let f = sem.acquire();
        assert!(!f.done());
        drop(g); // hands the permit to the waiter
        assert!(f.done());
        assert_eq!(sem.value(), 0);
        f.take_result().unwrap().forget();
        assert_eq!(sem.release(), Ok(()));
        assert_eq!(sem.release(), Err(TooManyReleases));
        assert_eq!(format!("{sem:?}"), "<BoundedSemaphore [unlocked,value:1]>");
    }
}
