//! Helpers that connect futures, as in `tornado.concurrent`.

use crate::error::Error;
use crate::future::Future;

/// When `a` is done, copies its result or error into `b`, unless `b` is
/// already done (for example cancelled by its holder).
pub fn chain_future<T: Clone + 'static>(a: &Future<T>, b: &Future<T>) {
    let b = b.clone();
    a.add_done_callback(move |a| {
        if b.done() {
            return;
        }
        match a.result() {
            Ok(v) => future_set_result_unless_cancelled(&b, v),
            Err(e) => future_set_exception_unless_cancelled(&b, e),
        }
    });
}

/// Sets `future`'s result unless it was cancelled meanwhile; the value is
/// dropped in that case. This is how a producer finishes work whose consumer
/// may have given up.
pub fn future_set_result_unless_cancelled<T: 'static>(future: &Future<T>, value: T) {
    if !future.cancelled() {
        // Only fails if the future is done, which `cancelled` excluded or a
        // caller's own bug caused; either way there is nothing to recover.
        let _ = future.set_result(value);
    }
}

/// Sets `future`'s error unless it was cancelled meanwhile; in that case the
/// error is logged (target `tornado.application`) so it is not lost.
pub fn future_set_exception_unless_cancelled<T: 'static>(
    future: &Future<T>,
    error: impl Into<Error>,
) {
    let error = error.into();
    if future.cancelled() {
        log::error!(target: "tornado.application", "Exception after Future was cancelled: {error}");
    } else {
        let _ = future.set_exception(error);
    }
}
