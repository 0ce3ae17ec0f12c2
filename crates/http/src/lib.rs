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
#![deny(missing_docs)]

pub mod client;
pub mod http1;
pub mod httpserver;
pub mod httputil;
mod multi;
pub mod response;

/// The client under Tornado's module name.
pub use client as httpclient;
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
