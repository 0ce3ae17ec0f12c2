//! The standard async I/O traits on [`IOStream`]: `futures_io`'s
//! `AsyncRead`, `AsyncBufRead` and `AsyncWrite` (feature `futures-io`) and
//! tokio's `AsyncRead`, `AsyncBufRead` and `AsyncWrite` (feature `tokio-io`:
//! the traits only, no tokio runtime).
//!
//! They are a thin layer over the stream's own futures, so a crate written
//! against either family (a codec, `futures::io::copy`, `tokio-postgres`)
//! runs on the loop with the stream's buffering, limits and ordering:
//!
//! - a trait read is a `read_bytes(n, partial)` on the stream, `n` being the
//!   caller's buffer size: bytes come from the read buffer, and a peer that
//!   overflows `max_buffer_size` closes the stream as usual;
//! - a clean EOF (or a local close) reads as `Ok(0)`; a stream closed by an
//!   error reads and writes as that error's `io::ErrorKind` (a reset stays
//!   `ConnectionReset`); a write to a closed stream is `BrokenPipe`;
//! - a trait write is a stream `write`: it goes to the kernel at once when
//!   it can and queues otherwise; once [`HIGH_WATER`] bytes (or the
//!   stream's `max_write_buffer_size`, if lower) are queued, `poll_write`
//!   waits for them to drain (back-pressure) rather than fail, and
//!   `poll_flush` waits for everything written through the traits;
//! - `poll_shutdown` (`poll_close` for `futures_io`) flushes, then
//!   half-closes: the peer sees EOF, and this side can still read.
//!
//! The stream allows one read at a time, and so do the traits: a trait read
//! while a Tornado read (`read_until`…) is pending fails with
//! [`MixedUseError`], and a Tornado read while a trait read is pending fails
//! with `AlreadyReadingError`. Bytes that a trait read took but the caller
//! has not consumed yet (after `poll_fill_buf`, or when a later poll brings
//! a smaller buffer) belong to this handle: read them through the traits.
//! As with a dropped Tornado read future, dropping a handle whose trait
//! read is still pending loses the bytes that read receives.

use std::future::Future as _;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tornado_concurrent::{Error, Future};

use crate::error::{AlreadyReadingError, StreamBufferFullError, StreamClosedError};
use crate::stream::IOStream;

/// Bytes queued for writing past which a trait write waits for the queue
/// to drain (back-pressure), and the largest write handed to the stream at
/// once.
pub(crate) const HIGH_WATER: usize = 64 * 1024;

/// How much `poll_fill_buf` asks the stream for.
const FILL_SIZE: usize = 64 * 1024;

/// A trait read met a Tornado read pending on the same stream: the two
/// cannot share it without reordering bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "IOStream used through the async I/O traits while a Tornado read (read_until, read_bytes…) \
     is pending on it: use one or the other"
)]
pub struct MixedUseError;

/// One handle's state for the traits, made on the handle's first trait
/// call: a handle that never uses them (most: every connection of a
/// server) carries one null pointer. A clone of the stream starts with
/// none of it: pending trait operations belong to the handle that began
/// them.
#[derive(Default)]
pub(crate) struct TraitSlot(Option<Box<TraitState>>);

impl TraitSlot {
    fn get(&mut self) -> &mut TraitState {
        self.0.get_or_insert_with(Box::default)
    }
}

impl Clone for TraitSlot {
    fn clone(&self) -> Self {
        TraitSlot(None)
    }
}

/// What a handle's trait calls left pending.
#[derive(Default)]
struct TraitState {
    /// A read begun through the traits, not delivered yet.
    read: Option<Future<Vec<u8>>>,
    /// Bytes delivered by the stream and not yet consumed by the caller.
    held: Vec<u8>,
    /// Consumed prefix of `held`.
    pos: usize,
    /// The latest trait write still queued: done once it, and so every
    /// earlier one, reached the kernel.
    last_write: Option<Future<()>>,
    /// `poll_shutdown` half-closed the stream.
    shut: bool,
}

/// The error a read or write through the traits reports for `e`.
fn to_io(e: Error, writing: bool) -> io::Error {
    if let Some(closed) = e.downcast_ref::<StreamClosedError>() {
        return match &closed.real_error {
            Some(real) => to_io(real.clone(), writing),
            None if writing => io::Error::new(io::ErrorKind::BrokenPipe, "stream is closed"),
            None => io::Error::new(io::ErrorKind::UnexpectedEof, "stream is closed"),
        };
    }
    let kind = if let Some(ioe) = e.downcast_ref::<io::Error>() {
        ioe.kind()
    } else if e.is::<AlreadyReadingError>() {
        return io::Error::other(MixedUseError);
    } else {
        io::ErrorKind::Other
    };
    io::Error::new(kind, Box::<dyn std::error::Error + Send + Sync>::from(e))
}

/// True if `e` is a clean close: the reader sees EOF.
fn is_clean_close(e: &Error) -> bool {
    e.downcast_ref::<StreamClosedError>()
        .is_some_and(|c| c.real_error.is_none())
}

/// Polls a stream future, taking it out of `slot` once it is done.
fn poll_slot<T: 'static>(
    slot: &mut Option<Future<T>>,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<T, Error>>> {
    let Some(f) = slot.as_mut() else {
        return Poll::Ready(None);
    };
    let out = ready!(Pin::new(f).poll(cx));
    *slot = None;
    Poll::Ready(Some(out))
}

