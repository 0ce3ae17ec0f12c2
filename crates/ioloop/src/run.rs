//! Running the loop: `start`, one iteration (`run_once`), dispatching fd
//! events (`handle_events`), and `run_sync`.
//!
//! One iteration, as in Tornado's `start`:
//! 1. move callbacks sent by other threads into the local queue;
//! 2. take a snapshot of the queue length and collect the due timeouts;
//! 3. run exactly the snapshot's callbacks, then the due timeouts (anything
//!    added meanwhile waits for the next iteration);
//! 4. poll: not at all if callbacks are waiting, up to the next deadline if
//!    timeouts are, forever otherwise;
//! 5. call the handlers of the ready fds.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tornado_concurrent::{Error as FutureError, Future, panic_message};

use crate::current;
use crate::error::Error;
use crate::events::Events;
use crate::ioloop::{CallbackKind, CallbackPanic, IOLoop, Queued, Work};
use crate::metrics::bump;
use crate::selector::Trigger;
use crate::sys::poll_ready;
use crate::syscall;

/// Poll at least every this many iterations while callbacks keep coming.
const POLL_EVERY_ITERATIONS: u32 = 64;

/// ... and at least this often (in coarse-clock nanoseconds: in practice,
/// once the coarse clock has ticked since the last poll).
const POLL_EVERY_NS: u64 = 1_000_000;

/// `CLOCK_MONOTONIC_COARSE` in nanoseconds: read without a system call and
/// much cheaper than the precise clock, at the kernel tick's resolution.
fn coarse_now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let clock = libc::CLOCK_MONOTONIC_COARSE;
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let clock = libc::CLOCK_MONOTONIC;
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    match syscall!(clock_gettime(clock, &mut ts)) {
        Ok(_) => ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64,
        // Cannot happen for these clocks; a constant only turns off the
        // time-based poll (the iteration count still forces one).
        Err(_) => 0,
    }
}

impl IOLoop {
    /// Runs the loop until [`stop`](IOLoop::stop) is called. The loop is the
    /// thread's current loop while it runs; afterwards whatever was current
    /// before is current again (see [`IOLoop::new`] for a loop that was
    /// current only because none was). Fails if it is already running or
    /// closed; returns at once if `stop` was called before it.
    pub fn start(&self) -> Result<(), Error> {
        let inner = &self.inner;
        if inner.closed.get() {
            return Err(Error::Closed);
        }
        if inner.running.get() {
            return Err(Error::AlreadyRunning);
        }
        if inner.shared.stop.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        inner.running.set(true);
        let previous = current::Saved::take(self);
        self.make_current();
        let run_started = Instant::now();
        inner.run_started.set(Some(run_started));
        inner.shared.watch.busy(run_started);
        let result = loop {
            if let Err(e) = self.run_once() {
                break Err(e);
            }
            if inner.shared.stop.swap(false, Ordering::AcqRel) || inner.closed.get() {
                break Ok(());
            }
        };
        inner.shared.watch.idle();
        inner.run_started.set(None);
        let c = &inner.counters;
        c.run_time.set(c.run_time.get() + run_started.elapsed());
        inner.running.set(false);
        previous.restore();
        result
    }

    /// Stops the loop after the current iteration. Called before `start`, it
    /// makes that `start` return at once. From another thread, use
    /// [`Remote::stop`](crate::Remote::stop).
    pub fn stop(&self) {
        self.inner.shared.stop.store(true, Ordering::Release);
    }

