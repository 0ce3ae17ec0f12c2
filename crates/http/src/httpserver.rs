//! The HTTP/1.1 server (Tornado's `httpserver` + the input half of
//! `HTTP1Connection`): one coroutine per connection reads requests in
//! order, hands each to the [`HttpHandler`], and waits for its response
//! before reading the next, so pipelined requests are answered in order.

use std::cell::Cell;
use std::future::Future as StdFuture;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Poll;

use tornado_concurrent::{Error, Future, panic_message};
use tornado_ioloop::{IOLoop, Timeout};
use tornado_iostream::{IOStream, StreamOptions, UnsatisfiableReadError};
use tornado_tcp::{TcpHandler, TcpServer};

use crate::httputil::{HttpHeaders, HttpServerRequest};
use crate::response::ResponseWriter;

/// Limits and behaviour of an [`HttpServer`], with Tornado's defaults.
#[derive(Debug, Clone)]
pub struct HttpServerOptions {
    /// Largest request head (start line and headers); more gets 431.
    pub max_header_size: usize,
    /// Largest request body; more gets 413.
    pub max_body_size: usize,
    /// Time allowed to read a body (`None`: unlimited).
    pub body_timeout: Option<Duration>,
    /// Time allowed to read a request head, idle time between requests
    /// included: a slow or silent (slowloris) client is closed after it.
    pub idle_connection_timeout: Duration,
    /// Trust `X-Real-Ip`/`X-Forwarded-For` and `X-Scheme`/`X-Forwarded-Proto`
    /// (behind a reverse proxy).
    pub xheaders: bool,
    /// Addresses of proxies to skip in `X-Forwarded-For`.
    pub trusted_downstream: Vec<IpAddr>,
    /// Never keep connections alive.
    pub no_keep_alive: bool,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: Option<usize>,
    /// `http` or `https` for requests without `xheaders`.
    pub protocol: String,
}

impl Default for HttpServerOptions {
    fn default() -> Self {
        HttpServerOptions {
            max_header_size: 64 * 1024,
            max_body_size: 100 * 1024 * 1024,
            body_timeout: None,
            idle_connection_timeout: Duration::from_secs(3600),
            xheaders: false,
            trusted_downstream: Vec::new(),
            no_keep_alive: false,
            max_connections: None,
            protocol: "http".to_owned(),
        }
    }
}

/// What an [`HttpServer`] does with each request (Tornado's
/// `HTTPServerConnectionDelegate` for whole requests).
pub trait HttpHandler: 'static {
    /// Handles `request`, answering through `response` (which must be
    /// finished; an unfinished one closes the connection).
    fn handle_request(
        &self,
        request: HttpServerRequest,
        response: ResponseWriter,
    ) -> impl StdFuture<Output = ()>;
}

/// The connection-level handler given to the TCP server.
pub struct Connections<H: HttpHandler> {
    handler: Rc<H>,
    options: Rc<HttpServerOptions>,
    /// Connections open now (for `max_connections`).
    open: Rc<Cell<usize>>,
}

/// An HTTP/1.x server (Tornado's `HTTPServer`).
///
/// ```
/// use tornado_gen::coroutine;
/// use tornado_http::httpserver::{HttpHandler, HttpServer, HttpServerOptions};
/// use tornado_http::httputil::{HttpHeaders, HttpServerRequest};
/// use tornado_http::response::ResponseWriter;
/// use tornado_ioloop::IOLoop;
/// use tornado_iostream::IOStream;
///
/// struct Hello;
/// impl HttpHandler for Hello {
///     async fn handle_request(&self, req: HttpServerRequest, resp: ResponseWriter) {
///         let body = format!("hello {}", req.path);
///         let mut h = HttpHeaders::new();
///         h.add("Content-Length", body.len().to_string());
///         resp.write_headers(200, None, &h, body.as_bytes());
///         let _ = resp.finish().await;
///     }
/// }
///
/// let ioloop = IOLoop::new().unwrap();
/// let server = HttpServer::new(Hello, HttpServerOptions::default());
/// let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
/// let reply = ioloop.run_sync(move || coroutine(async move {
///     let s = IOStream::connect(&addr.to_string()).await?;
///     s.write(b"GET /x HTTP/1.0\r\n\r\n".to_vec()).await?;
///     s.read_until_close().await
/// }), None).unwrap();
/// assert!(reply.ends_with(b"\r\n\r\nhello /x"));
/// ```
pub struct HttpServer<H: HttpHandler> {
    tcp: TcpServer<Connections<H>>,
}

impl<H: HttpHandler> HttpServer<H> {
    /// A server for `handler` with `options`, not yet listening.
    pub fn new(handler: H, options: HttpServerOptions) -> HttpServer<H> {
        Self::from_tcp(
            |c| TcpServer::with_options(c, StreamOptions::default()),
            handler,
            options,
        )
    }

