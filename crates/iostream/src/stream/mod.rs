//! `IOStream`: Tornado's `BaseIOStream`, over any [`Transport`].
//!
//! The stream registers its fd with the loop once. On edge-triggered
//! backends it asks for `READ | WRITE` edge-triggered delivery and never
//! touches the registration again: it remembers whether the fd may be
//! readable or writable (`readable`/`writable`) and only forgets that on
//! `WouldBlock`. On level-triggered backends it keeps the registered events
//! equal to what it needs, as Tornado does (`sync_interest`).
//!
//! This file holds the stream's state, its events and its close;
//! `reading.rs` the reads, `writing.rs` the writes and half-close.

use std::cell::{Cell, RefCell};
use std::io;
use std::os::fd::RawFd;
use std::rc::{Rc, Weak};

use tornado_concurrent::{Error, Future};
use tornado_ioloop::{Events, IOLoop, Trigger};

use crate::buffer::{ReadBuffer, WriteBuffer};
use crate::error::StreamClosedError;
use crate::read::ReadKind;
use crate::transport::{Transport, set_nonblocking};

mod reading;
mod writing;

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
pub(crate) const MIN_CHUNK: usize = 2048;

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
    /// A connect or handshake in progress, the close callback, the close's
    /// cause: `None` until one is set (most streams never need it).
    rare: Option<Box<Rare>>,
    /// False only after the transport said `WouldBlock` for reading, or
    /// returned less than asked when that means it is drained
    /// (`Transport::short_read_drains`, and `read_closed` unset).
    readable: bool,
    /// The loop said the peer sends nothing more (`READ_CLOSED`) or the fd
    /// failed: no further event may come, so only `WouldBlock` or the EOF
    /// itself ends reading.
    read_closed: bool,
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
    /// Writes are held until the loop's next iteration (`cork`).
    corked: bool,
    /// `shutdown_write` was called: send FIN once the buffer is flushed.
    shut_write_after_flush: bool,
    /// FIN was sent: nothing more can be written.
    write_shut: bool,
    closed: bool,
    options: StreamOptions,
    /// The next read's size, adapted to what the peer sends.
    chunk: usize,
    /// What the loop watches for (level-triggered backends only).
    interest: Events,
}

/// What few streams need, kept out of line so that an idle connection's
/// state stays small.
#[derive(Default)]
pub(crate) struct Rare {
    /// Resolved when a non-blocking connect finishes.
    connecting: Option<Future<()>>,
    /// Resolved when a TLS handshake finishes.
    pub(crate) handshake: Option<Future<()>>,
    /// Why the stream closed, if it was an error.
    error: Option<Error>,
    close_callback: Option<Box<dyn FnOnce()>>,
}

impl State {
    fn rare(&self) -> Option<&Rare> {
        self.rare.as_deref()
    }

    pub(crate) fn rare_mut(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// A non-blocking connect is in progress.
    fn connecting(&self) -> bool {
        self.rare().is_some_and(|r| r.connecting.is_some())
    }

    /// A TLS handshake is in progress.
    fn handshaking(&self) -> bool {
        self.rare().is_some_and(|r| r.handshake.is_some())
    }

    /// Why the stream closed, if an error closed it.
    fn error(&self) -> Option<&Error> {
        self.rare().and_then(|r| r.error.as_ref())
    }
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
    keepalive: Cell<Option<Rc<Inner>>>,
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
    pub(crate) io: crate::io_traits::TraitSlot,
}

fn closed_error(s: &State) -> Error {
    StreamClosedError {
        real_error: s.error().cloned(),
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
                rare: connecting.map(|c| {
                    Box::new(Rare {
                        connecting: Some(c),
                        ..Rare::default()
                    })
                }),
                readable: true,
                read_closed: false,
                writable: true,
                eof: false,
                eof_handled: false,
                close_after_flush: false,
                keep_open_after_eof: false,
                corked: false,
                shut_write_after_flush: false,
                write_shut: false,
                closed: false,
                options,
                chunk: MIN_CHUNK.min(options.read_chunk_size).max(1),
                interest: Events::NONE,
            }),
            keepalive: Cell::new(None),
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
        let (events, trigger) = if edge {
            (Events::READ | Events::WRITE, Trigger::Edge)
        } else {
            (Events::NONE, Trigger::Level)
        };
        // The stream owns the fd and closes it: the loop must not.
        ioloop
            .add_handler_owned_elsewhere(fd, events, trigger, handler)
            .map_err(io::Error::from)?;
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
        self.inner.state.borrow().error().cloned()
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
            s.rare_mut().close_callback = Some(Box::new(callback));
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
        if let Some(r) = s.rare.as_mut() {
            r.close_callback = None;
        }
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

    /// The stream's limits.
    pub fn options(&self) -> StreamOptions {
        self.inner.state.borrow().options
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
        let held = self.keepalive.take();
        let released = if pending {
            self.keepalive
                .set(Some(held.unwrap_or_else(|| self.clone())));
            None
        } else {
            held
        };
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
        if events.intersects(Events::READ_CLOSED | Events::ERROR) {
            s.read_closed = true;
        }
        if events.intersects(Events::WRITE | Events::ERROR) {
            s.writable = true;
        }
        if s.connecting() {
            if !events.intersects(Events::WRITE | Events::ERROR) {
                return;
            }
            self.finish_connect(&mut s);
        }
        if s.handshaking() {
            self.do_handshake(&mut s);
        }
        if self.reads
            && s.readable
            && !s.handshaking()
            && (s.read.is_some() || s.read_buffer.is_empty())
        {
            self.handle_read(&mut s, false);
        }
        if s.writable && !s.closed && !s.corked {
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

    /// A non-blocking connect finished (or failed).
    fn finish_connect(&self, s: &mut State) {
        let error = match s.transport.as_ref().map(|t| t.take_error()) {
            Some(Ok(None)) => None,
            Some(Ok(Some(e))) | Some(Err(e)) => Some(e),
            None => return,
        };
        match error {
            None => {
                if let Some(f) = s.rare.as_mut().and_then(|r| r.connecting.take()) {
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
                if let Some(f) = s.rare.as_mut().and_then(|r| r.handshake.take()) {
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
        if let Some(e) = error {
            if s.error().is_none() {
                s.rare_mut().error = Some(e);
            }
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
        if let Some(r) = s.rare.as_mut() {
            for f in [r.connecting.take(), r.handshake.take()]
                .into_iter()
                .flatten()
            {
                let _ = f.set_exception(err.clone());
            }
        }
        s.write_buffer = WriteBuffer::default();
        // Unregister before the fd is closed, so its number can be reused.
        if let Err(e) = self.ioloop.remove_handler(self.fd) {
            log::debug!(target: "tornado.general", "removing stream fd {}: {e}", self.fd);
        }
        drop(s.transport.take());
        if let Some(cb) = s.rare.as_mut().and_then(|r| r.close_callback.take()) {
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
        if s.connecting() {
            want |= Events::WRITE;
        } else if s.handshaking() {
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
            let held = inner.keepalive.take();
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