    /// One iteration.
    fn run_once(&self) -> Result<(), Error> {
        let inner = &self.inner;
        // The precise clock is read only when timeouts are pending, and
        // around a poll (it is not free: tens of ns on some machines).
        bump(&inner.counters.iterations);

        self.drain_remote();
        let ncallbacks = inner.callbacks.borrow().len();
        let mut due = std::mem::take(&mut *inner.due.borrow_mut());
        if inner.timers.borrow().pending() > 0 {
            let now = match &*inner.clock.borrow() {
                Some(c) => c.now(),
                None => Instant::now(),
            };
            inner.timers.borrow_mut().pop_due(now, &mut due);
        }

        for _ in 0..ncallbacks {
            let Some(Queued { work, location }) = inner.callbacks.borrow_mut().pop_front() else {
                break; // `close` emptied the queue.
            };
            bump(&inner.counters.callbacks_run);
            match work {
                Work::Boxed(callback) => {
                    self.run_guarded(callback, location, CallbackKind::Callback)
                }
                Work::Call(f, a, b) => {
                    self.run_guarded(move || f(a, b), location, CallbackKind::Callback)
                }
            }
        }
        for &t in &due {
            let taken = inner.timers.borrow_mut().take(t);
            if let Some((callback, location)) = taken {
                bump(&inner.counters.timeouts_fired);
                self.run_guarded(callback, location, CallbackKind::Timeout);
            }
        }
        due.clear();
        *inner.due.borrow_mut() = due;
        if inner.shared.stop.load(Ordering::Acquire) || inner.closed.get() {
            return Ok(());
        }

        // Read again: a callback may have installed a clock just now.
        let custom_clock = inner.clock.borrow().clone();
        let callbacks_waiting =
            !inner.callbacks.borrow().is_empty() || inner.shared.notified.load(Ordering::Acquire);
        let mut timeout = if callbacks_waiting {
            Some(Duration::ZERO)
        } else {
            let next = inner.timers.borrow_mut().next_deadline();
            next.map(|deadline| {
                let now = custom_clock.as_ref().map_or_else(Instant::now, |c| c.now());
                deadline.saturating_duration_since(now)
            })
        };

        // Scratch buffer reused across iterations (put back below).
        let mut ready = std::mem::take(&mut *inner.ready.borrow_mut());
        self.recheck_level_handlers(&mut ready);
        if !ready.is_empty() {
            timeout = Some(Duration::ZERO);
        }
        if let Some(clock) = &custom_clock {
            timeout = clock.poll_timeout(timeout);
        }

        // With callbacks or due timeouts already waiting, a zero-timeout poll
        // rarely finds anything and costs a system call: skip it, but poll
        // at least every POLL_EVERY_ITERATIONS iterations and POLL_EVERY of
        // time, so that callbacks that keep re-adding themselves delay I/O
        // by at most that.
        if ready.is_empty() && timeout == Some(Duration::ZERO) {
            let skipped = inner.polls_skipped.get();
            // A fresh reading: this iteration's callbacks may have been long.
            // The coarse clock (a few ns, tick resolution) catches a long
            // iteration without paying for a precise clock read each time.
            if skipped < POLL_EVERY_ITERATIONS
                && coarse_now_ns().saturating_sub(inner.last_poll_coarse.get()) < POLL_EVERY_NS
            {
                inner.polls_skipped.set(skipped + 1);
                *inner.ready.borrow_mut() = ready;
                return Ok(());
            }
        }
        inner.polls_skipped.set(0);

        inner.shared.watch.idle();
        let poll_start = Instant::now();
        let polled = self.on_selector(|s| s.select(timeout, &mut ready));
        let poll_end = Instant::now();
        inner.shared.watch.busy(poll_end);
        inner.last_poll_coarse.set(coarse_now_ns());
        let c = &inner.counters;
        c.poll_time.set(c.poll_time.get() + (poll_end - poll_start));
        polled?;

        let generation = inner.poll_generation.get() + 1;
        inner.poll_generation.set(generation);
        for &(fd, events) in &ready {
            self.handle_events(fd, events, generation);
        }
        ready.clear();
        *inner.ready.borrow_mut() = ready;
        Ok(())
    }

    /// Moves the callbacks sent by other threads to the local queue.
    fn drain_remote(&self) {
        let shared = &self.inner.shared;
        if !shared.notified.load(Ordering::Acquire) {
            return;
        }
        // Cleared before taking the queue: a push after this point sets it
        // again and writes the waker, so nothing is missed.
        shared.notified.store(false, Ordering::Release);
        // Swap with a spare vector so that neither side reallocates.
        let mut remote = self.inner.remote_spare.take();
        std::mem::swap(&mut remote, &mut *shared.queue.lock());
        let mut callbacks = self.inner.callbacks.borrow_mut();
        for (callback, location) in remote.drain(..) {
            callbacks.push_back(Queued {
                work: Work::Boxed(callback),
                location,
            });
        }
        self.inner.remote_spare.set(remote);
    }