    /// A server that speaks HTTPS.
    #[cfg(feature = "tls")]
    pub fn with_tls(
        handler: H,
        mut options: HttpServerOptions,
        config: std::sync::Arc<tornado_iostream::tls::rustls::ServerConfig>,
    ) -> HttpServer<H> {
        options.protocol = "https".to_owned();
        Self::from_tcp(|c| TcpServer::with_tls(c, config), handler, options)
    }

    fn from_tcp(
        make: impl FnOnce(Connections<H>) -> TcpServer<Connections<H>>,
        handler: H,
        options: HttpServerOptions,
    ) -> Self {
        HttpServer {
            tcp: make(Connections {
                handler: Rc::new(handler),
                options: Rc::new(options),
                open: Rc::new(Cell::new(0)),
            }),
        }
    }

    /// The request handler.
    pub fn handler(&self) -> &H {
        &self.tcp.handler().handler
    }

    /// Listens on `port` on every interface.
    pub fn listen(&self, port: u16) -> io::Result<Vec<SocketAddr>> {
        self.tcp.listen(port)
    }

    /// Listens on `port` at `address`; returns the bound addresses.
    pub fn listen_on(&self, port: u16, address: Option<&str>) -> io::Result<Vec<SocketAddr>> {
        self.tcp.listen_on(port, address)
    }

    /// Serves already-listening sockets.
    pub fn add_sockets(&self, sockets: Vec<TcpListener>) -> io::Result<()> {
        self.tcp.add_sockets(sockets)
    }

    /// The underlying TCP server (stop, shutdown, connection count).
    pub fn tcp(&self) -> &TcpServer<Connections<H>> {
        &self.tcp
    }

    /// Stops accepting connections.
    pub fn stop(&self) {
        self.tcp.stop();
    }

    /// Stops accepting, lets open connections finish for up to `grace`,
    /// then closes the rest.
    pub fn shutdown(&self, grace: Duration) -> Future<()> {
        self.tcp.shutdown(grace)
    }
}

impl<H: HttpHandler> TcpHandler for Connections<H> {
    async fn handle_stream(&self, stream: IOStream, address: SocketAddr) {
        let open = self.open.clone();
        open.set(open.get() + 1);
        struct Open(Rc<Cell<usize>>);
        impl Drop for Open {
            fn drop(&mut self) {
                self.0.set(self.0.get() - 1);
            }
        }
        let _open = Open(open);
        if self
            .options
            .max_connections
            .is_some_and(|max| self.open.get() > max)
        {
            let _ = stream
                .write(simple_response(503, "too many connections"))
                .await;
            stream.close();
            return;
        }
        serve(&stream, address, &self.handler, &self.options).await;
        // Reads abandoned on a timeout still hold handles to the stream:
        // close it, not just drop ours, so the peer sees the end.
        stream.close();
    }
}

/// A complete error response that closes the connection.
fn simple_response(code: u16, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        crate::httputil::reason_phrase(code),
        body.len()
    )
    .into_bytes()
}

/// Why reading a request failed.
enum ReadFailure {
    /// The peer went away or timed out: close without a word.
    Gone,
    /// Malformed or too large: answer with this status, then close.
    Answer(u16, String),
}

/// Tornado's `_server_request_loop`.
async fn serve<H: HttpHandler>(
    stream: &IOStream,
    address: SocketAddr,
    handler: &Rc<H>,
    options: &HttpServerOptions,
) {
    // Formatted once per connection, not per request.
    let ip = address.ip().to_string();
    loop {
        let request = match read_request(stream, &ip, options).await {
            Ok(r) => r,
            Err(ReadFailure::Gone) => return,
            Err(ReadFailure::Answer(code, why)) => {
                log::info!(target: "tornado.general", "Malformed HTTP request from {ip}: {why}");
                let _ = stream.write(simple_response(code, &why)).await;
                return;
            }
        };
        let http11 = request.version == "HTTP/1.1";
        let keep_alive = !options.no_keep_alive && wants_keep_alive(&request);
        let response =
            ResponseWriter::new(stream.clone(), http11, request.method == "HEAD", keep_alive);
        // A panic in the handler fails only this request (a 500 if nothing
        // was sent yet). Polled in place: a coroutine per request would cost
        // an allocation and a task.
        let mut handled = std::pin::pin!(handler.handle_request(request, response.clone()));
        let outcome = std::future::poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| handled.as_mut().poll(cx))) {
                Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
                Ok(Poll::Pending) => Poll::Pending,
                Err(payload) => Poll::Ready(Err(panic_message(&*payload))),
            }
        })
        .await;
        if let Err(e) = outcome {
            log::error!(target: "tornado.application", "Uncaught exception in HTTP handler: {e}");
            if !response.headers_written() {
                let _ = stream
                    .write(simple_response(500, "Internal Server Error"))
                    .await;
            }
            return;
        }
        if !response.finished() {
            log::error!(target: "tornado.application", "HTTP handler returned without finishing its response");
            return;
        }
        if response.finish().await.is_err() || !response.keep_alive() || stream.closed() {
            return;
        }
    }
}

