//! The `IOLoop` handle: construction, callbacks, timeouts, fd handlers,
//! closing. The loop itself (`start`, one iteration, `run_sync`) is in
//! `run.rs`; the current/instance registry in `current.rs`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tornado_concurrent::Future;
use tornado_concurrent::schedule::{RemoteSchedule, Schedule};

use crate::backend::{self, Backend};
use crate::clock::Clock;
use crate::error::Error;
use crate::events::Events;
use crate::handlers::{Entry, HandlerTable};
use crate::metrics::{Counters, Metrics};
use crate::remote::{Remote, RemoteQueued, Shared};
use crate::selector::{Selector, Trigger};
use crate::sys::Waker;
use crate::syscall;
use crate::timeouts::{Timeout, TimerHeap};
use crate::watchdog;

/// A callback run on the loop's thread.
pub(crate) type Callback = tornado_concurrent::schedule::Callback;

/// What a queued callback runs.
pub(crate) enum Work {
    /// A boxed closure.
    Boxed(Callback),
    /// A plain function and its two arguments: how a woken coroutine is
    /// resumed, without allocating a closure per wake.
    Call(fn(usize, u64), usize, u64),
}

/// A queued callback with where it was added, for logs.
pub(crate) struct Queued {
    pub(crate) work: Work,
    pub(crate) location: &'static Location<'static>,
}

/// What kind of user code a caught panic came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackKind {
    /// A callback from `add_callback` (or a future's done-callback).
    Callback,
    /// A timeout's callback.
    Timeout,
    /// An fd handler.
    Handler,
}

impl std::fmt::Display for CallbackKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallbackKind::Callback => "callback",
            CallbackKind::Timeout => "timeout",
            CallbackKind::Handler => "fd handler",
        })
    }
}

/// A panic caught by the loop, as given to the exception handler.
#[derive(Debug, Clone)]
pub struct CallbackPanic {
    /// What was running.
    pub kind: CallbackKind,
    /// Where it was registered (`add_callback`, `call_later`, `add_handler`).
    pub location: &'static Location<'static>,
    /// The panic message.
    pub message: String,
}

/// The exception handler's type.
pub(crate) type ExceptionHandler = Rc<dyn Fn(&CallbackPanic)>;

/// The loop's state. Each field is borrowed only briefly and never across a
/// call into user code, so user code may call back into the loop freely.
pub(crate) struct Inner {
    /// The backend; replaced by nothing when closed (`None`).
    pub(crate) selector: RefCell<Option<Box<dyn Selector>>>,
    /// The backend's triggering mode, cached.
    pub(crate) trigger: Trigger,
    /// The backend's name, cached.
    pub(crate) backend_name: &'static str,
    /// Callbacks for the next iteration, in order.
    pub(crate) callbacks: RefCell<VecDeque<Queued>>,
    /// Scheduled timeouts.
    pub(crate) timers: RefCell<TimerHeap>,
    /// Fd handlers.
    pub(crate) handlers: RefCell<HandlerTable>,
    /// Level-triggered fds delivered in the last poll, to re-check (edge
    /// backends only).
    pub(crate) recheck: RefCell<Vec<RawFd>>,
    /// Scratch for the ready fds of one poll, reused between iterations.
    pub(crate) ready: RefCell<Vec<(RawFd, Events)>>,
    /// Scratch for the due timeouts of one iteration, likewise.
    pub(crate) due: RefCell<Vec<Timeout>>,
    /// When the last poll returned, on the coarse monotonic clock (ns).
    pub(crate) last_poll_coarse: Cell<u64>,
    /// Zero-timeout polls skipped since the last poll (see `run_once`).
    pub(crate) polls_skipped: Cell<u32>,
    /// When the current `start` began, while running.
    pub(crate) run_started: Cell<Option<Instant>>,
    /// An empty vector swapped with the remote queue, to keep capacity.
    pub(crate) remote_spare: Cell<Vec<RemoteQueued>>,
    /// Incremented when `select` returns; see `Entry::added_poll`.
    pub(crate) poll_generation: Cell<u64>,
    /// What other threads see.
    pub(crate) shared: Arc<Shared>,
    /// The waker's fd, registered for READ in the selector.
    pub(crate) waker_fd: RawFd,
    /// True inside `start`.
    pub(crate) running: Cell<bool>,
    /// True after `close`.
    pub(crate) closed: Cell<bool>,
    /// Replaces the monotonic clock when set (virtual time in tests).
    pub(crate) clock: RefCell<Option<Rc<dyn Clock>>>,
    /// Counters for `metrics`.
    pub(crate) counters: Counters,
    /// Callbacks running longer than this are logged.
    pub(crate) blocking_threshold: Cell<Option<Duration>>,
    /// Replaces the default panic logging when set.
    pub(crate) exception_handler: RefCell<Option<ExceptionHandler>>,
}

