//! `Lock`: mutual exclusion between coroutines.

use std::fmt;
use std::rc::Rc;

use tornado_concurrent::Future;

use crate::deadline::Deadline;
use crate::semaphore::{Core, Permit};

/// `release` on a lock that is not locked (Tornado's `RuntimeError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("release unlocked lock")]
pub struct NotLocked;

/// Holds a [`Lock`]; dropping it unlocks (Tornado's
/// `async with lock:` / `with (yield lock.acquire()):`).
#[must_use = "dropping the guard unlocks at once"]
pub struct LockGuard {
    /// The lock to unlock; `None` after `forget`.
    core: Option<Rc<Core<LockGuard>>>,
}

impl Permit for LockGuard {
    fn grant(core: Rc<Core<Self>>) -> Self {
        LockGuard { core: Some(core) }
    }
}

impl LockGuard {
    /// Keeps the lock locked without unlocking on drop, for code that calls
    /// [`Lock::release`] itself.
    pub fn forget(mut self) {
        self.core = None;
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(core) = self.core.take() {
            if !core.release() {
                // Only if `Lock::release` was called while this guard held it.
                log::error!(target: "tornado.application", "{NotLocked} (by a guard)");
            }
        }
    }
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockGuard")
    }
}

/// A lock for coroutines (Tornado's `locks.Lock`): [`acquire`](Lock::acquire)
/// resolves to a guard at once if the lock is free, else once every earlier
/// waiter has had it (FIFO). A waiter that timed out, was cancelled or was
/// dropped is skipped. Cloning gives another handle to the same lock.
///
/// ```
/// use std::{cell::RefCell, rc::Rc, time::Duration};
/// use tornado_gen::{coroutine, multi, sleep};
/// use tornado_ioloop::IOLoop;
/// use tornado_locks::Lock;
///
/// let ioloop = IOLoop::new().unwrap(); // current: the coroutines run on it
/// let lock = Lock::new();
/// let history = Rc::new(RefCell::new(Vec::new()));
/// let f = |i: u32| {
///     let (lock, history) = (lock.clone(), history.clone());
///     coroutine(async move {
///         let _guard = lock.acquire().await?;
///         history.borrow_mut().push(format!("acquired {i}"));
///         sleep(Duration::from_millis(2)).await;
///         history.borrow_mut().push(format!("release {i}"));
///         Ok(())
///     })
/// };
/// let both = vec![f(0), f(1)];
/// ioloop.run_sync(|| multi(both), None).unwrap();
/// assert_eq!(*history.borrow(), ["acquired 0", "release 0", "acquired 1", "release 1"]);
/// assert!(!lock.locked());
/// ```
#[derive(Clone)]
pub struct Lock {
    /// A counter bounded by one: free is 1, locked is 0.
    core: Rc<Core<LockGuard>>,
}

impl Default for Lock {
    fn default() -> Self {
        Self::new()
    }
}

impl Lock {
    /// A new, unlocked lock.
    pub fn new() -> Lock {
        Lock {
            core: Core::new(1, Some(1)),
        }
    }

    /// A future that resolves to the lock's guard once it is this
    /// waiter's turn.
    pub fn acquire(&self) -> Future<LockGuard> {
        self.core.acquire(None)
    }

    /// As [`acquire`](Lock::acquire), failing with
    /// [`TimeoutError`](tornado_gen::TimeoutError) if the lock was not had by
    /// `deadline`; the waiter is then forgotten and the lock unchanged.
    pub fn acquire_timeout(&self, deadline: impl Into<Deadline>) -> Future<LockGuard> {
        self.core.acquire(Some(deadline.into()))
    }

    /// The guard if the lock is free now.
    pub fn try_acquire(&self) -> Option<LockGuard> {
        self.core.try_acquire()
    }

    /// Unlocks: the oldest waiter gets the lock. For locks taken with
    /// [`LockGuard::forget`]; a guard unlocks by itself when dropped.
    pub fn release(&self) -> Result<(), NotLocked> {
        if self.core.release() {
            Ok(())
        } else {
            Err(NotLocked)
        }
    }

    /// True while someone holds the lock.
    pub fn locked(&self) -> bool {
        self.core.value() == 0
    }

    /// The number of coroutines waiting for the lock.
    pub fn waiters(&self) -> usize {
        self.core.waiters()
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.core.describe(f, "Lock")
    }
}

#[cfg(test)]
mod tests {
    use tornado_ioloop::IOLoop;

    use super::*;

    #[test]
    fn acquire_release() {
        let _l = IOLoop::new().unwrap();
        let lock = Lock::new();
        assert_eq!(lock.release(), Err(NotLocked));
        let g = lock.acquire();
        assert!(g.done() && lock.locked());
        let next = lock.acquire();
        assert!(!next.done());
        assert_eq!(lock.waiters(), 1);
        g.take_result().unwrap().forget();
        lock.release().unwrap();
        assert!(next.done() && lock.locked(), "handed over, never free");
        drop(next);
        assert!(!lock.locked());
        assert_eq!(lock.release(), Err(NotLocked));
    }

    #[test]
    fn a_guard_unlocks_when_dropped() {
        let _l = IOLoop::new().unwrap();
        let lock = Lock::new();
        {
            let _g = lock.try_acquire().unwrap();
            assert!(lock.try_acquire().is_none());
            assert_eq!(format!("{lock:?}"), "<Lock [locked]>");
        }
        assert!(!lock.locked());
        assert_eq!(format!("{lock:?}"), "<Lock [unlocked,value:1]>");
    }
}
