//! A non-blocking HTTP/1.1 client (Tornado's `httpclient` with the
//! `simple_httpclient` implementation): one connection per request, `http`
//! and `https`, redirects, timeouts, chunked and gzip responses.

use std::cell::RefCell;
use std::fmt;
use std::io::Read;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tornado_concurrent::{Error, Future};
use tornado_gen::{TimeoutError, coroutine};
use tornado_ioloop::IOLoop;
use tornado_iostream::{IOStream, StreamClosedError, UnsatisfiableReadError};

use crate::client_url::{Url, join_url};
use crate::httputil::HttpHeaders;

/// How a request is made (Tornado's `HTTPRequest` arguments), with
/// Tornado's defaults. Build one with the chained setters.
///
/// ```
/// use std::time::Duration;
/// use tornado_http::httpclient::FetchOptions;
/// let options = FetchOptions::new()
///     .method("POST")
///     .header("Content-Type", "application/json")
///     .body(b"{}".to_vec())
///     .request_timeout(Duration::from_secs(5));
/// assert_eq!(options.method, "POST");
/// ```
#[derive(Clone)]
pub struct FetchOptions {
    /// `GET`, `POST`, …
    pub method: String,
    /// Request headers (`Host`, `Content-Length` and `Connection` are added).
    pub headers: HttpHeaders,
    /// The request body, if any.
    pub body: Option<Vec<u8>>,
    /// Time allowed to connect (name resolution and TLS handshake included).
    pub connect_timeout: Option<Duration>,
    /// Time allowed for the whole request, redirects included.
    pub request_timeout: Option<Duration>,
    /// Follow 301, 302, 303, 307 and 308 answers.
    pub follow_redirects: bool,
    /// Redirects followed at most; one more fails with `TooManyRedirects`.
    pub max_redirects: usize,
    /// Fail with `HttpClientErrorKind::Status` on a status of 400 or more.
    pub raise_error: bool,
    /// Ask for gzip and decompress it.
    pub decompress_response: bool,
    /// Largest response head accepted.
    pub max_header_size: usize,
    /// Largest response body accepted (after decompression).
    pub max_body_size: usize,
    /// `User-Agent` sent unless the headers carry one.
    pub user_agent: String,
    /// The rustls client configuration for `https` URLs (trusted roots,
    /// ALPN…). Required for `https`: no roots are built in.
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<tornado_iostream::tls::rustls::ClientConfig>>,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            method: "GET".to_owned(),
            headers: HttpHeaders::new(),
            body: None,
            connect_timeout: Some(Duration::from_secs(20)),
            request_timeout: Some(Duration::from_secs(20)),
            follow_redirects: true,
            max_redirects: 5,
            raise_error: true,
            decompress_response: true,
            max_header_size: 64 * 1024,
            max_body_size: 100 * 1024 * 1024,
            user_agent: concat!("Tornado-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }
}

impl FetchOptions {
    /// The defaults: `GET`, 20 s timeouts, up to 5 redirects, errors raised.
    pub fn new() -> FetchOptions {
        FetchOptions::default()
    }
    /// Sets the method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = method.to_ascii_uppercase();
        self
    }
    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.add(name, value);
        self
    }
    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }
    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = Some(t);
        self
    }
    /// Sets the whole request's timeout.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = Some(t);
        self
    }
    /// Whether to follow redirects, and how many at most.
    pub fn redirects(mut self, follow: bool, max: usize) -> Self {
        self.follow_redirects = follow;
        self.max_redirects = max;
        self
    }
    /// Whether a status of 400 or more is an error.
    pub fn raise_error(mut self, raise: bool) -> Self {
        self.raise_error = raise;
        self
    }
    /// Sets the TLS configuration for `https`.
    #[cfg(feature = "tls")]
    pub fn tls(
        mut self,
        config: std::sync::Arc<tornado_iostream::tls::rustls::ClientConfig>,
    ) -> Self {
        self.tls = Some(config);
        self
    }
}

/// A response (Tornado's `HTTPResponse`).
#[derive(Clone, Debug)]
pub struct HttpResponse {
    /// The status code.
    pub code: u16,
    /// The reason phrase the server sent.
    pub reason: String,
    /// The response headers.
    pub headers: HttpHeaders,
    /// The body (de-chunked, decompressed if asked).
    pub body: Vec<u8>,
    /// The URL answered, after redirects.
    pub effective_url: String,
    /// Time from the start of `fetch` to the end of the body.
    pub request_time: Duration,
}

