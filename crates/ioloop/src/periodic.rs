//! `PeriodicCallback`: a callback run every `period`.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tornado_concurrent::panic_message;

use crate::ioloop::IOLoop;
use crate::timeouts::Timeout;

/// State shared by the handle and its scheduled timeout.
struct State {
    /// The user's callback.
    callback: Box<dyn FnMut()>,
    /// Time between runs; never zero.
    period: Duration,
    /// Fraction of `period` by which each run may move, 0.0 for none.
    jitter: f64,
    /// The loop it runs on while started.
    ioloop: Option<IOLoop>,
    /// The pending timeout while running.
    timeout: Option<Timeout>,
    /// When the next run is due.
    next: Instant,
    /// xorshift state for the jitter.
    rng: u64,
}

/// Calls a function every `period`, on the current loop (Tornado's
/// `PeriodicCallback`). A run that overlaps the next period makes the loop
/// skip the missed periods rather than bunch them up.
///
/// ```
/// use std::{cell::Cell, rc::Rc, time::Duration};
/// use tornado_ioloop::{IOLoop, PeriodicCallback};
///
/// let ioloop = IOLoop::new().unwrap();
/// let n = Rc::new(Cell::new(0));
/// let m = n.clone();
/// let pc = PeriodicCallback::new(
///     move || {
///         m.set(m.get() + 1);
///         if m.get() == 3 {
///             IOLoop::current().stop();
///         }
///     },
///     Duration::from_millis(2),
/// );
/// pc.start();
/// ioloop.start().unwrap();
/// pc.stop();
/// assert_eq!(n.get(), 3);
/// ```
#[derive(Clone)]
pub struct PeriodicCallback {
    state: Rc<RefCell<State>>,
}

impl PeriodicCallback {
    /// A stopped periodic callback. A zero `period` is raised to 1 ms, as a
    /// zero period would spin the loop.
    pub fn new(callback: impl FnMut() + 'static, period: Duration) -> PeriodicCallback {
        let seed = Instant::now().elapsed().subsec_nanos() as u64
            ^ (&callback as *const _ as *const u8 as u64);
        PeriodicCallback {
            state: Rc::new(RefCell::new(State {
                callback: Box::new(callback),
                period: period.max(Duration::from_millis(1)),
                jitter: 0.0,
                ioloop: None,
                timeout: None,
                next: Instant::now(),
                rng: seed | 1,
            })),
        }
    }

    /// Moves each run by a random amount up to `jitter / 2` of the period,
    /// either way (0.1 = ±5 %), so that many timers do not fire in step.
    pub fn with_jitter(self, jitter: f64) -> PeriodicCallback {
        self.state.borrow_mut().jitter = jitter.clamp(0.0, 1.0);
        self
    }

    /// Starts on the current loop; the first run is one period from now.
    pub fn start(&self) {
        if self.is_running() {
            return;
        }
        let ioloop = IOLoop::current();
        let mut s = self.state.borrow_mut();
        s.next = ioloop.time();
        s.ioloop = Some(ioloop);
        drop(s);
        self.schedule_next();
    }

    /// Stops; a run in progress finishes, no further run happens.
    pub fn stop(&self) {
        let (ioloop, timeout) = {
            let mut s = self.state.borrow_mut();
            (s.ioloop.take(), s.timeout.take())
        };
        if let (Some(l), Some(t)) = (ioloop, timeout) {
            l.remove_timeout(t);
        }
    }

    /// True between `start` and `stop`.
    pub fn is_running(&self) -> bool {
        self.state.borrow().ioloop.is_some()
    }

    /// Tornado's `_run`: calls back, then schedules the next run even if the
    /// callback panicked (the panic is logged).
    fn run(&self) {
        if !self.is_running() {
            return;
        }
        // Taken out so that the callback may call `stop`/`start` on us.
        let mut callback =
            std::mem::replace(&mut self.state.borrow_mut().callback, Box::new(|| {}));
        if let Err(p) = catch_unwind(AssertUnwindSafe(&mut callback)) {
            log::error!(target: "tornado.application", "Exception in PeriodicCallback: {}", panic_message(&*p));
        }
        self.state.borrow_mut().callback = callback;
        if self.is_running() {
            self.schedule_next();
        }
    }

    /// Tornado's `_schedule_next` / `_update_next`.
    fn schedule_next(&self) {
        let mut s = self.state.borrow_mut();
        let Some(ioloop) = s.ioloop.clone() else {
            return;
        };
        let now = ioloop.time();
        let period = s.period;
        let step = if s.jitter > 0.0 {
            let mut x = s.rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.rng = x;
            let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
            period.mul_f64(1.0 + s.jitter * (unit - 0.5))
        } else {
            period
        };
        if s.next <= now {
            // Skip the periods that were missed: the next run is the first
            // multiple of the period that is still in the future.
            let behind = (now - s.next).as_nanos() / step.as_nanos().max(1);
            s.next += step * (behind as u32 + 1);
        }
        let me = self.clone();
        let t = ioloop.call_at(s.next, move || me.run());
        s.timeout = Some(t);
    }
}
