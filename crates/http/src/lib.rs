//! Tornado's HTTP layer for Rust: `httputil` (headers, requests, forms,
//! cookies), the HTTP/1 connection layer (`http1`: framing, reading,
//! streaming delegates), an HTTP/1.1 server (`httpserver`, `response`) and
//! client (`httpclient`), the server and the client sharing one framing
//! implementation.
//!
//! The server runs one coroutine per connection on a `TcpServer`: it reads a
//! request head (bounded in size and time), hands it to a per-request
//! [`HttpMessageDelegate`], streams the body into it (`Content-Length` or
//! chunked, bounded too, with back-pressure), and waits for its response
//! before reading the next request, so pipelined requests are answered in
//! order. An [`HttpHandler`] gets whole requests instead. Heads are parsed
//! with `httparse`.
//!
//! A server answering every request, and the client fetching from it:
//!
//! ```
//! use tornado_gen::coroutine;
//! use tornado_http::{FetchOptions, HttpHandler, HttpHeaders, HttpServer, HttpServerOptions};
//! use tornado_http::{HttpServerRequest, ResponseWriter, fetch};
//! use tornado_ioloop::IOLoop;
//!
//! struct Hello;
//! impl HttpHandler for Hello {
//!     async fn handle_request(&self, req: HttpServerRequest, resp: ResponseWriter) {
//!         let body = format!("hello {}", req.path);
//!         let mut headers = HttpHeaders::new();
//!         headers.add("Content-Length", body.len().to_string());
//!         resp.write_headers(200, None, &headers, body.as_bytes());
//!         let _ = resp.finish().await;
//!     }
//! }
//!
//! let ioloop = IOLoop::new().unwrap();
//! let server = HttpServer::new(Hello, HttpServerOptions::default());
//! let addr = server.listen_on(0, Some("127.0.0.1")).unwrap()[0];
//! let response = ioloop.run_sync(move || coroutine(async move {
//!     fetch(&format!("http://{addr}/there"), FetchOptions::new()).await
//! }), None).unwrap();
//! assert_eq!((response.code, response.text()), (200, "hello /there".to_owned()));
//! ```
#![deny(missing_docs)]

pub mod client;
pub mod http1;
pub mod httpserver;
pub mod httputil;
mod multi;
pub mod response;

/// The client under Tornado's module name.
pub use client as httpclient;
#[doc(hidden)]
pub use client::fuzzing;
pub use client::{
    BlockingHttpClient, BodyWriter, FetchOptions, HttpClient, HttpClientError, HttpClientErrorKind,
    HttpClientOptions, HttpRequest, HttpResponse, TimeInfo, fetch,
};
pub use http1::{
    BodyError, Detached, HeadError, HttpHandler, HttpMessageDelegate, HttpServerDelegate,
    ReadError, RequestConnection,
};
pub use httpserver::{HttpServer, HttpServerOptions};
pub use httputil::{HttpHeaders, HttpServerRequest};
pub use multi::{HttpThread, threaded};
pub use response::{HttpOutputError, ResponseWriter};
