//! The Runner for hand-written, generator-like state machines: the Rust
//! shape of a Python generator driven by Tornado's `gen.Runner`.
//!
//! A [`Generator`] is resumed with the outcome of the future it last
//! yielded and answers with either the next thing to wait on or its final
//! result. The [`Runner`] mirrors Tornado's: `handle_yield` turns what was
//! yielded into a future and, if that future is not done yet, arranges for
//! `run` to be called when it is; `run` loops, sending each finished
//! future's outcome into the generator, for as long as the yielded futures
//! are already done.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;

use tornado_concurrent::{Error, Future};
use tornado_ioloop::IOLoop;

/// What a generator yields: something to wait on before it is resumed.
pub enum Yielded<S> {
    /// Resume with this future's outcome once it is done.
    Future(Future<S>),
    /// Resume on the next loop iteration with `None` (Tornado's `gen.moment`).
    Moment,
}

/// What one resumption of a generator produced.
pub enum Step<S, O> {
    /// Suspend until the yielded thing is ready.
    Yield(Yielded<S>),
    /// Finished (Python's `return` or an uncaught exception).
    Return(Result<O, Error>),
}

/// A hand-written coroutine: a state machine resumed by the [`Runner`].
///
/// `resume` receives `None` the first time (Python's `send(None)`) and after
/// a `Moment`; otherwise the outcome of the future it yielded: a value, or an
/// error to handle as a Python generator handles a thrown exception.
///
/// ```
/// use tornado_concurrent::{Error, Future};
/// use tornado_gen::{Generator, Step, Yielded, run_generator};
/// use tornado_ioloop::IOLoop;
///
/// /// Adds the results of two slow lookups, one after the other.
/// struct AddTwo { state: u8, total: u32 }
///
/// fn lookup(n: u32) -> Future<u32> {
///     let f = Future::new();
///     let g = f.clone();
///     IOLoop::current().add_callback(move || g.set_result(n * 10).unwrap());
///     f
/// }
///
/// impl Generator for AddTwo {
///     type Sent = u32;
///     type Output = u32;
///     fn resume(&mut self, sent: Option<Result<u32, Error>>) -> Step<u32, u32> {
///         if let Some(v) = sent {
///             match v {
///                 Ok(v) => self.total += v,
///                 Err(e) => return Step::Return(Err(e)),
///             }
///         }
///         self.state += 1;
///         match self.state {
///             1 => Step::Yield(Yielded::Future(lookup(1))),
///             2 => Step::Yield(Yielded::Future(lookup(2))),
///             _ => Step::Return(Ok(self.total)),
///         }
///     }
/// }
///
/// let ioloop = IOLoop::new().unwrap();
/// let total = ioloop.run_sync(|| run_generator(AddTwo { state: 0, total: 0 }), None).unwrap();
/// assert_eq!(total, 30);
/// ```
pub trait Generator: 'static {
    /// The value type of the futures it yields.
    type Sent: 'static;
    /// The type of its final result.
    type Output: 'static;

    /// Runs until the next suspension or the end.
    fn resume(&mut self, sent: Option<Result<Self::Sent, Error>>)
    -> Step<Self::Sent, Self::Output>;
}

/// What the runner waits on between resumptions.
enum Waiting<S> {
    /// Nothing yet (before the first `handle_yield`).
    Nothing,
    /// A yielded future.
    Future(Future<S>),
    /// A `Moment`: ready on the next iteration.
    Moment { ready: bool },
}

/// Tornado's `gen.Runner`: drives one [`Generator`] to its end.
pub struct Runner<G: Generator> {
    /// The generator; `None` once finished (its resources released).
    generator: RefCell<Option<G>>,
    /// Where the final result goes.
    result_future: Future<G::Output>,
    /// What the generator waits on.
    future: RefCell<Waiting<G::Sent>>,
    /// True while `run` is on the stack, so a re-entrant call returns.
    running: std::cell::Cell<bool>,
}

