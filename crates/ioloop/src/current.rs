//! The thread's current loop and the process-wide instance.

use std::cell::RefCell;
use std::rc::Rc;

use parking_lot::Mutex;
use tornado_concurrent::schedule::{self, Schedule};

use crate::ioloop::IOLoop;
use crate::remote::Remote;

thread_local! {
    /// This thread's current loop.
    static CURRENT: RefCell<Option<IOLoop>> = const { RefCell::new(None) };
}

/// The global singleton: a handle usable from any thread.
static INSTANCE: Mutex<Option<Remote>> = Mutex::new(None);

/// Lets futures find (or create) a current loop without depending on this
/// crate: see `tornado_concurrent::schedule`.
pub(crate) fn install_fallback() {
    fn fallback() -> Option<Rc<dyn Schedule>> {
        let ioloop = IOLoop::try_current().or_else(|| IOLoop::new().ok())?;
        Some(ioloop.inner.clone())
    }
    schedule::set_fallback(fallback);
}

impl IOLoop {
    /// The thread's current loop, created (on the configured backend) if
    /// there is none yet.
    ///
    /// # Panics
    /// Only if no loop can be created: an unknown `TORNADO_IOLOOP_BACKEND`,
    /// a backend this OS lacks, or the OS refusing an epoll fd. Use
    /// [`IOLoop::new`] to get that as an error instead.
    pub fn current() -> IOLoop {
        if let Some(l) = IOLoop::try_current() {
            return l;
        }
        let l = IOLoop::new().unwrap_or_else(|e| panic!("cannot create an IOLoop: {e}"));
        l.make_current();
        l
    }

    /// The thread's current loop, if any; never creates one.
    pub fn try_current() -> Option<IOLoop> {
        CURRENT.with(|c| c.borrow().clone())
    }

    /// Makes this loop the thread's current one.
    pub fn make_current(&self) {
        CURRENT.with(|c| *c.borrow_mut() = Some(self.clone()));
        schedule::set_current(Some(self.inner.clone()));
    }

    /// Leaves the thread without a current loop.
    pub fn clear_current() {
        let old = CURRENT.with(|c| c.borrow_mut().take());
        schedule::set_current(None);
        drop(old);
    }

    /// Makes this loop the global instance, reachable from any thread with
    /// [`IOLoop::instance`].
    pub fn install(&self) {
        *INSTANCE.lock() = Some(self.remote());
    }

    /// The global instance. If none was installed, the calling thread's
    /// current loop (created if needed) is installed, as Tornado does.
    pub fn instance() -> Remote {
        let mut instance = INSTANCE.lock();
        if let Some(r) = &*instance {
            return r.clone();
        }
        let r = IOLoop::current().remote();
        *instance = Some(r.clone());
        r
    }

    /// True if a global instance is installed.
    pub fn initialized() -> bool {
        INSTANCE.lock().is_some()
    }

    /// Forgets the global instance (the loop itself is not closed).
    pub fn clear_instance() {
        INSTANCE.lock().take();
    }
}
