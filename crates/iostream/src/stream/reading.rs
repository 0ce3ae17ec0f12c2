//! The reading half of [`IOStream`]: Tornado's `read_*` methods,
//! `_handle_read`, `_read_to_buffer_loop` and `_find_read_pos`, and what
//! happens at the peer's EOF.

use std::io;

use tornado_concurrent::{Error, Future};

use super::{IOStream, Inner, MIN_CHUNK, PendingRead, State, closed_error, is_reset, would_block};
use crate::error::{
    AlreadyReadingError, StreamBufferFullError, StreamClosedError, UnsatisfiableReadError,
};
use crate::read::{Found, ReadKind};

impl IOStream {
    /// Reads `n` bytes; with `partial`, resolves as soon as any bytes (at
    /// most `n`) are there.
    pub fn read_bytes(&self, n: usize, partial: bool) -> Future<Vec<u8>> {
        self.start_read(ReadKind::Bytes { n, partial })
    }

    /// Reads up to and including `delimiter`. More than `max_bytes` without
    /// it is an `UnsatisfiableReadError`, and the stream is closed.
    pub fn read_until(&self, delimiter: &[u8], max_bytes: Option<usize>) -> Future<Vec<u8>> {
        if delimiter.is_empty() {
            return Future::failed(UnsatisfiableReadError("empty delimiter".into()));
        }
        self.start_read(ReadKind::until(delimiter, max_bytes, true))
    }

    /// As `read_until`, except that more than `max_bytes` without the
    /// delimiter fails only this read: the stream stays open, its buffer
    /// intact, so the caller can still answer (an HTTP server's 431).
    pub fn read_until_limited(&self, delimiter: &[u8], max_bytes: usize) -> Future<Vec<u8>> {
        if delimiter.is_empty() {
            return Future::failed(UnsatisfiableReadError("empty delimiter".into()));
        }
        self.start_read(ReadKind::until(delimiter, Some(max_bytes), false))
    }

    /// Reads up to and including the first match of `regex`.
    pub fn read_until_regex(
        &self,
        regex: &regex::bytes::Regex,
        max_bytes: Option<usize>,
    ) -> Future<Vec<u8>> {
        self.start_read(ReadKind::Regex {
            regex: regex.clone(),
            max_bytes,
        })
    }

    /// Reads everything until the peer closes.
    pub fn read_until_close(&self) -> Future<Vec<u8>> {
        self.start_read(ReadKind::UntilClose)
    }

    /// Fills `buf` (all of it, or with `partial` at least one byte) and
    /// resolves with it, truncated to the bytes read. Lets a caller reuse
    /// one allocation across reads.
    pub fn read_into(&self, buf: Vec<u8>, partial: bool) -> Future<Vec<u8>> {
        self.start_read(ReadKind::Into { buf, partial })
    }

    /// Tornado's `_start_read` + `_try_inline_read`: complete from the buffer
    /// if possible, else from the transport if it has data, else wait.
    fn start_read(&self, kind: ReadKind) -> Future<Vec<u8>> {
        let inner = &*self.inner;
        if !inner.reads {
            return Future::failed(io::Error::new(
                io::ErrorKind::Unsupported,
                "this stream cannot be read (a pipe's write end)",
            ));
        }
        let mut s = inner.state.borrow_mut();
        if s.read.is_some() {
            return Future::failed(AlreadyReadingError);
        }
        let future = Future::new();
        s.read = Some(PendingRead {
            kind,
            future: future.clone(),
        });
        if inner.finish_read_if_ready(&mut s) {
            return future;
        }
        if s.closed || s.eof {
            let err = closed_error(&s);
            s.read = None;
            return Future::failed(err);
        }
        inner.handle_read(&mut s, true);
        inner.sync_interest(&mut s);
        drop(s);
        self.inner.update_keepalive();
        future
    }
}

impl Inner {
    /// Tornado's `_handle_read`: reads what the pending read needs (or, with
    /// none pending, one chunk, to notice a close), then completes it.
    pub(super) fn handle_read(&self, s: &mut State, inline: bool) {
        if let Err(e) = self.read_to_buffer_loop(s) {
            if e.is::<UnsatisfiableReadError>() {
                // The read itself gets the real error; later ones "closed".
                let read = s.read.take();
                let closes = read.as_ref().is_none_or(|r| r.kind.closes_on_limit());
                if let Some(read) = read {
                    let _ = read.future.set_exception(e.clone());
                }
                if !closes {
                    return;
                }
            } else if !inline
                && !e.is::<StreamBufferFullError>()
                && !e.downcast_ref::<io::Error>().is_some_and(is_reset)
            {
                // As Tornado's `_handle_read`: a read failing on an event is
                // worth a warning, once. An inline read (from `read_*`) only
                // fails its future, which the caller sees; a reset is only a
                // close (its cause is kept in `error`); a full buffer was
                // logged already.
                log::warn!(target: "tornado.general", "error on read: {e}");
            }
            self.close_with(s, Some(e));
            return;
        }
        self.finish_read_if_ready(s);
        if s.eof && !s.closed {
            self.read_side_closed(s);
        }
    }

