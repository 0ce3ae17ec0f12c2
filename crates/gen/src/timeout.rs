//! `with_timeout`: a deadline on any future.

use std::future::Future as StdFuture;
use std::time::Duration;

use tornado_concurrent::{Error, Future};
use tornado_ioloop::IOLoop;

use crate::multi::convert_yielded;

/// The deadline of [`with_timeout`] passed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Timeout after {0:?}")]
pub struct TimeoutError(pub Duration);

/// Wraps `future` in a future that fails with [`TimeoutError`] if it is not
/// done within `timeout` (Tornado's `gen.with_timeout`). As in Tornado the
/// inner future is not cancelled: it runs on, and a later error of it is
/// logged rather than lost.
pub fn with_timeout<T, F>(timeout: Duration, future: F) -> Future<T>
where
    T: 'static,
    F: StdFuture<Output = Result<T, Error>> + 'static,
{
    let inner = convert_yielded(future);
    let result = Future::new();
    if inner.done() {
        transfer(&inner, &result);
        return result;
    }
    let ioloop = IOLoop::current();
    let r = result.clone();
    let handle = ioloop.call_later(timeout, move || {
        let _ = r.set_exception(TimeoutError(timeout));
    });
    let r = result.clone();
    // The callback keeps a handle to `inner` so that a coroutine behind it
    // is not taken for abandoned: it must run on after a timeout.
    let keep = inner.clone();
    inner.add_done_callback(move |inner| {
        drop(keep);
        ioloop.remove_timeout(handle);
        if r.done() {
            if let Some(e) = inner.exception() {
                if !e.is_cancelled() {
                    log::error!(target: "tornado.application", "Exception in Future after timeout: {e}");
                }
            }
        } else {
            transfer(&inner, &r);
        }
    });
    result
}

/// Moves a finished future's outcome into another.
pub(crate) fn transfer<T: 'static>(from: &Future<T>, to: &Future<T>) {
    let _ = match from.take_result() {
        Ok(v) => to.set_result(v),
        Err(e) => to.set_exception(e),
    };
}
