//! The writing half of [`IOStream`]: `write`, Tornado's `_handle_write`,
//! and TCP half-close (`shutdown_write`, `set_keep_open_after_eof`).

use std::io::{self, IoSlice};

use tornado_concurrent::Future;

use super::{IOStream, Inner, State, closed_error, would_block};
use crate::error::StreamBufferFullError;

/// Why a write-side operation (`write`, `shutdown_write`) cannot start:
/// a transport that cannot be written, a closed stream, or a writing side
/// already shut (`shut` says so in the caller's words).
fn write_refusal(
    inner: &Inner,
    s: &State,
    shut: &'static str,
) -> Option<tornado_concurrent::Error> {
    if !inner.writes {
        return Some(
            io::Error::new(
                io::ErrorKind::Unsupported,
                "this stream cannot be written (a pipe's read end)",
            )
            .into(),
        );
    }
    if s.closed {
        return Some(closed_error(s));
    }
    if s.shut_write_after_flush || s.write_shut {
        return Some(io::Error::new(io::ErrorKind::BrokenPipe, shut).into());
    }
    None
}

impl IOStream {
    /// Writes `data`; the future is done once all of it was handed to the
    /// kernel. Writes are sent in order. Past `max_write_buffer_size`
    /// queued bytes, the write fails with `StreamBufferFullError`.
    pub fn write(&self, data: impl Into<Vec<u8>>) -> Future<()> {
        let data = data.into();
        let inner = &*self.inner;
        let mut s = inner.state.borrow_mut();
        if let Some(e) = write_refusal(inner, &s, "the stream's writing side was shut down") {
            return Future::failed(e);
        }
        if let Some(max) = s.options.max_write_buffer_size {
            if s.write_buffer.len() + data.len() > max {
                return Future::failed(StreamBufferFullError("write"));
            }
        }
        let direct = s.write_buffer.is_empty()
            && !s.corked
            && s.writable
            && !s.connecting()
            && !s.handshaking()
            && !s.transport.as_ref().is_some_and(|t| t.pending_output());
        if direct {
            // Fast path: straight from the caller's buffer, no queueing.
            let t = s.transport.as_mut().expect("open stream has a transport");
            match t.write_vectored(&[IoSlice::new(&data)]) {
                Ok(n) if n == data.len() && !t.pending_output() => {
                    s.write_buffer.count_direct(n);
                    drop(s);
                    crate::buffer::recycle(data);
                    return Future::resolved(());
                }
                Ok(n) => s.write_buffer.push_partial(data, n),
                Err(e) if would_block(&e) => {
                    s.writable = false;
                    s.write_buffer.push(data);
                }
                Err(e) => {
                    inner.close_with(&mut s, Some(e.into()));
                    let err = closed_error(&s);
                    drop(s);
                    self.inner.update_keepalive();
                    return Future::failed(err);
                }
            }
        } else {
            s.write_buffer.push(data);
        }
        let future = Future::new();
        let mark = s.write_buffer.queued();
        s.write_futures.push_back((mark, future.clone()));
        if !s.corked {
            inner.handle_write(&mut s);
        }
        inner.sync_interest(&mut s);
        drop(s);
        self.inner.update_keepalive();
        future
    }

    /// Holds this iteration's writes back until the loop's next one, then
    /// sends them together (a `TCP_CORK` of the stream's own): an HTTP
    /// server answering pipelined requests sends the answers in one
    /// `writev` instead of one `sendmsg` each. Nothing waits longer than
    /// that iteration, so a writer awaiting a write future is not stuck.
    pub fn cork(&self) {
        let mut s = self.inner.state.borrow_mut();
        if s.corked || s.closed {
            return;
        }
        s.corked = true;
        drop(s);
        let me = self.inner.me.clone();
        self.inner.ioloop.add_callback(move || {
            if let Some(inner) = me.upgrade() {
                let mut s = inner.state.borrow_mut();
                s.corked = false;
                if !s.closed {
                    inner.handle_write(&mut s);
                    inner.sync_interest(&mut s);
                }
                drop(s);
                inner.update_keepalive();
            }
        });
    }