    /// The peer sent EOF. Reads that the buffer cannot satisfy fail now, but
    /// the stream stays open for writing until the code holding it has had
    /// an iteration to answer: a half-closed peer still gets its replies.
    /// Then it closes, after flushing what was written.
    fn read_side_closed(&self, s: &mut State) {
        if let Some(read) = s.read.take() {
            let _ = read.future.set_exception(StreamClosedError {
                real_error: s.error().cloned(),
            });
        }
        if s.eof_handled {
            return;
        }
        s.eof_handled = true;
        if s.write_shut {
            // Both halves are done.
            self.close_with(s, None);
            return;
        }
        if s.keep_open_after_eof {
            return;
        }
        let me = self.me.clone();
        self.ioloop.add_callback(move || {
            if let Some(inner) = me.upgrade() {
                let mut s = inner.state.borrow_mut();
                let flushed = s.write_buffer.is_empty()
                    && !s.transport.as_ref().is_some_and(|t| t.pending_output());
                if flushed {
                    inner.close_with(&mut s, None);
                } else {
                    s.close_after_flush = true;
                }
                drop(s);
                inner.update_keepalive();
            }
        });
    }

    /// Tornado's `_read_to_buffer_loop`.
    fn read_to_buffer_loop(&self, s: &mut State) -> Result<(), Error> {
        let target = match &s.read {
            Some(r) => r.kind.target_bytes(),
            None => Some(0),
        };
        let mut next_find = 0;
        while s.readable && !s.eof {
            // Never read past `max_buffer_size` (Tornado reads no more than
            // the buffer allows): a slow consumer leaves the rest in the
            // kernel, whose flow control slows the peer down.
            let room = s
                .options
                .max_buffer_size
                .saturating_sub(s.read_buffer.len());
            if room == 0 {
                let Some(read) = s.read.as_mut() else { break };
                match read.kind.find(s.read_buffer.bytes(), false) {
                    Found::Ready(_) => break,
                    Found::Unsatisfiable(msg) => return Err(UnsatisfiableReadError(msg).into()),
                    Found::NotYet => {
                        // The pending read needs more than the buffer may hold.
                        log::error!(target: "tornado.general", "Reached maximum read buffer size");
                        return Err(StreamBufferFullError("read").into());
                    }
                }
            }
            let chunk = s.chunk.min(room);
            let State {
                transport,
                read_buffer,
                read_closed,
                ..
            } = &mut *s;
            let Some(t) = transport.as_mut() else { break };
            // A short read from the kernel emptied it: the next read waits
            // for the loop's next event, not for an EAGAIN (unless the peer
            // closed: then no event would come).
            let short_drains = !*read_closed && t.short_read_drains();
            match read_buffer.read_from(&mut **t, chunk) {
                Ok(0) => s.eof = true,
                Ok(n) => {
                    if n < chunk && short_drains {
                        s.readable = false;
                    }
                    s.chunk = (n * 2).clamp(
                        MIN_CHUNK.min(s.options.read_chunk_size),
                        s.options.read_chunk_size,
                    );
                }
                Err(e) if would_block(&e) => s.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_reset(&e) && s.read.is_none() => {
                    // A reset while nobody reads is a close, not an error
                    // worth the logs (Tornado treats ECONNRESET alike).
                    s.rare_mut().error = Some(e.into());
                    s.eof = true;
                }
                Err(e) => return Err(e.into()),
            }
            let len = s.read_buffer.len();
            if target.is_some_and(|t| len >= t) {
                break;
            }
            // Looking for the end on every read is costly for big reads;
            // do it on the first read and whenever the buffer has doubled.
            if len >= next_find {
                let Some(read) = s.read.as_mut() else { break };
                match read.kind.find(s.read_buffer.bytes(), s.eof) {
                    Found::Ready(_) => break,
                    Found::Unsatisfiable(msg) => return Err(UnsatisfiableReadError(msg).into()),
                    Found::NotYet => next_find = len * 2,
                }
            }
        }
        Ok(())
    }

    /// Tornado's `_find_read_pos` + `_read_from_buffer`: completes the
    /// pending read from the buffer if it can. Returns true if it did (or
    /// failed it as unsatisfiable).
    pub(super) fn finish_read_if_ready(&self, s: &mut State) -> bool {
        if s.read.is_none() {
            return false;
        }
        // A read until the close gets the data only at a clean end (EOF or
        // a reset, which Tornado treats as a close): after a read error
        // the data is cut short, and the read fails with the cause.
        let clean = s
            .error()
            .is_none_or(|e| e.downcast_ref::<io::Error>().is_some_and(is_reset));
        let eof = (s.eof || s.closed) && clean;
        let read = s.read.as_mut().expect("checked above");
        match read.kind.find(s.read_buffer.bytes(), eof) {
            Found::NotYet => false,
            Found::Ready(n) => {
                let read = s.read.take().expect("checked above");
                let data = match read.kind {
                    ReadKind::Into { mut buf, .. } => {
                        s.read_buffer.take_into(&mut buf[..n]);
                        buf.truncate(n);
                        buf
                    }
                    _ => s.read_buffer.take(n),
                };
                let _ = read.future.set_result(data);
                true
            }
            Found::Unsatisfiable(msg) => {
                let err: Error = UnsatisfiableReadError(msg).into();
                let read = s.read.take().expect("checked above");
                let closes = read.kind.closes_on_limit();
                let _ = read.future.set_exception(err.clone());
                if closes {
                    self.close_with(s, Some(err));
                }
                true
            }
        }
    }
}
