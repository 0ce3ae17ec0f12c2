//! `IOStream`: Tornado's `BaseIOStream`, over any [`Transport`].
//!
//! The stream registers its fd with the loop once. On edge-triggered
//! backends it asks for `READ | WRITE` edge-triggered delivery and never
//! touches the registration again: it remembers whether the fd may be
//! readable or writable (`readable`/`writable`) and only forgets that on
//! `WouldBlock`. On level-triggered backends it keeps the registered events
//! equal to what it needs, as Tornado does (`sync_interest`).

use std::cell::RefCell;
use std::io::{self, IoSlice};
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};

use tornado_concurrent::{Error, Future};
use tornado_ioloop::{Events, IOLoop, Trigger};

use crate::buffer::{ReadBuffer, WriteBuffer};
use crate::error::{
    AlreadyReadingError, StreamBufferFullError, StreamClosedError, UnsatisfiableReadError,
};
use crate::read::{Found, ReadKind};
use crate::transport::{Transport, set_nonblocking};

/// Limits of a stream; Tornado's defaults.
#[derive(Debug, Clone, Copy)]
pub struct StreamOptions {
    /// Most bytes buffered for reading; reading past it closes the stream
    /// with a `StreamBufferFullError` (default 100 MiB).
    pub max_buffer_size: usize,
    /// Most bytes queued for writing; a write past it fails with
    /// `StreamBufferFullError` (default: unlimited).
    pub max_write_buffer_size: Option<usize>,
    /// Largest single read from the transport (default 64 KiB).
    pub read_chunk_size: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            max_buffer_size: 100 * 1024 * 1024,
            max_write_buffer_size: None,
            read_chunk_size: 64 * 1024,
        }
    }
}

/// The smallest read chunk; chunks adapt between this and `read_chunk_size`
/// to the sizes the peer sends, so small messages need small buffers.
const MIN_CHUNK: usize = 2048;

/// A read in progress.
struct PendingRead {
    kind: ReadKind,
    future: Future<Vec<u8>>,
}

/// The mutable state of a stream.
pub(crate) struct State {
    /// `None` once closed (dropping it closed the fd).
    pub(crate) transport: Option<Box<dyn Transport>>,
    read_buffer: ReadBuffer,
    write_buffer: WriteBuffer,
    /// At most one read at a time.
    read: Option<PendingRead>,
    /// Write futures with the byte count at which each is done, in order.
    write_futures: std::collections::VecDeque<(u64, Future<()>)>,
    /// Resolved when a non-blocking connect finishes.
    pub(crate) connecting: Option<Future<()>>,
    /// Resolved when a TLS handshake finishes.
    pub(crate) handshake: Option<Future<()>>,
    /// False only after the transport said `WouldBlock` for reading.
    readable: bool,
    /// False only after the transport said `WouldBlock` for writing.
    writable: bool,
    /// The peer finished sending (or the transport failed).
    eof: bool,
    /// The EOF was handled: a close is scheduled for the next iteration.
    eof_handled: bool,
    /// Close once the write buffer is flushed (set by that close when
    /// writes were still queued: a half-closed peer gets its data).
    close_after_flush: bool,
    closed: bool,
    /// Why the stream closed, if it was an error.
    error: Option<Error>,
    close_callback: Option<Box<dyn FnOnce()>>,
    options: StreamOptions,
    /// The next read's size, adapted to what the peer sends.
    chunk: usize,
    /// What the loop watches for (level-triggered backends only).
    interest: Events,
}

/// The part of a stream the loop's handler can reach (weakly).
pub(crate) struct Inner {
    /// This stream, weakly: for callbacks scheduled on the loop.
    me: Weak<Inner>,
    pub(crate) ioloop: IOLoop,
    pub(crate) fd: RawFd,
    /// Edge-triggered registration: no interest updates needed.
    edge: bool,
    pub(crate) state: RefCell<State>,
}

