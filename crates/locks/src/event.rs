//! `Event`: a flag coroutines can wait on.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;

use tornado_concurrent::Future;

use crate::deadline::Deadline;
use crate::waiters::Waiters;

/// What every handle of one event shares.
struct Shared {
    /// The flag. While it is set, `waiters` holds no wanted waiter.
    flag: Cell<bool>,
    /// Waits begun while the flag was clear.
    waiters: Waiters<()>,
}

/// A flag that coroutines wait on until it is set (Tornado's
/// `locks.Event`, like `threading.Event`).
///
/// While the flag is set, [`wait`](Event::wait) returns a finished future;
/// [`set`](Event::set) wakes every waiter; [`clear`](Event::clear) makes
/// later waits block again. Cloning gives another handle to the same event.
///
/// ```
/// use tornado_gen::{coroutine, multi};
/// use tornado_ioloop::IOLoop;
/// use tornado_locks::Event;
///
/// let event = Event::new();
/// let (e1, e2) = (event.clone(), event.clone());
/// let log = IOLoop::new().unwrap().run_sync(move || {
///     let waiter = coroutine(async move {
///         e1.wait().await?; // blocks until set
///         e1.wait().await?; // does not block: still set
///         Ok("waited")
///     });
///     let setter = coroutine(async move {
///         e2.set();
///         Ok("set")
///     });
///     multi((waiter, setter))
/// }, None).unwrap();
/// assert_eq!(log, ("waited", "set"));
/// assert!(event.is_set());
/// ```
#[derive(Clone)]
pub struct Event {
    /// Shared by the clones.
    shared: Rc<Shared>,
}

impl Default for Event {
    fn default() -> Self {
        Self::new()
    }
}

impl Event {
    /// A new event, clear.
    pub fn new() -> Event {
        Event {
            shared: Rc::new(Shared {
                flag: Cell::new(false),
                waiters: Waiters::new(),
            }),
        }
    }

    /// True if the flag is set.
    pub fn is_set(&self) -> bool {
        self.shared.flag.get()
    }

    /// Sets the flag and wakes every waiter (their futures resolve now;
    /// their coroutines resume on the loop's next iteration). Setting a set
    /// event does nothing.
    pub fn set(&self) {
        if self.shared.flag.replace(true) {
            return;
        }
        for (waiter, ()) in self.shared.waiters.drain() {
            let _ = waiter.set_result(());
        }
    }

    /// Clears the flag: waits block again until the next `set`.
    pub fn clear(&self) {
        self.shared.flag.set(false);
    }

    /// A future that resolves once the flag is set (at once if it is).
    pub fn wait(&self) -> Future<()> {
        self.wait_until(None)
    }

    /// As [`wait`](Event::wait), failing with
    /// [`TimeoutError`](tornado_gen::TimeoutError) if the flag is still clear
    /// at `deadline` (a `Duration` from now, or an `Instant` of the loop's
    /// clock). A waiter that timed out is forgotten.
    pub fn wait_timeout(&self, deadline: impl Into<Deadline>) -> Future<()> {
        self.wait_until(Some(deadline.into()))
    }

    fn wait_until(&self, deadline: Option<Deadline>) -> Future<()> {
        if self.is_set() {
            return Future::resolved(());
        }
        self.shared.waiters.push((), deadline)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.is_set() { "set" } else { "clear" };
        write!(f, "<Event {state}>")
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tornado_gen::TimeoutError;
    use tornado_ioloop::IOLoop;

    use super::*;

    #[test]
    fn set_clear_wait() {
        let _l = IOLoop::new().unwrap();
        let e = Event::new();
        assert_eq!(format!("{e:?}"), "<Event clear>");
        let f0 = e.wait();
        e.set();
        let f1 = e.wait();
        e.clear();
        let f2 = e.wait();
        assert!(f0.done() && f1.done());
        assert!(!f2.done());
        assert_eq!(format!("{e:?}"), "<Event clear>");
        e.set();
        e.set();
        assert!(e.is_set() && f2.done());
        assert_eq!(format!("{e:?}"), "<Event set>");
    }

    #[test]
    fn waiters_from_before_a_clear_are_still_woken() {
        let _l = IOLoop::new().unwrap();
        let e = Event::new();
        let f0 = e.wait();
        e.clear();
        let f1 = e.wait();
        e.set();
        assert!(f0.done() && f1.done());
    }

    #[test]
    fn a_timed_out_wait_fails_and_later_waits_work() {
        let l = IOLoop::new().unwrap();
        let e = Event::new();
        let e2 = e.clone();
        let err = l
            .run_sync(move || e2.wait_timeout(Duration::from_millis(5)), None)
            .unwrap_err();
        match err {
            tornado_ioloop::Error::Future(e) => assert!(e.is::<TimeoutError>()),
            other => panic!("{other}"),
        }
        let (e2, e3) = (e.clone(), e.clone());
        l.call_later(Duration::from_millis(5), move || e3.set());
        l.run_sync(move || e2.wait_timeout(Duration::from_secs(5)), None)
            .unwrap();
    }
}