/// Starts `generator` (its first `resume` runs now) and returns the future
/// of its result, as calling a `@gen.coroutine` function does in Tornado.
pub fn run_generator<G: Generator>(generator: G) -> Future<G::Output> {
    let result_future = Future::new();
    let runner = Rc::new(Runner {
        generator: RefCell::new(Some(generator)),
        result_future: result_future.clone(),
        future: RefCell::new(Waiting::Nothing),
        running: std::cell::Cell::new(false),
    });
    // Python calls the generator once to reach its first `yield` before
    // building the Runner; `send_into` is that first call here.
    let ready = match runner.send_into(None) {
        Some(Step::Yield(first)) => runner.handle_yield(first),
        Some(Step::Return(r)) => {
            runner.finish(r);
            false
        }
        None => false,
    };
    if ready {
        runner.run();
    }
    result_future
}

impl<G: Generator> Runner<G> {
    /// Tornado's `Runner.run`: resumes the generator for as long as what it
    /// waits on is done.
    pub fn run(self: &Rc<Self>) {
        if self.running.replace(true) {
            return;
        }
        loop {
            if self.generator.borrow().is_none() {
                break;
            }
            // The holder cancelled or set the result, or dropped every
            // handle to it: nobody wants the rest, so stop here.
            if self.result_future.done() || !self.result_future.is_wanted_elsewhere() {
                self.release();
                break;
            }
            let sent = {
                let mut waiting = self.future.borrow_mut();
                match &*waiting {
                    Waiting::Future(f) if !f.done() => break,
                    Waiting::Moment { ready: false } | Waiting::Nothing => break,
                    _ => {}
                }
                match std::mem::replace(&mut *waiting, Waiting::Nothing) {
                    Waiting::Future(f) => Some(f.take_result()),
                    _ => None,
                }
            };
            match self.send_into(sent) {
                Some(Step::Yield(y)) => {
                    if !self.handle_yield(y) {
                        break;
                    }
                }
                Some(Step::Return(r)) => {
                    self.finish(r);
                    break;
                }
                None => break,
            }
        }
        self.running.set(false);
    }

    /// Tornado's `Runner.handle_yield`: records what the generator waits on.
    /// Returns true if it is ready already (so `run` goes on at once);
    /// otherwise arranges for `run` to be called when it is.
    pub fn handle_yield(self: &Rc<Self>, yielded: Yielded<G::Sent>) -> bool {
        match yielded {
            Yielded::Moment => {
                *self.future.borrow_mut() = Waiting::Moment { ready: false };
                let me = self.clone();
                IOLoop::current().add_callback(move || {
                    *me.future.borrow_mut() = Waiting::Moment { ready: true };
                    me.run();
                });
                false
            }
            Yielded::Future(f) => {
                let done = f.done();
                if !done {
                    let me = self.clone();
                    f.add_done_callback(move |_| me.run());
                }
                *self.future.borrow_mut() = Waiting::Future(f);
                done
            }
        }
    }

    /// Resumes the generator once, turning a panic into its result error.
    fn send_into(&self, sent: Option<Result<G::Sent, Error>>) -> Option<Step<G::Sent, G::Output>> {
        let mut generator = self.generator.borrow_mut();
        let g = generator.as_mut()?;
        match catch_unwind(AssertUnwindSafe(|| g.resume(sent))) {
            Ok(step) => Some(step),
            Err(payload) => Some(Step::Return(Err(Error::from_panic(&*payload)))),
        }
    }

    fn finish(&self, result: Result<G::Output, Error>) {
        self.release();
        let _ = match result {
            Ok(v) => self.result_future.set_result(v),
            Err(e) => self.result_future.set_exception(e),
        };
    }

    /// Drops the generator (and what it holds) outside any borrow.
    fn release(&self) {
        let generator = self.generator.borrow_mut().take();
        drop(generator);
        *self.future.borrow_mut() = Waiting::Nothing;
    }
}
