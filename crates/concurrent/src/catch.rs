//! `CatchUnwind`: a future whose panics become an error value.

use std::future::Future as StdFuture;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::panic_message;

/// Polls `F` in place, turning a panic in a poll into `Err` with the
/// panic's message: a server answers 500 (or closes) and goes on instead of
/// unwinding through the loop. Being a plain struct, it adds nothing to the
/// size of the coroutine that awaits it (an `async fn` wrapper would keep
/// `F` twice: as its argument and as its pinned local).
///
/// ```
/// use std::future::Future as _;
/// use std::pin::pin;
/// use std::task::{Context, Poll, Waker};
/// use tornado_concurrent::CatchUnwind;
///
/// let mut cx = Context::from_waker(Waker::noop());
/// let mut fine = pin!(CatchUnwind::new(async { 7 }));
/// assert_eq!(fine.as_mut().poll(&mut cx), Poll::Ready(Ok(7)));
/// let mut failed = pin!(CatchUnwind::new(async { panic!("bad input") }));
/// assert_eq!(
///     failed.as_mut().poll(&mut cx),
///     Poll::Ready(Err::<(), _>("bad input".to_owned()))
/// );
/// ```
pub struct CatchUnwind<F> {
    /// Structurally pinned: never moved once polled (no `Drop`, no
    /// `Unpin` impl of its own).
    inner: F,
}

impl<F: StdFuture> CatchUnwind<F> {
    /// Wraps `inner`.
    pub fn new(inner: F) -> CatchUnwind<F> {
        CatchUnwind { inner }
    }
}

impl<F: StdFuture> StdFuture for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is structurally pinned: `CatchUnwind` never moves
        // it out, has no `Drop` impl, and is `Unpin` only when `F` is.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.inner) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => Poll::Ready(Err(panic_message(&*payload))),
        }
    }
}
