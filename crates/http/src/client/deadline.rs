//! A time limit on a future whose abandoned work must end quietly.

use std::time::Duration;

use tornado_concurrent::Future;
use tornado_ioloop::IOLoop;

use super::error::HttpClientError;

/// Fails with `on_timeout()`'s error if `work` is not done within `t`.
/// Not `with_timeout`: `on_timeout` closes what the work is waiting on, so
/// the abandoned work fails soon after, and that expected failure must not
/// be logged as unhandled.
pub(crate) fn deadline<T: 'static>(
    t: Duration,
    work: Future<T>,
    on_timeout: impl FnOnce() -> HttpClientError + 'static,
) -> Future<T> {
    let result = Future::new();
    let ioloop = IOLoop::current();
    let r = result.clone();
    let timer = ioloop.call_later(t, move || {
        if !r.done() {
            let _ = r.set_exception(on_timeout());
        }
    });
    let r = result.clone();
    // The callback holds a handle so the runner does not take the work for
    // abandoned and drop it.
    let keep = work.clone();
    work.add_done_callback(move |work| {
        drop(keep);
        ioloop.remove_timeout(timer);
        if !r.done() {
            let _ = match work.take_result() {
                Ok(v) => r.set_result(v),
                Err(e) => r.set_exception(e),
            };
        }
    });
    result
}
