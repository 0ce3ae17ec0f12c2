//! The HTTP client (Tornado's `httpclient`, beyond `simple_httpclient`:
//! connections are kept alive and reused).
//!
//! - [`HttpClient`] (`AsyncHTTPClient`): one per loop
//!   ([`HttpClient::current`]) or made with [`HttpClientOptions`];
//!   `max_clients` requests at once, a FIFO queue behind them, a pool of
//!   idle connections per host.
//! - [`HttpRequest`] (`HTTPRequest`): every option of a fetch;
//!   [`FetchOptions`] is the same type for [`fetch`].
//! - [`HttpResponse`] (`HTTPResponse`) with [`TimeInfo`];
//!   [`HttpClientError`] for every failure.
//! - [`BlockingHttpClient`] (`HTTPClient`) for code without a loop.
//!
//! Files: `async_client.rs` (the client, its queue), `flow.rs` (a fetch:
//! redirects, retries), `connect.rs` (connections, proxies, tunnels),
//! `exchange.rs` (one request/response on a connection), `pool.rs`,
//! `tls.rs`, `request.rs`, `response.rs`, `error.rs`, `url.rs`,
//! `blocking.rs`, `deadline.rs`.

mod async_client;
mod blocking;
mod connect;
mod deadline;
mod error;
mod exchange;
mod flow;
mod pool;
mod request;
mod response;
#[cfg(feature = "tls")]
mod tls;
mod url;

pub use async_client::{HttpClient, HttpClientOptions};
pub use blocking::BlockingHttpClient;
pub use error::{HttpClientError, HttpClientErrorKind};
pub use request::{BodyProducer, BodyWriter, FetchOptions, HeaderCallback, HttpRequest};
pub use response::{HttpResponse, TimeInfo};

use tornado_concurrent::Future;

/// Fetches `url` with the current loop's shared client
/// ([`HttpClient::current`]), the one-line convenience. The future fails
/// with an [`HttpClientError`] inside a `tornado_concurrent::Error`.
///
/// ```
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
    HttpClient::current().fetch(url, options)
}