/// A buffered, non-blocking stream: Tornado's `IOStream`.
///
/// Reads and writes return [`Future`]s, so they can be awaited in
/// coroutines or given callbacks. One read may be pending at a time; writes
/// queue in order. Cloning gives another handle to the same stream; the fd
/// is closed by [`close`](IOStream::close) or when the last handle goes.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use tornado_gen::coroutine;
/// use tornado_ioloop::IOLoop;
/// use tornado_iostream::IOStream;
///
/// let ioloop = IOLoop::new().unwrap();
/// let (a, b) = UnixStream::pair().unwrap();
/// let line = ioloop.run_sync(move || coroutine(async move {
///     let (a, b) = (IOStream::new(a)?, IOStream::new(b)?);
///     a.write(b"hello\nworld").await?;
///     let line = b.read_until(b"\n", Some(1024)).await?;
///     Ok(line)
/// }), None).unwrap();
/// assert_eq!(line, b"hello\n");
/// ```
#[derive(Clone)]
pub struct IOStream {
    pub(crate) inner: Rc<Inner>,
    /// This handle's side of the standard I/O traits (`io_traits.rs`).
    #[cfg(any(feature = "futures-io", feature = "tokio-io"))]
    pub(crate) io: crate::io_traits::TraitState,
}

fn closed_error(s: &State) -> Error {
    StreamClosedError {
        real_error: s.error.clone(),
    }
    .into()
}

fn would_block(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
}

impl IOStream {
    /// Wraps a connected transport, registering it on the current loop.
    pub fn new(transport: impl Transport) -> io::Result<IOStream> {
        Self::with_options(transport, StreamOptions::default())
    }

    /// As `new`, with explicit limits.
    pub fn with_options(transport: impl Transport, options: StreamOptions) -> io::Result<IOStream> {
        Self::from_boxed(Box::new(transport), options, None)
    }

    pub(crate) fn from_boxed(
        transport: Box<dyn Transport>,
        options: StreamOptions,
        connecting: Option<Future<()>>,
    ) -> io::Result<IOStream> {
        let fd = transport.fd();
        set_nonblocking(fd)?;
        let ioloop = IOLoop::current();
        let edge = ioloop.trigger() == Trigger::Edge;
        let inner = Rc::new_cyclic(|me| Inner {
            me: me.clone(),
            ioloop: ioloop.clone(),
            fd,
            edge,
            state: RefCell::new(State {
                transport: Some(transport),
                read_buffer: ReadBuffer::default(),
                write_buffer: WriteBuffer::default(),
                read: None,
                write_futures: Default::default(),
                connecting,
                handshake: None,
                readable: true,
                writable: true,
                eof: false,
                eof_handled: false,
                close_after_flush: false,
                closed: false,
                error: None,
                close_callback: None,
                options,
                chunk: MIN_CHUNK.min(options.read_chunk_size).max(1),
                interest: Events::NONE,
            }),
        });
        let weak: Weak<Inner> = Rc::downgrade(&inner);
        let handler = move |_fd, events| {
            if let Some(inner) = weak.upgrade() {
                inner.handle_events(events);
            }
        };
        let registered = if edge {
            ioloop.add_handler_with(fd, Events::READ | Events::WRITE, Trigger::Edge, handler)
        } else {
            ioloop.add_handler(fd, Events::NONE, handler)
        };
        registered.map_err(io::Error::from)?;
        inner.sync_interest(&mut inner.state.borrow_mut());
        Ok(IOStream {
            inner,
            #[cfg(any(feature = "futures-io", feature = "tokio-io"))]
            io: Default::default(),
        })
    }

    /// The stream's fd.
    pub fn fileno(&self) -> RawFd {
        self.inner.fd
    }

    /// The loop the stream is registered on.
    pub fn ioloop(&self) -> &IOLoop {
        &self.inner.ioloop
    }

