//! `Future<T>`: a result that will exist later, with done-callbacks.

use std::cell::RefCell;
use std::fmt;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use crate::error::{Error, InvalidStateError};
use crate::schedule;

/// A done-callback: receives a handle to the finished future.
type DoneCallback<T> = Box<dyn FnOnce(Future<T>) + 'static>;

/// What the future holds.
enum Outcome<T> {
    /// Not done yet.
    Pending,
    /// Done; the value is still there.
    Ready(Result<T, Error>),
    /// Done, and the value was moved out by `take_result` or `.await`.
    Taken,
}

/// The shared state behind every clone of one [`Future`].
struct State<T> {
    /// Pending until `set_result`/`set_exception`/`cancel`, then never again.
    outcome: Outcome<T>,
    /// True once `cancel` succeeded; the outcome is then `CancelledError`.
    cancelled: bool,
    /// Callbacks added while pending, with where they were added; emptied
    /// (and scheduled) when done.
    callbacks: Vec<(DoneCallback<T>, &'static Location<'static>)>,
    /// The (first) task awaiting this future; taken and woken when done.
    waker: Option<Waker>,
    /// What few futures need (more awaiters, an abandon hook), boxed so
    /// that the common future stays small: a server holds one per pending
    /// read on every idle connection.
    rare: Option<Box<Rare>>,
}

/// The rarely used part of a future's state.
#[derive(Default)]
struct Rare {
    /// Awaiting tasks after the first.
    more_wakers: Vec<Waker>,
    /// Scheduled once if the future is cancelled, or if its last handle but
    /// the producer's is dropped while pending (see `set_abandon_hook`).
    abandon: Option<crate::schedule::Callback>,
}

/// A result that will exist later: Tornado's `Future`, for one loop thread.
///
/// Cloning gives another handle to the same future. Done-callbacks are always
/// scheduled on the current loop, never run inline, even when added to a
/// future that is already done. A `Future` can be `.await`ed from async code,
/// which moves the value out (a second consumer gets an `InvalidStateError`;
/// use [`result`](Future::result) to read a `Clone` value many times).
///
/// ```
/// use tornado_concurrent::Future;
///
/// let f = Future::new();
/// assert!(!f.done());
/// f.set_result(42).unwrap();
/// assert!(f.set_result(43).is_err()); // only once
/// assert_eq!(f.result().unwrap(), 42);
/// ```
pub struct Future<T> {
    state: Rc<RefCell<State<T>>>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future {
            state: self.state.clone(),
        }
    }
}

