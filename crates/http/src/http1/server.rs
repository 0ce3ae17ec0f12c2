//! The server side of an HTTP/1.x connection (Tornado's
//! `HTTP1ServerConnection` and the reading half of `HTTP1Connection`): one
//! coroutine per connection reads each request's head, hands it to a
//! delegate, streams the body into it, and waits for the response before
//! reading the next request, so pipelined requests are answered in order.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tornado_concurrent::CatchUnwind;
use tornado_ioloop::{IOLoop, Timeout};
use tornado_iostream::IOStream;

use super::connection::{CloseWatch, RequestConnection};
use super::delegate::{HttpMessageDelegate, HttpServerDelegate};
use super::error::{BodyError, ReadError};
use super::framing::{Framing, request_framing, wants_keep_alive};
use super::head::{apply_xheaders, parse_request_head};
use super::inflate::{INFLATE_STEP, Inflater};
use super::options::HttpServerOptions;
use super::reader::{BodyReader, Reader};
use super::writer::ResponseWriter;

/// How a connection's coroutine ended.
pub(crate) enum Served {
    /// Done with the connection: close it.
    Closed,
    /// A delegate took the stream over: leave it open.
    Detached,
}

/// A complete error response that closes the connection.
pub(crate) fn simple_response(code: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        crate::httputil::reason_phrase(code),
        body.len()
    )
    .into_bytes()
}

/// Closes the connection when a phase takes too long: waiting for the
/// next request head (`idle_connection_timeout`) or reading a body
/// (`body_timeout`); the pending read then fails. One timer per
/// connection, moved lazily: a phase costs a clock read, not a timer added
/// and removed, and the timer only moves when it fires before the
/// deadline or a phase needs an earlier one.
struct Deadline {
    state: Rc<DeadlineState>,
}

struct DeadlineState {
    ioloop: IOLoop,
    stream: IOStream,
    /// When the running phase has taken too long; `None` between phases.
    deadline: Cell<Option<Instant>>,
    /// The armed timer and its time, at or before `deadline`; `None` if
    /// none is armed.
    timer: Cell<Option<(Timeout, Instant)>>,
}

impl Deadline {
    fn new(stream: &IOStream) -> Deadline {
        Deadline {
            state: Rc::new(DeadlineState {
                ioloop: stream.ioloop().clone(),
                stream: stream.clone(),
                deadline: Cell::new(None),
                timer: Cell::new(None),
            }),
        }
    }

    /// A phase that may last `after` starts now.
    fn start(&self, after: Duration) {
        let state = &self.state;
        let when = state.ioloop.time() + after;
        state.deadline.set(Some(when));
        match state.timer.get() {
            Some((_, at)) if at <= when => {}
            armed => {
                if let Some((t, _)) = armed {
                    state.ioloop.remove_timeout(t);
                }
                DeadlineState::arm(state, when);
            }
        }
    }

    /// The phase ended in time.
    fn stop(&self) {
        self.state.deadline.set(None);
    }
}

impl DeadlineState {
    fn arm(state: &Rc<DeadlineState>, when: Instant) {
        let weak = Rc::downgrade(state);
        let timer = state.ioloop.call_at(when, move || {
            if let Some(state) = weak.upgrade() {
                state.timer.set(None);
                match state.deadline.get() {
                    Some(d) if state.ioloop.time() >= d => state.stream.close(),
                    Some(d) => DeadlineState::arm(&state, d),
                    None => {}
                }
            }
        });
        state.timer.set(Some((timer, when)));
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        if let Some((t, _)) = self.state.timer.take() {
            self.state.ioloop.remove_timeout(t);
        }
    }
}

/// Logs a refused request and answers it (if nothing was sent yet).
async fn refuse(
    ip: &str,
    conn: Option<&RequestConnection>,
    stream: &IOStream,
    code: u16,
    why: &str,
) {
    log::info!(target: "tornado.general", "Malformed HTTP request from {ip}: {why}");
    match conn {
        Some(conn) => {
            conn.answer_error(code, why);
            let _ = conn.response().finish().await;
        }
        None => {
            let _ = stream.write(simple_response(code, why)).await;
        }
    }
}

/// Why the body phase ended early.
enum BodyEnd {
    /// Refused with a status.
    Refused(BodyError),
    /// The connection went away.
    Gone,
    /// A delegate panicked.
    Panicked(String),
}