    // ----- reads (Tornado's read_* methods) -----------------------------

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
        inner.handle_read(&mut s);
        inner.sync_interest(&mut s);
        future
    }

    // ----- writes -------------------------------------------------------

    /// Writes `data`; the future is done once all of it was handed to the
    /// kernel. Writes are sent in order. Past `max_write_buffer_size`
    /// queued bytes, the write fails with `StreamBufferFullError`.
    pub fn write(&self, data: impl Into<Vec<u8>>) -> Future<()> {
        let data = data.into();
        let inner = &*self.inner;
        let mut s = inner.state.borrow_mut();
        if s.closed {
            return Future::failed(closed_error(&s));
        }
        if let Some(max) = s.options.max_write_buffer_size {
            if s.write_buffer.len() + data.len() > max {
                return Future::failed(StreamBufferFullError("write"));
            }
        }
        let direct = s.write_buffer.is_empty()
            && s.writable
            && s.connecting.is_none()
            && s.handshake.is_none()
            && !s.transport.as_ref().is_some_and(|t| t.pending_output());
        if direct {
            // Fast path: straight from the caller's buffer, no queueing.
            let t = s.transport.as_mut().expect("open stream has a transport");
            match t.write_vectored(&[IoSlice::new(&data)]) {
                Ok(n) if n == data.len() && !t.pending_output() => {
                    s.write_buffer.count_direct(n);
                    return Future::resolved(());
                }
                Ok(n) => s.write_buffer.push_partial(data, n),
                Err(e) if would_block(&e) => {
                    s.writable = false;
                    s.write_buffer.push(data);
                }
                Err(e) => {
                    inner.close_with(&mut s, Some(e.into()));
                    return Future::failed(closed_error(&s));
                }
            }
        } else {
            s.write_buffer.push(data);
        }
        let future = Future::new();
        let mark = s.write_buffer.queued();
        s.write_futures.push_back((mark, future.clone()));
        inner.handle_write(&mut s);
        inner.sync_interest(&mut s);
        future
    }

    // ----- state --------------------------------------------------------

    /// Closes the stream: pending reads and writes fail with
    /// `StreamClosedError` (a pending `read_until_close` gets the buffered
    /// data instead), and the close callback is scheduled.
    pub fn close(&self) {
        let inner = &*self.inner;
        let mut s = inner.state.borrow_mut();
        inner.close_with(&mut s, None);
    }

    /// True once closed.
    pub fn closed(&self) -> bool {
        self.inner.state.borrow().closed
    }

    /// Why the stream closed, if an error closed it.
    pub fn error(&self) -> Option<Error> {
        self.inner.state.borrow().error.clone()
    }

    /// True while a read is pending.
    pub fn reading(&self) -> bool {
        self.inner.state.borrow().read.is_some()
    }

    /// True while written data waits to be handed to the kernel.
    pub fn writing(&self) -> bool {
        let s = self.inner.state.borrow();
        !s.write_buffer.is_empty() || s.transport.as_ref().is_some_and(|t| t.pending_output())
    }

    /// Calls `callback` (on the loop) once the stream is closed.
    pub fn set_close_callback(&self, callback: impl FnOnce() + 'static) {
        let mut s = self.inner.state.borrow_mut();
        if s.closed {
            self.inner.ioloop.add_callback(callback);
        } else {
            s.close_callback = Some(Box::new(callback));
        }
    }

    /// Sets `TCP_NODELAY` (no effect on transports without it).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        match &self.inner.state.borrow().transport {
            Some(t) => t.set_nodelay(nodelay),
            None => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "stream is closed",
            )),
        }
    }

    /// Takes the transport out, leaving this handle closed without closing
    /// the fd and without running the close callback (for `start_tls`).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) fn detach(&self) -> Result<(Box<dyn Transport>, StreamOptions), Error> {
        let inner = &*self.inner;
        let mut s = inner.state.borrow_mut();
        if s.closed {
            return Err(closed_error(&s));
        }
        if s.read.is_some() || !s.read_buffer.is_empty() || !s.write_buffer.is_empty() {
            return Err(io::Error::other(
                "start_tls needs a stream with no pending read or write and nothing buffered",
            )
            .into());
        }
        let transport = s.transport.take().expect("open stream has a transport");
        let options = s.options;
        s.closed = true;
        s.close_callback = None;
        if let Err(e) = inner.ioloop.remove_handler(inner.fd) {
            log::debug!(target: "tornado.general", "detaching fd {}: {e}", inner.fd);
        }
        Ok((transport, options))
    }

    /// Bytes buffered for reading and not yet consumed.
    pub fn read_buffer_size(&self) -> usize {
        self.inner.state.borrow().read_buffer.len()
    }

    /// Bytes queued for writing.
    pub fn write_buffer_size(&self) -> usize {
        self.inner.state.borrow().write_buffer.len()
    }

    /// The stream's limits.
    pub fn options(&self) -> StreamOptions {
        self.inner.state.borrow().options
    }
}

