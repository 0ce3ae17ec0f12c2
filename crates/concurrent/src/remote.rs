//! Resolving a future from another thread.
//!
//! A [`Future`] lives on one loop thread (it is `Rc`-based and not `Send`).
//! Another thread gets a [`RemoteSetter`] instead: a `Send` token holding the
//! loop's thread-safe handle and a key into a table on the loop thread. Its
//! value travels to the loop as a queued callback, which looks the future up
//! by key and resolves it there. If the setter is dropped unused, the future
//! fails with [`SetterDropped`] so that nobody waits forever.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::panic::Location;
use std::sync::Arc;

use slab::Slab;

use crate::error::{Error, InvalidStateError};
use crate::future::Future;
use crate::schedule::{self, RemoteSchedule};

/// Finishes a future on its own thread with a value sent from elsewhere.
type Completer = Box<dyn FnOnce(Box<dyn Any + Send>)>;

thread_local! {
    /// Futures waiting for a remote value, by key; entries live on the thread
    /// that created the setter and are removed when the value arrives.
    static PENDING: RefCell<Slab<Completer>> = RefCell::new(Slab::new());
}

/// The remote setter was dropped without setting a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the RemoteSetter was dropped before it set a result")]
pub struct SetterDropped;

/// A `Send` handle that resolves one [`Future`] from any thread, through the
/// loop's remote queue.
///
/// ```no_run
/// # use tornado_concurrent::Future;
/// let f: Future<u32> = Future::new();
/// let setter = f.remote_setter().expect("a loop is current");
/// std::thread::spawn(move || setter.set_result(7));
/// ```
pub struct RemoteSetter<T: Send + 'static> {
    /// Key in the owner thread's `PENDING` table; `None` once used.
    key: Option<usize>,
    /// The loop that owns the future.
    remote: Arc<dyn RemoteSchedule>,
    _value: PhantomData<fn(T)>,
}

impl<T: Send + 'static> Future<T> {
    /// A handle that can resolve this future from another thread. Fails if
    /// there is no current loop to send the result to.
    pub fn remote_setter(&self) -> Result<RemoteSetter<T>, InvalidStateError> {
        let scheduler = schedule::current_or_fallback().ok_or(InvalidStateError(
            "no current IOLoop to resolve the future on",
        ))?;
        let me = self.clone();
        let completer: Completer = Box::new(move |value| {
            let outcome = *value
                .downcast::<Option<Result<T, Error>>>()
                .expect("RemoteSetter sends its own value type");
            let outcome = outcome.unwrap_or_else(|| Err(SetterDropped.into()));
            // A future cancelled by its holder simply ignores the late value.
            if !me.done() {
                let _ = match outcome {
                    Ok(v) => me.set_result(v),
                    Err(e) => me.set_exception(e),
                };
            }
        });
        let key = PENDING.with(|p| p.borrow_mut().insert(completer));
        Ok(RemoteSetter {
            key: Some(key),
            remote: scheduler.remote(),
            _value: PhantomData,
        })
    }
}

impl<T: Send + 'static> RemoteSetter<T> {
    /// Resolves the future with `value` (on its loop, at its next iteration).
    #[track_caller]
    pub fn set_result(mut self, value: T) {
        self.send(Some(Ok(value)), Location::caller());
    }

    /// Fails the future with `error`.
    #[track_caller]
    pub fn set_exception(mut self, error: impl Into<Error>) {
        self.send(Some(Err(error.into())), Location::caller());
    }

    fn send(&mut self, outcome: Option<Result<T, Error>>, location: &'static Location<'static>) {
        let Some(key) = self.key.take() else { return };
        let job = Box::new(move || complete(key, Box::new(outcome)));
        if self.remote.schedule_remote(job, location).is_err() {
            log::warn!(
                target: "tornado.general",
                "RemoteSetter: the IOLoop is closed; the result is dropped"
            );
        }
    }
}

impl<T: Send + 'static> Drop for RemoteSetter<T> {
    fn drop(&mut self) {
        self.send(None, Location::caller());
    }
}

/// Runs on the loop thread: resolves the future registered under `key`.
fn complete(key: usize, value: Box<dyn Any + Send>) {
    let completer = PENDING.with(|p| p.borrow_mut().try_remove(key));
    if let Some(completer) = completer {
        completer(value);
    }
}