impl IOStream {
    /// Makes sure held bytes are there, asking the stream for up to `want`:
    /// an empty slice is EOF.
    fn poll_held(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<&[u8]>> {
        let io = self.io.get();
        if io.pos < io.held.len() {
            let io = self.io.get();
            return Poll::Ready(Ok(&io.held[io.pos..]));
        }
        if io.read.is_none() {
            let read = self.read_bytes(want.max(1), true);
            self.io.get().read = Some(read);
        }
        let io = self.io.get();
        match ready!(poll_slot(&mut io.read, cx)) {
            Some(Ok(data)) => {
                io.held = data;
                io.pos = 0;
                Poll::Ready(Ok(&io.held[..]))
            }
            Some(Err(e)) if is_clean_close(&e) => Poll::Ready(Ok(&[])),
            Some(Err(e)) => Poll::Ready(Err(to_io(e, false))),
            None => unreachable!("a read was just started"),
        }
    }

    /// Drops `n` held bytes; frees the allocation once all are consumed.
    fn consume_held(&mut self, n: usize) {
        let io = self.io.get();
        io.pos = (io.pos + n).min(io.held.len());
        if io.pos == io.held.len() {
            io.held = Vec::new();
            io.pos = 0;
        }
    }

    /// A read into `dest`: the number of bytes copied, zero at EOF.
    #[cfg(feature = "futures-io")]
    fn poll_read_slice(
        &mut self,
        cx: &mut Context<'_>,
        dest: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if dest.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let held = ready!(self.poll_held(cx, dest.len()))?;
        let n = held.len().min(dest.len());
        dest[..n].copy_from_slice(&held[..n]);
        self.consume_held(n);
        Poll::Ready(Ok(n))
    }

    /// Writes a prefix of `data` through the stream, or waits while too
    /// much is queued.
    fn poll_write_slice(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if self.io.get().shut {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "stream was shut down for writing",
            )));
        }
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // The stream's own write limit, if lower, is the high-water mark.
        let limit = self
            .options()
            .max_write_buffer_size
            .map_or(HIGH_WATER, |max| max.min(HIGH_WATER));
        let queued = self.write_buffer_size();
        if queued >= limit {
            // Wait for what we queued to drain, then say so (the caller
            // polls again).
            return match ready!(poll_slot(&mut self.io.get().last_write, cx)) {
                Some(Err(e)) => Poll::Ready(Err(to_io(e, true))),
                Some(Ok(())) => {
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
                // Queued by another handle's writes, which we cannot wait
                // for: the stream's limit refuses the write.
                None => Poll::Ready(Err(to_io(StreamBufferFullError("write").into(), true))),
            };
        }
        let n = data.len().min(limit - queued).max(1);
        let f = self.write(&data[..n]);
        if !f.done() {
            // Queued: accepted now, reported (if it fails) by a later call.
            self.io.get().last_write = Some(f);
            return Poll::Ready(Ok(n));
        }
        match f.take_result() {
            Ok(()) => Poll::Ready(Ok(n)),
            Err(e) => Poll::Ready(Err(to_io(e, true))),
        }
    }

    /// Waits until everything written through the traits reached the kernel.
    fn poll_flush_writes(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match ready!(poll_slot(&mut self.io.get().last_write, cx)) {
            Some(Err(e)) => Poll::Ready(Err(to_io(e, true))),
            _ => Poll::Ready(Ok(())),
        }
    }

    /// Flushes, then half-closes: the peer reads EOF, reads here go on.
    fn poll_shutdown_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_flush_writes(cx))?;
        if self.io.get().shut {
            return Poll::Ready(Ok(()));
        }
        let result = match self.inner.state.borrow_mut().transport.as_mut() {
            Some(t) => t.shutdown_write(),
            None => match self.error() {
                Some(e) => Err(to_io(e, true)),
                None => Ok(()),
            },
        };
        if result.is_ok() {
            self.io.get().shut = true;
        }
        Poll::Ready(result)
    }
}

#[cfg(feature = "futures-io")]
mod futures_impls {
    use super::*;

    impl futures_io::AsyncRead for IOStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_read_slice(cx, buf)
        }
    }

    impl futures_io::AsyncBufRead for IOStream {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_held(cx, FILL_SIZE)
        }

        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().consume_held(amt);
        }
    }

    impl futures_io::AsyncWrite for IOStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_slice(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush_writes(cx)
        }

        fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_shutdown_write(cx)
        }
    }
}

#[cfg(feature = "tokio-io")]
mod tokio_impls {
    use super::*;
    use tokio::io::ReadBuf;

    impl tokio::io::AsyncRead for IOStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let me = self.get_mut();
            if buf.remaining() == 0 {
                return Poll::Ready(Ok(()));
            }
            let held = ready!(me.poll_held(cx, buf.remaining()))?;
            let n = held.len().min(buf.remaining());
            buf.put_slice(&held[..n]);
            me.consume_held(n);
            Poll::Ready(Ok(()))
        }
    }

    impl tokio::io::AsyncBufRead for IOStream {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_held(cx, FILL_SIZE)
        }

        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().consume_held(amt);
        }
    }

    impl tokio::io::AsyncWrite for IOStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_write_slice(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_flush_writes(cx)
        }

        fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.get_mut().poll_shutdown_write(cx)
        }
    }
}