    /// On edge-triggered backends: finds the level-triggered fds delivered
    /// last time that are still ready, so that their handlers run again.
    fn recheck_level_handlers(&self, ready: &mut Vec<(RawFd, Events)>) {
        let inner = &self.inner;
        if inner.trigger != Trigger::Edge || inner.recheck.borrow().is_empty() {
            return;
        }
        let fds = std::mem::take(&mut *inner.recheck.borrow_mut());
        let watched: Vec<(RawFd, Events)> = {
            let handlers = inner.handlers.borrow();
            fds.into_iter()
                .filter_map(|fd| {
                    let e = handlers.get(fd)?;
                    (e.trigger == Trigger::Level && e.in_backend).then_some((fd, e.events))
                })
                .collect()
        };
        if watched.is_empty() {
            return;
        }
        thread_local! {
            static SCRATCH: RefCell<Vec<libc::pollfd>> = const { RefCell::new(Vec::new()) };
        }
        let res = SCRATCH.with(|s| poll_ready(&watched, &mut s.borrow_mut(), ready));
        if let Err(e) = res {
            log::error!(target: "tornado.general", "poll() re-check of level-triggered fds failed: {e}");
        }
    }

    /// Tornado's `_handle_events`: delivers one fd's events to its handler.
    fn handle_events(&self, fd: RawFd, events: Events, generation: u64) {
        let inner = &self.inner;
        if fd == inner.waker_fd {
            // An eventfd on an edge-triggered backend reports every write
            // anew, so it needs no read; a pipe, or any fd on a level
            // backend, must be emptied.
            if inner.trigger == Trigger::Level || !inner.shared.waker.is_counter() {
                inner.shared.waker.drain();
            }
            return;
        }
        let (handler, location, deliver) = {
            let mut handlers = inner.handlers.borrow_mut();
            // Removed earlier in this iteration: never called again.
            let Some(entry) = handlers.get_mut(fd) else {
                return;
            };
            // Registered after this poll returned, or already delivered in it.
            if entry.added_poll >= generation || entry.last_poll == generation {
                return;
            }
            entry.last_poll = generation;
            let mut asked = entry.events | Events::ERROR | Events::INVALID;
            if asked.contains(Events::READ) {
                asked |= Events::READ_CLOSED;
            }
            let deliver = events & asked;
            if deliver.is_empty() {
                return;
            }
            if inner.trigger == Trigger::Edge && entry.trigger == Trigger::Level {
                inner.recheck.borrow_mut().push(fd);
            }
            (entry.handler.clone(), entry.location, deliver)
        };
        if deliver.contains(Events::INVALID) {
            log::error!(
                target: "tornado.general",
                "fd {fd} (handler registered at {location}) was closed without remove_handler; its handler is removed"
            );
            let stale = inner.handlers.borrow_mut().remove(fd);
            let _ = self.on_selector(|s| s.unregister(fd));
            drop(stale);
        }
        bump(&inner.counters.handler_calls);
        let call = move || match handler.try_borrow_mut() {
            Ok(mut h) => (*h)(fd, deliver),
            Err(_) => log::error!(target: "tornado.general", "fd {fd}'s handler re-entered itself"),
        };
        self.run_guarded(call, location, CallbackKind::Handler);
    }

    /// Runs one piece of user code: panics are caught and reported, and long
    /// runs logged when a blocking threshold is set.
    pub(crate) fn run_guarded(
        &self,
        callback: impl FnOnce(),
        location: &'static Location<'static>,
        kind: CallbackKind,
    ) {
        let inner = &self.inner;
        let threshold = inner.blocking_threshold.get();
        let start = threshold.map(|_| {
            inner.shared.watch.running(location);
            Instant::now()
        });
        if let Err(payload) = catch_unwind(AssertUnwindSafe(callback)) {
            self.report_panic(kind, location, payload);
        }
        if let (Some(threshold), Some(start)) = (threshold, start) {
            let took = start.elapsed();
            if took > threshold {
                log::warn!(
                    target: "tornado.general",
                    "blocking {kind} registered at {location} ran for {took:?} (threshold {threshold:?})"
                );
            }
        }
    }