impl HttpResponse {
    /// The body as text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What went wrong with a fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpClientErrorKind {
    /// The URL is not an `http` or `https` URL this client can fetch (or
    /// `https` without a TLS configuration).
    InvalidUrl,
    /// Nothing listens at the address.
    ConnectionRefused,
    /// Connecting failed otherwise (no address, TLS handshake, reset), or
    /// the connection closed before the response was complete.
    Connection,
    /// `connect_timeout` or `request_timeout` passed.
    Timeout,
    /// More redirects than `max_redirects`.
    TooManyRedirects,
    /// The response could not be parsed, or was too large.
    MalformedResponse,
    /// The server answered with this status (400 or more) and `raise_error`
    /// was set; the response is attached.
    Status(u16),
}

/// A failed fetch (Tornado's `HTTPClientError`, whose `code` 599 stands
/// for the kinds other than `Status`). Fetch futures fail with a
/// `tornado_concurrent::Error` holding one: use `downcast_ref`.
///
/// ```
/// use tornado_http::httpclient::{FetchOptions, HttpClientError, HttpClientErrorKind, fetch};
/// use tornado_ioloop::IOLoop;
///
/// // A port nobody listens on any more.
/// let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
/// let url = format!("http://127.0.0.1:{port}/");
/// let ioloop = IOLoop::new().unwrap();
/// let err = ioloop.run_sync(move || fetch(&url, FetchOptions::new()), None).unwrap_err();
/// let tornado_ioloop::Error::Future(err) = err else { panic!("{err}") };
/// let err = err.downcast_ref::<HttpClientError>().unwrap();
/// assert_eq!(err.kind, HttpClientErrorKind::ConnectionRefused);
/// assert_eq!(err.code(), 599);
/// ```
#[derive(Clone, Debug)]
pub struct HttpClientError {
    /// What kind of failure.
    pub kind: HttpClientErrorKind,
    /// A description.
    pub message: String,
    /// The response, for `Status` and `TooManyRedirects`.
    pub response: Option<Box<HttpResponse>>,
}

impl HttpClientError {
    pub(crate) fn new(kind: HttpClientErrorKind, message: impl Into<String>) -> HttpClientError {
        HttpClientError {
            kind,
            message: message.into(),
            response: None,
        }
    }

    /// Tornado's `code`: the HTTP status, or 599 when there was none.
    pub fn code(&self) -> u16 {
        match self.kind {
            HttpClientErrorKind::Status(c) => c,
            _ => 599,
        }
    }
}

impl fmt::Display for HttpClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP {}: {}", self.code(), self.message)
    }
}

impl std::error::Error for HttpClientError {}

/// Fetches `url` (Tornado's `AsyncHTTPClient.fetch`). The future fails with
/// an [`HttpClientError`] inside a `tornado_concurrent::Error`.
///
/// ```
/// use tornado_gen::coroutine;
/// use tornado_http::httpclient::{FetchOptions, fetch};
/// use tornado_http::httpserver::{HttpHandler, HttpServer, HttpServerOptions};
/// use tornado_http::httputil::{HttpHeaders, HttpServerRequest};
/// use tornado_http::response::ResponseWriter;
/// use tornado_ioloop::IOLoop;
///
/// struct Echo;
/// impl HttpHandler for Echo {
///     async fn handle_request(&self, req: HttpServerRequest, resp: ResponseWriter) {
///         let mut h = HttpHeaders::new();
///         h.add("Content-Length", req.body.len().to_string());
///         resp.write_headers(200, None, &h, &req.body);
///         let _ = resp.finish().await;
///     }
/// }
///
/// let ioloop = IOLoop::new().unwrap();
/// let server = HttpServer::new(Echo, HttpServerOptions::default());
/// let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
/// let url = format!("http://{addr}/echo");
/// let response = ioloop.run_sync(move || {
///     fetch(&url, FetchOptions::new().method("POST").body("ping"))
/// }, None).unwrap();
/// assert_eq!((response.code, response.body), (200, b"ping".to_vec()));
/// ```
pub fn fetch(url: &str, options: FetchOptions) -> Future<HttpResponse> {
    let url = url.to_owned();
    // The connection in use, so a timeout can close it and end the
    // request's reads at once instead of leaving them to the server.
    let current: Rc<RefCell<Option<IOStream>>> = Rc::default();
    let timeout = options.request_timeout;
    let work = coroutine(run(url, options, current.clone(), Instant::now()));
    match timeout {
        Some(t) => deadline(t, work, move || {
            if let Some(s) = current.borrow_mut().take() {
                s.close();
            }
            HttpClientError::new(
                HttpClientErrorKind::Timeout,
                format!("request timed out after {t:?}"),
            )
        }),
        None => work,
    }
}

