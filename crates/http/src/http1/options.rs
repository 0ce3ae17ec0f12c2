//! `HttpServerOptions`: the server's limits and behaviour, read by the
//! connection loop (and re-exported by `httpserver`).

use std::net::IpAddr;
use std::time::Duration;

/// Limits and behaviour of an [`HttpServer`](crate::HttpServer), with
/// Tornado's defaults.
#[derive(Debug, Clone)]
pub struct HttpServerOptions {
    /// Largest request head (start line and headers); more gets 431.
    pub max_header_size: usize,
    /// Largest request body; more gets 413. A delegate may change it per
    /// request ([`RequestConnection::set_max_body_size`](super::RequestConnection::set_max_body_size)).
    pub max_body_size: usize,
    /// Time allowed to read a body (`None`: unlimited); per request too.
    pub body_timeout: Option<Duration>,
    /// Time allowed to read a request head, idle time between requests
    /// included: a slow or silent (slowloris) client is closed after it.
    pub idle_connection_timeout: Duration,
    /// Largest body piece handed to a delegate at once, and largest single
    /// read from the socket.
    pub chunk_size: usize,
    /// Most bytes a connection's stream buffers.
    pub max_buffer_size: usize,
    /// Decode `Content-Encoding: gzip` request bodies before the delegate
    /// sees them (streaming; the decoded size counts against
    /// `max_body_size`).
    pub decompress_request: bool,
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
            chunk_size: 64 * 1024,
            max_buffer_size: 100 * 1024 * 1024,
            decompress_request: false,
            xheaders: false,
            trusted_downstream: Vec::new(),
            no_keep_alive: false,
            max_connections: None,
            protocol: "http".to_owned(),
        }
    }
}
