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
    /// Most bytes buffered for reading (default 100 MiB). The stream never
    /// reads beyond it: what does not fit waits in the kernel until reads
    /// consume the buffer. A read that needs more than this many bytes
    /// buffered at once closes the stream with a `StreamBufferFullError`.
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
    /// Stay open for writing after the peer's EOF, until closed
    /// (`set_keep_open_after_eof`): TCP half-close.
    keep_open_after_eof: bool,
    /// `shutdown_write` was called: send FIN once the buffer is flushed.
    shut_write_after_flush: bool,
    /// FIN was sent: nothing more can be written.
    write_shut: bool,
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
    /// The transport can be read (false for a pipe's write end, which
    /// must never be read) and written (false for a pipe's read end).
    reads: bool,
    writes: bool,
    pub(crate) state: RefCell<State>,
    /// This stream, strongly, while a read or write is pending: as in
    /// Tornado, a pending operation keeps its stream alive after the last
    /// user handle is dropped (callback-style code holds only the future).
    /// Released, outside any borrow of `state`, once nothing is pending.
    keepalive: RefCell<Option<Rc<Inner>>>,
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
        let (reads, writes) = (transport.can_read(), transport.can_write());
        set_nonblocking(fd)?;
        let ioloop = IOLoop::current();
        let edge = ioloop.trigger() == Trigger::Edge;
        let inner = Rc::new_cyclic(|me| Inner {
            me: me.clone(),
            ioloop: ioloop.clone(),
            fd,
            edge,
            reads,
            writes,
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
                keep_open_after_eof: false,
                shut_write_after_flush: false,
                write_shut: false,
                closed: false,
                error: None,
                close_callback: None,
                options,
                chunk: MIN_CHUNK.min(options.read_chunk_size).max(1),
                interest: Events::NONE,
            }),
            keepalive: RefCell::new(None),
        });
        // The handler holds the stream weakly, and a guard that lets go of
        // its keep-alive when the loop drops the handler (a closed loop),
        // so a stream waiting on a closed loop is not kept for ever.
        let guard = ReleaseOnDrop(Rc::downgrade(&inner));
        let handler = move |_fd, events| {
            if let Some(inner) = guard.0.upgrade() {
                inner.handle_events(events);
                inner.update_keepalive();
            }
        };
        let registered = if edge {
            ioloop.add_handler_with(fd, Events::READ | Events::WRITE, Trigger::Edge, handler)
        } else {
            ioloop.add_handler(fd, Events::NONE, handler)
        };
        registered.map_err(io::Error::from)?;
        inner.sync_interest(&mut inner.state.borrow_mut());
        Ok(IOStream { inner })
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

    // ----- writes -------------------------------------------------------

    /// Writes `data`; the future is done once all of it was handed to the
    /// kernel. Writes are sent in order. Past `max_write_buffer_size`
    /// queued bytes, the write fails with `StreamBufferFullError`.
    pub fn write(&self, data: impl Into<Vec<u8>>) -> Future<()> {
        let data = data.into();
        let inner = &*self.inner;
        if !inner.writes {
            return Future::failed(io::Error::new(
                io::ErrorKind::Unsupported,
                "this stream cannot be written (a pipe's read end)",
            ));
        }
        let mut s = inner.state.borrow_mut();
        if s.closed {
            return Future::failed(closed_error(&s));
        }
        if s.shut_write_after_flush || s.write_shut {
            return Future::failed(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the stream's writing side was shut down",
            ));
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
        inner.handle_write(&mut s);
        inner.sync_interest(&mut s);
        drop(s);
        self.inner.update_keepalive();
        future
    }

    /// Closes the writing half once everything written so far is flushed
    /// (a TCP FIN; TLS sends its close_notify first), keeping the reading
    /// half open: the peer sees EOF and can still answer. Resolves when the
    /// FIN is sent; later writes fail. Once both halves are done (this, and
    /// the peer's EOF) the stream closes.
    pub fn shutdown_write(&self) -> Future<()> {
        let inner = &*self.inner;
        let mut s = inner.state.borrow_mut();
        if s.closed {
            return Future::failed(closed_error(&s));
        }
        if s.shut_write_after_flush || s.write_shut {
            return Future::failed(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the stream's writing side was already shut down",
            ));
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

    // ----- state --------------------------------------------------------

    /// Closes the stream: pending reads and writes fail with
    /// `StreamClosedError` (a pending `read_until_close` gets the buffered
    /// data instead), and the close callback is scheduled.
    pub fn close(&self) {
        let inner = &*self.inner;
        inner.close_with(&mut inner.state.borrow_mut(), None);
        self.inner.update_keepalive();
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
        drop(s);
        self.inner.update_keepalive();
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
}

impl Inner {
    /// Holds this stream alive while a read or write is pending, and lets it
    /// go once none is. Called by a holder of a strong handle (`self: &Rc`)
    /// and with `state` not borrowed, so releasing the keep-alive handle is
    /// never the last drop while the state is in use: the last drop happens
    /// later, when the caller's handle goes, and closes the stream.
    fn update_keepalive(self: &Rc<Self>) {
        let pending = {
            let s = self.state.borrow();
            !s.closed && (s.read.is_some() || !s.write_futures.is_empty())
        };
        let mut keepalive = self.keepalive.borrow_mut();
        let released = if pending {
            if keepalive.is_none() {
                *keepalive = Some(self.clone());
            }
            None
        } else {
            keepalive.take()
        };
        drop(keepalive);
        drop(released);
    }

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
        if self.reads
            && s.readable
            && s.handshake.is_none()
            && (s.read.is_some() || s.read_buffer.is_empty())
        {
            self.handle_read(&mut s, false);
        }
        if s.writable && !s.closed {
            self.handle_write(&mut s);
        }
        if events.contains(Events::ERROR) && !s.closed {
            // A pending socket error closes the stream. Without one, the
            // event is a hang-up (both directions shut: the peer closed
            // after our FIN), not an error: data may still wait in the
            // kernel, and the reads above drain it up to the EOF. Only a
            // write-only end (a pipe whose reader is gone) has nothing
            // left to do.
            let err = match s.transport.as_ref().map(|t| t.take_error()) {
                Some(Ok(Some(e))) | Some(Err(e)) => Some(e),
                _ if !self.reads => Some(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the other end of the pipe is closed",
                )),
                _ => None,
            };
            if let Some(err) = err {
                self.close_with(&mut s, Some(err.into()));
            }
        }
        self.sync_interest(&mut s);
    }

    /// Tornado's `_handle_read`: reads what the pending read needs (or, with
    /// none pending, one chunk, to notice a close), then completes it.
    fn handle_read(&self, s: &mut State, inline: bool) {
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
                real_error: s.error.clone(),
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
        // A read until the close gets the data only at a clean end (EOF or
        // a reset, which Tornado treats as a close): after a read error
        // the data is cut short, and the read fails with the cause.
        let clean = s
            .error
            .as_ref()
            .is_none_or(|e| e.downcast_ref::<io::Error>().is_some_and(is_reset));
        let eof = (s.eof || s.closed) && clean;
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
        let done = s.close_after_flush || (s.write_shut && s.eof_handled);
        if done && s.write_buffer.is_empty() && flushed {
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
            if self.reads && (s.read.is_some() || (s.read_buffer.is_empty() && !s.eof)) {
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

/// Owned by the loop's handler for a stream: when the loop drops the
/// handler, the stream's keep-alive goes too. (When the stream itself
/// unregisters, its caller holds a handle, so this is never the last one
/// while the stream's state is borrowed.)
struct ReleaseOnDrop(Weak<Inner>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            let held = inner.keepalive.borrow_mut().take();
            drop(inner);
            drop(held);
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
