//! Starting coroutines: `coroutine` (attached to its result) and `spawn`
//! (fire-and-forget).

use std::future::Future as StdFuture;
use std::panic::Location;

use tornado_concurrent::{Error, Future};

use crate::async_runner;

/// Starts `body` as a coroutine and returns the future of its result
/// (Tornado's `@gen.coroutine` call). The body runs at once until its first
/// suspension; one that never suspends resolves its future before this
/// returns. Panics and errors land in the future, never in the loop.
///
/// The coroutine is attached to the returned future: if every handle to it
/// is dropped, or it is cancelled, the coroutine is stopped at its next
/// resumption and its state machine dropped. Use [`spawn`] to run one
/// without keeping its future.
///
/// ```
/// use std::time::Duration;
/// use tornado_gen::{coroutine, multi, sleep};
/// use tornado_ioloop::IOLoop;
///
/// fn fetch(n: u32) -> tornado_concurrent::Future<u32> {
///     coroutine(async move {
///         sleep(Duration::from_millis(1)).await;
///         Ok(n * 10)
///     })
/// }
///
/// let f = coroutine(async {
///     sleep(Duration::from_millis(10)).await;
///     let (a, b) = multi((fetch(1), fetch(2))).await?;
///     Ok(a + b)
/// });
/// assert_eq!(IOLoop::current().run_sync(|| f, None).unwrap(), 30);
/// ```
#[track_caller]
pub fn coroutine<T, F>(body: F) -> Future<T>
where
    T: 'static,
    F: StdFuture<Output = Result<T, Error>> + 'static,
{
    let result = Future::new();
    async_runner::start(body, Some(result.clone()), Location::caller());
    result
}

/// Runs `body` as a coroutine nobody waits for (Tornado's
/// `IOLoop.spawn_callback` of a coroutine): it runs to its end even though
/// its future is not kept, and an error or panic in it is logged (target
/// `tornado.application`), naming where it was spawned.
#[track_caller]
pub fn spawn<T, F>(body: F)
where
    T: 'static,
    F: StdFuture<Output = Result<T, Error>> + 'static,
{
    // No result future: nobody could hold it. The task logs errors itself.
    async_runner::start::<F, T>(body, None, Location::caller());
}
