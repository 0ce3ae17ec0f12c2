//! `HttpRequest`: what one fetch asks for (Tornado's `HTTPRequest`), with
//! Tornado's options and defaults, and how a client's `defaults` fill the
//! options a request left unset.

use std::net::IpAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use tornado_concurrent::Future;
use tornado_iostream::IOStream;
use tornado_tcp::TcpClient;

use crate::httputil::HttpHeaders;

/// Produces a streamed request body (Tornado's `body_producer`): called
/// with a [`BodyWriter`] each time the body is sent (again on a retry or a
/// 307/308 redirect), it writes the body piece by piece and resolves when
/// it is done. Without a `Content-Length` header the body is sent chunked.
pub type BodyProducer = Rc<dyn Fn(BodyWriter) -> Future<()>>;

/// Receives each line of a response head (Tornado's `header_callback`).
pub type HeaderCallback = Rc<dyn Fn(&str)>;

/// Writes a streamed request body: each [`BodyWriter::write`] resolves once
/// the connection took the bytes, so a producer awaiting it never holds
/// more than one piece in memory.
#[derive(Clone)]
pub struct BodyWriter {
    pub(crate) stream: IOStream,
    pub(crate) chunked: bool,
}

impl BodyWriter {
    /// Sends `data` as the next piece of the body (an empty piece sends
    /// nothing: it would end a chunked body).
    pub fn write(&self, data: impl Into<Vec<u8>>) -> Future<()> {
        let data = data.into();
        if data.is_empty() {
            return Future::resolved(());
        }
        if self.chunked {
            let mut framed = format!("{:x}\r\n", data.len()).into_bytes();
            framed.extend_from_slice(&data);
            framed.extend_from_slice(b"\r\n");
            self.stream.write(framed)
        } else {
            self.stream.write(data)
        }
    }
}

/// A request (Tornado's `HTTPRequest`): the URL and every option of a
/// fetch, with Tornado's defaults. [`FetchOptions`] is the same type, for
/// `fetch(url, options)`.
///
/// Options set through the builder methods are remembered as set, and a
/// client's `defaults` fill only the others (headers are merged, the
/// request's own winning), as Tornado's `_RequestProxy` does.
///
/// ```
/// use std::time::Duration;
/// use tornado_http::httpclient::HttpRequest;
/// let request = HttpRequest::with_url("http://example.com/api")
///     .method("POST")
///     .header("Content-Type", "application/json")
///     .body(b"{}".to_vec())
///     .auth("user", "secret")
///     .request_timeout(Duration::from_secs(5));
/// assert_eq!(request.method, "POST");
/// ```
#[derive(Clone)]
pub struct HttpRequest {
    /// The URL (`http` or `https`).
    pub url: String,
    /// `GET`, `POST`, …
    pub method: String,
    /// Request headers (`Host`, `Content-Length`… are added as needed).
    pub headers: HttpHeaders,
    /// The request body, if any.
    pub body: Option<Vec<u8>>,
    /// A streamed body instead of `body`.
    pub body_producer: Option<BodyProducer>,
    /// User name for basic authentication.
    pub auth_username: Option<String>,
    /// Password for basic authentication.
    pub auth_password: Option<String>,
    /// Time allowed to connect (resolution, proxy tunnel and TLS handshake
    /// included).
    pub connect_timeout: Option<Duration>,
    /// Time allowed for the whole request, from the call to `fetch` (time
    /// waiting in the client's queue included) to the end of the body,
    /// redirects included.
    pub request_timeout: Option<Duration>,
    /// Sends `If-Modified-Since` with this time.
    pub if_modified_since: Option<SystemTime>,
    /// Follow 301, 302, 303, 307 and 308 answers.
    pub follow_redirects: bool,
    /// Redirects followed at most; one more fails with `TooManyRedirects`.
    pub max_redirects: usize,
    /// `User-Agent` sent unless the headers carry one.
    pub user_agent: String,
    /// Ask for gzip or deflate and decode it.
    pub decompress_response: bool,
    /// An HTTP proxy to go through (absolute-form requests for `http`, a
    /// `CONNECT` tunnel for `https`).
    pub proxy_host: Option<String>,
    /// The proxy's port (default 80).
    pub proxy_port: Option<u16>,
    /// User name for the proxy's basic authentication.
    pub proxy_username: Option<String>,
    /// Password for the proxy's basic authentication.
    pub proxy_password: Option<String>,
    /// Check the server's certificate (default true).
    pub validate_cert: bool,
    /// A PEM file of trusted roots instead of the built-in ones.
    pub ca_certs: Option<PathBuf>,
    /// A PEM certificate chain to present to the server.
    pub client_cert: Option<PathBuf>,
    /// The PEM private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Use IPv6 addresses of the host too (default true).
    pub allow_ipv6: bool,
    /// Local address to connect from.
    pub network_interface: Option<IpAddr>,
    /// Send `Expect: 100-continue` and the body only after the server's
    /// `100 Continue`.
    pub expect_100_continue: bool,
    /// Receives the body piece by piece as it arrives (after decoding)
    /// instead of collecting it in `HttpResponse::body`.
    pub streaming_callback: Option<Rc<dyn Fn(Vec<u8>)>>,
    /// Receives each line of the response head as it was sent (the status
    /// line, each field, the final `\r\n`), as Tornado's `header_callback`.
    pub header_callback: Option<HeaderCallback>,
    /// Fail on a non-2xx final answer (default true); when false the
    /// response comes back with its `error` set.
    pub raise_error: bool,
    /// Largest response head accepted.
    pub max_header_size: usize,
    /// Largest response body accepted (after decoding).
    pub max_body_size: usize,
    /// The TCP client to connect with (its resolver); `None`: the HTTP
    /// client's.
    pub tcp_client: Option<TcpClient>,
    /// A complete rustls configuration for `https`, overriding
    /// `validate_cert`, `ca_certs` and `client_cert`.
    #[cfg(feature = "tls")]
    pub tls: Option<std::sync::Arc<tornado_iostream::tls::rustls::ClientConfig>>,
    /// Which options the builder methods set (bits of `Opt`).
    pub(crate) set: u64,
}