impl Inner {
    /// Tornado's `_handle_events`: the loop's handler for this fd.
    fn handle_events(&self, events: Events) {
        let mut s = self.state.borrow_mut();
        if s.closed {
            return;
        }
        if events.intersects(Events::READ | Events::ERROR) {
            s.readable = true;
        }
        if events.intersects(Events::WRITE | Events::ERROR) {
            s.writable = true;
        }
        if s.connecting.is_some() {
            if !events.intersects(Events::WRITE | Events::ERROR) {
                return;
            }
            self.finish_connect(&mut s);
        }
        if s.handshake.is_some() {
            self.do_handshake(&mut s);
        }
        if s.readable && s.handshake.is_none() && (s.read.is_some() || s.read_buffer.is_empty()) {
            self.handle_read(&mut s);
        }
        if s.writable && !s.closed {
            self.handle_write(&mut s);
        }
        if events.contains(Events::ERROR) && !s.closed {
            match s.transport.as_ref().map(|t| t.take_error()) {
                // A hang-up, not a socket error (a Unix socket's peer
                // closed): what it sent first may still be in the kernel.
                // The reads go on and meet the EOF after it, as for a FIN;
                // closing now would drop that data.
                Some(Ok(None)) => {}
                other => {
                    let err = match other {
                        Some(Ok(Some(e))) => e,
                        _ => io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "error reported on the socket",
                        ),
                    };
                    self.close_with(&mut s, Some(err.into()));
                }
            }
        }
        self.sync_interest(&mut s);
    }

    /// Tornado's `_handle_read`: reads what the pending read needs (or, with
    /// none pending, one chunk, to notice a close), then completes it.
    fn handle_read(&self, s: &mut State) {
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
            } else {
                log::debug!(target: "tornado.general", "error on read: {e}");
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
                real_error: s.error.clone(),
            });
        }
        if s.eof_handled {
            return;
        }
        s.eof_handled = true;
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
            let chunk = s.chunk;
            let State {
                transport,
                read_buffer,
                ..
            } = &mut *s;
            let Some(t) = transport.as_mut() else { break };
            match read_buffer.read_from(&mut **t, chunk) {
                Ok(0) => s.eof = true,
                Ok(n) => {
                    s.chunk = (n * 2).clamp(
                        MIN_CHUNK.min(s.options.read_chunk_size),
                        s.options.read_chunk_size,
                    );
                    if s.read_buffer.len() > s.options.max_buffer_size {
                        log::error!(target: "tornado.general", "Reached maximum read buffer size");
                        return Err(StreamBufferFullError("read").into());
                    }
                }
                Err(e) if would_block(&e) => s.readable = false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_reset(&e) && s.read.is_none() => {
                    // A reset while nobody reads is a close, not an error
                    // worth the logs (Tornado treats ECONNRESET alike).
                    s.error = Some(e.into());
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
    fn finish_read_if_ready(&self, s: &mut State) -> bool {
        let Some(read) = s.read.as_mut() else {
            return false;
        };
        let eof = s.eof || s.closed;
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

    /// Tornado's `_handle_write`: flushes the write buffer and resolves the
    /// write futures it covered.
    fn handle_write(&self, s: &mut State) {
        if s.connecting.is_some() || s.handshake.is_some() {
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
        while let Some((mark, _)) = s.write_futures.front() {
            if *mark > written || !flushed {
                break;
            }
            let (_, f) = s.write_futures.pop_front().expect("peeked");
            let _ = f.set_result(());
        }
        if s.close_after_flush && s.write_buffer.is_empty() && flushed {
            self.close_with(s, None);
        }
    }

    /// A non-blocking connect finished (or failed).
    fn finish_connect(&self, s: &mut State) {
        let error = match s.transport.as_ref().map(|t| t.take_error()) {
            Some(Ok(None)) => None,
            Some(Ok(Some(e))) | Some(Err(e)) => Some(e),
            None => return,
        };
        match error {
            None => {
                if let Some(f) = s.connecting.take() {
                    let _ = f.set_result(());
                }
            }
            Some(e) => self.close_with(s, Some(e.into())),
        }
    }

    /// Advances a TLS handshake; resolves its future when done.
    pub(crate) fn do_handshake(&self, s: &mut State) {
        let Some(t) = s.transport.as_mut() else {
            return;
        };
        match t.handshake() {
            Ok(()) if !t.handshaking() => {
                if let Some(f) = s.handshake.take() {
                    let _ = f.set_result(());
                }
                // Application data may already be buffered inside TLS.
                s.readable = true;
            }
            Ok(()) => {}
            Err(e) if would_block(&e) => {}
            Err(e) => self.close_with(s, Some(e.into())),
        }
    }

    /// Closes: fails what is pending, unregisters and closes the fd, and
    /// schedules the close callback. `error` is the cause, if any.
    pub(crate) fn close_with(&self, s: &mut State, error: Option<Error>) {
        if s.closed {
            return;
        }
        if s.error.is_none() {
            s.error = error;
        }
        s.eof = true;
        s.closed = true;
        // A read_until_close (or any read the buffer now satisfies) gets its
        // data: EOF with data buffered delivers the data, then the close.
        self.finish_read_if_ready(s);
        let err = closed_error(s);
        if let Some(read) = s.read.take() {
            let _ = read.future.set_exception(err.clone());
        }
        for (_, f) in s.write_futures.drain(..) {
            let _ = f.set_exception(err.clone());
        }
        for f in [s.connecting.take(), s.handshake.take()]
            .into_iter()
            .flatten()
        {
            let _ = f.set_exception(err.clone());
        }
        s.write_buffer = WriteBuffer::default();
        // Unregister before the fd is closed, so its number can be reused.
        if let Err(e) = self.ioloop.remove_handler(self.fd) {
            log::debug!(target: "tornado.general", "removing stream fd {}: {e}", self.fd);
        }
        drop(s.transport.take());
        if let Some(cb) = s.close_callback.take() {
            self.ioloop.add_callback(cb);
        }
    }

    /// On level-triggered backends, keeps the registered events equal to
    /// what the stream waits for (Tornado's `_add_io_state`).
    pub(crate) fn sync_interest(&self, s: &mut State) {
        if self.edge || s.closed {
            return;
        }
        let mut want = Events::NONE;
        if s.connecting.is_some() {
            want |= Events::WRITE;
        } else if s.handshake.is_some() {
            want |= Events::READ;
            if s.transport.as_ref().is_some_and(|t| t.pending_output()) {
                want |= Events::WRITE;
            }
        } else {
            // Watching for READ while idle with an empty buffer notices the
            // peer closing; with data buffered and no read, stop reading.
            if s.read.is_some() || (s.read_buffer.is_empty() && !s.eof) {
                want |= Events::READ;
            }
            if !s.write_buffer.is_empty()
                || s.transport.as_ref().is_some_and(|t| t.pending_output())
            {
                want |= Events::WRITE;
            }
        }
        if want != s.interest {
            match self.ioloop.update_handler(self.fd, want) {
                Ok(()) => s.interest = want,
                Err(e) => {
                    log::warn!(target: "tornado.general", "cannot update events of fd {}: {e}", self.fd)
                }
            }
        }
    }
}

/// A peer reset: reported as a close.
fn is_reset(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
    )
}

impl Drop for Inner {
    fn drop(&mut self) {
        // The last handle is gone: close like `close()` so that the fd is
        // unregistered and closed and pending futures fail.
        let mut s = self.state.borrow_mut();
        self.close_with(&mut s, None);
    }
}
