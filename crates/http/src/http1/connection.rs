//! The handle a request's delegate gets on its connection (the part of
//! Tornado's `HTTP1Connection` a delegate talks to): the response writer,
//! the request's own limits, close notification, and `detach`.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use tornado_concurrent::Future;
use tornado_iostream::IOStream;

use super::writer::ResponseWriter;
use crate::httputil::HttpHeaders;

/// The stream of a connection taken over with [`RequestConnection::detach`],
/// and the bytes already read from it past the request head.
pub struct Detached {
    /// The connection's stream; the server no longer reads or closes it.
    pub stream: IOStream,
    /// Bytes the server read past what it consumed (the peer's first
    /// frames, if it sent them early): they come before anything read from
    /// `stream`.
    pub buffered: Vec<u8>,
}

/// A connection's close, told to the request served at the time only:
/// callbacks of a finished request neither run nor pile up on a long
/// keep-alive connection. The future is made when a request first asks
/// (most never do).
#[derive(Default)]
pub(crate) struct CloseWatch {
    /// Counts finished requests: a request whose number is behind is over.
    serial: Cell<u64>,
    /// The current request's close future, once asked for.
    future: RefCell<Option<Future<()>>>,
}

impl CloseWatch {
    /// The connection closed: tells the current request, if it asked.
    pub(crate) fn closed(&self) {
        if let Some(f) = self.future.borrow_mut().take() {
            let _ = f.set_result(());
        }
    }

    /// The current request is over; the next one gets its own future.
    pub(crate) fn next_request(&self) {
        self.serial.set(self.serial.get() + 1);
        self.future.borrow_mut().take();
    }
}

struct Inner {
    stream: IOStream,
    response: ResponseWriter,
    max_body_size: Cell<usize>,
    body_timeout: Cell<Option<Duration>>,
    /// The connection's close watch, and this request's number in it.
    watch: Rc<CloseWatch>,
    serial: u64,
    /// Bytes read past what was consumed, parked here while a delegate
    /// runs so that `detach` can hand them over.
    /// (bytes, start of the unconsumed ones), as the reader lent them.
    buffered: RefCell<(Vec<u8>, usize)>,
    detached: Cell<bool>,
}

/// One request's view of its connection. Cloning gives another handle.
#[derive(Clone)]
pub struct RequestConnection {
    inner: Rc<Inner>,
}

impl RequestConnection {
    pub(crate) fn new(
        stream: IOStream,
        response: ResponseWriter,
        max_body_size: usize,
        body_timeout: Option<Duration>,
        watch: Rc<CloseWatch>,
    ) -> RequestConnection {
        RequestConnection {
            inner: Rc::new(Inner {
                stream,
                response,
                max_body_size: Cell::new(max_body_size),
                body_timeout: Cell::new(body_timeout),
                serial: watch.serial.get(),
                watch,
                buffered: RefCell::new((Vec::new(), 0)),
                detached: Cell::new(false),
            }),
        }
    }

    /// The writer of this request's response.
    pub fn response(&self) -> ResponseWriter {
        self.inner.response.clone()
    }

    /// Sets the largest body this request may have (Tornado's
    /// `set_max_body_size`); effective if called before the body is read
    /// (from `headers_received`).
    pub fn set_max_body_size(&self, bytes: usize) {
        self.inner.max_body_size.set(bytes);
    }

    /// The largest body this request may have.
    pub fn max_body_size(&self) -> usize {
        self.inner.max_body_size.get()
    }

    /// Sets the time allowed to read this request's body (Tornado's
    /// `set_body_timeout`); effective if called before the body is read.
    pub fn set_body_timeout(&self, timeout: Option<Duration>) {
        self.inner.body_timeout.set(timeout);
    }

    /// The time allowed to read this request's body.
    pub fn body_timeout(&self) -> Option<Duration> {
        self.inner.body_timeout.get()
    }

    /// True once the connection is closed (the client went away).
    pub fn is_closed(&self) -> bool {
        self.inner.stream.closed()
    }

    /// A future done if the connection closes while this request is
    /// served (never, once the request is over).
    pub fn closed(&self) -> Future<()> {
        let out = Future::new();
        if let Some(closed) = self.close_future() {
            let o = out.clone();
            closed.add_done_callback(move |_| {
                let _ = o.set_result(());
            });
        }
        out
    }

    /// Calls `callback` (on the loop) if the connection closes while this
    /// request is served.
    pub fn on_close(&self, callback: impl FnOnce() + 'static) {
        if let Some(closed) = self.close_future() {
            closed.add_done_callback(move |_| callback());
        }
    }

    /// This request's close future, made on first use; `None` once the
    /// request is over (its close is no longer news).
    fn close_future(&self) -> Option<Future<()>> {
        let watch = &self.inner.watch;
        if watch.serial.get() != self.inner.serial {
            return None;
        }
        if self.inner.stream.closed() {
            // Closed before anyone asked: the watch had nobody to tell.
            return Some(Future::resolved(()));
        }
        Some(
            watch
                .future
                .borrow_mut()
                .get_or_insert_with(Future::new)
                .clone(),
        )
    }

    /// Takes the connection over (Tornado's `detach`): the server stops
    /// reading and will not write or close it; the caller gets the stream
    /// and the bytes already read past the request head. `None` if it was
    /// detached already or is closed.
    pub fn detach(&self) -> Option<Detached> {
        if self.inner.detached.get() || self.inner.stream.closed() {
            return None;
        }
        self.inner.detached.set(true);
        let (mut buffered, pos) = std::mem::take(&mut *self.inner.buffered.borrow_mut());
        buffered.drain(..pos.min(buffered.len()));
        Some(Detached {
            stream: self.inner.stream.clone(),
            buffered,
        })
    }

    /// True once [`detach`](Self::detach) was called.
    pub fn detached(&self) -> bool {
        self.inner.detached.get()
    }

    /// Parks the reader's unconsumed bytes while a delegate runs.
    pub(crate) fn park(&self, lent: (Vec<u8>, usize)) {
        *self.inner.buffered.borrow_mut() = lent;
    }

    /// Takes the parked bytes back (empty if `detach` took them).
    pub(crate) fn unpark(&self) -> (Vec<u8>, usize) {
        std::mem::take(&mut *self.inner.buffered.borrow_mut())
    }

    /// Answers `code` with a short text body and closes the connection
    /// after it, unless a response was already started.
    pub fn answer_error(&self, code: u16, why: &str) {
        let response = &self.inner.response;
        if response.headers_written() {
            response.abort();
            return;
        }
        response.disconnect_on_finish();
        let mut h = HttpHeaders::new();
        h.add("Content-Type", "text/plain; charset=UTF-8");
        h.add("Content-Length", why.len().to_string());
        drop(response.write_headers(code, None, &h, why.as_bytes()));
        drop(response.finish());
    }
}
