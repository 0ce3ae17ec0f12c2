//! `WebSocketConnection`: the shared handle on one WebSocket (Tornado's
//! `WebSocketProtocol13` writing side): messages, pings, the close
//! handshake and its timeout, the keep-alive pings.

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::rc::{Rc, Weak};
use std::time::Duration;

use tornado_concurrent::Future;
use tornado_ioloop::{IOLoop, Timeout};
use tornado_iostream::IOStream;

use crate::deflate::Compressor;
use crate::error::{PingTooLargeError, WebSocketClosedError};
use crate::frame::{
    MAX_CONTROL_PAYLOAD, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT, write_frame,
};
use crate::message::Message;

/// Tornado's default `websocket_max_message_size`: 10 MiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 10 * 1024 * 1024;

/// How long a side that sent a close frame waits for the peer's before
/// dropping the connection (Tornado: 5 seconds).
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits and keep-alive of a connection (Tornado's `websocket_*`
/// settings).
#[derive(Debug, Clone)]
pub struct WebSocketOptions {
    /// Largest message accepted (after reassembly and decompression);
    /// larger ones close the connection with 1009.
    pub max_message_size: usize,
    /// Send a ping this often.
    pub ping_interval: Option<Duration>,
    /// Close if a ping is not answered within this time (default: the
    /// ping interval).
    pub ping_timeout: Option<Duration>,
    /// How long to wait for the peer's close frame after sending ours.
    pub close_timeout: Duration,
}

impl Default for WebSocketOptions {
    fn default() -> Self {
        WebSocketOptions {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            ping_interval: None,
            ping_timeout: None,
            close_timeout: CLOSE_TIMEOUT,
        }
    }
}

/// The mutable part of a connection.
struct State {
    compressor: Option<Compressor>,
    /// We sent a close frame.
    close_sent: bool,
    /// The peer's close frame arrived.
    close_received: bool,
    close_code: Option<u16>,
    close_reason: Option<String>,
    /// Drops the connection if the peer's close frame is late.
    close_timer: Option<Timeout>,
    /// The next keep-alive ping, or the deadline of the last one.
    ping_timer: Option<Timeout>,
    /// A ping was sent and no pong has come since.
    awaiting_pong: bool,
}

pub(crate) struct Shared {
    stream: IOStream,
    /// Client frames are masked.
    client: bool,
    options: WebSocketOptions,
    subprotocol: Option<String>,
    state: RefCell<State>,
    /// Done once the connection is over (its stream closed).
    closed: Future<()>,
    /// Keys the masks of a client's frames.
    random: RandomState,
}

/// One WebSocket. Cloning gives another handle to the same connection:
/// keep one in a chat room's member list and write to it from any
/// coroutine on the loop.
#[derive(Clone)]
pub struct WebSocketConnection {
    pub(crate) inner: Rc<Shared>,
}

impl std::fmt::Debug for WebSocketConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketConnection")
            .field("fd", &self.inner.stream.fileno())
            .field("client", &self.inner.client)
            .finish()
    }
}

impl PartialEq for WebSocketConnection {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }
}

impl Eq for WebSocketConnection {}

impl WebSocketConnection {
    pub(crate) fn new(
        stream: IOStream,
        client: bool,
        options: WebSocketOptions,
        subprotocol: Option<String>,
        compressor: Option<Compressor>,
    ) -> WebSocketConnection {
        let closed = Future::new();
        let c = closed.clone();
        stream.set_close_callback(move || {
            let _ = c.set_result(());
        });
        WebSocketConnection {
            inner: Rc::new(Shared {
                stream,
                client,
                options,
                subprotocol,
                state: RefCell::new(State {
                    compressor,
                    close_sent: false,
                    close_received: false,
                    close_code: None,
                    close_reason: None,
                    close_timer: None,
                    ping_timer: None,
                    awaiting_pong: false,
                }),
                closed,
                random: RandomState::new(),
            }),
        }
    }

    /// The connection's limits.
    pub fn options(&self) -> &WebSocketOptions {
        &self.inner.options
    }

    /// The subprotocol agreed in the handshake.
    pub fn selected_subprotocol(&self) -> Option<&str> {
        self.inner.subprotocol.as_deref()
    }

    /// True if permessage-deflate compresses this side's messages.
    pub fn compressed(&self) -> bool {
        self.inner.state.borrow().compressor.is_some()
    }

    /// The code of the peer's close frame, once it came.
    pub fn close_code(&self) -> Option<u16> {
        self.inner.state.borrow().close_code
    }

