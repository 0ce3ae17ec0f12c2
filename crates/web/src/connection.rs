//! What a handler can do with its request's connection through the
//! `Context`: per-request body limits, hearing the client leave, and
//! taking the connection over (Tornado's `set_max_body_size`,
//! `on_connection_close` and `detach`).

use std::time::Duration;

use tornado_concurrent::Future;
use tornado_http::Detached;

use crate::context::Context;

impl Context {
    /// Sets the largest body this request may have (Tornado's
    /// `set_max_body_size`). Effective before the body is read: from
    /// `prepare` of a handler with `STREAM_REQUEST_BODY`.
    pub fn set_max_body_size(&mut self, bytes: usize) {
        self.conn.set_max_body_size(bytes);
    }

    /// Sets the time allowed to read this request's body (Tornado's
    /// `set_body_timeout`); effective before the body is read.
    pub fn set_body_timeout(&mut self, timeout: Option<Duration>) {
        self.conn.set_body_timeout(timeout);
    }

    /// Calls `callback` (on the loop) if the client closes the connection,
    /// e.g. while a long poll waits (Tornado's `on_connection_close`).
    pub fn on_connection_close(&self, callback: impl FnOnce() + 'static) {
        self.conn.on_close(callback);
    }

    /// A future done when the client closes the connection.
    pub fn connection_closed(&self) -> Future<()> {
        self.conn.closed()
    }

    /// True once the client closed the connection.
    pub fn connection_is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Takes the connection over (Tornado's `detach`): the raw stream and
    /// the bytes already read past the request head. The response is then
    /// the caller's business (nothing more is written for it, and the
    /// connection is neither read nor closed by the server). `None` if the
    /// response was already started, or the connection is closed.
    pub fn detach(&mut self) -> Option<Detached> {
        if self.response.headers_written() {
            return None;
        }
        let detached = self.conn.detach()?;
        self.detached = true;
        self.finished = true;
        Some(detached)
    }
}