/// Fails with `on_timeout()`'s error if `work` is not done within `t`.
/// Not `with_timeout`: the abandoned work fails later (its stream closed,
/// or its peer gone), and that expected failure must not be logged.
fn deadline<T: 'static>(
    t: Duration,
    work: Future<T>,
    on_timeout: impl FnOnce() -> HttpClientError + 'static,
) -> Future<T> {
    let result = Future::new();
    let ioloop = IOLoop::current();
    let r = result.clone();
    let timer = ioloop.call_later(t, move || {
        let _ = r.set_exception(on_timeout());
    });
    let r = result.clone();
    // The callback holds a handle so the runner does not take the work for
    // abandoned and drop it.
    let keep = work.clone();
    work.add_done_callback(move |work| {
        drop(keep);
        ioloop.remove_timeout(timer);
        if !r.done() {
            let _ = match work.take_result() {
                Ok(v) => r.set_result(v),
                Err(e) => r.set_exception(e),
            };
        }
    });
    result
}

/// The request, then its redirects.
async fn run(
    url: String,
    mut options: FetchOptions,
    current: Rc<RefCell<Option<IOStream>>>,
    start: Instant,
) -> Result<HttpResponse, Error> {
    let mut url = url;
    let mut redirects = 0;
    loop {
        let parsed = Url::parse(&url)?;
        let mut response = fetch_once(&parsed, &options, &current).await?;
        if let Some(s) = current.borrow_mut().take() {
            s.close();
        }
        response.effective_url = url.clone();
        response.request_time = start.elapsed();
        let code = response.code;
        let location = response.headers.get("Location").map(str::to_owned);
        if let (true, true, Some(location)) = (
            options.follow_redirects,
            matches!(code, 301 | 302 | 303 | 307 | 308),
            location,
        ) {
            if redirects >= options.max_redirects {
                let mut e = HttpClientError::new(
                    HttpClientErrorKind::TooManyRedirects,
                    format!("more than {} redirects", options.max_redirects),
                );
                e.response = Some(Box::new(response));
                return Err(e.into());
            }
            redirects += 1;
            url = join_url(&parsed, &location);
            // 301/302/303 become a GET without body (what browsers do);
            // 307/308 repeat the request as it was.
            if matches!(code, 301..=303) && options.method != "HEAD" {
                options.method = "GET".to_owned();
                options.body = None;
                for h in [
                    "Content-Length",
                    "Content-Type",
                    "Content-Encoding",
                    "Transfer-Encoding",
                ] {
                    options.headers.remove(h);
                }
            }
            log::debug!(target: "tornado.general", "following {code} redirect to {url}");
            continue;
        }
        if options.raise_error && code >= 400 {
            let mut e =
                HttpClientError::new(HttpClientErrorKind::Status(code), response.reason.clone());
            e.response = Some(Box::new(response));
            return Err(e.into());
        }
        return Ok(response);
    }
}

/// Maps a connection failure to its kind.
fn connect_error(e: Error, url: &Url) -> Error {
    if e.is::<HttpClientError>() {
        return e;
    }
    if e.is::<TimeoutError>() {
        return HttpClientError::new(
            HttpClientErrorKind::Timeout,
            format!("timed out connecting to {}", url.host_port()),
        )
        .into();
    }
    let is_refused = |e: &Error| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    };
    // A failed connect surfaces as the stream closing, with the cause inside.
    let refused = is_refused(&e)
        || e.downcast_ref::<StreamClosedError>()
            .and_then(|c| c.real_error.as_ref())
            .is_some_and(is_refused);
    let kind = if refused {
        HttpClientErrorKind::ConnectionRefused
    } else {
        HttpClientErrorKind::Connection
    };
    HttpClientError::new(kind, format!("connecting to {}: {e}", url.host_port())).into()
}