    /// The reason of the peer's close frame, once it came.
    pub fn close_reason(&self) -> Option<String> {
        self.inner.state.borrow().close_reason.clone()
    }

    /// True once the connection is over, or closing (a close frame sent).
    pub fn is_closing(&self) -> bool {
        self.inner.stream.closed() || self.inner.state.borrow().close_sent
    }

    /// True once the connection is over.
    pub fn is_closed(&self) -> bool {
        self.inner.stream.closed()
    }

    /// A future done when the connection is over.
    pub fn closed(&self) -> Future<()> {
        let out = Future::new();
        let o = out.clone();
        self.inner.closed.add_done_callback(move |_| {
            let _ = o.set_result(());
        });
        out
    }

    /// The peer's address family's fd, for logs.
    pub fn fileno(&self) -> i32 {
        self.inner.stream.fileno()
    }

    /// Sends a message (text as a text frame, bytes as a binary one). The
    /// future is done once the frame was handed to the kernel; it fails
    /// with [`WebSocketClosedError`] if the connection is closed or
    /// closing.
    pub fn write_message(&self, message: impl Into<Message>) -> Future<()> {
        let message = message.into();
        if self.is_closing() {
            return Future::failed(WebSocketClosedError);
        }
        let (opcode, data) = match &message {
            Message::Text(s) => (OP_TEXT, s.as_bytes()),
            Message::Binary(b) => (OP_BINARY, b.as_slice()),
        };
        let compressed = self
            .inner
            .state
            .borrow_mut()
            .compressor
            .as_mut()
            .map(|c| c.compress(data));
        match compressed {
            Some(z) => self.write_frame(opcode, &z, true),
            None => self.write_frame(opcode, data, false),
        }
    }

    /// Sends a ping with `data` (at most 125 bytes).
    pub fn ping(&self, data: impl AsRef<[u8]>) -> Future<()> {
        let data = data.as_ref();
        if data.len() > MAX_CONTROL_PAYLOAD {
            return Future::failed(PingTooLargeError(data.len()));
        }
        if self.is_closing() {
            return Future::failed(WebSocketClosedError);
        }
        self.write_frame(OP_PING, data, false)
    }

    pub(crate) fn pong(&self, data: &[u8]) {
        if !self.is_closing() {
            drop(self.write_frame(OP_PONG, data, false));
        }
    }

    /// Starts the close handshake with `code` (none: an empty close frame)
    /// and `reason` (cut to fit a control frame). The connection is
    /// dropped when the peer answers, or after the close timeout.
    pub fn close(&self, code: Option<u16>, reason: &str) {
        if self.inner.stream.closed() {
            return;
        }
        let mut st = self.inner.state.borrow_mut();
        if st.close_sent {
            return;
        }
        st.close_sent = true;
        let mut payload = Vec::new();
        if let Some(code) = code {
            payload.extend_from_slice(&code.to_be_bytes());
            let mut end = reason.len().min(MAX_CONTROL_PAYLOAD - 2);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            payload.extend_from_slice(&reason.as_bytes()[..end]);
        }
        let received = st.close_received;
        drop(st);
        drop(self.write_frame(OP_CLOSE, &payload, false));
        if received {
            // Both close frames went: the handshake is complete.
            self.abort_after_writes();
        } else {
            // Wait for the peer's close frame, not forever.
            self.arm_close_timer();
        }
    }

    /// Fails the connection (RFC 6455 §7.1.7): a close frame with `code`
    /// if none was sent yet, then the stream is closed once it is written.
    pub(crate) fn fail(&self, code: u16, reason: &str) {
        log::warn!(target: "tornado.general", "WebSocket connection failed ({code}): {reason}");
        let already = self.inner.state.borrow().close_sent;
        if !already {
            self.close(Some(code), reason);
        }
        self.abort_after_writes();
    }

    /// Closes the stream once what is queued is written, or after the
    /// close timeout if the peer does not read it.
    pub(crate) fn abort_after_writes(&self) {
        let stream = self.inner.stream.clone();
        if stream.closed() {
            return;
        }
        stream
            .write(Vec::new())
            .add_done_callback(move |_| stream.close());
        self.arm_close_timer();
    }

    /// Drops the connection after the close timeout unless it ended.
    fn arm_close_timer(&self) {
        let mut st = self.inner.state.borrow_mut();
        if st.close_timer.is_some() {
            return;
        }
        let weak = Rc::downgrade(&self.inner);
        let timeout = self.inner.options.close_timeout;
        st.close_timer = Some(IOLoop::current().call_later(timeout, move || {
            if let Some(inner) = weak.upgrade() {
                log::info!(target: "tornado.general", "WebSocket close handshake timed out");
                inner.stream.close();
            }
        }));
    }

