//! A non-blocking HTTP/1.1 client (Tornado's `httpclient` with the
//! `simple_httpclient` implementation): one connection per request, `http`
//! and `https`, redirects, timeouts, chunked and gzip responses.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tornado_concurrent::{Error, Future};
use tornado_gen::coroutine;
use tornado_ioloop::IOLoop;
use tornado_iostream::IOStream;
use tornado_tcp::{ConnectError, ConnectOptions, TcpClient};

use crate::http1::delegate::append;
use crate::http1::error::ReadError;
use crate::http1::framing::response_framing;
use crate::http1::head::parse_response_head;
use crate::http1::inflate::{INFLATE_STEP, Inflater};
use crate::http1::reader::{BodyReader, Reader};

pub use crate::client_error::{HttpClientError, HttpClientErrorKind};
pub use crate::client_response::HttpResponse;
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
    /// Receives the body piece by piece as it arrives (after
    /// decompression) instead of collecting it in `HttpResponse::body`
    /// (Tornado's `streaming_callback`).
    pub streaming_callback: Option<Rc<dyn Fn(Vec<u8>)>>,
    /// The TCP client to connect with (its resolver, e.g. an
    /// `OverrideResolver` in tests); `None`: a default `TcpClient`.
    pub tcp_client: Option<TcpClient>,
    /// Local address to connect from (Tornado's `network_interface`).
    pub network_interface: Option<std::net::IpAddr>,
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
            streaming_callback: None,
            tcp_client: None,
            network_interface: None,
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
    /// Streams the body to `callback` piece by piece instead of
    /// collecting it.
    pub fn streaming_callback(mut self, callback: impl Fn(Vec<u8>) + 'static) -> Self {
        self.streaming_callback = Some(Rc::new(callback));
        self
    }
    /// Connects with `client` (and so with its resolver).
    pub fn tcp_client(mut self, client: TcpClient) -> Self {
        self.tcp_client = Some(client);
        self
    }
    /// Connects from local address `ip`.
    pub fn network_interface(mut self, ip: std::net::IpAddr) -> Self {
        self.network_interface = Some(ip);
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
    let kind = match e.downcast_ref::<ConnectError>() {
        Some(c) if c.is_timeout() => HttpClientErrorKind::Timeout,
        Some(c) if c.is_refused() => HttpClientErrorKind::ConnectionRefused,
        _ => HttpClientErrorKind::Connection,
    };
    HttpClientError::new(kind, format!("connecting to {}: {e}", url.host_port())).into()
}

/// Maps a failure to read the response, keeping the framing layer's error.
fn read_error(e: ReadError) -> Error {
    let (kind, message) = match &e {
        ReadError::Closed(_) => (
            HttpClientErrorKind::Connection,
            "connection closed before the response was complete".to_owned(),
        ),
        ReadError::Head(h) => (
            HttpClientErrorKind::MalformedResponse,
            format!("response {h}"),
        ),
        ReadError::Body(b) => (
            HttpClientErrorKind::MalformedResponse,
            format!("response {b}"),
        ),
    };
    let mut err = HttpClientError::new(kind, message);
    err.read_error = Some(e);
    err.into()
}

/// Connects through the options' `TcpClient` (its resolver, happy
/// eyeballs, the source address), with TLS for `https`, within the
/// connect timeout.
async fn connect(url: &Url, options: &FetchOptions) -> Result<IOStream, Error> {
    let mut connect = ConnectOptions::new();
    if let Some(t) = options.connect_timeout {
        connect = connect.timeout(t);
    }
    if let Some(ip) = options.network_interface {
        connect = connect.source_ip(ip);
    }
    if url.https {
        #[cfg(feature = "tls")]
        {
            let config = options.tls.clone().ok_or_else(|| {
                HttpClientError::new(
                    HttpClientErrorKind::InvalidUrl,
                    "https needs a rustls ClientConfig in FetchOptions::tls",
                )
            })?;
            connect = connect.tls(config);
        }
        #[cfg(not(feature = "tls"))]
        return Err(HttpClientError::new(
            HttpClientErrorKind::InvalidUrl,
            "https needs the tls feature",
        )
        .into());
    }
    let client = options.tcp_client.clone().unwrap_or_default();
    client
        .connect_with(&url.host, url.port, &connect)
        .await
        .map_err(|e| connect_error(e, url))
}

/// One request on a fresh connection (Tornado's `_HTTPConnection`): the
/// response read with the shared HTTP/1 framing.
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
        .map_err(|e| read_error(ReadError::Closed(Some(e))))?;
    let mut reader = Reader::new(stream);
    let (code, reason, mut headers) = loop {
        let head = reader
            .read_head(options.max_header_size)
            .await
            .map_err(read_error)?;
        let parsed = parse_response_head(&head).map_err(|e| read_error(e.into()))?;
        // An interim answer (100 Continue and the like) precedes the real
        // one; 101 would switch protocols, which this client does not do.
        if (100..200).contains(&parsed.0) && parsed.0 != 101 {
            continue;
        }
        break parsed;
    };
    let framing =
        response_framing(&options.method, code, &headers).map_err(|e| read_error(e.into()))?;
    let gzip = options.decompress_response
        && headers
            .get("Content-Encoding")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if gzip {
        // As Tornado does: the body is no longer gzip, but say it was.
        headers.remove("Content-Encoding");
        headers.set("X-Consumed-Content-Encoding", "gzip");
    }
    let mut body_reader = BodyReader::new(framing, options.max_body_size, BODY_CHUNK);
    let mut inflater = gzip.then(|| Inflater::new(options.max_body_size));
    let mut body = Vec::new();
    let mut deliver = |piece: Vec<u8>| match &options.streaming_callback {
        Some(cb) => cb(piece),
        None => append(&mut body, piece),
    };
    while let Some(piece) = body_reader.next(&mut reader).await.map_err(read_error)? {
        match inflater.as_mut() {
            None => deliver(piece),
            Some(inf) => {
                for step in piece.chunks(INFLATE_STEP) {
                    let out = inf.feed(step).map_err(|e| read_error(e.into()))?;
                    if !out.is_empty() {
                        deliver(out);
                    }
                }
            }
        }
    }
    if let Some(inf) = inflater.as_mut() {
        let rest = inf.finish().map_err(|e| read_error(e.into()))?;
        if !rest.is_empty() {
            deliver(rest);
        }
    }
    Ok(HttpResponse {
        code,
        reason,
        headers,
        body,
        effective_url: String::new(),
        request_time: Duration::ZERO,
    })
}

/// Largest body piece read at once (and handed to a streaming callback).
const BODY_CHUNK: usize = 64 * 1024;

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