/// Tornado's `IOLoop`: a single-threaded event loop.
///
/// An `IOLoop` is a cheap, cloneable handle to one loop; it stays on the
/// thread that made it (it is not `Send`). Other threads use
/// [`remote`](IOLoop::remote). Callbacks, timeouts and fd handlers all run on
/// the loop's thread, one at a time; a panic in one is caught and logged.
///
/// ```
/// use std::time::Duration;
/// use tornado_ioloop::IOLoop;
///
/// let ioloop = IOLoop::new().unwrap();
/// let l = ioloop.clone();
/// ioloop.add_callback(move || {
///     println!("next iteration");
///     l.call_later(Duration::from_millis(5), move || IOLoop::current().stop());
/// });
/// ioloop.start().unwrap();
/// ```
#[derive(Clone)]
pub struct IOLoop {
    pub(crate) inner: Rc<Inner>,
}

impl IOLoop {
    /// A new loop on the configured backend (see [`IOLoop::configure`]).
    ///
    /// If the thread has no current loop, the new one becomes current until
    /// it first runs, so that futures and coroutines made before `start`
    /// land on it; when that `start` (or `run_sync`) returns, the thread is
    /// left with no current loop, as before (Tornado's
    /// `IOLoop(make_current=False)`, which is current only while it runs).
    /// [`make_current`](IOLoop::make_current) keeps it current for good.
    pub fn new() -> Result<IOLoop, Error> {
        Self::with_backend(&backend::configured()?)
    }

    /// A new loop on `backend`, whatever is configured.
    pub fn with_backend(backend: &Backend) -> Result<IOLoop, Error> {
        Self::with_selector(backend.create()?)
    }

    /// A new loop on a selector of the caller's own.
    pub fn with_selector(mut selector: Box<dyn Selector>) -> Result<IOLoop, Error> {
        IOLoop::install_fallback();
        let waker = Waker::new()?;
        let waker_fd = waker.fd();
        selector.register(waker_fd, Events::READ)?;
        let ioloop = IOLoop {
            inner: Rc::new(Inner {
                trigger: selector.trigger(),
                backend_name: selector.name(),
                selector: RefCell::new(Some(selector)),
                callbacks: RefCell::new(VecDeque::new()),
                timers: RefCell::new(TimerHeap::default()),
                handlers: RefCell::new(HandlerTable::default()),
                recheck: RefCell::new(Vec::new()),
                ready: RefCell::new(Vec::new()),
                due: RefCell::new(Vec::new()),
                poll_generation: Cell::new(0),
                last_poll_coarse: Cell::new(0),
                polls_skipped: Cell::new(0),
                run_started: Cell::new(None),
                remote_spare: Cell::new(Vec::new()),
                shared: Arc::new(Shared::new(waker)),
                waker_fd,
                running: Cell::new(false),
                closed: Cell::new(false),
                clock: RefCell::new(None),
                counters: Counters::default(),
                blocking_threshold: Cell::new(None),
                exception_handler: RefCell::new(None),
            }),
        };
        if IOLoop::try_current().is_none() {
            ioloop.make_implicitly_current();
        }
        Ok(ioloop)
    }