/// HTTP/1.1 keeps alive unless told to close; 1.0 only when asked.
fn wants_keep_alive(request: &HttpServerRequest) -> bool {
    let connection = request.headers.get("Connection").unwrap_or("");
    if request.version == "HTTP/1.1" {
        !connection.eq_ignore_ascii_case("close")
    } else {
        connection.eq_ignore_ascii_case("keep-alive")
    }
}

/// Closes the stream when its time is up, unless dropped first: how a head
/// or body that takes too long ends the connection (the pending read then
/// fails). Cheaper than `with_timeout` (no extra future or coroutine), and
/// nothing is left running to fail later.
struct CloseAfter {
    ioloop: IOLoop,
    timeout: Option<Timeout>,
}

impl CloseAfter {
    fn new(stream: &IOStream, after: Duration) -> CloseAfter {
        let ioloop = stream.ioloop().clone();
        let s = stream.clone();
        let timeout = Some(ioloop.call_later(after, move || s.close()));
        CloseAfter { ioloop, timeout }
    }
}

impl Drop for CloseAfter {
    fn drop(&mut self) {
        if let Some(t) = self.timeout.take() {
            self.ioloop.remove_timeout(t);
        }
    }
}

/// Tornado's `_read_message` for a server: the head within the idle
/// timeout, then the body within the body timeout.
async fn read_request(
    stream: &IOStream,
    ip: &str,
    options: &HttpServerOptions,
) -> Result<HttpServerRequest, ReadFailure> {
    let read = stream.read_until_limited(b"\r\n\r\n", options.max_header_size);
    // A pipelined head is already here: no timer needed.
    let head = if read.done() {
        read.await
    } else {
        let _deadline = CloseAfter::new(stream, options.idle_connection_timeout);
        read.await
    };
    let head = match head {
        Ok(h) => h,
        Err(e) if e.is::<UnsatisfiableReadError>() => {
            return Err(ReadFailure::Answer(431, "request head too large".into()));
        }
        // Closed by the peer, or by the deadline.
        Err(_) => return Err(ReadFailure::Gone),
    };
    // `start_time` is stamped as the head is parsed.
    let mut request = parse_head(&head, ip, options)?;
    let http11 = request.version == "HTTP/1.1";
    let body = {
        let _deadline = options.body_timeout.map(|t| CloseAfter::new(stream, t));
        read_body(stream, &request.headers, http11, options.max_body_size).await
    };
    request.body = match body {
        Ok(b) => b,
        Err(e) => {
            if let Some(BodyError(code, why)) = e.downcast_ref::<BodyError>() {
                return Err(ReadFailure::Answer(*code, why.clone()));
            }
            return Err(ReadFailure::Gone);
        }
    };
    if let Err(e) = request.parse_body() {
        return Err(ReadFailure::Answer(400, e.0));
    }
    Ok(request)
}

/// A body that must be refused with a status.
#[derive(Debug, thiserror::Error)]
#[error("{1}")]
struct BodyError(u16, String);

/// Reads the body the head announces: `Content-Length`, chunked, or none.
async fn read_body(
    stream: &IOStream,
    h: &HttpHeaders,
    http11: bool,
    max: usize,
) -> Result<Vec<u8>, Error> {
    // Every Transfer-Encoding value, over all such headers: exactly one
    // `chunked` or nothing. A second header or coding (`chunked, chunked`,
    // `gzip, chunked`) is refused rather than half-understood, which is
    // how requests are smuggled past a proxy.
    let mut codings = h
        .get_all("Transfer-Encoding")
        .flat_map(|v| v.split(','))
        .map(str::trim);
    let chunked = match (codings.next(), codings.next()) {
        (None, _) => false,
        (Some(c), None) if c.eq_ignore_ascii_case("chunked") => true,
        _ => return Err(BodyError(400, "unsupported Transfer-Encoding".into()).into()),
    };
    let length = {
        // Several identical values, in one header or many, are tolerated,
        // as in Tornado.
        let mut values = h
            .get_all("Content-Length")
            .flat_map(|v| v.split(','))
            .map(str::trim);
        match values.next() {
            None => None,
            Some(first) => {
                if values.any(|v| v != first) {
                    return Err(BodyError(400, "conflicting Content-Length headers".into()).into());
                }
                if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(BodyError(400, format!("invalid Content-Length {first:?}")).into());
                }
                Some(
                    first
                        .parse::<u64>()
                        .map_err(|_| BodyError(413, "body too large".into()))?,
                )
            }
        }
    };
    if chunked && length.is_some() {
        return Err(BodyError(400, "both Transfer-Encoding and Content-Length".into()).into());
    }
    if let Some(n) = length {
        if n > max as u64 {
            return Err(BodyError(413, "body too large".into()).into());
        }
    }
    let has_body = chunked || length.is_some_and(|n| n > 0);
    if has_body
        && h.get("Expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
        && http11
    {
        stream
            .write(b"HTTP/1.1 100 (Continue)\r\n\r\n".to_vec())
            .await?;
    }
    if chunked {
        return read_chunked_body(stream, max).await;
    }
    match length {
        Some(n) if n > 0 => stream.read_bytes(n as usize, false).await,
        _ => Ok(Vec::new()),
    }
}