    /// Closes the writing half once everything written so far is flushed
    /// (a TCP FIN; TLS sends its close_notify first), keeping the reading
    /// half open: the peer sees EOF and can still answer. Resolves when the
    /// FIN is sent; later writes fail. Once both halves are done (this, and
    /// the peer's EOF) the stream closes; a pipe's write end, which has no
    /// reading half, closes at once (its close is the reader's EOF).
    pub fn shutdown_write(&self) -> Future<()> {
        let inner = &*self.inner;
        let mut s = inner.state.borrow_mut();
        if let Some(e) = write_refusal(inner, &s, "the stream's writing side was already shut down")
        {
            return Future::failed(e);
        }
        s.shut_write_after_flush = true;
        let future = Future::new();
        let mark = s.write_buffer.queued();
        s.write_futures.push_back((mark, future.clone()));
        inner.handle_write(&mut s);
        inner.sync_interest(&mut s);
        drop(s);
        self.inner.update_keepalive();
        future
    }

    /// By default a stream closes itself once its peer's EOF was seen and
    /// what it wrote is flushed (one loop iteration later, so a
    /// half-closed peer still gets an immediate answer), as Tornado's
    /// streams close on EOF. With `keep` true it stays open for writing
    /// after the peer's EOF, however long the answer takes, until it is
    /// closed, its last handle is dropped, a write fails, or it
    /// [`shutdown_write`](IOStream::shutdown_write)s too: reads fail at
    /// EOF, writes go on (TCP half-close, as a proxy needs).
    pub fn set_keep_open_after_eof(&self, keep: bool) {
        self.inner.state.borrow_mut().keep_open_after_eof = keep;
    }
}

impl Inner {
    /// Tornado's `_handle_write`: flushes the write buffer and resolves the
    /// write futures it covered.
    pub(super) fn handle_write(&self, s: &mut State) {
        if s.connecting() || s.handshaking() {
            return;
        }
        let Some(t) = s.transport.as_mut() else {
            return;
        };
        let mut result = s.write_buffer.write_to(&mut **t);
        if let Ok(true) = result {
            if t.pending_output() {
                result = match t.flush() {
                    Ok(()) => Ok(true),
                    Err(e) if would_block(&e) => Ok(false),
                    Err(e) => Err(e),
                };
            }
        }
        match result {
            Ok(all) => s.writable = all,
            Err(e) => {
                self.close_with(s, Some(e.into()));
                return;
            }
        }
        let written = s.write_buffer.written();
        let flushed = !s.transport.as_ref().is_some_and(|t| t.pending_output());
        if s.shut_write_after_flush && s.write_buffer.is_empty() && flushed {
            s.shut_write_after_flush = false;
            s.write_shut = true;
            let shut = match s.transport.as_mut() {
                Some(t) => t.shutdown_write(),
                None => Ok(()),
            };
            if let Err(e) = shut {
                self.close_with(s, Some(e.into()));
                return;
            }
            if s.transport.as_ref().is_some_and(|t| t.pending_output()) {
                // TLS queued its close_notify: the next write event sends it.
                s.writable = false;
            }
        }
        let flushed = flushed && !s.transport.as_ref().is_some_and(|t| t.pending_output());
        while let Some((mark, _)) = s.write_futures.front() {
            if *mark > written || !flushed {
                break;
            }
            let (_, f) = s.write_futures.pop_front().expect("peeked");
            let _ = f.set_result(());
        }
        // Both halves done: the peer's EOF was seen, or the transport has
        // no reading half (a pipe's write end: its FIN is the close).
        let done = s.close_after_flush || (s.write_shut && (s.eof_handled || !self.reads));
        if done && s.write_buffer.is_empty() && flushed {
            self.close_with(s, None);
        }
    }
}
