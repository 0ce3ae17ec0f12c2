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

mod client_url;
pub mod httpclient;
pub mod httpserver;
pub mod httputil;
mod multi;
pub mod response;

pub use httpclient::{FetchOptions, HttpClientError, HttpClientErrorKind, HttpResponse, fetch};
pub use httpserver::{HttpHandler, HttpServer, HttpServerOptions};
pub use httputil::{HttpHeaders, HttpServerRequest};
pub use multi::{HttpThread, threaded};
pub use response::{HttpOutputError, ResponseWriter};