/// The options `set` tracks (one bit each).
#[derive(Clone, Copy)]
#[repr(u8)]
pub(crate) enum Opt {
    Method,
    Body,
    BodyProducer,
    Auth,
    ConnectTimeout,
    RequestTimeout,
    IfModifiedSince,
    Redirects,
    UserAgent,
    Decompress,
    Proxy,
    ValidateCert,
    CaCerts,
    ClientCert,
    AllowIpv6,
    NetworkInterface,
    Expect100,
    Streaming,
    HeaderCallback,
    RaiseError,
    MaxHeaderSize,
    MaxBodySize,
    TcpClient,
    #[cfg(feature = "tls")]
    Tls,
}

/// `fetch(url, options)`'s options: an [`HttpRequest`] whose URL `fetch`
/// fills in.
pub type FetchOptions = HttpRequest;

impl Default for HttpRequest {
    fn default() -> Self {
        HttpRequest {
            url: String::new(),
            method: "GET".to_owned(),
            headers: HttpHeaders::new(),
            body: None,
            body_producer: None,
            auth_username: None,
            auth_password: None,
            connect_timeout: Some(Duration::from_secs(20)),
            request_timeout: Some(Duration::from_secs(20)),
            if_modified_since: None,
            follow_redirects: true,
            max_redirects: 5,
            user_agent: concat!("Tornado-rs/", env!("CARGO_PKG_VERSION")).to_owned(),
            decompress_response: true,
            proxy_host: None,
            proxy_port: None,
            proxy_username: None,
            proxy_password: None,
            validate_cert: true,
            ca_certs: None,
            client_cert: None,
            client_key: None,
            allow_ipv6: true,
            network_interface: None,
            expect_100_continue: false,
            streaming_callback: None,
            header_callback: None,
            raise_error: true,
            max_header_size: 64 * 1024,
            max_body_size: 100 * 1024 * 1024,
            tcp_client: None,
            #[cfg(feature = "tls")]
            tls: None,
            set: 0,
        }
    }
}

impl HttpRequest {
    /// A `GET` with Tornado's defaults (20 s timeouts, up to 5 redirects,
    /// errors raised, gzip and deflate decoded) and no URL yet: what
    /// [`fetch`](super::fetch) takes as its options.
    pub fn new() -> HttpRequest {
        HttpRequest::default()
    }