    /// True on the client side (its frames are masked).
    pub(crate) fn is_client(&self) -> bool {
        self.inner.client
    }

    /// The peer's close frame arrived: record it, answer it if we had not
    /// closed, and end the connection when both went.
    pub(crate) fn close_received(&self, code: Option<u16>, reason: Option<String>) {
        let sent = {
            let mut st = self.inner.state.borrow_mut();
            st.close_received = true;
            st.close_code = code;
            st.close_reason = reason;
            st.close_sent
        };
        if sent {
            self.abort_after_writes();
        } else {
            // Echo the code, as Tornado does (RFC 6455 §5.5.1).
            self.close(code, "");
        }
    }

    /// True if our close frame went out (data frames after it are dropped).
    pub(crate) fn close_sent(&self) -> bool {
        self.inner.state.borrow().close_sent
    }

    /// The connection ended (its stream closed): stop its timers.
    pub(crate) fn finished(&self) {
        let mut st = self.inner.state.borrow_mut();
        let ioloop = IOLoop::current();
        if let Some(t) = st.close_timer.take() {
            ioloop.remove_timeout(t);
        }
        if let Some(t) = st.ping_timer.take() {
            ioloop.remove_timeout(t);
        }
    }

    /// A pong came: the peer is alive.
    pub(crate) fn pong_received(&self) {
        self.inner.state.borrow_mut().awaiting_pong = false;
    }

    /// Starts the keep-alive pings if an interval is set.
    pub(crate) fn start_pinging(&self) {
        if let Some(interval) = self.inner.options.ping_interval {
            schedule_ping(&Rc::downgrade(&self.inner), interval);
        }
    }

    /// Frames `payload` and queues it on the stream.
    fn write_frame(&self, opcode: u8, payload: &[u8], rsv1: bool) -> Future<()> {
        let mask = self.inner.client.then(|| self.mask_key());
        let mut buf = Vec::new();
        write_frame(&mut buf, true, rsv1, opcode, payload, mask);
        let written = self.inner.stream.write(buf);
        if written.done() {
            return match written.exception() {
                None => written,
                Some(_) => Future::failed(WebSocketClosedError),
            };
        }
        let out = Future::new();
        let o = out.clone();
        written.add_done_callback(move |f| {
            let _ = match f.exception() {
                None => o.set_result(()),
                Some(_) => o.set_exception(WebSocketClosedError),
            };
        });
        out
    }

    /// An unpredictable masking key (RFC 6455 §5.3): SipHash, keyed from
    /// the OS at start-up, of a per-connection counter.
    fn mask_key(&self) -> [u8; 4] {
        thread_local!(static COUNTER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) });
        let n = COUNTER.with(|c| {
            c.set(c.get().wrapping_add(1));
            c.get()
        });
        let mut h = self.inner.random.build_hasher();
        h.write_u64(n);
        (h.finish() as u32).to_ne_bytes()
    }
}

/// Schedules the next keep-alive ping `interval` from now.
fn schedule_ping(weak: &Weak<Shared>, interval: Duration) {
    let Some(inner) = weak.upgrade() else {
        return;
    };
    let w = weak.clone();
    let t = IOLoop::current().call_later(interval, move || send_ping(&w, interval));
    inner.state.borrow_mut().ping_timer = Some(t);
}

/// Sends a keep-alive ping and arms its deadline.
fn send_ping(weak: &Weak<Shared>, interval: Duration) {
    let Some(inner) = weak.upgrade() else {
        return;
    };
    let conn = WebSocketConnection { inner };
    if conn.is_closing() {
        return;
    }
    drop(conn.write_frame(OP_PING, b"", false));
    conn.inner.state.borrow_mut().awaiting_pong = true;
    let timeout = conn.inner.options.ping_timeout.unwrap_or(interval);
    let w = weak.clone();
    let t = IOLoop::current().call_later(timeout, move || {
        let Some(inner) = w.upgrade() else {
            return;
        };
        if inner.state.borrow().awaiting_pong {
            log::info!(target: "tornado.general", "WebSocket ping timed out after {timeout:?}: closing");
            inner.stream.close();
            return;
        }
        // Answered: the next ping is due `interval` after this one.
        let next = interval.saturating_sub(timeout);
        let w2 = w.clone();
        let t = IOLoop::current().call_later(next, move || send_ping(&w2, interval));
        inner.state.borrow_mut().ping_timer = Some(t);
    });
    conn.inner.state.borrow_mut().ping_timer = Some(t);
}