/// Hands decoded bytes to the delegate in pieces of at most `chunk_size`.
async fn hand_over<D: HttpMessageDelegate>(
    d: &mut D,
    mut data: Vec<u8>,
    chunk_size: usize,
) -> Result<(), BodyEnd> {
    while !data.is_empty() {
        let rest = if data.len() > chunk_size {
            data.split_off(chunk_size)
        } else {
            Vec::new()
        };
        match CatchUnwind::new(d.data_received(data)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(BodyEnd::Refused(e)),
            Err(p) => return Err(BodyEnd::Panicked(p)),
        }
        data = rest;
    }
    Ok(())
}

/// Hands a piece of the body to the delegate, through the decoder if any.
async fn deliver<D: HttpMessageDelegate>(
    d: &mut D,
    inflater: &mut Option<Inflater>,
    chunk: Vec<u8>,
    chunk_size: usize,
) -> Result<(), BodyEnd> {
    let Some(inf) = inflater.as_mut() else {
        return hand_over(d, chunk, chunk_size).await;
    };
    for step in chunk.chunks(INFLATE_STEP) {
        let out = inf.feed(step).map_err(BodyEnd::Refused)?;
        hand_over(d, out, chunk_size).await?;
    }
    Ok(())
}

/// Reads the body into the delegate (Tornado's `_read_body`).
async fn read_body<D: HttpMessageDelegate>(
    reader: &mut Reader,
    d: &mut D,
    conn: &RequestConnection,
    framing: Framing,
    gzip: bool,
    options: &HttpServerOptions,
) -> Result<(), BodyEnd> {
    let max = conn.max_body_size();
    let mut body = BodyReader::new(framing, max, options.chunk_size);
    body.check_length().map_err(BodyEnd::Refused)?;
    let mut inflater = gzip.then(|| Inflater::new(max));
    let response = conn.response();
    loop {
        let chunk = match body.next(reader).await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(ReadError::Body(e)) => return Err(BodyEnd::Refused(e)),
            Err(ReadError::Head(_) | ReadError::Closed(_)) => return Err(BodyEnd::Gone),
        };
        conn.park(reader.lend());
        let delivered = deliver(d, &mut inflater, chunk, options.chunk_size.max(1)).await;
        reader.restore(conn.unpark());
        delivered?;
        if response.finished() || conn.detached() {
            // The delegate answered early: the rest of the body is not
            // read, so the connection cannot carry another request.
            response.disconnect_on_finish();
            return Ok(());
        }
    }
    if let Some(inf) = inflater.as_mut() {
        let rest = inf.finish().map_err(BodyEnd::Refused)?;
        hand_over(d, rest, options.chunk_size.max(1)).await?;
    }
    Ok(())
}

