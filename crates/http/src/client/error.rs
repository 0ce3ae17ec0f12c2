//! `HttpClientError`: every way a fetch fails, in its own module so that
//! the URL parser and the client both use it without depending on each
//! other.

use std::fmt;

use super::response::HttpResponse;
use crate::http1::error::ReadError;

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
    /// The certificate or TLS settings could not be used (an unreadable
    /// `ca_certs` or `client_cert` file, a handshake refused).
    Tls,
    /// `connect_timeout` or `request_timeout` passed (the message says
    /// which, and whether the request was still waiting in the client's
    /// queue).
    Timeout,
    /// The proxy refused to open a `CONNECT` tunnel (with its status).
    ProxyRefused(u16),
    /// The body producer failed.
    BodyProducer,
    /// The client was closed.
    Closed,
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
    /// The response, for `Status` and `TooManyRedirects` (and the proxy's
    /// answer for `ProxyRefused`).
    pub response: Option<Box<HttpResponse>>,
    /// Why reading the response failed, for `MalformedResponse` and
    /// `Connection` failures while reading: the framing layer's typed
    /// error.
    pub read_error: Option<ReadError>,
}

impl HttpClientError {
    pub(crate) fn new(kind: HttpClientErrorKind, message: impl Into<String>) -> HttpClientError {
        HttpClientError {
            kind,
            message: message.into(),
            response: None,
            read_error: None,
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