impl<T: 'static> Default for Future<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> Future<T> {
    /// A new pending future.
    pub fn new() -> Self {
        Future {
            state: Rc::new(RefCell::new(State {
                outcome: Outcome::Pending,
                cancelled: false,
                callbacks: Vec::new(),
                waker: None,
                rare: None,
            })),
        }
    }

    /// A future already resolved with `value`.
    pub fn resolved(value: T) -> Self {
        let f = Self::new();
        f.state.borrow_mut().outcome = Outcome::Ready(Ok(value));
        f
    }

    /// A future already failed with `error`.
    pub fn failed(error: impl Into<Error>) -> Self {
        let f = Self::new();
        f.state.borrow_mut().outcome = Outcome::Ready(Err(error.into()));
        f
    }

    /// True once the future has a result, an error, or was cancelled.
    pub fn done(&self) -> bool {
        !matches!(self.state.borrow().outcome, Outcome::Pending)
    }

    /// True if [`cancel`](Future::cancel) succeeded on this future.
    pub fn cancelled(&self) -> bool {
        self.state.borrow().cancelled
    }

    /// The error the future failed with, or `None` if it succeeded or is not
    /// done yet.
    pub fn exception(&self) -> Option<Error> {
        match &self.state.borrow().outcome {
            Outcome::Ready(Err(e)) => Some(e.clone()),
            _ => None,
        }
    }

    /// Moves the result out of the future. Later reads get an
    /// `InvalidStateError`; the error of a failed future stays readable.
    pub fn take_result(&self) -> Result<T, Error> {
        let mut state = self.state.borrow_mut();
        match std::mem::replace(&mut state.outcome, Outcome::Taken) {
            Outcome::Ready(Ok(v)) => Ok(v),
            Outcome::Ready(Err(e)) => {
                state.outcome = Outcome::Ready(Err(e.clone()));
                Err(e)
            }
            Outcome::Pending => {
                state.outcome = Outcome::Pending;
                Err(InvalidStateError("the future is not done").into())
            }
            Outcome::Taken => Err(InvalidStateError("the result was already taken").into()),
        }
    }

    /// Resolves the future; its callbacks are scheduled on the current loop.
    /// Resolving a future that is already done is an `InvalidStateError`.
    pub fn set_result(&self, value: T) -> Result<(), InvalidStateError> {
        self.finish(Ok(value), false)
    }

    /// Fails the future with `error`; callbacks are scheduled as for a result.
    pub fn set_exception(&self, error: impl Into<Error>) -> Result<(), InvalidStateError> {
        self.finish(Err(error.into()), false)
    }

    /// Cancels a pending future (it fails with `CancelledError`). Returns
    /// false, doing nothing, if the future is already done.
    pub fn cancel(&self) -> bool {
        self.finish(Err(Error::cancelled()), true).is_ok()
    }

    /// Adds `callback`, to be called with this future once it is done. It is
    /// scheduled on the current loop, never run inline; a panic in it is
    /// logged naming the caller of `add_done_callback`.
    #[track_caller]
    pub fn add_done_callback(&self, callback: impl FnOnce(Future<T>) + 'static) {
        self.add_done_callback_at(callback, Location::caller());
    }

    /// As [`add_done_callback`](Future::add_done_callback), on behalf of
    /// the code at `location`.
    pub fn add_done_callback_at(
        &self,
        callback: impl FnOnce(Future<T>) + 'static,
        location: &'static Location<'static>,
    ) {
        let mut state = self.state.borrow_mut();
        if let Outcome::Pending = state.outcome {
            state.callbacks.push((Box::new(callback), location));
        } else {
            drop(state);
            let me = self.clone();
            schedule::schedule_at(Box::new(move || callback(me)), location);
        }
    }

    /// The same number for every clone of one future, distinct from that of
    /// any other live future (its shared state's address).
    pub fn identity(&self) -> usize {
        Rc::as_ptr(&self.state) as *const () as usize
    }

    /// How many handles (clones) of this future exist, callbacks' included.
    pub fn handle_count(&self) -> usize {
        Rc::strong_count(&self.state)
    }

    /// True if something other than `self` waits for the result: another
    /// handle, a done-callback or an awaiting task. A coroutine runner that
    /// holds the only handle uses it to notice that nobody wants the result.
    pub fn is_wanted_elsewhere(&self) -> bool {
        if Rc::strong_count(&self.state) > 1 {
            return true;
        }
        let state = self.state.borrow();
        !state.callbacks.is_empty() || state.waker.is_some()
    }

    /// True while done-callbacks wait for this pending future. A registered
    /// callback is someone's interest in the outcome even when no handle is
    /// kept; a lock or queue uses this (with `handle_count`) to skip waiters
    /// nobody can observe any more.
    pub fn has_done_callbacks(&self) -> bool {
        !self.state.borrow().callbacks.is_empty()
    }

    /// Lets the producer of this future (a coroutine runner holding one
    /// handle) learn that nobody wants the result any more: `hook` is
    /// scheduled on the loop when the future is cancelled, or when the last
    /// other handle is dropped while the future is pending with no callback
    /// or awaiter. The producer can then stop at once and release what it
    /// holds, instead of at its next resumption.
    pub fn set_abandon_hook(&self, hook: impl FnOnce() + 'static) {
        self.state
            .borrow_mut()
            .rare
            .get_or_insert_with(Default::default)
            .abandon = Some(Box::new(hook));
    }

    /// Stores the outcome, then schedules the callbacks and wakes awaiters.
    fn finish(&self, outcome: Result<T, Error>, cancel: bool) -> Result<(), InvalidStateError> {
        let (callbacks, wakers) = {
            let mut state = self.state.borrow_mut();
            if !matches!(state.outcome, Outcome::Pending) {
                return Err(InvalidStateError("the future is already done"));
            }
            state.outcome = Outcome::Ready(outcome);
            state.cancelled = cancel;
            let hook = state.rare.as_mut().and_then(|r| r.abandon.take());
            if let (true, Some(hook)) = (cancel, hook) {
                schedule::schedule(hook);
            }
            (
                std::mem::take(&mut state.callbacks),
                (
                    state.waker.take(),
                    state
                        .rare
                        .as_mut()
                        .map(|r| std::mem::take(&mut r.more_wakers))
                        .unwrap_or_default(),
                ),
            )
        };
        // One loop callback per done-callback, so that a panic in one is
        // isolated from the others, as in Tornado.
        for (callback, location) in callbacks {
            let me = self.clone();
            schedule::schedule_at(Box::new(move || callback(me)), location);
        }
        let (first, more) = wakers;
        if let Some(w) = first {
            w.wake();
        }
        for waker in more {
            waker.wake();
        }
        Ok(())
    }
}