/// Tornado's `_read_chunked_body`.
async fn read_chunked_body(stream: &IOStream, max: usize) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    loop {
        let line = stream.read_until_limited(b"\r\n", 64).await.map_err(|e| {
            if e.is::<UnsatisfiableReadError>() {
                BodyError(400, "chunk size line too long".into()).into()
            } else {
                e
            }
        })?;
        let line = std::str::from_utf8(&line[..line.len() - 2])
            .map_err(|_| BodyError(400, "bad chunk size".into()))?;
        let size = line.split(';').next().unwrap_or("").trim();
        if size.is_empty() || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BodyError(400, format!("bad chunk size {size:?}")).into());
        }
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| BodyError(413, "chunk too large".into()))?;
        if size == 0 {
            let crlf = stream.read_bytes(2, false).await?;
            if crlf != b"\r\n" {
                return Err(BodyError(400, "improperly terminated chunked request".into()).into());
            }
            return Ok(body);
        }
        if body.len() + size > max {
            return Err(BodyError(413, "body too large".into()).into());
        }
        let chunk = stream.read_bytes(size + 2, false).await?;
        if !chunk.ends_with(b"\r\n") {
            return Err(BodyError(400, "chunk not followed by CRLF".into()).into());
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Parses the head with httparse; a malformed one is a 400 (too many
/// headers: 431).
fn parse_head(
    head: &[u8],
    ip: &str,
    options: &HttpServerOptions,
) -> Result<HttpServerRequest, ReadFailure> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Request::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(ReadFailure::Answer(400, "incomplete request head".into()));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(ReadFailure::Answer(431, "too many headers".into()));
        }
        Err(e) => return Err(ReadFailure::Answer(400, format!("bad request head: {e}"))),
    }
    let method = parsed.method.unwrap_or("GET");
    let uri = parsed.path.unwrap_or("/");
    let version = match parsed.version {
        Some(0) => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let mut headers = HttpHeaders::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let value = std::str::from_utf8(h.value).map_err(|_| {
            ReadFailure::Answer(400, format!("non-UTF-8 value in header {}", h.name))
        })?;
        headers.add(h.name, value.trim());
    }
    let mut request = HttpServerRequest::new(method, uri);
    request.version = version.to_owned();
    request.host = headers.get("Host").unwrap_or("127.0.0.1").to_owned();
    request.headers = headers;
    request.remote_ip = ip.to_owned();
    request.protocol = options.protocol.clone();
    if options.xheaders {
        apply_xheaders(&mut request, &options.trusted_downstream);
    }
    Ok(request)
}

/// Tornado's `_apply_xheaders`: the client's address and scheme as the
/// proxy reports them, when they are valid.
fn apply_xheaders(request: &mut HttpServerRequest, trusted: &[IpAddr]) {
    let h = &request.headers;
    let mut ip = request.remote_ip.clone();
    if let Some(forwarded) = h.get("X-Forwarded-For") {
        // The last address not added by a trusted proxy; if every one was,
        // the first (as Tornado's loop leaves it).
        for candidate in forwarded.split(',').map(str::trim).rev() {
            ip = candidate.to_owned();
            if candidate
                .parse::<IpAddr>()
                .map_or(true, |a| !trusted.contains(&a))
            {
                break;
            }
        }
    }
    if let Some(real) = h.get("X-Real-Ip") {
        ip = real.trim().to_owned();
    }
    if ip.parse::<IpAddr>().is_ok() {
        request.remote_ip = ip;
    }
    // Either header may list several proxies' schemes: the last counts.
    let scheme = h
        .get("X-Scheme")
        .or_else(|| h.get("X-Forwarded-Proto"))
        .map(|v| {
            v.split(',')
                .next_back()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if let Some(s) = scheme {
        if s == "http" || s == "https" {
            request.protocol = s;
        }
    }
}
