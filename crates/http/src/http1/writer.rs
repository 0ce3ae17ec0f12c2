//! Writing one response on an HTTP/1.x connection (the output half of
//! Tornado's `HTTP1Connection`, re-exported as `tornado_http::response`): the start line and headers, the body raw or
//! chunked, HEAD without body, and `Content-Length` checks.

use std::cell::RefCell;
use std::rc::Rc;

use tornado_concurrent::Future;
use tornado_iostream::IOStream;

use super::framing::{connection_has, content_length, status_is_bodiless};
use crate::httputil::{HttpHeaders, reason_phrase};

/// The response went wrong on our side: more or fewer bytes than its
/// The outcome of the write `last` if it is known now: `Ok(None)` when
/// there is none or it succeeded (its result may have been taken by an
/// `.await`), the error if it failed, `Ok(Some(last))` while it is pending.
fn settled(last: Option<&Future<()>>) -> Result<Option<&Future<()>>, tornado_concurrent::Error> {
    let Some(last) = last else {
        return Ok(None);
    };
    if let Some(e) = last.exception() {
        return Err(e);
    }
    Ok((!last.done()).then_some(last))
}

/// `Content-Length`, a write after `finish`, headers twice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("HTTP output error: {0}")]
pub struct HttpOutputError(pub String);

/// A new future with the outcome of the write `last` (done at once if
/// there is none). Never `last` itself: awaiting a future takes its result,
/// so a handler awaiting its write and then the server awaiting `finish`
/// would otherwise see "the result was already taken".
fn follow(last: Option<&Future<()>>) -> Future<()> {
    let last = match settled(last) {
        Ok(Some(last)) => last,
        Ok(None) => return Future::resolved(()),
        Err(e) => return Future::failed(e),
    };
    let out = Future::new();
    let o = out.clone();
    last.add_done_callback(move |f| {
        let _ = match f.exception() {
            Some(e) => o.set_exception(e),
            None => o.set_result(()),
        };
    });
    out
}

/// The state of one response.
struct State {
    stream: IOStream,
    /// The request was HTTP/1.1 (chunked encoding is available).
    http11: bool,
    /// The request was HEAD: headers only, whatever is written.
    head: bool,
    /// Whether the connection may serve another request after this one.
    keep_alive: bool,
    /// Set by `write_headers`.
    status: Option<u16>,
    /// The body is sent with chunked encoding.
    chunked: bool,
    /// `Content-Length` of the response, if it had one.
    expected: Option<u64>,
    /// Body bytes written so far.
    written: u64,
    finished: bool,
    /// The last write, so `finish` can wait for everything to be sent.
    last_write: Option<Future<()>>,
}

/// Writes the response to one request. Cloning gives another handle to the
/// same response.
#[derive(Clone)]
pub struct ResponseWriter {
    state: Rc<RefCell<State>>,
}

impl ResponseWriter {
    pub(crate) fn new(
        stream: IOStream,
        http11: bool,
        head: bool,
        keep_alive: bool,
    ) -> ResponseWriter {
        ResponseWriter {
            state: Rc::new(RefCell::new(State {
                stream,
                http11,
                head,
                keep_alive,
                status: None,
                chunked: false,
                expected: None,
                written: 0,
                finished: false,
                last_write: None,
            })),
        }
    }

    /// Sends the status line and `headers`, with `chunk` as the body's start.
    /// Without `Content-Length`, an HTTP/1.1 body is sent chunked; an
    /// HTTP/1.0 one is delimited by closing the connection.
    pub fn write_headers(
        &self,
        status: u16,
        reason: Option<&str>,
        headers: &HttpHeaders,
        chunk: &[u8],
    ) -> Future<()> {
        let mut s = self.state.borrow_mut();
        if s.status.is_some() {
            return Future::failed(HttpOutputError("headers already written".into()));
        }
        s.status = Some(status);
        let bodiless = s.head || status_is_bodiless(status);
        // The rules the peer will read the response by: digits only, one
        // value (`+10` would pass `u64::from_str`).
        match content_length(headers) {
            Ok(n) => s.expected = n,
            Err(e) => {
                s.status = None;
                return Future::failed(HttpOutputError(format!("{e}")));
            }
        }
        if connection_has(headers, "close") {
            s.keep_alive = false;
        }
        let mut extra = HttpHeaders::new();
        if !bodiless && s.expected.is_none() && !headers.contains("Transfer-Encoding") {
            if s.http11 {
                s.chunked = true;
                extra.add("Transfer-Encoding", "chunked");
            } else {
                // Only the close can end such a body.
                s.keep_alive = false;
            }
        }
        if !s.keep_alive && !headers.contains("Connection") {
            extra.add("Connection", "close");
        } else if s.keep_alive && !s.http11 && !headers.contains("Connection") {
            extra.add("Connection", "Keep-Alive");
        }
        // Sized for everything, so the head and body take one allocation.
        let head_len: usize = headers.iter().map(|(n, v)| n.len() + v.len() + 4).sum();
        let mut out = Vec::with_capacity(64 + head_len + chunk.len());
        out.extend_from_slice(if s.http11 { b"HTTP/1.1 " } else { b"HTTP/1.0 " });
        if (100..1000).contains(&status) {
            out.extend_from_slice(&[
                b'0' + (status / 100) as u8,
                b'0' + (status / 10 % 10) as u8,
                b'0' + (status % 10) as u8,
            ]);
        } else {
            out.extend_from_slice(status.to_string().as_bytes());
        }
        out.push(b' ');
        out.extend_from_slice(reason.unwrap_or(reason_phrase(status)).as_bytes());
        out.extend_from_slice(b"\r\n");
        headers.write_to(&mut out);
        extra.write_to(&mut out);
        out.extend_from_slice(b"\r\n");
        if !bodiless {
            if let Err(e) = Self::format_chunk(&mut s, chunk, &mut out) {
                return Future::failed(e);
            }
        } else if s.head {
            // HEAD: the body is not sent, but its length counts as sent.
            s.written += chunk.len() as u64;
        }
        let f = s.stream.write(out);
        s.last_write = Some(f.clone());
        f
    }