impl<T> Drop for Future<T> {
    fn drop(&mut self) {
        // Two handles left (this one and the producer's): this drop leaves
        // the producer alone with a result nobody can observe.
        if Rc::strong_count(&self.state) != 2 {
            return;
        }
        let Ok(mut state) = self.state.try_borrow_mut() else {
            return;
        };
        if state.rare.as_ref().is_none_or(|r| r.abandon.is_none())
            || !matches!(state.outcome, Outcome::Pending)
            || !state.callbacks.is_empty()
            || state.waker.is_some()
            || state
                .rare
                .as_ref()
                .is_some_and(|r| !r.more_wakers.is_empty())
        {
            return;
        }
        let hook = state
            .rare
            .as_mut()
            .and_then(|r| r.abandon.take())
            .expect("checked above");
        drop(state);
        schedule::schedule(hook);
    }
}

impl<T: Clone + 'static> Future<T> {
    /// A copy of the result: the value, or the error the future failed with.
    /// Not done yet, or taken by `.await`: an `InvalidStateError`.
    pub fn result(&self) -> Result<T, Error> {
        match &self.state.borrow().outcome {
            Outcome::Ready(Ok(v)) => Ok(v.clone()),
            Outcome::Ready(Err(e)) => Err(e.clone()),
            Outcome::Pending => Err(InvalidStateError("the future is not done").into()),
            Outcome::Taken => Err(InvalidStateError("the result was already taken").into()),
        }
    }
}

impl<T: 'static> std::future::Future for Future<T> {
    type Output = Result<T, Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut state = self.state.borrow_mut();
        if let Outcome::Pending = state.outcome {
            match &state.waker {
                None => state.waker = Some(cx.waker().clone()),
                Some(w) if w.will_wake(cx.waker()) => {}
                Some(_) => {
                    let rare = state.rare.get_or_insert_with(Default::default);
                    if !rare.more_wakers.iter().any(|w| w.will_wake(cx.waker())) {
                        rare.more_wakers.push(cx.waker().clone());
                    }
                }
            }
            return Poll::Pending;
        }
        drop(state);
        Poll::Ready(self.take_result())
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        let status = match &state.outcome {
            Outcome::Pending => "pending",
            Outcome::Ready(Ok(_)) => "done",
            Outcome::Ready(Err(_)) if state.cancelled => "cancelled",
            Outcome::Ready(Err(_)) => "failed",
            Outcome::Taken => "taken",
        };
        write!(f, "Future<{}>({status})", std::any::type_name::<T>())
    }
}
