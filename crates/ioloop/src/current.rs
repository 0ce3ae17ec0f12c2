//! The thread's current loop and the process-wide instance.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use parking_lot::Mutex;
use tornado_concurrent::schedule::{self, Schedule};

use crate::ioloop::IOLoop;
use crate::remote::Remote;

thread_local! {
    /// This thread's current loop.
    static CURRENT: RefCell<Option<IOLoop>> = const { RefCell::new(None) };
    /// True while the current loop is current only because `IOLoop::new`
    /// found none (not through `make_current`): its first run then ends
    /// with no current loop, as before it was made.
    static IMPLICIT: Cell<bool> = const { Cell::new(false) };
}

/// What was current before a `start`, to put back when it returns.
pub(crate) struct Saved {
    ioloop: Option<IOLoop>,
    implicit: bool,
}

impl Saved {
    /// The thread's current loop as `start` of `starting` finds it. A loop
    /// that is current only implicitly (made by `new` while none was) counts
    /// as nothing: once it stops, the thread has no current loop again.
    pub(crate) fn take(starting: &IOLoop) -> Saved {
        let ioloop = IOLoop::try_current();
        let implicit = IMPLICIT.with(Cell::get);
        match ioloop {
            Some(l) if implicit && l.same_loop(starting) => Saved {
                ioloop: None,
                implicit: false,
            },
            ioloop => Saved { ioloop, implicit },
        }
    }

    /// Makes the saved loop current again (none: clears the current loop).
    pub(crate) fn restore(self) {
        match self.ioloop {
            Some(l) => {
                l.make_current();
                IMPLICIT.with(|i| i.set(self.implicit));
            }
            None => IOLoop::clear_current(),
        }
    }
}

/// The global singleton: a handle usable from any thread.
static INSTANCE: Mutex<Option<Remote>> = Mutex::new(None);

impl IOLoop {
    /// Lets futures find (or create) a current loop without depending on
    /// this crate: see `tornado_concurrent::schedule`. Done for every new
    /// loop; only the first call has effect.
    pub(crate) fn install_fallback() {
        fn fallback() -> Option<Rc<dyn Schedule>> {
            let ioloop = IOLoop::try_current().or_else(|| IOLoop::new().ok())?;
            Some(ioloop.inner.clone())
        }
        schedule::set_fallback(fallback);
    }

    /// Makes a new loop current because the thread had none (see
    /// [`IOLoop::new`]): until it first runs.
    pub(crate) fn make_implicitly_current(&self) {
        self.make_current();
        IMPLICIT.with(|i| i.set(true));
    }

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

    /// Makes this loop the thread's current one, until another is made
    /// current or [`clear_current`](IOLoop::clear_current) is called (it
    /// stays current after it stops running).
    pub fn make_current(&self) {
        let old = CURRENT.with(|c| c.borrow_mut().replace(self.clone()));
        IMPLICIT.with(|i| i.set(false));
        // The old scheduler and loop are dropped after the slots are
        // updated: dropping the last handle to a loop may run user code.
        let old_scheduler = schedule::set_current(Some(self.inner.clone()));
        drop((old, old_scheduler));
    }

    /// Leaves the thread without a current loop.
    pub fn clear_current() {
        let old = CURRENT.with(|c| c.borrow_mut().take());
        IMPLICIT.with(|i| i.set(false));
        let old_scheduler = schedule::set_current(None);
        drop((old, old_scheduler));
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
