//! `PeriodicCallback`: a callback or coroutine run every `period`.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::rc::Rc;
use std::time::{Duration, Instant};

use tornado_concurrent::{Future, panic_message};

use crate::ioloop::IOLoop;
use crate::timeouts::Timeout;

/// The user's callback, adapted: called with what to do when its run ends.
type Run = Box<dyn FnMut(Box<dyn FnOnce()>)>;

/// State shared by the handle and its scheduled timeout.
struct State {
    /// The user's callback; `None` while it runs.
    callback: Option<Run>,
    /// Time between runs; never zero.
    period: Duration,
    /// Fraction of `period` by which each run may move, 0.0 for none.
    jitter: f64,
    /// The loop it runs on while started.
    ioloop: Option<IOLoop>,
    /// The pending timeout while started and not running.
    timeout: Option<Timeout>,
    /// When the next run is due.
    next: Instant,
    /// Counts `start`s: the end of a run begun before a `stop` and a new
    /// `start` schedules nothing (the new start has scheduled its own run).
    generation: u64,
    /// xorshift state for the jitter.
    rng: u64,
    /// Where it was made: named when a run panics, fails or blocks.
    location: &'static Location<'static>,
}

/// Calls a function every `period`, on the current loop (Tornado's
/// `PeriodicCallback`).
///
/// Runs follow a fixed grid (start + n × period): a run that takes longer
/// than a period makes the loop skip the periods it missed, rather than
/// bunch them up. With [`new_coroutine`](PeriodicCallback::new_coroutine)
/// the callback returns a [`Future`]: the next run then waits until that
/// future is done (never two runs at once), and is the first grid point
/// after it.
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
    #[track_caller]
    pub fn new(mut callback: impl FnMut() + 'static, period: Duration) -> PeriodicCallback {
        let run: Run = Box::new(move |then| {
            callback();
            then();
        });
        Self::with_run(run, period, Location::caller())
    }

    /// A stopped periodic coroutine: `callback` returns a [`Future`] (e.g.
    /// a `tornado_gen::coroutine`), and the next run waits until that future
    /// is done, then takes the first point of the grid after it (Tornado 6's
    /// `PeriodicCallback` given a coroutine). A failed future is logged.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tornado_concurrent::Future;
    /// use tornado_ioloop::{IOLoop, PeriodicCallback};
    ///
    /// let ioloop = IOLoop::new().unwrap();
    /// let pc = PeriodicCallback::new_coroutine(
    ///     || {
    ///         // Say, a coroutine that polls a server.
    ///         let f = Future::new();
    ///         let g = f.clone();
    ///         IOLoop::current().call_later(Duration::from_millis(3), move || {
    ///             g.set_result(()).unwrap();
    ///             IOLoop::current().stop();
    ///         });
    ///         f
    ///     },
    ///     Duration::from_millis(2),
    /// );
    /// pc.start();
    /// ioloop.start().unwrap();
    /// pc.stop();
    /// ```
    #[track_caller]
    pub fn new_coroutine<T: 'static>(
        mut callback: impl FnMut() -> Future<T> + 'static,
        period: Duration,
    ) -> PeriodicCallback {
        let location = Location::caller();
        let run: Run = Box::new(move |then| {
            callback().add_done_callback_at(
                move |f| {
                    match f.exception() {
                        Some(e) if !e.is_cancelled() => log::error!(
                            target: "tornado.application",
                            "Exception in PeriodicCallback made at {location}: {e}"
                        ),
                        _ => {}
                    }
                    then();
                },
                location,
            )
        });
        Self::with_run(run, period, location)
    }

    fn with_run(
        run: Run,
        period: Duration,
        location: &'static Location<'static>,
    ) -> PeriodicCallback {
        let seed = Instant::now().elapsed().subsec_nanos() as u64
            ^ (&*run as *const _ as *const u8 as u64);
        PeriodicCallback {
            state: Rc::new(RefCell::new(State {
                callback: Some(run),
                period: period.max(Duration::from_millis(1)),
                jitter: 0.0,
                ioloop: None,
                timeout: None,
                next: Instant::now(),
                generation: 0,
                rng: seed | 1,
                location,
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
        s.generation += 1;
        drop(s);
        self.schedule_next();
    }

    /// Stops; a run in progress finishes (a coroutine's future is left
    /// alone), no further run happens. Started again while a coroutine run
    /// is still going, the new schedule does not wait for that run.
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

    /// Tornado's `_run`: calls back, and once the run is over (at once, or
    /// when the returned future is done) schedules the next one, even if
    /// the callback panicked or failed (that is logged).
    fn run(&self) {
        let generation = {
            let mut s = self.state.borrow_mut();
            s.timeout = None;
            if s.ioloop.is_none() {
                return;
            }
            s.generation
        };
        // Taken out so that the callback may call `stop`/`start` on us.
        let Some(mut callback) = self.state.borrow_mut().callback.take() else {
            return; // Re-entered from its own callback: cannot happen twice.
        };
        let me = self.clone();
        let then: Box<dyn FnOnce()> = Box::new(move || me.run_over(generation));
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| callback(then))) {
            let location = self.state.borrow().location;
            log::error!(
                target: "tornado.application",
                "Exception in PeriodicCallback made at {location}: {}",
                panic_message(&*p)
            );
            self.run_over(generation);
        }
        self.state.borrow_mut().callback = Some(callback);
    }

    /// A run begun in `generation` is over: schedule the next, unless the
    /// callback was stopped (or stopped and started again) meanwhile.
    fn run_over(&self, generation: u64) {
        let current = {
            let s = self.state.borrow();
            s.generation == generation && s.timeout.is_none()
        };
        if current {
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
        let step = if s.jitter > 0.0 {
            let mut x = s.rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s.rng = x;
            jittered(s.period, s.jitter, (x >> 11) as f64 / (1u64 << 53) as f64)
        } else {
            s.period
        };
        s.next = update_next(s.next, now, step);
        let me = self.clone();
        let t = ioloop.add_timeout_for(s.next, move || me.run(), s.location);
        s.timeout = Some(t);
    }
}

/// `period` moved by `jitter` (a fraction of it) times `unit - 0.5`, for a
/// `unit` in [0, 1): the length of one step when jitter is on.
fn jittered(period: Duration, jitter: f64, unit: f64) -> Duration {
    period.mul_f64(1.0 + jitter * (unit - 0.5))
}

/// Tornado's `_update_next`: when the run after the one due at `next` is
/// due, at `now` (when that run ended), with `step` between runs.
fn update_next(next: Instant, now: Instant, step: Duration) -> Instant {
    if next <= now {
        // Skip the periods that were missed: the next run is the first
        // point of the grid that is still in the future.
        let behind = (now - next).as_nanos() / step.as_nanos().max(1);
        let steps = u32::try_from(behind + 1).unwrap_or(u32::MAX);
        next + step * steps
    } else {
        // The clock went back (a custom clock): move on by one step anyway,
        // so that the same instant never runs twice.
        next + step
    }
}

#[cfg(test)]
mod tests {
    //! The schedule's arithmetic, as Tornado's `TestPeriodicCallbackMath`:
    //! times in seconds from a base of 1000.
    use super::*;

    /// The times of successive runs that last `durations` (negative: the
    /// clock moved back during the run), each step given by `step`.
    fn simulate(durations: &[f64], mut step: impl FnMut() -> Duration) -> Vec<f64> {
        let base = Instant::now();
        let at = |secs: f64| base + Duration::from_secs_f64(secs);
        let (mut next, mut now) = (at(1000.0), at(1000.0));
        let mut calls = Vec::new();
        for &d in durations {
            next = update_next(next, now, step());
            let t = (next - base).as_secs_f64();
            calls.push((t * 1000.0).round() / 1000.0);
            now = at(t + d);
        }
        calls
    }

    fn ten() -> Duration {
        Duration::from_secs(10)
    }

    #[test]
    fn basic() {
        assert_eq!(
            simulate(&[0.0; 5], ten),
            [1010.0, 1020.0, 1030.0, 1040.0, 1050.0]
        );
    }

    #[test]
    fn overrun_skips_whole_periods() {
        let durations = [9., 9., 10., 11., 20., 20., 35., 35., 0., 0., 0.];
        let expected = [
            1010., 1020., 1030., 1050., 1070., 1100., 1130., 1170., 1210., 1220., 1230.,
        ];
        assert_eq!(simulate(&durations, ten), expected);
    }

    #[test]
    fn clock_going_back_moves_on_by_one_period() {
        assert_eq!(
            simulate(&[-2., -1., -3., -2., 0.], ten),
            [1010., 1020., 1030., 1040., 1050.]
        );
        assert_eq!(simulate(&[-100., 0., 0.], ten), [1010., 1020., 1030.]);
    }

    #[test]
    fn jitter_moves_each_step() {
        let mut units = [0.5, 1.0, 0.0, 0.75].into_iter();
        let step = || jittered(ten(), 0.5, units.next().unwrap());
        assert_eq!(simulate(&[0.0; 4], step), [1010.0, 1022.5, 1030.0, 1041.25]);
    }
}
