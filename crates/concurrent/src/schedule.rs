//! How a future reaches the event loop without depending on it.
//!
//! `tornado-ioloop` depends on this crate, not the other way round. The loop
//! implements [`Schedule`] and, whenever it becomes a thread's current loop,
//! registers itself here with [`set_current`]. A future that must run its
//! done-callbacks hands them to whatever scheduler is current on its thread at
//! that moment. If none is, the [`set_fallback`] hook (installed by the loop
//! crate the first time a loop is created) makes one, as `IOLoop.current()`
//! would in Tornado.

use std::cell::RefCell;
use std::panic::Location;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

/// A callback that runs on the loop's own thread.
pub type Callback = Box<dyn FnOnce() + 'static>;

/// A callback sent to the loop from any thread.
pub type SendCallback = Box<dyn FnOnce() + Send + 'static>;

/// Something that runs callbacks on its next iteration: an event loop, seen
/// from its own thread.
///
/// Every callback comes with the place in the user's code it stands for
/// (where a done-callback was added, where a coroutine was started), which
/// the loop names when the callback panics or blocks.
pub trait Schedule {
    /// Queues `callback` to run on the next iteration; never runs it inline.
    fn schedule(&self, callback: Callback, location: &'static Location<'static>);

    /// Queues `f(a, b)` like `schedule`. A loop can store the function and
    /// its arguments without boxing a closure, which makes waking a
    /// coroutine allocation-free; the default boxes.
    fn schedule_call(
        &self,
        f: fn(usize, u64),
        a: usize,
        b: u64,
        location: &'static Location<'static>,
    ) {
        self.schedule(Box::new(move || f(a, b)), location);
    }

    /// A thread-safe handle that can queue callbacks on this loop.
    fn remote(&self) -> Arc<dyn RemoteSchedule>;
}

/// The thread-safe side of a [`Schedule`]r: queues callbacks from any thread
/// and wakes the loop if it is asleep.
pub trait RemoteSchedule: Send + Sync {
    /// Queues `callback` (standing for the user's code at `location`);
    /// returns it back if the loop is closed, so that the caller can decide
    /// where its captured values are dropped.
    fn schedule_remote(
        &self,
        callback: SendCallback,
        location: &'static Location<'static>,
    ) -> Result<(), SendCallback>;
}

thread_local! {
    /// The scheduler of this thread's current loop; `None` outside any loop.
    static CURRENT: RefCell<Option<Rc<dyn Schedule>>> = const { RefCell::new(None) };
}

/// Makes (or finds) a current scheduler; installed by the loop crate.
pub type Fallback = fn() -> Option<Rc<dyn Schedule>>;

/// Creates a scheduler when none is current (installed by the loop crate).
static FALLBACK: OnceLock<Fallback> = OnceLock::new();

/// Makes `scheduler` current on this thread; returns the one it replaces.
pub fn set_current(scheduler: Option<Rc<dyn Schedule>>) -> Option<Rc<dyn Schedule>> {
    CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), scheduler))
}

/// The scheduler current on this thread, if any (never creates one).
pub fn current() -> Option<Rc<dyn Schedule>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Installs the hook that creates a current scheduler on demand. Only the
/// first call has effect: there is one loop implementation per process.
pub fn set_fallback(make_current: Fallback) {
    let _ = FALLBACK.set(make_current);
}

/// Told, on the loop's thread, that a loop closed: gets the loop's
/// [`loop_identity`]. Installed by the coroutine runner, which drops the
/// coroutines still suspended on that loop (nothing can resume them).
pub type CloseHook = fn(usize);

/// See [`set_close_hook`].
static CLOSE_HOOK: OnceLock<CloseHook> = OnceLock::new();

/// Installs the hook told about closed loops. Only the first call has
/// effect.
pub fn set_close_hook(hook: CloseHook) {
    let _ = CLOSE_HOOK.set(hook);
}

/// Tells the close hook, if any, that the loop reached by `remote` closed.
/// Called by the loop's `close`, on its thread.
pub fn loop_closed(remote: &Arc<dyn RemoteSchedule>) {
    if let Some(hook) = CLOSE_HOOK.get() {
        hook(loop_identity(remote));
    }
}

/// A number naming the loop behind `remote` while it exists (the address
/// of its shared state).
pub fn loop_identity(remote: &Arc<dyn RemoteSchedule>) -> usize {
    Arc::as_ptr(remote) as *const () as usize
}

/// The current scheduler, creating one through the fallback hook if needed.
pub fn current_or_fallback() -> Option<Rc<dyn Schedule>> {
    current().or_else(|| FALLBACK.get().and_then(|make| make()))
}

/// Queues `f(a, b)` on the current loop (see [`Schedule::schedule_call`]),
/// on behalf of the caller. Returns `false` when no loop exists and none can
/// be made.
#[track_caller]
pub fn schedule_call(f: fn(usize, u64), a: usize, b: u64) -> bool {
    schedule_call_at(f, a, b, Location::caller())
}

/// As [`schedule_call`], on behalf of the code at `location`.
pub fn schedule_call_at(
    f: fn(usize, u64),
    a: usize,
    b: u64,
    location: &'static Location<'static>,
) -> bool {
    // `try_with`: during thread teardown the slot may be gone already.
    let done = CURRENT
        .try_with(|c| match &*c.borrow() {
            Some(s) => {
                s.schedule_call(f, a, b, location);
                true
            }
            None => false,
        })
        .unwrap_or(false);
    done || schedule_at(Box::new(move || f(a, b)), location)
}

/// Queues `callback` on the current loop, on behalf of the caller. Returns
/// `false` (and drops the callback) when no loop exists and none can be
/// made.
#[track_caller]
pub fn schedule(callback: Callback) -> bool {
    schedule_at(callback, Location::caller())
}

/// As [`schedule`], on behalf of the code at `location` (named if the
/// callback panics).
pub fn schedule_at(callback: Callback, location: &'static Location<'static>) -> bool {
    // Fast path: no Rc clone when a loop is current.
    // During thread teardown the slot may be gone: then nothing can run.
    let Ok(leftover) = CURRENT.try_with(|c| match &*c.borrow() {
        Some(s) => {
            s.schedule(callback, location);
            None
        }
        None => Some(callback),
    }) else {
        return false;
    };
    match leftover {
        None => true,
        Some(callback) => match current_or_fallback() {
            Some(s) => {
                s.schedule(callback, location);
                true
            }
            None => {
                log::error!(
                    target: "tornado.application",
                    "no IOLoop to run a future's done-callback on; it is dropped"
                );
                false
            }
        },
    }
}