    /// A `GET` of `url` with Tornado's defaults.
    pub fn with_url(url: impl Into<String>) -> HttpRequest {
        HttpRequest {
            url: url.into(),
            ..HttpRequest::default()
        }
    }

    /// Sets the URL.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = url.into();
        self
    }

    fn mark(mut self, opt: Opt) -> Self {
        self.set |= 1 << opt as u8;
        self
    }

    pub(crate) fn is_set(&self, opt: Opt) -> bool {
        self.set & (1 << opt as u8) != 0
    }

    /// Sets the method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = method.to_ascii_uppercase();
        self.mark(Opt::Method)
    }
    /// Adds a request header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.add(name, value);
        self
    }
    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self.mark(Opt::Body)
    }
    /// Streams the body from `producer` (chunked unless a
    /// `Content-Length` header is given).
    pub fn body_producer(mut self, producer: impl Fn(BodyWriter) -> Future<()> + 'static) -> Self {
        self.body_producer = Some(Rc::new(producer));
        self.mark(Opt::BodyProducer)
    }
    /// Basic authentication with these credentials.
    pub fn auth(mut self, username: &str, password: &str) -> Self {
        self.auth_username = Some(username.to_owned());
        self.auth_password = Some(password.to_owned());
        self.mark(Opt::Auth)
    }
    /// Sets the connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = Some(t);
        self.mark(Opt::ConnectTimeout)
    }
    /// Sets the whole request's timeout.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = Some(t);
        self.mark(Opt::RequestTimeout)
    }
    /// Sends `If-Modified-Since: t`.
    pub fn if_modified_since(mut self, t: SystemTime) -> Self {
        self.if_modified_since = Some(t);
        self.mark(Opt::IfModifiedSince)
    }
    /// Whether to follow redirects, and how many at most.
    pub fn redirects(mut self, follow: bool, max: usize) -> Self {
        self.follow_redirects = follow;
        self.max_redirects = max;
        self.mark(Opt::Redirects)
    }
    /// Sets the `User-Agent`.
    pub fn user_agent(mut self, agent: &str) -> Self {
        self.user_agent = agent.to_owned();
        self.mark(Opt::UserAgent)
    }
    /// Whether to ask for and decode compressed bodies.
    pub fn decompress_response(mut self, on: bool) -> Self {
        self.decompress_response = on;
        self.mark(Opt::Decompress)
    }
    /// Goes through the HTTP proxy at `host:port`.
    pub fn proxy(mut self, host: &str, port: u16) -> Self {
        self.proxy_host = Some(host.to_owned());
        self.proxy_port = Some(port);
        self.mark(Opt::Proxy)
    }
    /// Authenticates to the proxy (basic).
    pub fn proxy_auth(mut self, username: &str, password: &str) -> Self {
        self.proxy_username = Some(username.to_owned());
        self.proxy_password = Some(password.to_owned());
        self.mark(Opt::Proxy)
    }
    /// Whether to check the server's certificate.
    pub fn validate_cert(mut self, on: bool) -> Self {
        self.validate_cert = on;
        self.mark(Opt::ValidateCert)
    }
    /// Trusts the roots in this PEM file instead of the built-in ones.
    pub fn ca_certs(mut self, pem: impl Into<PathBuf>) -> Self {
        self.ca_certs = Some(pem.into());
        self.mark(Opt::CaCerts)
    }
    /// Presents this certificate chain and key (PEM files).
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client_cert = Some(cert.into());
        self.client_key = Some(key.into());
        self.mark(Opt::ClientCert)
    }
    /// Whether IPv6 addresses may be used.
    pub fn allow_ipv6(mut self, on: bool) -> Self {
        self.allow_ipv6 = on;
        self.mark(Opt::AllowIpv6)
    }
    /// Connects from local address `ip`.
    pub fn network_interface(mut self, ip: IpAddr) -> Self {
        self.network_interface = Some(ip);
        self.mark(Opt::NetworkInterface)
    }
    /// Sends `Expect: 100-continue` before the body.
    pub fn expect_100_continue(mut self, on: bool) -> Self {
        self.expect_100_continue = on;
        self.mark(Opt::Expect100)
    }
    /// Streams the body to `callback` piece by piece instead of
    /// collecting it.
    pub fn streaming_callback(mut self, callback: impl Fn(Vec<u8>) + 'static) -> Self {
        self.streaming_callback = Some(Rc::new(callback));
        self.mark(Opt::Streaming)
    }
    /// Calls `callback` with each line of the response head.
    pub fn header_callback(mut self, callback: impl Fn(&str) + 'static) -> Self {
        self.header_callback = Some(Rc::new(callback));
        self.mark(Opt::HeaderCallback)
    }
    /// Whether a non-2xx answer is an error.
    pub fn raise_error(mut self, raise: bool) -> Self {
        self.raise_error = raise;
        self.mark(Opt::RaiseError)
    }
    /// The largest response head accepted.
    pub fn max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self.mark(Opt::MaxHeaderSize)
    }
    /// The largest response body accepted.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self.mark(Opt::MaxBodySize)
    }
    /// Connects with `client` (and so with its resolver).
    pub fn tcp_client(mut self, client: TcpClient) -> Self {
        self.tcp_client = Some(client);
        self.mark(Opt::TcpClient)
    }
    /// Uses this complete TLS configuration for `https`.
    #[cfg(feature = "tls")]
    pub fn tls(
        mut self,
        config: std::sync::Arc<tornado_iostream::tls::rustls::ClientConfig>,
    ) -> Self {
        self.tls = Some(config);
        self.mark(Opt::Tls)
    }

    /// This request with `defaults`' options wherever this one left an
    /// option unset, and `defaults`' headers where it has none of that name.
    pub(crate) fn with_defaults(mut self, d: &HttpRequest) -> HttpRequest {
        macro_rules! take {
            ($opt:ident: $($field:ident),+) => {
                if !self.is_set(Opt::$opt) && d.is_set(Opt::$opt) {
                    $(self.$field = d.$field.clone();)+
                }
            };
        }
        take!(Method: method);
        take!(Body: body);
        take!(BodyProducer: body_producer);
        take!(Auth: auth_username, auth_password);
        take!(ConnectTimeout: connect_timeout);
        take!(RequestTimeout: request_timeout);
        take!(IfModifiedSince: if_modified_since);
        take!(Redirects: follow_redirects, max_redirects);
        take!(UserAgent: user_agent);
        take!(Decompress: decompress_response);
        take!(Proxy: proxy_host, proxy_port, proxy_username, proxy_password);
        take!(ValidateCert: validate_cert);
        take!(CaCerts: ca_certs);
        take!(ClientCert: client_cert, client_key);
        take!(AllowIpv6: allow_ipv6);
        take!(NetworkInterface: network_interface);
        take!(Expect100: expect_100_continue);
        take!(Streaming: streaming_callback);
        take!(HeaderCallback: header_callback);
        take!(RaiseError: raise_error);
        take!(MaxHeaderSize: max_header_size);
        take!(MaxBodySize: max_body_size);
        take!(TcpClient: tcp_client);
        #[cfg(feature = "tls")]
        take!(Tls: tls);
        for (name, value) in d.headers.iter() {
            if !self.headers.contains(name) {
                self.headers.add(name, value);
            }
        }
        self.set |= d.set;
        self
    }

    /// True for methods a retry cannot make happen twice (RFC 9110 §9.2.2).
    pub(crate) fn idempotent(&self) -> bool {
        matches!(
            self.method.as_str(),
            "GET" | "HEAD" | "PUT" | "DELETE" | "OPTIONS" | "TRACE"
        )
    }
}

impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_only_unset_options() {
        let defaults = HttpRequest::default()
            .user_agent("agent/1")
            .request_timeout(Duration::from_secs(3))
            .header("X-A", "default")
            .header("X-B", "default");
        let r = HttpRequest::with_url("http://h/")
            .request_timeout(Duration::from_secs(9))
            .header("X-A", "own")
            .with_defaults(&defaults);
        assert_eq!(r.user_agent, "agent/1");
        assert_eq!(r.request_timeout, Some(Duration::from_secs(9)));
        assert_eq!(r.headers.get("X-A"), Some("own"));
        assert_eq!(r.headers.get("X-B"), Some("default"));
        // Unset in both: Tornado's default stays.
        assert!(r.follow_redirects);
        assert!(HttpRequest::with_url("x").method("get").idempotent());
        assert!(!HttpRequest::with_url("x").method("post").idempotent());
    }
}
