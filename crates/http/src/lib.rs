//! Tornado's HTTP layer for Rust: `httputil` (headers, requests, forms,
//! cookies), an HTTP/1.1 server (`httpserver`, `response`) and client
//! (`httpclient`).
//!
//! The server runs one coroutine per connection on a `TcpServer`: it reads a
//! request head (bounded in size and time), then the body (`Content-Length`
//! or chunked, bounded too), hands the request to an [`HttpHandler`], and
//! waits for its response before reading the next request, so pipelined
//! requests are answered in order. Heads are parsed with `httparse`.
#![deny(missing_docs)]

pub mod client;
pub mod http1;
pub mod httpserver;
pub mod httputil;
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
pub use response::{HttpOutputError, ResponseWriter};