/// Tornado's `_server_request_loop`.
pub(crate) async fn serve<H: HttpServerDelegate>(
    stream: &IOStream,
    address: SocketAddr,
    handler: &Rc<H>,
    options: &HttpServerOptions,
) -> Served {
    // Each response goes out in one write (or in the pieces a handler
    // flushes on purpose): nothing is gained by Nagle's algorithm holding
    // a small answer back until the peer acknowledges the previous one,
    // and pipelined requests would wait for the peer's delayed ACK
    // (about 40 ms) between answers. Tornado turns it off around each
    // response's end; once per connection is the same for a server.
    // (Not a TCP socket, e.g. a Unix one: nothing to do.)
    let _ = stream.set_nodelay(true);
    // Formatted once per connection, not per request.
    let ip = address.ip().to_string();
    // The close is news for the request being served at the time only.
    let watch: Rc<CloseWatch> = Rc::default();
    let w = watch.clone();
    stream.set_close_callback(move || w.closed());
    let mut reader = Reader::new(stream.clone());
    let deadline = Deadline::new(stream);
    loop {
        let head = if reader.head_buffered() {
            // A pipelined head is already here: no deadline needed.
            reader.read_head(options.max_header_size).await
        } else {
            deadline.start(options.idle_connection_timeout);
            let head = reader.read_head(options.max_header_size).await;
            deadline.stop();
            head
        };
        let head = match head {
            Ok(h) => h,
            Err(ReadError::Head(e)) => {
                refuse(&ip, None, stream, e.status(), &e.to_string()).await;
                return Served::Closed;
            }
            // Closed by the peer, or by the deadline.
            Err(_) => return Served::Closed,
        };
        let mut request = match parse_request_head(&head) {
            Ok(r) => r,
            Err(e) => {
                refuse(&ip, None, stream, e.status(), &e.to_string()).await;
                return Served::Closed;
            }
        };
        request.remote_ip.clone_from(&ip);
        request.protocol.clone_from(&options.protocol);
        if options.xheaders {
            apply_xheaders(&mut request, &options.trusted_downstream);
        }
        if reader.head_buffered() {
            // More pipelined requests wait behind this one: hold the
            // answers back until the batch is done, then send them in one
            // write (the stream sends them at the loop's next iteration).
            stream.cork();
        }
        let framing = match request_framing(&request.headers) {
            Ok(f) => f,
            Err(e) => {
                refuse(&ip, None, stream, e.status(), &e.to_string()).await;
                return Served::Closed;
            }
        };
        let http11 = request.version == "HTTP/1.1";
        let keep_alive = !options.no_keep_alive && wants_keep_alive(http11, &request.headers);
        let expect_continue = http11
            && framing != Framing::Empty
            && request
                .headers
                .get("Expect")
                .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
        let gzip = options.decompress_request
            && framing != Framing::Empty
            && request
                .headers
                .get("Content-Encoding")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
        if gzip {
            // The delegate sees the decoded body: say what was undone.
            request.headers.remove("Content-Encoding");
            request.headers.set("X-Consumed-Content-Encoding", "gzip");
        }
        let response =
            ResponseWriter::new(stream.clone(), http11, request.method == "HEAD", keep_alive);
        let conn = RequestConnection::new(
            stream.clone(),
            response.clone(),
            options.max_body_size,
            options.body_timeout,
            watch.clone(),
        );
        let mut d = handler.clone().start_request(conn.clone());
        conn.park(reader.lend());
        let received = CatchUnwind::new(d.headers_received(request)).await;
        reader.restore(conn.unpark());
        if let Err(p) = received {
            return panicked(stream, &response, &p).await;
        }
        if conn.detached() {
            return Served::Detached;
        }
        if framing != Framing::Empty && !response.finished() {
            if expect_continue
                && BodyReader::new(framing, conn.max_body_size(), 1)
                    .check_length()
                    .is_ok()
            {
                drop(stream.write(b"HTTP/1.1 100 (Continue)\r\n\r\n".to_vec()));
            }
            if let Some(t) = conn.body_timeout() {
                deadline.start(t);
            }
            let body = read_body(&mut reader, &mut d, &conn, framing, gzip, options).await;
            deadline.stop();
            match body {
                Ok(()) => {}
                Err(BodyEnd::Refused(e)) => {
                    d.on_connection_close();
                    refuse(&ip, Some(&conn), stream, e.status(), &e.to_string()).await;
                    return Served::Closed;
                }
                Err(BodyEnd::Gone) => {
                    d.on_connection_close();
                    return Served::Closed;
                }
                Err(BodyEnd::Panicked(p)) => return panicked(stream, &response, &p).await,
            }
            if conn.detached() {
                return Served::Detached;
            }
        } else if framing != Framing::Empty {
            // Answered before the body was read: close after the answer.
            response.disconnect_on_finish();
        }
        conn.park(reader.lend());
        let finished = CatchUnwind::new(d.finish()).await;
        reader.restore(conn.unpark());
        if let Err(p) = finished {
            return panicked(stream, &response, &p).await;
        }
        if conn.detached() {
            return Served::Detached;
        }
        if !response.finished() {
            // With the connection gone (the client reset or left), a
            // handler's answer fails before it can finish: no bug of its.
            if !stream.closed() {
                log::error!(target: "tornado.application", "HTTP handler returned without finishing its response");
            }
            return Served::Closed;
        }
        if response.keep_alive() && !stream.closed() && reader.head_buffered() {
            // Pipelined: the next request is already here. Its answer joins
            // this one in the corked stream; both go out together once the
            // batch is answered (a failed write closes the stream, which
            // the next request's answer then sees).
            watch.next_request();
            continue;
        }
        let sent = response.sent().await;
        watch.next_request();
        if sent.is_err() || !response.keep_alive() || stream.closed() {
            return Served::Closed;
        }
    }
}

/// A delegate panicked: logged, a 500 if nothing was sent yet, and the
/// connection closed.
async fn panicked(stream: &IOStream, response: &ResponseWriter, message: &str) -> Served {
    log::error!(target: "tornado.application", "Uncaught exception in HTTP handler: {message}");
    if !response.headers_written() {
        let _ = stream
            .write(simple_response(500, "Internal Server Error"))
            .await;
    }
    Served::Closed
}