/// A response that broke off or made no sense.
fn malformed(why: impl Into<String>) -> Error {
    HttpClientError::new(HttpClientErrorKind::MalformedResponse, why).into()
}

/// Maps a read failure: a closed stream is a connection failure.
fn read_error(e: Error) -> Error {
    if e.is::<StreamClosedError>() {
        HttpClientError::new(
            HttpClientErrorKind::Connection,
            "connection closed before the response was complete",
        )
        .into()
    } else if e.is::<UnsatisfiableReadError>() {
        malformed("response head too large")
    } else if e.is::<HttpClientError>() {
        e
    } else {
        HttpClientError::new(HttpClientErrorKind::Connection, e.to_string()).into()
    }
}

/// Connects, with TLS for `https`, within the connect timeout.
async fn connect(url: &Url, options: &FetchOptions) -> Result<IOStream, Error> {
    #[cfg(feature = "tls")]
    let tls = if url.https {
        let config = options.tls.clone().ok_or_else(|| {
            HttpClientError::new(
                HttpClientErrorKind::InvalidUrl,
                "https needs a rustls ClientConfig in FetchOptions::tls",
            )
        })?;
        let name = tornado_iostream::tls::rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|e| {
                HttpClientError::new(
                    HttpClientErrorKind::InvalidUrl,
                    format!("bad host name: {e}"),
                )
            })?;
        Some(tornado_iostream::tls::TlsConfig::Client {
            config,
            server_name: name,
        })
    } else {
        None
    };
    #[cfg(not(feature = "tls"))]
    if url.https {
        return Err(HttpClientError::new(
            HttpClientErrorKind::InvalidUrl,
            "https needs the tls feature",
        )
        .into());
    }
    let host_port = url.host_port();
    let timeout = options.connect_timeout;
    let connecting = coroutine(async move {
        // The TCP step closes its socket on timeout by itself.
        let stream = IOStream::connect_timeout(&host_port, timeout).await?;
        #[cfg(feature = "tls")]
        if let Some(tls) = tls {
            return stream.start_tls(tls).await;
        }
        Ok(stream)
    });
    let connected = match timeout {
        Some(t) => {
            let target = url.host_port();
            deadline(t, connecting, move || {
                HttpClientError::new(
                    HttpClientErrorKind::Timeout,
                    format!("timed out connecting to {target} after {t:?}"),
                )
            })
            .await
        }
        None => connecting.await,
    };
    connected.map_err(|e| connect_error(e, url))
}

/// One request on a fresh connection (Tornado's `_HTTPConnection`).
async fn fetch_once(
    url: &Url,
    options: &FetchOptions,
    current: &Rc<RefCell<Option<IOStream>>>,
) -> Result<HttpResponse, Error> {
    let stream = connect(url, options).await?;
    *current.borrow_mut() = Some(stream.clone());
    stream
        .write(request_bytes(url, options))
        .await
        .map_err(read_error)?;
    let (code, reason, headers) = loop {
        let head = stream
            .read_until_limited(b"\r\n\r\n", options.max_header_size)
            .await
            .map_err(read_error)?;
        let (code, reason, headers) = parse_head(&head)?;
        // An interim answer (100 Continue and the like) precedes the real
        // one; 101 would switch protocols, which this client does not do.
        if (100..200).contains(&code) && code != 101 {
            continue;
        }
        break (code, reason, headers);
    };
    let body = if options.method == "HEAD" || code == 204 || code == 304 || code < 200 {
        Vec::new()
    } else {
        read_body(&stream, &headers, options.max_body_size)
            .await
            .map_err(read_error)?
    };
    let mut headers = headers;
    let body = if options.decompress_response
        && headers
            .get("Content-Encoding")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
    {
        let plain = gunzip(&body, options.max_body_size)?;
        // As Tornado does: the body is no longer gzip, but say it was.
        headers.remove("Content-Encoding");
        headers.set("X-Consumed-Content-Encoding", "gzip");
        plain
    } else {
        body
    };
    Ok(HttpResponse {
        code,
        reason,
        headers,
        body,
        effective_url: String::new(),
        request_time: Duration::ZERO,
    })
}