    fn report_panic(
        &self,
        kind: CallbackKind,
        location: &'static Location<'static>,
        payload: Box<dyn Any + Send>,
    ) {
        bump(&self.inner.counters.panics);
        let report = CallbackPanic {
            kind,
            location,
            message: panic_message(&*payload),
        };
        let handler = self.inner.exception_handler.borrow().clone();
        match handler {
            Some(h) => {
                if catch_unwind(AssertUnwindSafe(|| h(&report))).is_err() {
                    log::error!(target: "tornado.application", "the IOLoop's exception handler panicked");
                }
            }
            None => log::error!(
                target: "tornado.application",
                "Exception in {} registered at {}: {}",
                report.kind,
                report.location,
                report.message
            ),
        }
    }

    /// Starts the loop, runs `func`'s future to completion, stops the loop
    /// and returns the future's result (Tornado's `run_sync`). With a
    /// `timeout`, gives up (cancelling the future) after that long. On a loop
    /// that is already running this is [`Error::AlreadyRunning`].
    ///
    /// ```
    /// use tornado_concurrent::Future;
    /// use tornado_ioloop::IOLoop;
    ///
    /// let ioloop = IOLoop::new().unwrap();
    /// let v = ioloop
    ///     .run_sync(
    ///         || {
    ///             let f = Future::new();
    ///             let g = f.clone();
    ///             IOLoop::current().add_callback(move || g.set_result(7).unwrap());
    ///             f
    ///         },
    ///         None,
    ///     )
    ///     .unwrap();
    /// assert_eq!(v, 7);
    /// ```
    pub fn run_sync<T, F>(&self, func: F, timeout: Option<Duration>) -> Result<T, Error>
    where
        T: 'static,
        F: FnOnce() -> Future<T> + 'static,
    {
        if self.inner.closed.get() {
            return Err(Error::Closed);
        }
        if self.inner.running.get() {
            return Err(Error::AlreadyRunning);
        }
        let slot: Rc<RefCell<Option<Future<T>>>> = Rc::new(RefCell::new(None));
        let timed_out = Rc::new(Cell::new(false));
        // Stops this run only. The future's done-callback may still be
        // queued when the run ends (a timeout cancels the future, which
        // queues it); run later, it must not stop the loop's next `start`.
        let run = RunStopper {
            ioloop: self.clone(),
            live: Rc::new(Cell::new(true)),
        };
        let (s, stopper) = (slot.clone(), run.clone());
        self.add_callback(move || {
            let future = match catch_unwind(AssertUnwindSafe(func)) {
                Ok(f) => f,
                Err(p) => Future::failed(FutureError::from_panic(&*p)),
            };
            future.add_done_callback(move |_| stopper.stop());
            *s.borrow_mut() = Some(future);
        });
        let timer = timeout.map(|d| {
            let (t, s, stopper) = (timed_out.clone(), slot.clone(), run.clone());
            self.call_later(d, move || {
                t.set(true);
                if let Some(f) = &*s.borrow() {
                    f.cancel();
                }
                stopper.stop();
            })
        });
        let started = self.start();
        run.live.set(false);
        if let Some(t) = timer {
            self.remove_timeout(t);
        }
        started?;
        let future = slot.borrow_mut().take();
        match future {
            Some(f) if f.done() && !(timed_out.get() && f.cancelled()) => {
                f.take_result().map_err(Error::Future)
            }
            _ if timed_out.get() => Err(Error::Timeout(timeout.unwrap_or_default())),
            _ => Err(Error::StoppedBeforeComplete),
        }
    }
}

/// Stops the loop on behalf of one `run_sync` call, and only while that call
/// is running the loop.
#[derive(Clone)]
struct RunStopper {
    ioloop: IOLoop,
    /// Cleared when the `run_sync` call's `start` returns.
    live: Rc<Cell<bool>>,
}

impl RunStopper {
    fn stop(&self) {
        if self.live.get() {
            self.ioloop.stop();
        }
    }
}