    /// Sets the backend of loops created from now on, process-wide
    /// (Tornado's `IOLoop.configure`). It takes precedence over the
    /// `TORNADO_IOLOOP_BACKEND` environment variable.
    pub fn configure(backend: Backend) {
        backend::configure(Some(backend));
    }

    /// Forgets `configure`, going back to the environment or the default.
    pub fn reset_configuration() {
        backend::configure(None);
    }

    /// The backend that new loops get: the configured one, else the one in
    /// `TORNADO_IOLOOP_BACKEND`, else the platform default (epoll on Linux,
    /// kqueue on BSD and macOS, select elsewhere). An unknown name in the
    /// environment is an error.
    pub fn configured_backend() -> Result<Backend, Error> {
        backend::configured()
    }

    /// The name of this loop's backend (`"epoll"`, `"select"`, …).
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend_name
    }

    /// How this loop's backend reports readiness. Code that registers fds
    /// with `Trigger::Edge` can skip interest updates on edge backends.
    pub fn trigger(&self) -> Trigger {
        self.inner.trigger
    }

    /// A `Send + Sync` handle for other threads.
    pub fn remote(&self) -> Remote {
        Remote {
            shared: self.inner.shared.clone(),
        }
    }

    /// True if both handles are the same loop.
    pub fn same_loop(&self, other: &IOLoop) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    // ----- time -------------------------------------------------------

    /// The loop's current time, from its clock (monotonic by default).
    pub fn time(&self) -> Instant {
        match &*self.inner.clock.borrow() {
            None => Instant::now(),
            Some(clock) => clock.now(),
        }
    }

    /// Replaces the loop's clock (a virtual clock in tests); `None` restores
    /// the monotonic clock.
    pub fn set_clock(&self, clock: Option<Rc<dyn Clock>>) {
        *self.inner.clock.borrow_mut() = clock;
    }

    // ----- callbacks --------------------------------------------------

    /// Runs `callback` on the next iteration of the loop. Callbacks added
    /// while callbacks run wait for the following iteration, so a callback
    /// that re-adds itself cannot starve I/O. On a closed loop the callback
    /// is dropped (see [`try_add_callback`](IOLoop::try_add_callback)).
    #[track_caller]
    pub fn add_callback(&self, callback: impl FnOnce() + 'static) {
        if self.try_add_callback(callback).is_err() {
            log::debug!(target: "tornado.general", "add_callback on a closed IOLoop: dropped");
        }
    }

    /// As [`add_callback`](IOLoop::add_callback), failing with
    /// [`Error::Closed`] on a closed loop.
    #[track_caller]
    pub fn try_add_callback(&self, callback: impl FnOnce() + 'static) -> Result<(), Error> {
        self.push_callback(Work::Boxed(Box::new(callback)), Location::caller())
    }

    /// Queues `work` for the next iteration, on behalf of `location`.
    fn push_callback(&self, work: Work, location: &'static Location<'static>) -> Result<(), Error> {
        if self.inner.closed.get() {
            return Err(Error::Closed);
        }
        self.inner
            .callbacks
            .borrow_mut()
            .push_back(Queued { work, location });
        Ok(())
    }

    /// Tornado's `spawn_callback`: the same as `add_callback` (Rust has no
    /// stack context to detach from).
    #[track_caller]
    pub fn spawn_callback(&self, callback: impl FnOnce() + 'static) {
        self.add_callback(callback);
    }

    /// Calls `callback` with `future` once it is done, on this loop.
    #[track_caller]
    pub fn add_future<T: 'static>(
        &self,
        future: &Future<T>,
        callback: impl FnOnce(Future<T>) + 'static,
    ) {
        let (me, location) = (self.clone(), Location::caller());
        future.add_done_callback_at(
            move |f| {
                let _ = me.push_callback(Work::Boxed(Box::new(move || callback(f))), location);
            },
            location,
        );
    }

    // ----- timeouts ---------------------------------------------------

    /// Runs `callback` at `deadline` (a time of this loop's clock).
    #[track_caller]
    pub fn add_timeout(&self, deadline: Instant, callback: impl FnOnce() + 'static) -> Timeout {
        self.add_timeout_for(deadline, callback, Location::caller())
    }

    /// As `add_timeout`, on behalf of the user's code at `location`.
    pub(crate) fn add_timeout_for(
        &self,
        deadline: Instant,
        callback: impl FnOnce() + 'static,
        location: &'static Location<'static>,
    ) -> Timeout {
        self.inner
            .timers
            .borrow_mut()
            .add(deadline, Box::new(callback), location)
    }

    /// Runs `callback` after `delay`.
    #[track_caller]
    pub fn call_later(&self, delay: Duration, callback: impl FnOnce() + 'static) -> Timeout {
        self.add_timeout(self.time() + delay, callback)
    }

    /// Runs `callback` at `when` (the same as `add_timeout`).
    #[track_caller]
    pub fn call_at(&self, when: Instant, callback: impl FnOnce() + 'static) -> Timeout {
        self.add_timeout(when, callback)
    }

    /// Cancels a timeout in O(1). A timeout that already fired or was
    /// already removed is ignored.
    pub fn remove_timeout(&self, timeout: Timeout) {
        let dropped = self.inner.timers.borrow_mut().remove(timeout);
        // Dropped here, after the borrow: its captures may touch the loop.
        drop(dropped);
    }

    // ----- fd handlers ------------------------------------------------

    /// Calls `handler(fd, events)` whenever `fd` is ready for `events`
    /// (`READ`, `WRITE`; `ERROR` is always delivered), level-triggered: again
    /// at every iteration while it stays ready.
    #[track_caller]
    pub fn add_handler(
        &self,
        fd: RawFd,
        events: Events,
        handler: impl FnMut(RawFd, Events) + 'static,
    ) -> Result<(), Error> {
        self.add_handler_with(fd, events, Trigger::Level, handler)
    }

    /// As `add_handler`, choosing the delivery: `Trigger::Edge` calls the
    /// handler once per readiness change, for handlers that read or write
    /// until `EAGAIN` themselves (cheaper: no re-check). On a level-triggered
    /// backend (select) edge handlers are simply called while ready.
    #[track_caller]
    pub fn add_handler_with(
        &self,
        fd: RawFd,
        events: Events,
        trigger: Trigger,
        handler: impl FnMut(RawFd, Events) + 'static,
    ) -> Result<(), Error> {
        self.register(fd, events, trigger, handler, true)
    }

    /// As `add_handler_with`, for an fd that a Rust object owns and closes
    /// when dropped (an `IOStream`'s socket, a listener, a pipe, a pidfd):
    /// [`close(true)`](IOLoop::close) leaves it to that owner. Closing the
    /// number from the loop would make the owner close it a second time,
    /// by then perhaps another thread's newly opened file.
    #[track_caller]
    pub fn add_handler_owned_elsewhere(
        &self,
        fd: RawFd,
        events: Events,
        trigger: Trigger,
        handler: impl FnMut(RawFd, Events) + 'static,
    ) -> Result<(), Error> {
        self.register(fd, events, trigger, handler, false)
    }

    #[track_caller]
    fn register(
        &self,
        fd: RawFd,
        events: Events,
        trigger: Trigger,
        handler: impl FnMut(RawFd, Events) + 'static,
        loop_may_close: bool,
    ) -> Result<(), Error> {
        let inner = &self.inner;
        if inner.closed.get() {
            return Err(Error::Closed);
        }
        if fd < 0 {
            return Err(Error::FdClosed(fd));
        }
        if fd == inner.waker_fd || inner.handlers.borrow().contains(fd) {
            return Err(Error::AlreadyRegistered(fd));
        }
        let in_backend = events.wants_io();
        if in_backend {
            self.on_selector(|s| s.register(fd, events))?;
        }
        inner.handlers.borrow_mut().insert(
            fd,
            Entry {
                events,
                trigger,
                in_backend,
                loop_may_close,
                handler: Rc::new(RefCell::new(handler)),
                location: Location::caller(),
                added_poll: inner.poll_generation.get(),
                last_poll: 0,
            },
        );
        Ok(())
    }

    /// Changes the events `fd`'s handler is called for.
    pub fn update_handler(&self, fd: RawFd, events: Events) -> Result<(), Error> {
        let inner = &self.inner;
        if inner.closed.get() {
            return Err(Error::Closed);
        }
        let was_in = match inner.handlers.borrow().get(fd) {
            None => return Err(Error::NotRegistered(fd)),
            Some(e) => e.in_backend,
        };
        let now_in = events.wants_io();
        let res = match (was_in, now_in) {
            (true, true) => self.on_selector(|s| s.modify(fd, events)),
            (true, false) => self.on_selector(|s| s.unregister(fd)),
            (false, true) => self.on_selector(|s| s.register(fd, events)),
            (false, false) => Ok(()),
        };
        match res {
            Ok(()) => {
                let mut handlers = inner.handlers.borrow_mut();
                let entry = handlers.get_mut(fd).expect("checked above");
                entry.events = events;
                entry.in_backend = now_in;
                Ok(())
            }
            Err(Error::FdClosed(fd)) => {
                // The fd is gone: drop the stale registration, not the loop.
                let stale = inner.handlers.borrow_mut().remove(fd);
                drop(stale);
                Err(Error::FdClosed(fd))
            }
            Err(e) => Err(e),
        }
    }

    /// Stops watching `fd`; its handler is not called again, not even later
    /// in the current iteration.
    pub fn remove_handler(&self, fd: RawFd) -> Result<(), Error> {
        let inner = &self.inner;
        if inner.closed.get() {
            return Err(Error::Closed);
        }
        let entry = inner
            .handlers
            .borrow_mut()
            .remove(fd)
            .ok_or(Error::NotRegistered(fd))?;
        let res = if entry.in_backend {
            self.on_selector(|s| s.unregister(fd))
        } else {
            Ok(())
        };
        drop(entry);
        res
    }

    /// Runs `f` on the selector (closed loops have none).
    pub(crate) fn on_selector<R>(
        &self,
        f: impl FnOnce(&mut dyn Selector) -> Result<R, Error>,
    ) -> Result<R, Error> {
        match self.inner.selector.borrow_mut().as_deref_mut() {
            Some(s) => f(s),
            None => Err(Error::Closed),
        }
    }

    // ----- diagnostics ------------------------------------------------

    /// Logs a warning (target `tornado.general`) for every callback, timeout
    /// or handler that runs longer than `threshold`, naming where it was
    /// registered; and starts a watchdog thread that reports a loop stuck for
    /// longer than `threshold` while it is still stuck. `None` turns both off.
    pub fn set_blocking_log_threshold(&self, threshold: Option<Duration>) {
        self.inner.blocking_threshold.set(threshold);
        watchdog::set_threshold(&self.inner.shared.watch, threshold);
    }

    /// Replaces the default handling of panics caught in callbacks (an error
    /// logged to `tornado.application`).
    pub fn set_exception_handler(&self, handler: impl Fn(&CallbackPanic) + 'static) {
        *self.inner.exception_handler.borrow_mut() = Some(Rc::new(handler));
    }

    /// A snapshot of the loop's counters.
    pub fn metrics(&self) -> Metrics {
        let c = &self.inner.counters;
        Metrics {
            iterations: c.iterations.get(),
            callbacks_run: c.callbacks_run.get(),
            timeouts_fired: c.timeouts_fired.get(),
            timeouts_pending: self.inner.timers.borrow().pending(),
            handlers_registered: self.inner.handlers.borrow().len(),
            handler_calls: c.handler_calls.get(),
            panics: c.panics.get(),
            poll_time: c.poll_time.get(),
            // Time inside `start` not spent polling; nothing is accounted
            // per iteration, to keep iterations cheap.
            run_time: (c.run_time.get()
                + self
                    .inner
                    .run_started
                    .get()
                    .map_or(Duration::ZERO, |t| t.elapsed()))
            .saturating_sub(c.poll_time.get()),
        }
    }

    // ----- closing ----------------------------------------------------

    /// Closes the loop: drops every callback, timeout and handler (and the
    /// coroutines suspended on it), and with `all_fds` also closes every fd
    /// that still has a handler from `add_handler` or `add_handler_with`
    /// (whoever registered a raw fd that way hands it over: do not close it
    /// again). Fds registered with
    /// [`add_handler_owned_elsewhere`](IOLoop::add_handler_owned_elsewhere)
    /// (the streams', listeners' and pipes' of this project) are closed by
    /// their owners, most of them as the dropped handlers and coroutines
    /// drop them. Closing twice is fine; any later use is an
    /// [`Error::Closed`].
    pub fn close(&self, all_fds: bool) -> Result<(), Error> {
        let inner = &self.inner;
        if inner.closed.replace(true) {
            return Ok(());
        }
        inner.shared.closed.store(true, Ordering::Release);
        inner.shared.stop.store(true, Ordering::Release);
        watchdog::set_threshold(&inner.shared.watch, None);
        let fds = inner.handlers.borrow().fds();
        let mut dropped = Vec::with_capacity(fds.len());
        for fd in fds {
            let Some(entry) = inner.handlers.borrow_mut().remove(fd) else {
                continue;
            };
            if all_fds && entry.loop_may_close {
                // SAFETY: closing an fd the user handed to the loop and asked
                // it to close; it is no longer registered anywhere here, and
                // no Rust object of ours owns it.
                if let Err(e) = syscall!(close(fd)) {
                    log::debug!(target: "tornado.general", "closing fd {fd}: {e}");
                }
            }
            dropped.push(entry);
        }
        let selector = inner.selector.borrow_mut().take();
        let callbacks = std::mem::take(&mut *inner.callbacks.borrow_mut());
        let timers = inner.timers.borrow_mut().clear();
        let remote = std::mem::take(&mut *inner.shared.queue.lock());
        // Dropped after every borrow ended: their captures may use the loop.
        drop((dropped, selector, callbacks, timers, remote));
        if IOLoop::try_current().is_some_and(|c| c.same_loop(self)) {
            IOLoop::clear_current();
        }
        // Coroutines still suspended on this loop can never resume now.
        let shared: Arc<dyn RemoteSchedule> = inner.shared.clone();
        tornado_concurrent::schedule::loop_closed(&shared);
        Ok(())
    }

    /// True once `close` was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.get()
    }

    /// True inside `start`.
    pub fn is_running(&self) -> bool {
        self.inner.running.get()
    }
}

impl Schedule for Inner {
    fn schedule(&self, callback: Callback, location: &'static Location<'static>) {
        if self.closed.get() {
            return;
        }
        self.callbacks.borrow_mut().push_back(Queued {
            work: Work::Boxed(callback),
            location,
        });
    }

    fn schedule_call(
        &self,
        f: fn(usize, u64),
        a: usize,
        b: u64,
        location: &'static Location<'static>,
    ) {
        if self.closed.get() {
            return;
        }
        self.callbacks.borrow_mut().push_back(Queued {
            work: Work::Call(f, a, b),
            location,
        });
    }

    fn remote(&self) -> Arc<dyn RemoteSchedule> {
        self.shared.clone()
    }
}

impl std::fmt::Debug for IOLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IOLoop({}, {:p})",
            self.inner.backend_name,
            Rc::as_ptr(&self.inner)
        )
    }
}
