//! `sleep` and `moment`: waiting on the loop without blocking it.

use std::future::Future as StdFuture;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tornado_concurrent::Future;
use tornado_ioloop::{IOLoop, Timeout};

/// Waits `duration` on the current loop (Tornado's `gen.sleep`); the loop
/// keeps running other work meanwhile. Dropping the `Sleep` before it fires
/// removes its timeout.
///
/// ```
/// use std::time::Duration;
/// use tornado_gen::{coroutine, sleep};
/// use tornado_ioloop::IOLoop;
///
/// let ioloop = IOLoop::new().unwrap();
/// ioloop
///     .run_sync(|| coroutine(async {
///         sleep(Duration::from_millis(5)).await;
///         Ok(())
///     }), None)
///     .unwrap();
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let ioloop = IOLoop::current();
    let future = Future::new();
    let f = future.clone();
    let timeout = ioloop.call_later(duration, move || {
        let _ = f.set_result(());
    });
    Sleep {
        future,
        timeout: Some((ioloop, timeout)),
    }
}

/// The future of [`sleep`]: awaits to `()`.
#[must_use = "a Sleep does nothing unless awaited"]
pub struct Sleep {
    /// Resolved by the timeout.
    future: Future<()>,
    /// The timeout, removed if the `Sleep` is dropped early.
    timeout: Option<(IOLoop, Timeout)>,
}

impl Sleep {
    /// The underlying Tornado future, for `add_done_callback` or `multi`.
    /// The timeout then stays scheduled even if the `Sleep` is dropped.
    pub fn into_future(mut self) -> Future<()> {
        self.timeout = None;
        self.future.clone()
    }
}

impl StdFuture for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match Pin::new(&mut self.future).poll(cx) {
            Poll::Ready(_) => {
                self.timeout = None;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some((ioloop, timeout)) = self.timeout.take() {
            ioloop.remove_timeout(timeout);
        }
    }
}

/// Yields to the loop for one iteration (Tornado's `gen.moment`): callbacks
/// already queued, and I/O, run before the coroutine continues.
pub fn moment() -> Moment {
    Moment { yielded: false }
}

/// The future of [`moment`].
#[must_use = "a Moment does nothing unless awaited"]
pub struct Moment {
    /// True after the first poll.
    yielded: bool,
}

impl StdFuture for Moment {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.yielded {
            return Poll::Ready(());
        }
        self.yielded = true;
        // The runner's waker queues the resume behind the callbacks already
        // queued, which is exactly one loop iteration.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