    /// Appends one body chunk, encoded as the response needs.
    fn format_chunk(s: &mut State, chunk: &[u8], out: &mut Vec<u8>) -> Result<(), HttpOutputError> {
        if chunk.is_empty() {
            return Ok(());
        }
        s.written += chunk.len() as u64;
        if let Some(n) = s.expected {
            if s.written > n {
                return Err(HttpOutputError(format!(
                    "tried to write more data than Content-Length ({n})"
                )));
            }
        }
        if s.head {
            return Ok(());
        }
        if s.chunked {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        } else {
            out.extend_from_slice(chunk);
        }
        Ok(())
    }

    /// Sends more of the body.
    pub fn write(&self, chunk: &[u8]) -> Future<()> {
        let mut s = self.state.borrow_mut();
        if s.status.is_none() {
            return Future::failed(HttpOutputError("write before write_headers".into()));
        }
        if s.finished {
            return Future::failed(HttpOutputError("write after finish".into()));
        }
        let mut out = Vec::with_capacity(chunk.len() + 16);
        if let Err(e) = Self::format_chunk(&mut s, chunk, &mut out) {
            s.stream.close();
            return Future::failed(e);
        }
        if out.is_empty() {
            return Future::resolved(());
        }
        let f = s.stream.write(out);
        s.last_write = Some(f.clone());
        f
    }

    /// Ends the response; the future is done when everything was sent.
    pub fn finish(&self) -> Future<()> {
        let mut s = self.state.borrow_mut();
        if s.finished {
            return follow(s.last_write.as_ref());
        }
        if s.status.is_none() {
            return Future::failed(HttpOutputError("finish before write_headers".into()));
        }
        s.finished = true;
        if let Some(n) = s.expected {
            if s.written != n && !s.head {
                s.stream.close();
                return Future::failed(HttpOutputError(format!(
                    "tried to finish with {} bytes written of a Content-Length of {n}",
                    s.written
                )));
            }
        }
        if s.chunked && !s.head {
            let f = s.stream.write(b"0\r\n\r\n".to_vec());
            s.last_write = Some(f);
        }
        follow(s.last_write.as_ref())
    }

    /// Waits until everything written went to the kernel, as `finish`'s
    /// future does, but makes no future when that is already so (the usual
    /// case: the server's loop asks after every response).
    pub(crate) async fn sent(&self) -> Result<(), tornado_concurrent::Error> {
        let last = self.state.borrow().last_write.clone();
        match settled(last.as_ref())? {
            None => Ok(()),
            Some(pending) => follow(Some(pending)).await,
        }
    }

    /// Ends the response without completing it: no terminating chunk, no
    /// `Content-Length` check, and the connection closes once what was
    /// written is sent, so the client can tell the response was cut short
    /// (for errors after the headers went out).
    pub fn abort(&self) {
        let mut s = self.state.borrow_mut();
        s.finished = true;
        s.keep_alive = false;
    }

    /// The status sent, once headers were written.
    pub fn status(&self) -> Option<u16> {
        self.state.borrow().status
    }

    /// True once `write_headers` was called.
    pub fn headers_written(&self) -> bool {
        self.state.borrow().status.is_some()
    }

    /// True once `finish` was called.
    pub fn finished(&self) -> bool {
        self.state.borrow().finished
    }

    /// Body bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.state.borrow().written
    }

    /// Closes the connection after this response instead of keeping it
    /// alive (call before `write_headers` to send `Connection: close`).
    pub fn disconnect_on_finish(&self) {
        self.state.borrow_mut().keep_alive = false;
    }

    /// Whether the connection stays open for another request.
    pub fn keep_alive(&self) -> bool {
        self.state.borrow().keep_alive
    }

    /// The connection's stream (for protocols that take it over).
    pub fn stream(&self) -> IOStream {
        self.state.borrow().stream.clone()
    }
}