/// The request's head and body.
fn request_bytes(url: &Url, options: &FetchOptions) -> Vec<u8> {
    let h = &options.headers;
    let mut out = format!("{} {} HTTP/1.1\r\n", options.method, url.target).into_bytes();
    let mut extra = HttpHeaders::new();
    if !h.contains("Host") {
        // The authority as the URL gave it, as Tornado sends its netloc.
        extra.add("Host", url.authority.clone());
    }
    // One request per connection, as Tornado's simple client does.
    extra.add("Connection", "close");
    if !h.contains("User-Agent") {
        extra.add("User-Agent", options.user_agent.clone());
    }
    if options.decompress_response && !h.contains("Accept-Encoding") {
        extra.add("Accept-Encoding", "gzip");
    }
    let body = options.body.as_deref().unwrap_or(&[]);
    if (options.body.is_some() || matches!(options.method.as_str(), "POST" | "PUT" | "PATCH"))
        && !h.contains("Content-Length")
    {
        extra.add("Content-Length", body.len().to_string());
    }
    extra.write_to(&mut out);
    h.write_to(&mut out);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// Parses a status line and headers with httparse.
fn parse_head(head: &[u8]) -> Result<(u16, String, HttpHeaders), Error> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Response::new(&mut slots);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err(malformed("incomplete response head")),
        Err(e) => return Err(malformed(format!("bad response head: {e}"))),
    }
    let code = parsed.code.ok_or_else(|| malformed("no status code"))?;
    let reason = parsed.reason.unwrap_or("").to_owned();
    let mut headers = HttpHeaders::new();
    for h in parsed.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        headers.add(h.name, value.trim());
    }
    Ok((code, reason, headers))
}

/// Reads the body as the head announces it: chunked, `Content-Length`, or
/// up to the close.
async fn read_body(stream: &IOStream, h: &HttpHeaders, max: usize) -> Result<Vec<u8>, Error> {
    let chunked = h
        .get("Transfer-Encoding")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
    if chunked {
        return read_chunked(stream, max).await;
    }
    if let Some(v) = h.get("Content-Length") {
        // Several values are fine only if they agree.
        if h.get_all("Content-Length").any(|o| o.trim() != v.trim()) {
            return Err(malformed("conflicting Content-Length headers"));
        }
        let n: usize = v
            .trim()
            .parse()
            .map_err(|_| malformed(format!("invalid Content-Length {v:?}")))?;
        if n > max {
            return Err(malformed(format!("body of {n} bytes is over the limit")));
        }
        return stream.read_bytes(n, false).await;
    }
    let body = stream.read_until_close().await?;
    if body.len() > max {
        return Err(malformed("body over the limit"));
    }
    Ok(body)
}

/// Reads a chunked body, trailers skipped.
async fn read_chunked(stream: &IOStream, max: usize) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    loop {
        let line = stream.read_until_limited(b"\r\n", 1024).await?;
        let line = std::str::from_utf8(&line[..line.len() - 2])
            .map_err(|_| malformed("bad chunk size line"))?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|_| malformed(format!("bad chunk size {size:?}")))?;
        if size == 0 {
            // Trailers, if any, up to the empty line.
            loop {
                let t = stream.read_until_limited(b"\r\n", 64 * 1024).await?;
                if t == b"\r\n" {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > max {
            return Err(malformed("body over the limit"));
        }
        let chunk = stream.read_bytes(size + 2, false).await?;
        if !chunk.ends_with(b"\r\n") {
            return Err(malformed("chunk not followed by CRLF"));
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

/// Decompresses a gzip body, refusing more than `max` bytes of output.
fn gunzip(data: &[u8], max: usize) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| malformed(format!("bad gzip body: {e}")))?;
    if out.len() > max {
        return Err(malformed("decompressed body over the limit"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head() {
        let u = Url::parse("http://h/p").unwrap();
        let opts = FetchOptions::new().method("post").body("abc");
        let text = String::from_utf8(request_bytes(&u, &opts)).unwrap();
        assert!(
            text.starts_with("POST /p HTTP/1.1\r\nHost: h\r\nConnection: close\r\n"),
            "{text}"
        );
        assert!(text.contains("Content-Length: 3\r\n"));
        assert!(text.ends_with("\r\n\r\nabc"));
        let u = Url::parse("http://h:8080/").unwrap();
        let text = String::from_utf8(request_bytes(&u, &FetchOptions::new())).unwrap();
        assert!(text.contains("Host: h:8080\r\n"));
        assert!(!text.contains("Content-Length"));
    }
}
